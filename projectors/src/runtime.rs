//! The projection runtime: one template every projection uses, on the platform's consumer
//! runtime (`platform::consumer`). A projection only says how an event changes its tables;
//! the runtime owns everything else.
//!
//! **Delivery guarantee: each event's effect on a read model happens exactly once**, whatever
//! crashes, redeliveries or rebalances: the events of a batch are applied and the consumed
//! offsets are stored in ONE PostgreSQL transaction, so either both happen or neither does.
//!
//! - A consumer group per projection. On partition assignment the consumer is positioned at
//!   the offsets stored in PostgreSQL (Kafka's committed offsets are only a courtesy to lag
//!   tools); a partition never seen starts at the beginning.
//! - Each batch skips messages below its partitions' stored offsets (read and locked, or
//!   remembered from the runner's last batch) and moves each offset with a conditional update
//!   from the value it used: after a rebalance, a stale consumer's batch cannot overwrite newer
//!   offsets; it fails, forgets what it remembered and tries again from the stored values.
//! - A batch is applied in one go; only when one of its events fails is it applied again, on
//!   a fresh transaction, with a savepoint per try (see `guard::Care`).
//! - **The per-stream guard is the runtime's**: `applied_versions` keeps each aggregate's last
//!   applied sequence. An event at or below it is a duplicate (the relay publishing a batch
//!   again) and changes nothing; the next one is handed to the projection; one further ahead
//!   (a gap) is dead.
//! - A **transient** database failure (the connection lost, a lock wait past the statement
//!   timeout, a deadlock, a serialization failure, the server out of disk or memory; see
//!   `platform::db::is_transient`) never dead-letters: the batch is rolled back and tried again
//!   with backoff for as long as it takes. Only a **deterministic** failure (undecodable, out of
//!   place, or an apply that fails the same way on `max_attempts` fresh transactions) records
//!   the event in `dead_events` (state `dead`) with the raw message and the error.
//! - A dead event **parks its stream, not the projection**: the stream's later events are
//!   recorded behind it (state `waiting`) while every other stream goes on.
//!   `freshline projections retry-dead` applies dead and waiting events again in stream order;
//!   `freshline projections skip` gives up on one dead event and lets the stream go on.

pub use crate::projection::{aggregate_types, ApplyError, Projection};

use crate::guard::{self, apply_guarded, Attempts, Care, GuardError, Item};
use async_trait::async_trait;
use platform::consumer::{
    ConsumerConfig, ConsumerError, ConsumerMetrics, Delivery, Failure, Handler, StartAt, Tally,
};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
        // Parking (a dead event holds its stream's later events, `waiting`): generations made
        // before it gain the columns here.
        format!(
            "ALTER TABLE {schema}.dead_events
                ADD COLUMN IF NOT EXISTS aggregate_type text,
                ADD COLUMN IF NOT EXISTS sequence bigint,
                ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'dead',
                ADD COLUMN IF NOT EXISTS skipped_by text,
                ADD COLUMN IF NOT EXISTS skip_reason text"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS dead_events_stream
                ON {schema}.dead_events (aggregate_type, aggregate_id, sequence)"
        ),
        // Every event of the store up to `position` (of the projection's aggregate types) is
        // applied: what `min_position` reads compare with (kept by [`Runner`]).
        format!(
            "CREATE TABLE IF NOT EXISTS {schema}.projection_watermark (
                projection text PRIMARY KEY, position bigint NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now())"
        ),
        // The per-stream guard: each aggregate's last applied sequence.
        format!(
            "CREATE TABLE IF NOT EXISTS {schema}.applied_versions (
                aggregate_type text NOT NULL, aggregate_id text NOT NULL, version bigint NOT NULL,
                PRIMARY KEY (aggregate_type, aggregate_id))"
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
    for stmt in generation_ddl(projection, &physical, ReadIndexes::Now) {
        sqlx::query(&stmt).execute(&mut *tx).await?;
    }
    point_views(&mut tx, projection, view_schema, &physical).await?;
    tx.commit().await?;
    Ok(live)
}

/// DDL adding `column` of type `ty` to `schema.table` when a generation made before the column
/// lacks it; only then (an `ALTER` locks readers out even when it has nothing to do).
pub(crate) fn add_column_if_missing(schema: &str, table: &str, column: &str, ty: &str) -> String {
    format!(
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                           WHERE table_schema = '{schema}' AND table_name = '{table}'
                             AND column_name = '{column}') THEN
             ALTER TABLE {schema}.{table} ADD COLUMN {column} {ty};
           END IF;
         END $$"
    )
}

/// The channel a projector notifies (with its name) when a batch that changed its read model
/// commits.
pub use platform::db::CHANGED_CHANNEL;

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

/// When the projection's [`Projection::read_indexes`] are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadIndexes {
    /// With the tables.
    Now,
    /// Later, once the generation is filled (a rebuild).
    AfterReplay,
}

/// The DDL of a generation in `schema`: the runtime's tables, the projection's, and its
/// read indexes unless they come after the replay.
pub fn generation_ddl(
    projection: &dyn Projection,
    schema: &str,
    indexes: ReadIndexes,
) -> Vec<String> {
    let mut ddl = runtime_ddl(schema);
    ddl.extend(projection.ddl(schema));
    if indexes == ReadIndexes::Now {
        ddl.extend(projection.read_indexes(schema));
    }
    ddl
}

/// Creates the runtime's and the projection's tables in `schema`.
///
/// # Errors
/// When the database fails.
pub async fn prepare(
    pool: &PgPool,
    projection: &dyn Projection,
    schema: &str,
    indexes: ReadIndexes,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Several projectors may start together: serialise the DDL.
    sqlx::query(DDL_LOCK).execute(&mut *tx).await?;
    for stmt in generation_ddl(projection, schema, indexes) {
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
    /// Fresh transactions an apply may fail the same way before its event is dead.
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
            max_wait: Duration::from_millis(1),
            max_attempts: 3,
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
    #[error("{0}")]
    Retry(String),
    #[error("the live generation moved to {0}")]
    GenerationMoved(i32),
    #[error("an event failed: the batch is applied again with care")]
    NeedsCare,
}

impl From<GuardError> for BatchError {
    fn from(e: GuardError) -> Self {
        match e {
            GuardError::Database(d) => Self::Database(d),
            GuardError::Retry(r) => Self::Retry(r),
            GuardError::NeedsCare => Self::NeedsCare,
        }
    }
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

/// Runs a projection until `shutdown`.
pub struct Runner {
    projection: Arc<dyn Projection>,
    pool: PgPool,
    cfg: RunnerConfig,
    metrics: ConsumerMetrics,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("projection", &self.projection.name())
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// The runner's batch handler for the consumer runtime.
struct Batches<'a> {
    runner: &'a Runner,
    target: Target,
    attempts: Attempts,
    /// The offsets this runner stored last, per partition.
    offsets: Mutex<HashMap<(String, i32), i64>>,
    /// Woken after a batch changed the read model (the watermark moves).
    advanced: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl Handler for Batches<'_> {
    type Error = RunnerError;

    async fn handle(&self, batch: &[Delivery]) -> Result<Tally, Failure<RunnerError>> {
        match self
            .runner
            .apply_batch(&self.target, batch, &self.attempts, &self.offsets)
            .await
        {
            Ok(tally) => {
                if tally.applied > 0 {
                    self.advanced.notify_one();
                }
                Ok(tally)
            }
            Err(BatchError::GenerationMoved(g)) => {
                Err(Failure::Stop(RunnerError::GenerationMoved(g)))
            }
            Err(BatchError::Database(e)) => Err(Failure::transient(e)),
            Err(BatchError::Retry(r)) => Err(Failure::transient(r)),
            Err(e @ BatchError::NeedsCare) => Err(Failure::transient(e.to_string())),
        }
    }
}

impl Runner {
    /// A runner for `projection`.
    pub fn new(
        projection: Arc<dyn Projection>,
        pool: PgPool,
        cfg: RunnerConfig,
        metrics: ConsumerMetrics,
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
                    self.metrics.retry(name);
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
        let group = self
            .cfg
            .group_id
            .clone()
            .unwrap_or_else(|| format!("freshline.projection.{name}"));
        let topics: Vec<String> = self
            .projection
            .topics()
            .iter()
            .map(|t| schemas::topics::prefixed(&self.cfg.topic_prefix, t))
            .collect();
        let mut consumer = ConsumerConfig::new(name, &self.cfg.brokers, &group, topics);
        consumer.max_batch = self.cfg.max_batch;
        consumer.max_wait = self.cfg.max_wait;
        let advanced = Arc::new(tokio::sync::Notify::new());
        let watermark_stop = shutdown.child_token();
        let _watermark_guard = watermark_stop.clone().drop_guard();
        if target.live_generation.is_some() {
            tokio::spawn(crate::watermark::keep_watermark(
                self.pool.clone(),
                self.projection.clone(),
                target.physical.clone(),
                advanced.clone(),
                watermark_stop,
            ));
            advanced.notify_one();
        }
        let handler = Batches {
            runner: self,
            target,
            attempts: Mutex::new(HashMap::new()),
            offsets: Mutex::new(offsets.clone()),
            advanced,
        };
        match platform::consumer::run(
            &consumer,
            &handler,
            StartAt::Stored(offsets),
            &self.metrics,
            &shutdown,
        )
        .await
        {
            Ok(()) => Ok(()),
            Err(ConsumerError::Kafka(e)) => Err(e.into()),
            Err(ConsumerError::Stopped(e)) => Err(e),
        }
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
        // A rebuild's generation gets its read indexes when its replay is done.
        let indexes = if live {
            ReadIndexes::Now
        } else {
            ReadIndexes::AfterReplay
        };
        prepare(&self.pool, self.projection.as_ref(), &physical, indexes).await?;
        let rows: Vec<(String, i32, i64)> = sqlx::query_as(&format!(
            "SELECT topic, partition, next_offset FROM {physical}.projection_offsets WHERE projection = $1"
        ))
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        let target = Target {
            physical,
            live_generation: live.then_some(generation),
        };
        Ok((
            target,
            rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect(),
        ))
    }

    /// Applies a batch in one transaction with its offsets: in one go, and when one of its
    /// events fails, again on a fresh transaction finding that event.
    ///
    /// # Errors
    /// When the database fails; nothing of the batch is then kept (and the offsets known are
    /// forgotten: the next try reads them).
    async fn apply_batch(
        &self,
        target: &Target,
        batch: &[Delivery],
        attempts: &Attempts,
        known: &Mutex<HashMap<(String, i32), i64>>,
    ) -> Result<Tally, BatchError> {
        let mut outcome = self
            .try_batch(target, batch, attempts, known, Care::Fast)
            .await;
        if matches!(outcome, Err(BatchError::Database(_))) {
            // Whatever was read is suspect (another consumer may have moved the offsets).
            if let Ok(mut k) = known.lock() {
                k.clear();
            }
        }
        if matches!(outcome, Err(BatchError::NeedsCare)) {
            outcome = self
                .try_batch(target, batch, attempts, known, Care::Careful)
                .await;
        }
        outcome
    }

    /// One try at a batch. Round trips: BEGIN, the generation (live runner), the offsets (only
    /// when this runner does not know them from its last batch), the guard's read, the
    /// projection's statements, one statement writing stream versions, offsets and the change
    /// signal, COMMIT.
    async fn try_batch(
        &self,
        target: &Target,
        batch: &[Delivery],
        attempts: &Attempts,
        known: &Mutex<HashMap<(String, i32), i64>>,
        care: Care,
    ) -> Result<Tally, BatchError> {
        let schema = &target.physical;
        let name = self.projection.name();
        let mut tx = self.pool.begin().await?;
        if let Some(generation) = target.live_generation {
            // Shared lock: a rebuild's swap (FOR UPDATE) waits for this batch, and this batch
            // sees a swap that committed before it (and never writes a generation being
            // dropped).
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
        let partitions: Vec<(String, i32)> = batch
            .iter()
            .map(|m| (m.topic.clone(), m.partition))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        // The offsets stored by this runner's last batch: still true unless another consumer
        // moved them, which the conditional update below finds (and the batch is retried).
        let remembered: Option<BTreeMap<(String, i32), i64>> = known.lock().ok().and_then(|k| {
            partitions
                .iter()
                .map(|p| k.get(p).map(|o| (p.clone(), *o)))
                .collect()
        });
        let stored = match remembered {
            Some(stored) => stored,
            None => read_offsets(&mut tx, schema, name, &partitions).await?,
        };
        let mut next = stored.clone();
        let mut below = 0u64;
        let mut items = Vec::with_capacity(batch.len());
        for m in batch {
            let Some(at) = next.get_mut(&(m.topic.clone(), m.partition)) else {
                continue;
            };
            if m.offset < *at {
                below += 1;
                continue;
            }
            *at = m.offset + 1;
            items.push(Item::from_delivery(m));
        }
        let guarded = apply_guarded(
            &mut tx,
            self.projection.as_ref(),
            schema,
            &items,
            care,
            self.cfg.max_attempts,
            attempts,
        )
        .await?;
        let mut tally = guarded.tally;
        tally.skipped += below;

        // Stream versions, offsets (only from the values read or remembered) and the signal
        // (delivered when, and only if, the batch commits), in one statement.
        let moves: Vec<(&(String, i32), i64, i64)> = next
            .iter()
            .map(|(k, new)| (k, *new, stored[k]))
            .filter(|(_, new, old)| new != old)
            .collect();
        let (types, ids, versions) = guarded.moved_columns();
        let (moved, _signalled): (i64, i64) = sqlx::query_as(&format!(
            "WITH v AS ({upsert}),
                  o AS (UPDATE {schema}.projection_offsets AS po
                           SET next_offset = u.new, updated_at = now()
                          FROM UNNEST($2::text[], $3::int4[], $4::int8[], $5::int8[])
                               AS u(topic, partition, new, old)
                         WHERE po.projection = $1 AND po.topic = u.topic
                           AND po.partition = u.partition AND po.next_offset = u.old
                        RETURNING 1),
                  n AS (SELECT pg_notify($9, $1) WHERE $10)
             SELECT (SELECT count(*) FROM o), (SELECT count(*) FROM n)",
            upsert = guard::versions_upsert(schema, "$6", "$7", "$8")
        ))
        .bind(name)
        .bind(moves.iter().map(|m| m.0 .0.clone()).collect::<Vec<_>>())
        .bind(moves.iter().map(|m| m.0 .1).collect::<Vec<_>>())
        .bind(moves.iter().map(|m| m.1).collect::<Vec<_>>())
        .bind(moves.iter().map(|m| m.2).collect::<Vec<_>>())
        .bind(types)
        .bind(ids)
        .bind(versions)
        .bind(CHANGED_CHANNEL)
        .bind(tally.applied > 0 || tally.dead > 0)
        .fetch_one(&mut *tx)
        .await?;
        if usize::try_from(moved).ok() != Some(moves.len()) {
            return Err(sqlx::Error::Protocol("offsets moved by another consumer".into()).into());
        }
        tx.commit().await?;
        if let Ok(mut k) = known.lock() {
            k.extend(next);
        }
        Ok(tally)
    }
}

/// Reads (creating at 0 when new) and locks the stored offsets of `partitions`.
async fn read_offsets(
    conn: &mut PgConnection,
    schema: &str,
    name: &str,
    partitions: &[(String, i32)],
) -> Result<BTreeMap<(String, i32), i64>, sqlx::Error> {
    let (topics, parts): (Vec<String>, Vec<i32>) = partitions.iter().cloned().unzip();
    // A no-op update on conflict locks and returns the existing row.
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(&format!(
        "INSERT INTO {schema}.projection_offsets AS po (projection, topic, partition, next_offset)
         SELECT $1, t, p, 0 FROM UNNEST($2::text[], $3::int4[]) AS u(t, p)
         ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = po.next_offset
         RETURNING topic, partition, next_offset"
    ))
    .bind(name)
    .bind(&topics)
    .bind(&parts)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
}
