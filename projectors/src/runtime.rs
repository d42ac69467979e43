//! The projection runtime: one template every projection uses.
//!
//! **Delivery guarantee: each event's effect on a read model happens exactly once**, whatever
//! crashes, redeliveries or rebalances: the events of a batch are applied and the consumed
//! offsets are stored in ONE PostgreSQL transaction, so either both happen or neither does.
//!
//! - A consumer group per projection, auto-commit off. On partition assignment the consumer is
//!   positioned at the offsets stored in PostgreSQL (never Kafka's committed offsets, which are
//!   committed afterwards only as a courtesy to lag tools); a partition never seen starts at
//!   the beginning.
//! - Each batch locks its partitions' offset rows (`FOR UPDATE`), skips messages below the
//!   stored offsets, and moves each offset with a conditional update: after a rebalance, a
//!   stale consumer's batch cannot overwrite newer offsets, it only finds its messages already
//!   applied.
//! - Projections are idempotent on `(aggregate_id, sequence)` as well, so the relay's
//!   duplicates (a batch published twice) change nothing.
//! - A **transient** database failure (the connection lost, a lock wait past the statement
//!   timeout, a deadlock, a serialization failure, the server out of disk or memory; see
//!   `platform::db::is_transient`) never dead-letters: the whole batch is rolled back and tried
//!   again with backoff for as long as it takes, counted in `..._transient_failures_total`.
//!   Only a **deterministic** failure (undecodable, out of place, or an apply that fails the
//!   same way `max_attempts` times) records the event in `dead_events` with the raw message
//!   and the error, counted in a metric, and the projection goes on; `freshline projections
//!   retry-dead` applies them again.

use async_trait::async_trait;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use schemas::Envelope;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Metric names of the read side, defined once.
pub mod names {
    /// Events applied, by projection.
    pub const APPLIED: &str = "freshline_projection_events_applied_total";
    /// Events skipped as already applied, by projection.
    pub const SKIPPED: &str = "freshline_projection_events_skipped_total";
    /// Events recorded as dead, by projection.
    pub const DEAD: &str = "freshline_projection_dead_events_total";
    /// Consumer lag per projection, topic and partition.
    pub const LAG: &str = "freshline_projection_consumer_lag";
    /// Batches rolled back by a transient database failure and tried again, by projection.
    pub const TRANSIENT: &str = "freshline_projection_transient_failures_total";
}

/// Why an event could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The event will never apply (undecodable, or out of place for the read model).
    #[error("{0}")]
    Poison(String),
    /// The database refused or failed; retried up to `max_attempts` times.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The read model changed.
    Changed,
    /// Already applied (a duplicate); nothing changed.
    Duplicate,
}

/// A projection: its tables and how one event changes them. Replayable: no clock, no
/// randomness, no HTTP inside `apply`.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The projection's name (consumer group, offsets, dead events).
    fn name(&self) -> &'static str;
    /// The topics it reads (without prefix).
    fn topics(&self) -> &'static [&'static str];
    /// DDL creating its tables in `schema` (idempotent).
    fn ddl(&self, schema: &str) -> Vec<String>;
    /// The tables readers see, as views of the live generation in the view schema.
    fn views(&self) -> &'static [&'static str];
    /// Applies one event inside the batch's transaction.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        event: &Envelope,
    ) -> Result<Applied, ApplyError>;

    /// Applies a batch of events in order, set-based where the projection can. One outcome per
    /// event: applied, duplicate, or poison (its reason). A database error fails the whole call;
    /// the runtime then applies the events one by one to find the culprit.
    ///
    /// The default applies them one by one.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        events: &[Envelope],
    ) -> Result<Vec<Result<Applied, String>>, sqlx::Error> {
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            out.push(match self.apply(conn, schema, e).await {
                Ok(a) => Ok(a),
                Err(ApplyError::Poison(p)) => Err(p),
                Err(ApplyError::Database(d)) => return Err(d),
            });
        }
        Ok(out)
    }
}

/// DDL of the runtime's own tables in `schema`.
pub fn runtime_ddl(schema: &str) -> Vec<String> {
    vec![
        format!("CREATE SCHEMA IF NOT EXISTS {schema}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {schema}.projection_offsets (
                projection  text   NOT NULL,
                topic       text   NOT NULL,
                partition   int    NOT NULL,
                next_offset bigint NOT NULL,
                updated_at  timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (projection, topic, partition))"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {schema}.dead_events (
                projection  text   NOT NULL,
                topic       text   NOT NULL,
                partition   int    NOT NULL,
                kafka_offset bigint NOT NULL,
                aggregate_id text,
                event_type  text,
                raw         bytea  NOT NULL,
                error       text   NOT NULL,
                attempts    int    NOT NULL,
                dead_at     timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (projection, topic, partition, kafka_offset))"
        ),
    ]
}

/// The schema holding generation `generation` of a projection's tables.
pub fn physical_schema(view_schema: &str, projection: &str, generation: i32) -> String {
    format!("{view_schema}_{projection}_g{generation}")
}

/// Makes sure the projection has a live generation with its tables and views; returns it.
///
/// # Errors
/// When the database fails.
pub async fn prepare_live(
    pool: &PgPool,
    projection: &dyn Projection,
    view_schema: &str,
) -> Result<i32, sqlx::Error> {
    let name = projection.name();
    let mut tx = pool.begin().await?;
    sqlx::query(DDL_LOCK).execute(&mut *tx).await?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {view_schema}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {view_schema}.projection_generations (
            projection text PRIMARY KEY, live int NOT NULL, swapped_at timestamptz NOT NULL DEFAULT now())"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO {view_schema}.projection_generations (projection, live) VALUES ($1, 1) ON CONFLICT DO NOTHING"
    ))
    .bind(name)
    .execute(&mut *tx)
    .await?;
    let live: i32 = sqlx::query_scalar(&format!(
        "SELECT live FROM {view_schema}.projection_generations WHERE projection = $1"
    ))
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    let physical = physical_schema(view_schema, name, live);
    for stmt in runtime_ddl(&physical)
        .into_iter()
        .chain(projection.ddl(&physical))
    {
        sqlx::query(&stmt).execute(&mut *tx).await?;
    }
    point_views(&mut tx, projection, view_schema, &physical).await?;
    tx.commit().await?;
    Ok(live)
}

/// The channel a projector notifies (with its name) when a batch that changed its read model
/// commits: the query API wakes the reads waiting for a version instead of polling.
pub const CHANGED_CHANNEL: &str = "freshline_projection_changed";

/// The lock every change to a projection's generations and views takes (start-up, the swap of
/// a rebuild): one at a time, so a projector starting during a swap sees the new generation.
pub const DDL_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('freshline.projection.ddl'))";

/// Points the projection's views at `physical` (inside the caller's transaction, so readers
/// switch atomically). A view that already shows exactly `physical`'s table (same columns) is
/// left alone: a projector restarting does not lock its readers out.
///
/// # Errors
/// When the database fails.
pub async fn point_views(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    view_schema: &str,
    physical: &str,
) -> Result<(), sqlx::Error> {
    for view in projection.views() {
        let current: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM information_schema.view_table_usage
                             WHERE view_schema = $1 AND view_name = $2 AND table_schema = $3)
                AND (SELECT array_agg(column_name::text ORDER BY ordinal_position)
                       FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2)
                  = (SELECT array_agg(column_name::text ORDER BY ordinal_position)
                       FROM information_schema.columns WHERE table_schema = $3 AND table_name = $2)",
        )
        .bind(view_schema)
        .bind(*view)
        .bind(physical)
        .fetch_one(&mut *conn)
        .await?;
        if current {
            continue;
        }
        sqlx::query(&format!("DROP VIEW IF EXISTS {view_schema}.{view}"))
            .execute(&mut *conn)
            .await?;
        sqlx::query(&format!(
            "CREATE VIEW {view_schema}.{view} AS SELECT * FROM {physical}.{view}"
        ))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Creates the runtime's and the projection's tables in `schema`.
///
/// # Errors
/// When the database fails.
pub async fn prepare(
    pool: &PgPool,
    projection: &dyn Projection,
    schema: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Several projectors may start together: serialise the DDL.
    sqlx::query(DDL_LOCK).execute(&mut *tx).await?;
    for stmt in runtime_ddl(schema)
        .into_iter()
        .chain(projection.ddl(schema))
    {
        sqlx::query(&stmt).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Runtime settings.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Topic prefix (tests).
    pub topic_prefix: String,
    /// The schema readers use (views of the live generation); tables and offsets live in the
    /// generation's own schema (see [`physical_schema`]).
    pub schema: String,
    /// `None`: the live generation (restarts when it changes). `Some(g)`: build generation `g`
    /// (a rebuild), which is not live yet.
    pub generation: Option<i32>,
    /// Consumer group id (default: `freshline.projection.<name>`).
    pub group_id: Option<String>,
    /// Messages per batch at most.
    pub max_batch: usize,
    /// How long to wait to fill a batch after its first message.
    pub max_wait: Duration,
    /// Attempts before an event is recorded as dead.
    pub max_attempts: u32,
}

impl RunnerConfig {
    /// Defaults for `brokers`, the `read` schema.
    pub fn new(brokers: &str) -> Self {
        Self {
            brokers: brokers.to_owned(),
            topic_prefix: String::new(),
            schema: "read".into(),
            group_id: None,
            generation: None,
            max_batch: 1000,
            max_wait: Duration::from_millis(5),
            max_attempts: 3,
        }
    }
}

/// Metrics of the runtime.
#[derive(Debug, Clone)]
pub struct ProjectionMetrics {
    applied: IntCounterVec,
    skipped: IntCounterVec,
    dead: IntCounterVec,
    transient: IntCounterVec,
    lag: IntGaugeVec,
}

impl ProjectionMetrics {
    /// Creates and registers them.
    ///
    /// # Errors
    /// When already registered.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        use platform::metrics::register;
        Ok(Self {
            applied: register(
                registry,
                IntCounterVec::new(Opts::new(names::APPLIED, "Events applied"), &["projection"])?,
            )?,
            skipped: register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::SKIPPED, "Events skipped as already applied"),
                    &["projection"],
                )?,
            )?,
            dead: register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::DEAD, "Events recorded as dead"),
                    &["projection"],
                )?,
            )?,
            transient: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        names::TRANSIENT,
                        "Batches rolled back by a transient database failure and retried",
                    ),
                    &["projection"],
                )?,
            )?,
            lag: register(
                registry,
                IntGaugeVec::new(
                    Opts::new(names::LAG, "Messages not yet applied"),
                    &["projection", "topic", "partition"],
                )?,
            )?,
        })
    }
}

type Offsets = Arc<Mutex<HashMap<(String, i32), i64>>>;

/// Positions newly assigned partitions at the offsets stored in PostgreSQL.
struct SeekToStored {
    next: Offsets,
}

impl ClientContext for SeekToStored {}

impl ConsumerContext for SeekToStored {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let next = self.next.lock().map(|m| m.clone()).unwrap_or_default();
                for mut elem in tpl.elements() {
                    let key = (elem.topic().to_owned(), elem.partition());
                    let offset = next
                        .get(&key)
                        .map_or(Offset::Beginning, |o| Offset::Offset(*o));
                    if let Err(e) = elem.set_offset(offset) {
                        tracing::error!(error = %e, topic = %key.0, partition = key.1, "cannot position partition");
                    }
                    tracing::info!(topic = %key.0, partition = key.1, ?offset, "partition assigned");
                }
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions revoked");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

/// Where a runner writes.
#[derive(Debug, Clone)]
struct Target {
    /// The generation's schema.
    physical: String,
    /// For the live runner, its generation (checked on every batch).
    live_generation: Option<i32>,
}

/// Why a batch was not applied.
#[derive(Debug, thiserror::Error)]
enum BatchError {
    #[error("database")]
    Database(#[from] sqlx::Error),
    #[error("the live generation moved to {0}")]
    GenerationMoved(i32),
}

/// Why the runner stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// PostgreSQL failed.
    #[error("database")]
    Database(#[from] sqlx::Error),
    /// Kafka failed.
    #[error("kafka")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A rebuild swapped in another generation: restart on it.
    #[error("the live generation moved to {0}")]
    GenerationMoved(i32),
}

/// One message of a batch, copied out of the consumer.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The value.
    pub payload: Vec<u8>,
}

impl RawMessage {
    fn from_borrowed(m: &BorrowedMessage<'_>) -> Self {
        Self {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            payload: m.payload().unwrap_or_default().to_vec(),
        }
    }
}

/// Runs a projection until `shutdown`.
pub struct Runner {
    projection: Arc<dyn Projection>,
    pool: PgPool,
    cfg: RunnerConfig,
    metrics: ProjectionMetrics,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("projection", &self.projection.name())
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner for `projection`.
    pub fn new(
        projection: Arc<dyn Projection>,
        pool: PgPool,
        cfg: RunnerConfig,
        metrics: ProjectionMetrics,
    ) -> Self {
        Self {
            projection,
            pool,
            cfg,
            metrics,
        }
    }

    /// Prepares the tables, joins the group and applies batches until `shutdown`.
    ///
    /// # Errors
    /// [`RunnerError`] when PostgreSQL or Kafka fail in a way a retry does not fix.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), RunnerError> {
        let name = self.projection.name();
        // Tables and offsets, tried again while the database fails transiently (a lock held
        // on the read model, a restart): a projector waits, it does not die.
        let mut backoff = Duration::from_millis(100);
        let (target, offsets) = loop {
            match self.open().await {
                Ok(opened) => break opened,
                Err(e) if platform::db::is_transient(&e) => {
                    self.metrics.transient.with_label_values(&[name]).inc();
                    platform::telemetry::log_error_chain("projection start failed; retrying", &e);
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let next: Offsets = Arc::new(Mutex::new(offsets));
        let group = self
            .cfg
            .group_id
            .clone()
            .unwrap_or_else(|| format!("freshline.projection.{name}"));
        let consumer: StreamConsumer<SeekToStored> =
            platform::kafka::client_config(&self.cfg.brokers)
                .set("group.id", &group)
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("auto.offset.reset", "earliest")
                .set("session.timeout.ms", "10000")
                .create_with_context(SeekToStored { next: next.clone() })?;
        let topics: Vec<String> = self
            .projection
            .topics()
            .iter()
            .map(|t| schemas::topics::prefixed(&self.cfg.topic_prefix, t))
            .collect();
        consumer.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>())?;
        tracing::info!(projection = name, %group, ?topics, "projection running");

        let mut attempts: HashMap<(String, i32, i64), u32> = HashMap::new();
        // Lag is measured by a client of its own, off this loop: on the consumer's connection
        // a ListOffsets request waits behind the fetch long-poll, and blocking here for it
        // stalled application.
        let lag_stop = shutdown.child_token();
        let _lag_guard = lag_stop.clone().drop_guard();
        tokio::spawn(report_lag(
            platform::kafka::client_config(&self.cfg.brokers),
            topics.clone(),
            next.clone(),
            self.metrics.clone(),
            name,
            lag_stop,
        ));
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => break,
                m = consumer.recv() => m?,
            };
            let mut batch = vec![RawMessage::from_borrowed(&first)];
            drop(first);
            let deadline = tokio::time::Instant::now() + self.cfg.max_wait;
            while batch.len() < self.cfg.max_batch {
                match tokio::time::timeout_at(deadline, consumer.recv()).await {
                    Ok(Ok(m)) => batch.push(RawMessage::from_borrowed(&m)),
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => break,
                }
            }
            let mut backoff = Duration::from_millis(100);
            let advanced = loop {
                match self.apply_batch(&target, &batch, &mut attempts).await {
                    Ok(a) => break a,
                    Err(BatchError::GenerationMoved(g)) => {
                        return Err(RunnerError::GenerationMoved(g))
                    }
                    Err(BatchError::Database(e)) => {
                        if platform::db::is_transient(&e) {
                            self.metrics.transient.with_label_values(&[name]).inc();
                        }
                        platform::telemetry::log_error_chain(
                            "projection batch failed; retrying",
                            &e,
                        );
                        tokio::select! {
                            () = shutdown.cancelled() => return Ok(()),
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            };
            if let Ok(mut n) = next.lock() {
                n.extend(advanced.iter().map(|(k, v)| (k.clone(), *v)));
            }
            // A courtesy to lag tools; positions come from PostgreSQL.
            let mut tpl = TopicPartitionList::new();
            for ((topic, partition), offset) in &advanced {
                tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                    .ok();
            }
            if let Err(e) = consumer.commit(&tpl, rdkafka::consumer::CommitMode::Async) {
                tracing::debug!(error = %e, "offset commit to Kafka failed (harmless)");
            }
        }
        tracing::info!(projection = name, "projection stopped");
        Ok(())
    }

    /// Prepares the generation this runner writes and reads its stored offsets.
    async fn open(&self) -> Result<(Target, HashMap<(String, i32), i64>), sqlx::Error> {
        let name = self.projection.name();
        let (generation, live) = match self.cfg.generation {
            None => (
                prepare_live(&self.pool, self.projection.as_ref(), &self.cfg.schema).await?,
                true,
            ),
            Some(g) => (g, false),
        };
        let physical = physical_schema(&self.cfg.schema, name, generation);
        prepare(&self.pool, self.projection.as_ref(), &physical).await?;
        let offsets = self.load_offsets(&physical).await?;
        let target = Target {
            physical,
            live_generation: live.then_some(generation),
        };
        Ok((target, offsets))
    }

    async fn load_offsets(
        &self,
        physical: &str,
    ) -> Result<HashMap<(String, i32), i64>, sqlx::Error> {
        let rows: Vec<(String, i32, i64)> = sqlx::query_as(&format!(
            "SELECT topic, partition, next_offset FROM {physical}.projection_offsets WHERE projection = $1"
        ))
        .bind(self.projection.name())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
    }

    /// Applies a batch in one transaction; returns the new next offsets per partition.
    ///
    /// # Errors
    /// When the database fails; nothing of the batch is then kept.
    async fn apply_batch(
        &self,
        target: &Target,
        batch: &[RawMessage],
        attempts: &mut HashMap<(String, i32, i64), u32>,
    ) -> Result<BTreeMap<(String, i32), i64>, BatchError> {
        let schema = &target.physical;
        let name = self.projection.name();
        let mut tx = self.pool.begin().await?;
        if let Some(generation) = target.live_generation {
            // Shared lock: a rebuild's swap (FOR UPDATE) waits for this batch, and this batch
            // sees a swap that committed before it.
            let live: i32 = sqlx::query_scalar(&format!(
                "SELECT live FROM {}.projection_generations WHERE projection = $1 FOR SHARE",
                self.cfg.schema
            ))
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
            if live != generation {
                return Err(BatchError::GenerationMoved(live));
            }
        }
        let mut stored: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for m in batch {
            stored.entry((m.topic.clone(), m.partition)).or_insert(-1);
        }
        for ((topic, partition), at) in stored.iter_mut() {
            sqlx::query(&format!(
                "INSERT INTO {schema}.projection_offsets (projection, topic, partition, next_offset)
                 VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING"
            ))
            .bind(name)
            .bind(topic.as_str())
            .bind(*partition)
            .execute(&mut *tx)
            .await?;
            *at = sqlx::query_scalar(&format!(
                "SELECT next_offset FROM {schema}.projection_offsets
                  WHERE projection = $1 AND topic = $2 AND partition = $3 FOR UPDATE"
            ))
            .bind(name)
            .bind(topic.as_str())
            .bind(*partition)
            .fetch_one(&mut *tx)
            .await?;
        }
        let mut next = stored.clone();
        let (mut applied, mut skipped, mut dead) = (0u64, 0u64, 0u64);
        // Messages to apply: past the stored offsets, decodable.
        let mut todo: Vec<(&RawMessage, Envelope)> = Vec::with_capacity(batch.len());
        for m in batch {
            let Some(at) = next.get_mut(&(m.topic.clone(), m.partition)) else {
                continue;
            };
            if m.offset < *at {
                skipped += 1;
                continue;
            }
            *at = m.offset + 1;
            match serde_json::from_slice::<Envelope>(&m.payload) {
                Ok(e) => todo.push((m, e)),
                Err(e) => {
                    self.record_dead(
                        &mut tx,
                        schema,
                        m,
                        None,
                        &format!("undecodable envelope: {e}"),
                        1,
                    )
                    .await?;
                    dead += 1;
                }
            }
        }
        // Fast path: the whole batch in one set-based call.
        sqlx::query("SAVEPOINT apply_batch")
            .execute(&mut *tx)
            .await?;
        let envelopes: Vec<Envelope> = todo.iter().map(|(_, e)| e.clone()).collect();
        match self
            .projection
            .apply_batch(&mut tx, schema, &envelopes)
            .await
        {
            Ok(outcomes) => {
                sqlx::query("RELEASE SAVEPOINT apply_batch")
                    .execute(&mut *tx)
                    .await?;
                for ((m, e), outcome) in todo.iter().zip(outcomes) {
                    match outcome {
                        Ok(Applied::Changed) => applied += 1,
                        Ok(Applied::Duplicate) => skipped += 1,
                        Err(reason) => {
                            self.record_dead(&mut tx, schema, m, Some(e), &reason, 1)
                                .await?;
                            dead += 1;
                        }
                    }
                }
            }
            // Transient: roll the whole batch back and try it again later, never dead.
            Err(err) if platform::db::is_transient(&err) => return Err(err.into()),
            Err(err) => {
                tracing::warn!(error = %err, "batch failed; applying its events one by one");
                sqlx::query("ROLLBACK TO SAVEPOINT apply_batch")
                    .execute(&mut *tx)
                    .await?;
                for (m, envelope) in &todo {
                    let mut tries = attempts
                        .get(&(m.topic.clone(), m.partition, m.offset))
                        .copied()
                        .unwrap_or(0);
                    loop {
                        sqlx::query("SAVEPOINT apply_event")
                            .execute(&mut *tx)
                            .await?;
                        match self.projection.apply(&mut tx, schema, envelope).await {
                            Ok(outcome) => {
                                sqlx::query("RELEASE SAVEPOINT apply_event")
                                    .execute(&mut *tx)
                                    .await?;
                                match outcome {
                                    Applied::Changed => applied += 1,
                                    Applied::Duplicate => skipped += 1,
                                }
                                break;
                            }
                            Err(err) => {
                                sqlx::query("ROLLBACK TO SAVEPOINT apply_event")
                                    .execute(&mut *tx)
                                    .await?;
                                tries += 1;
                                let err = match err {
                                    // Transient: the whole batch again later, never dead.
                                    ApplyError::Database(e) if platform::db::is_transient(&e) => {
                                        return Err(e.into())
                                    }
                                    deterministic => deterministic,
                                };
                                let poison = matches!(err, ApplyError::Poison(_));
                                if poison || tries >= self.cfg.max_attempts {
                                    let reason = match &err {
                                        ApplyError::Poison(p) => p.clone(),
                                        ApplyError::Database(e) => format!("database: {e}"),
                                    };
                                    self.record_dead(
                                        &mut tx,
                                        schema,
                                        m,
                                        Some(envelope),
                                        &reason,
                                        tries,
                                    )
                                    .await?;
                                    attempts.remove(&(m.topic.clone(), m.partition, m.offset));
                                    dead += 1;
                                    break;
                                }
                                attempts.insert((m.topic.clone(), m.partition, m.offset), tries);
                            }
                        }
                    }
                }
            }
        }
        for ((topic, partition), new) in &next {
            let old = stored[&(topic.clone(), *partition)];
            if *new == old {
                continue;
            }
            // Conditional: only from the offset this transaction read (and locked).
            let moved = sqlx::query(&format!(
                "UPDATE {schema}.projection_offsets SET next_offset = $4, updated_at = now()
                  WHERE projection = $1 AND topic = $2 AND partition = $3 AND next_offset = $5"
            ))
            .bind(name)
            .bind(topic.as_str())
            .bind(*partition)
            .bind(*new)
            .bind(old)
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() != 1 {
                return Err(
                    sqlx::Error::Protocol("offsets moved by another consumer".into()).into(),
                );
            }
        }
        if applied > 0 {
            // Delivered when (and only if) the batch commits.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANGED_CHANNEL)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.metrics
            .applied
            .with_label_values(&[name])
            .inc_by(applied);
        self.metrics
            .skipped
            .with_label_values(&[name])
            .inc_by(skipped);
        self.metrics.dead.with_label_values(&[name]).inc_by(dead);
        Ok(next)
    }

    async fn record_dead(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        m: &RawMessage,
        envelope: Option<&Envelope>,
        error: &str,
        attempts: u32,
    ) -> Result<(), sqlx::Error> {
        let correlation_id = envelope
            .and_then(|e| e.metadata.get(schemas::metadata_keys::CORRELATION_ID))
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        tracing::warn!(
            projection = self.projection.name(), topic = %m.topic, partition = m.partition,
            offset = m.offset, event_id = ?envelope.map(|e| e.event_id),
            event_type = envelope.map_or("", |e| e.event_type.as_str()), correlation_id,
            %error, "event recorded as dead"
        );
        sqlx::query(&format!(
            "INSERT INTO {}.dead_events (projection, topic, partition, kafka_offset, aggregate_id, event_type, raw, error, attempts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            schema
        ))
        .bind(self.projection.name())
        .bind(&m.topic)
        .bind(m.partition)
        .bind(m.offset)
        .bind(envelope.map(|e| e.aggregate_id.clone()))
        .bind(envelope.map(|e| e.event_type.clone()))
        .bind(&m.payload)
        .bind(error)
        .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Every 5 s: the high watermark of each partition of `topics` minus the projection's stored
/// position, as the lag gauge.
async fn report_lag(
    config: rdkafka::ClientConfig,
    topics: Vec<String>,
    next: Offsets,
    metrics: ProjectionMetrics,
    projection: &'static str,
    stop: CancellationToken,
) {
    let Ok(client) = config.create::<BaseConsumer>() else {
        tracing::warn!(projection, "no lag client; lag is not reported");
        return;
    };
    let client = Arc::new(client);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        let (client, topics) = (client.clone(), topics.clone());
        let marks = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for topic in &topics {
                let Ok(md) = client.fetch_metadata(Some(topic), Duration::from_secs(2)) else {
                    continue;
                };
                for p in md.topics().iter().flat_map(|t| t.partitions()) {
                    if let Ok((_, high)) =
                        client.fetch_watermarks(topic, p.id(), Duration::from_secs(2))
                    {
                        out.push((topic.clone(), p.id(), high));
                    }
                }
            }
            out
        })
        .await
        .unwrap_or_default();
        let positions = next.lock().map(|m| m.clone()).unwrap_or_default();
        for (topic, partition, high) in marks {
            let at = positions
                .get(&(topic.clone(), partition))
                .copied()
                .unwrap_or(0);
            metrics
                .lag
                .with_label_values(&[projection, &topic, &partition.to_string()])
                .set((high - at).max(0));
        }
    }
}
