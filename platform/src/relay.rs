//! The outbox relay: publishes the event store to Kafka.
//!
//! The events table is the outbox. Every row carries the id of the transaction that wrote it
//! (`xid`, an `xid8`) and a `global_position`. The relay reads rows in `(xid, global_position)`
//! order after its checkpoint, and only rows whose transaction is older than the oldest
//! transaction still in flight (`pg_snapshot_xmin(pg_current_snapshot())`). Transaction ids
//! are handed out in order and every transaction below that horizon has finished, so no row
//! can later appear behind the checkpoint: an event whose transaction commits late is
//! published late, never skipped.
//!
//! Each batch is published with the idempotent producer (`acks=all`), key = aggregate id, to
//! the aggregate type's topic; the checkpoint moves only after the broker acknowledged every
//! record of the batch. Delivery is **at least once**: a crash between the acknowledgement and
//! the checkpoint publishes the batch again, and consumers deduplicate on
//! `(aggregate_id, sequence)`.
//!
//! **One leader, fenced.** One relay per name publishes at a time: the one holding the lease
//! row in `relay_leases` (expiry on the database's clock, [`RelayConfig::lease`] long, renewed
//! every third of that, also while a publish waits for the broker). Others stand by and take
//! the lease once it expires, incrementing its epoch. Every checkpoint write renews the lease
//! in the same statement and happens only under the writer's (holder, epoch): a leader that
//! was frozen (SIGSTOP, a long GC-like pause, a partition) and lost its lease finds, when it
//! resumes, that its local deadline passed or its epoch is gone, and stops without publishing
//! again or moving the checkpoint. Records it had already handed to the producer before it
//! froze may still be delivered late: they are duplicates of what the new leader publishes,
//! which consumers drop by `(aggregate_id, sequence)`.
//!
//! **A restored database.** Transaction ids are not carried by a dump: after a restore, new
//! transactions get ids lower than the checkpoint and would never be published. The relay
//! checks that its checkpoint is not ahead of what the database can have written
//! (`pg_snapshot_xmax`); if it is, it stops loudly (`freshline_relay_checkpoint_ahead = 1`,
//! `/readyz` fails, an error log naming the recovery command `freshline relay
//! recover-restore`, see [`recover_after_restore`]).
//!
//! A row that cannot be put in an envelope (unknown aggregate type, untagged payload) stops
//! the relay at that row, with an error log and `freshline_relay_stalled = 1`: skipping it
//! would break per-aggregate order for every consumer, and losing it would break the audit
//! trail, so an operator must look.

use crate::metrics::{register, MetricsError};
use chrono::{DateTime, Utc};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use schemas::EnvelopeError;
use sqlx::PgPool;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Metric names of the relay, defined once.
pub mod names {
    /// Events published, by topic.
    pub const PUBLISHED: &str = "freshline_relay_events_published_total";
    /// Batches published.
    pub const BATCHES: &str = "freshline_relay_batches_total";
    /// Failed publish attempts (the batch is retried).
    pub const FAILURES: &str = "freshline_relay_publish_failures_total";
    /// Age, when scraped, of the oldest committed event this relay has not yet published (0
    /// with nothing to publish, and on a standby).
    pub const LAG: &str = "freshline_relay_lag_seconds";
    /// Global position of the last published event.
    pub const POSITION: &str = "freshline_relay_last_global_position";
    /// 1 while this relay holds the leader lock.
    pub const LEADER: &str = "freshline_relay_leader";
    /// 1 while the relay is stopped at a row it cannot publish, or at a checkpoint ahead of
    /// the database.
    pub const STALLED: &str = "freshline_relay_stalled";
    /// 1 while the checkpoint is ahead of every transaction the database can have written (a
    /// restore): nothing is published until `freshline relay recover-restore`.
    pub const CHECKPOINT_AHEAD: &str = "freshline_relay_checkpoint_ahead";
    /// Times this relay took the leader lease.
    pub const LEASES: &str = "freshline_relay_leases_taken_total";
}

/// The channel writers notify (after their commit, never inside it) when they appended: the
/// relay wakes at once instead of waiting for its next poll.
pub const APPENDED_CHANNEL: &str = "freshline_events_appended";

/// A writer's side of [`APPENDED_CHANNEL`]: [`AppendSignal::raise`] after each commit; one task
/// sends the notifications, one at a time, so any number of commits while one is sent make one
/// more (a NOTIFY is its own tiny transaction, outside every command's: commits never queue
/// behind the notification queue's lock).
#[derive(Debug, Clone, Default)]
pub struct AppendSignal {
    raised: Option<Arc<tokio::sync::Notify>>,
}

impl AppendSignal {
    /// Starts the sending task on `pool` (nothing is sent outside a Tokio runtime).
    pub fn start(pool: PgPool) -> Self {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Self::default();
        };
        let raised = Arc::new(tokio::sync::Notify::new());
        let weak = Arc::downgrade(&raised);
        runtime.spawn(async move {
            loop {
                let Some(raised) = weak.upgrade() else { return };
                let woke = tokio::time::timeout(Duration::from_secs(60), raised.notified())
                    .await
                    .is_ok();
                if !woke {
                    // Ends with the last signal's owner (every bus dropped).
                    if Arc::strong_count(&raised) == 1 {
                        return;
                    }
                    continue;
                }
                drop(raised);
                if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
                    .bind(APPENDED_CHANNEL)
                    .execute(&pool)
                    .await
                {
                    tracing::debug!(error = %e, "append notification not sent (the relay polls anyway)");
                }
            }
        });
        Self {
            raised: Some(raised),
        }
    }

    /// Says that events were committed.
    pub fn raise(&self) {
        if let Some(r) = &self.raised {
            r.notify_one();
        }
    }
}

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Name of this relay (checkpoint row and leader lock).
    pub name: String,
    /// Prefix for topic names (empty in production; tests use their own).
    pub topic_prefix: String,
    /// Rows per batch.
    pub batch_size: i64,
    /// The longest sleep when there is nothing to publish. After a batch the relay polls
    /// again at once, then waits 1 ms, 2 ms, 4 ms ... up to this while nothing comes; a
    /// writer's notification ([`AppendSignal`]) wakes it at once (without the notification
    /// listener, at most 25 ms).
    pub poll_interval: Duration,
    /// How long the leader's lease lasts unless renewed: the longest a standby waits after a
    /// leader died or froze.
    pub lease: Duration,
    /// Who holds the lease: one id per process, so a relay restarted in the same process
    /// takes its own lease back at once.
    pub holder: uuid::Uuid,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            name: "default".into(),
            topic_prefix: String::new(),
            batch_size: 2000,
            poll_interval: Duration::from_secs(1),
            lease: DEFAULT_LEASE,
            holder: uuid::Uuid::new_v4(),
        }
    }
}

/// [`RelayConfig::lease`] by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// The relay's metrics.
#[derive(Debug, Clone)]
pub struct RelayMetrics {
    published: IntCounterVec,
    batches: IntCounter,
    failures: IntCounter,
    lag: LagGauge,
    position: IntGauge,
    leader: IntGauge,
    stalled: IntGauge,
    checkpoint_ahead: IntGauge,
    leases: IntCounter,
}

impl RelayMetrics {
    /// Creates and registers the relay's metrics.
    ///
    /// # Errors
    /// When they are already registered.
    pub fn new(registry: &Registry) -> Result<Self, MetricsError> {
        Ok(Self {
            published: register(
                registry,
                IntCounterVec::new(Opts::new(names::PUBLISHED, "Events published"), &["topic"])?,
            )?,
            batches: register(
                registry,
                IntCounter::new(names::BATCHES, "Batches published")?,
            )?,
            failures: register(
                registry,
                IntCounter::new(names::FAILURES, "Failed publish attempts")?,
            )?,
            lag: register(
                registry,
                LagGauge {
                    gauge: Gauge::new(
                        names::LAG,
                        "Age of the oldest committed event not yet published (s)",
                    )?,
                    oldest_micros: Arc::new(AtomicI64::new(NONE_KNOWN)),
                },
            )?,
            position: register(
                registry,
                IntGauge::new(
                    names::POSITION,
                    "Global position of the last published event",
                )?,
            )?,
            leader: register(registry, IntGauge::new(names::LEADER, "1 while leader")?)?,
            stalled: register(
                registry,
                IntGauge::new(names::STALLED, "1 while stopped at an unpublishable row")?,
            )?,
            checkpoint_ahead: register(
                registry,
                IntGauge::new(
                    names::CHECKPOINT_AHEAD,
                    "1 while the checkpoint is ahead of the database (a restore)",
                )?,
            )?,
            leases: register(
                registry,
                IntCounter::new(names::LEASES, "Times the leader lease was taken")?,
            )?,
        })
    }

    /// The readiness check of a relay: not ready while it is stalled (at a row it cannot
    /// publish, or at a checkpoint ahead of the database).
    pub fn readiness(&self) -> (&'static str, crate::ops::Check) {
        let stalled = self.stalled.clone();
        (
            "relay",
            std::sync::Arc::new(move || {
                let stalled = stalled.get();
                Box::pin(async move { stalled == 0 })
            }),
        )
    }
}

/// No unpublished event known.
const NONE_KNOWN: i64 = i64::MIN;

/// [`names::LAG`]: remembers when the oldest unpublished event was recorded and reports its age
/// when scraped, so the gauge keeps growing while the relay is stuck in a publish, stalled at a
/// row, or waiting for the broker.
#[derive(Debug, Clone)]
struct LagGauge {
    gauge: Gauge,
    oldest_micros: Arc<AtomicI64>,
}

impl LagGauge {
    fn set_oldest(&self, oldest: Option<DateTime<Utc>>) {
        self.oldest_micros.store(
            oldest.map_or(NONE_KNOWN, |t| t.timestamp_micros()),
            Ordering::Relaxed,
        );
    }

    fn known(&self) -> bool {
        self.oldest_micros.load(Ordering::Relaxed) != NONE_KNOWN
    }
}

impl Collector for LagGauge {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let oldest = self.oldest_micros.load(Ordering::Relaxed);
        self.gauge.set(if oldest == NONE_KNOWN {
            0.0
        } else {
            lag_seconds(DateTime::from_timestamp_micros(oldest))
        });
        self.gauge.collect()
    }
}

/// Why the relay stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// PostgreSQL failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The lease was lost (expired and taken by another relay, or not renewable): another
    /// relay may now lead.
    #[error("lost the leader lease")]
    LostLeadership,
    /// The producer hit a fatal error (e.g. a gap it cannot close): it must be rebuilt.
    #[error("the Kafka producer failed fatally: {0}")]
    ProducerFatal(String),
}

/// A row of the outbox.
#[derive(Debug, sqlx::FromRow)]
struct OutboxRow {
    xid_text: String,
    #[sqlx(flatten)]
    event: crate::store::EventRow,
}

/// A checkpoint: everything at or before it in outbox order has been published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Transaction id (as text: `xid8` has no native binding).
    pub xid: String,
    /// Global position.
    pub position: i64,
}

/// A prepared record.
struct Outgoing {
    topic: String,
    key: String,
    value: Vec<u8>,
    event_type: String,
    event_version: String,
    correlation_id: Option<String>,
}

/// Why a row cannot be published.
#[derive(Debug, thiserror::Error)]
enum PoisonRow {
    #[error("no topic for aggregate type {0}")]
    UnknownAggregate(String),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("envelope does not serialise")]
    Serialise(#[from] serde_json::Error),
}

/// The relay (see the module documentation).
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    producer: FutureProducer,
    cfg: RelayConfig,
    metrics: RelayMetrics,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay publishing from `pool` with `producer`.
    pub fn new(
        pool: PgPool,
        producer: FutureProducer,
        cfg: RelayConfig,
        metrics: RelayMetrics,
    ) -> Self {
        Self {
            pool,
            producer,
            cfg,
            metrics,
        }
    }

    /// Runs until `shutdown` is cancelled: waits for the leader lease, then publishes.
    ///
    /// # Errors
    /// [`RelayError`] when the database fails or leadership is lost; the caller restarts it.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), RelayError> {
        let Some(mut lease) = self.acquire_lease(&shutdown).await? else {
            return Ok(());
        };
        self.metrics.leader.set(1);
        self.metrics.leases.inc();
        let result = self.publish_loop(&mut lease, &shutdown).await;
        self.metrics.leader.set(0);
        // Whoever leads next reports the lag.
        self.metrics.lag.set_oldest(None);
        self.release_lease(&lease).await;
        result
    }

    /// Whether this process may still act under `lease` without renewing it: measured from
    /// before the renewal was sent, with a fifth of the lease as margin, so the database
    /// cannot have expired it yet.
    fn trusted(&self, lease: &Lease) -> bool {
        lease.renewed_at.elapsed() < self.cfg.lease.mul_f64(0.8)
    }

    fn lease_secs(&self) -> f64 {
        self.cfg.lease.as_secs_f64()
    }

    async fn acquire_lease(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<Lease>, RelayError> {
        let mut announced = false;
        loop {
            let asked = Instant::now();
            let epoch: Option<i64> = sqlx::query_scalar(
                "INSERT INTO relay_leases (relay, holder, epoch, expires_at)
                 VALUES ($1, $2, 1, now() + make_interval(secs => $3))
                 ON CONFLICT (relay) DO UPDATE
                    SET holder = EXCLUDED.holder, epoch = relay_leases.epoch + 1,
                        acquired_at = now(), expires_at = EXCLUDED.expires_at
                  WHERE relay_leases.expires_at < now()
                     OR relay_leases.holder = EXCLUDED.holder
                 RETURNING epoch",
            )
            .bind(&self.cfg.name)
            .bind(self.cfg.holder)
            .bind(self.lease_secs())
            .fetch_optional(&self.pool)
            .await?;
            if let Some(epoch) = epoch {
                tracing::info!(relay = %self.cfg.name, epoch, "relay is the leader");
                return Ok(Some(Lease {
                    epoch,
                    renewed_at: asked,
                }));
            }
            if !announced {
                tracing::info!(relay = %self.cfg.name, "another relay leads; standing by");
                announced = true;
            }
            let retry =
                (self.cfg.lease / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
            tokio::select! {
                () = shutdown.cancelled() => return Ok(None),
                () = tokio::time::sleep(retry) => {}
            }
        }
    }

    /// Extends the lease. A database error is tolerated while the lease is still trusted
    /// (PostgreSQL restarting); a lease taken by another relay is [`RelayError::LostLeadership`].
    async fn renew(&self, lease: &mut Lease) -> Result<(), RelayError> {
        let asked = Instant::now();
        let held: Result<Option<i32>, sqlx::Error> = sqlx::query_scalar(
            "UPDATE relay_leases SET expires_at = now() + make_interval(secs => $4)
              WHERE relay = $1 AND holder = $2 AND epoch = $3
             RETURNING 1",
        )
        .bind(&self.cfg.name)
        .bind(self.cfg.holder)
        .bind(lease.epoch)
        .bind(self.lease_secs())
        .fetch_optional(&self.pool)
        .await;
        match held {
            Ok(Some(_)) => {
                lease.renewed_at = asked;
                Ok(())
            }
            Ok(None) => Err(RelayError::LostLeadership),
            Err(e) if self.trusted(lease) => {
                tracing::warn!(relay = %self.cfg.name, error = %e, "lease not renewed; trying again");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Renews the lease when a third of it has gone by.
    async fn keep_lease(&self, lease: &mut Lease) -> Result<(), RelayError> {
        if lease.renewed_at.elapsed() >= self.cfg.lease / 3 || !self.trusted(lease) {
            self.renew(lease).await?;
        }
        if self.trusted(lease) {
            Ok(())
        } else {
            Err(RelayError::LostLeadership)
        }
    }

    /// Lets a standby take over at once (best effort: otherwise the lease expires).
    async fn release_lease(&self, lease: &Lease) {
        let released = sqlx::query(
            "UPDATE relay_leases SET expires_at = now()
              WHERE relay = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(&self.cfg.name)
        .bind(self.cfg.holder)
        .bind(lease.epoch)
        .execute(&self.pool)
        .await;
        if let Err(e) = released {
            tracing::debug!(relay = %self.cfg.name, error = %e, "lease not released; it will expire");
        }
    }

    /// Publishes `batch`, renewing the lease while the broker's acknowledgements are awaited.
    async fn publish_leased(
        &self,
        lease: &mut Lease,
        batch: &[Outgoing],
    ) -> Result<Result<(), KafkaError>, RelayError> {
        let publish = self.publish(batch);
        tokio::pin!(publish);
        loop {
            let renew_in = (self.cfg.lease / 3).saturating_sub(lease.renewed_at.elapsed());
            tokio::select! {
                published = &mut publish => return Ok(published),
                () = tokio::time::sleep(renew_in) => self.keep_lease(lease).await?,
            }
        }
    }

    /// Whether `checkpoint` names a transaction the database has not handed out yet: the
    /// database was restored from a dump taken before (or elsewhere).
    async fn ahead_of_database(&self, checkpoint: &Checkpoint) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar("SELECT $1::text::xid8 >= pg_snapshot_xmax(pg_current_snapshot())")
            .bind(&checkpoint.xid)
            .fetch_one(&self.pool)
            .await
    }

    /// Stays stopped (loudly) while the checkpoint is ahead of the database, holding the
    /// lease; returns once someone ran the recovery (with the checkpoint it wrote), or `None`
    /// at shutdown.
    async fn wait_out_restore(
        &self,
        lease: &mut Lease,
        shutdown: &CancellationToken,
    ) -> Result<Option<Checkpoint>, RelayError> {
        let mut logged = false;
        loop {
            let checkpoint = self.load_checkpoint().await?;
            if !self.ahead_of_database(&checkpoint).await? {
                if logged {
                    tracing::info!(relay = %self.cfg.name, xid = %checkpoint.xid,
                        position = checkpoint.position, "checkpoint recovered; publishing again");
                }
                self.metrics.checkpoint_ahead.set(0);
                self.metrics.stalled.set(0);
                return Ok(Some(checkpoint));
            }
            self.metrics.checkpoint_ahead.set(1);
            self.metrics.stalled.set(1);
            if !logged {
                tracing::error!(
                    relay = %self.cfg.name, checkpoint_xid = %checkpoint.xid,
                    checkpoint_position = checkpoint.position,
                    "the relay's checkpoint is ahead of every transaction this database can have \
                     written: it was restored from a dump. Nothing is published until \
                     `freshline relay recover-restore --name {}` re-bases the outbox \
                     (see README, Operations)", self.cfg.name
                );
                logged = true;
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(None),
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            self.keep_lease(lease).await?;
        }
    }

    async fn publish_loop(
        &self,
        lease: &mut Lease,
        shutdown: &CancellationToken,
    ) -> Result<(), RelayError> {
        let Some(mut checkpoint) = self.wait_out_restore(lease, shutdown).await? else {
            return Ok(());
        };
        let mut last_lag_check = Instant::now();
        let mut backoff = Duration::from_millis(100);
        // Adaptive: quick right after traffic, up to `poll_interval` while idle; woken at once
        // by a writer's notification (see [`AppendSignal`]). Without the listener, polls stay
        // short.
        const FIRST_IDLE_WAIT: Duration = Duration::from_millis(1);
        const UNSIGNALLED_POLL: Duration = Duration::from_millis(25);
        let mut idle_wait = FIRST_IDLE_WAIT;
        let mut listener = self.listen().await;
        // The next batch, read while the previous one's acknowledgements were awaited.
        let mut prefetched: Option<Vec<_>> = None;
        while !shutdown.is_cancelled() {
            self.keep_lease(lease).await?;
            let rows = match prefetched.take() {
                Some(rows) => rows,
                None => self.fetch(&checkpoint).await?,
            };
            let Some(last) = rows.last() else {
                if !self.metrics.lag.known() || last_lag_check.elapsed() > Duration::from_secs(1) {
                    // Nothing publishable: committed events may still wait behind an older
                    // transaction in flight.
                    self.metrics
                        .lag
                        .set_oldest(self.oldest_unpublished(&checkpoint).await?);
                    last_lag_check = Instant::now();
                    if self.ahead_of_database(&checkpoint).await? {
                        match self.wait_out_restore(lease, shutdown).await? {
                            Some(c) => checkpoint = c,
                            None => break,
                        }
                    }
                }
                let cap = if listener.is_some() {
                    self.cfg.poll_interval
                } else {
                    self.cfg.poll_interval.min(UNSIGNALLED_POLL)
                };
                let signalled = match listener.as_mut() {
                    Some(l) => tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(idle_wait) => Some(true),
                        n = l.recv() => n.is_ok().then_some(false),
                    },
                    None => tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(idle_wait) => Some(true),
                    },
                };
                match signalled {
                    // The timer: wait longer next time.
                    Some(true) => idle_wait = (idle_wait * 2).min(cap),
                    // A writer committed: read now.
                    Some(false) => idle_wait = FIRST_IDLE_WAIT,
                    None => {
                        tracing::warn!(relay = %self.cfg.name, "append listener lost; polling every {UNSIGNALLED_POLL:?}");
                        listener = None;
                    }
                }
                continue;
            };
            idle_wait = FIRST_IDLE_WAIT;
            let next = Checkpoint {
                xid: last.xid_text.clone(),
                position: last.event.global_position,
            };
            self.metrics
                .lag
                .set_oldest(rows.iter().map(|r| r.event.recorded_at).min());
            let outgoing = match self.prepare(&rows) {
                Ok(o) => o,
                Err((index, e)) => {
                    self.metrics.stalled.set(1);
                    let row = &rows[index].event;
                    tracing::error!(
                        relay = %self.cfg.name, global_position = row.global_position,
                        event_id = %row.event_id, aggregate_type = %row.aggregate_type,
                        event_type = %row.event_type,
                        correlation_id = correlation_of(&row.metadata).unwrap_or_default(),
                        error = %e,
                        "cannot publish this event; the relay stops here until it is fixed"
                    );
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(5)) => continue,
                    }
                }
            };
            self.metrics.stalled.set(0);
            // Reading the next batch overlaps waiting for this one's acknowledgements; it is
            // used only if this one is published (publishing still goes batch after batch, so
            // per-partition order is the outbox order).
            let (published, next_rows) =
                tokio::join!(self.publish_leased(lease, &outgoing), self.fetch(&next));
            match published? {
                Ok(()) => {
                    prefetched = next_rows.ok();
                    backoff = Duration::from_millis(100);
                    self.save_checkpoint(lease, &next).await?;
                    tracing::debug!(
                        relay = %self.cfg.name, events = outgoing.len(),
                        first_position = rows[0].event.global_position,
                        last_position = next.position,
                        first_correlation_id = outgoing[0].correlation_id.as_deref().unwrap_or_default(),
                        "batch published"
                    );
                    checkpoint = next;
                    // What is left was not publishable at the fetch: found by the next poll.
                    self.metrics.lag.set_oldest(None);
                    self.metrics.batches.inc();
                    self.metrics.position.set(checkpoint.position);
                    for o in &outgoing {
                        self.metrics.published.with_label_values(&[&o.topic]).inc();
                    }
                }
                Err(e) => {
                    self.metrics.failures.inc();
                    if let Some((code, reason)) = self.producer.client().fatal_error() {
                        return Err(RelayError::ProducerFatal(format!("{code:?}: {reason}")));
                    }
                    tracing::warn!(relay = %self.cfg.name, error = %e, ?backoff,
                        "publishing failed; retrying the batch");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
            // Straight on to the next fetch: no sleep after a batch.
        }
        tracing::info!(relay = %self.cfg.name, position = checkpoint.position, "relay stopped");
        Ok(())
    }

    /// A listener on [`APPENDED_CHANNEL`]; `None` (the relay then polls more often) when it
    /// cannot be had.
    async fn listen(&self) -> Option<sqlx::postgres::PgListener> {
        match crate::db::listener(&self.pool, &[APPENDED_CHANNEL]).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(relay = %self.cfg.name, error = %e, "no append listener; polling");
                None
            }
        }
    }

    /// The stored checkpoint (the start of the store when there is none).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn load_checkpoint(&self) -> Result<Checkpoint, sqlx::Error> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT last_xid::text, last_position FROM relay_checkpoints WHERE relay = $1",
        )
        .bind(&self.cfg.name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or_else(
            || Checkpoint {
                xid: "0".into(),
                position: 0,
            },
            |(xid, position)| Checkpoint { xid, position },
        ))
    }

    /// Moves the checkpoint to `c` and renews the lease, in one statement that does either
    /// only under this relay's (holder, epoch): a deposed leader cannot move it (fencing).
    /// Never moves it backwards.
    async fn save_checkpoint(&self, lease: &mut Lease, c: &Checkpoint) -> Result<(), RelayError> {
        let asked = Instant::now();
        let held: bool = sqlx::query_scalar(
            "WITH lease AS (
                 UPDATE relay_leases SET expires_at = now() + make_interval(secs => $6)
                  WHERE relay = $1 AND holder = $4 AND epoch = $5
                 RETURNING 1
             ), saved AS (
                 INSERT INTO relay_checkpoints (relay, last_xid, last_position)
                 SELECT $1, $2::text::xid8, $3 FROM lease
                 ON CONFLICT (relay) DO UPDATE
                    SET last_xid = EXCLUDED.last_xid, last_position = EXCLUDED.last_position,
                        updated_at = now()
                  WHERE (relay_checkpoints.last_xid, relay_checkpoints.last_position)
                      < (EXCLUDED.last_xid, EXCLUDED.last_position)
                 RETURNING 1
             )
             SELECT EXISTS (SELECT 1 FROM lease)",
        )
        .bind(&self.cfg.name)
        .bind(&c.xid)
        .bind(c.position)
        .bind(self.cfg.holder)
        .bind(lease.epoch)
        .bind(self.lease_secs())
        .fetch_one(&self.pool)
        .await?;
        if !held {
            return Err(RelayError::LostLeadership);
        }
        lease.renewed_at = asked;
        Ok(())
    }

    /// When the oldest committed event after the checkpoint was recorded (`None`: there is
    /// none).
    async fn oldest_unpublished(
        &self,
        after: &Checkpoint,
    ) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let oldest: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT min(recorded_at) FROM events WHERE (xid, global_position) > ($1::text::xid8, $2)",
        )
        .bind(&after.xid)
        .bind(after.position)
        .fetch_one(&self.pool)
        .await?;
        Ok(oldest)
    }

    async fn fetch(&self, after: &Checkpoint) -> Result<Vec<OutboxRow>, sqlx::Error> {
        sqlx::query_as::<_, OutboxRow>(
            // The transaction id is selected as text under another name: ordering must use
            // the xid8 column (and its index), never its text form.
            &format!(
                "SELECT xid::text AS xid_text, {}
                   FROM events
                  WHERE (xid, global_position) > ($1::text::xid8, $2)
                    AND xid < pg_snapshot_xmin(pg_current_snapshot())
                  ORDER BY xid, global_position
                  LIMIT $3",
                crate::store::EVENT_COLUMNS
            ),
        )
        .bind(&after.xid)
        .bind(after.position)
        .bind(self.cfg.batch_size)
        .fetch_all(&self.pool)
        .await
    }

    /// The records of `rows`, or the index of the first that cannot be published and why.
    fn prepare(&self, rows: &[OutboxRow]) -> Result<Vec<Outgoing>, (usize, PoisonRow)> {
        rows.iter()
            .enumerate()
            .map(|(i, r)| self.envelope(r).map_err(|e| (i, e)))
            .collect()
    }

    fn envelope(&self, r: &OutboxRow) -> Result<Outgoing, PoisonRow> {
        let r = &r.event;
        let topic = schemas::topics::for_aggregate(&r.aggregate_type)
            .ok_or_else(|| PoisonRow::UnknownAggregate(r.aggregate_type.clone()))?;
        let envelope = r.clone().into_envelope()?;
        let correlation_id = correlation_of(&r.metadata).map(str::to_owned);
        Ok(Outgoing {
            topic: schemas::topics::prefixed(&self.cfg.topic_prefix, topic.name),
            key: r.aggregate_id.clone(),
            value: serde_json::to_vec(&envelope)?,
            event_type: r.event_type.clone(),
            event_version: r.event_version.clone(),
            correlation_id,
        })
    }

    /// Enqueues the batch in order (so per-partition order is the outbox order), then waits
    /// for every acknowledgement.
    async fn publish(&self, batch: &[Outgoing]) -> Result<(), KafkaError> {
        let mut pending = Vec::with_capacity(batch.len());
        for o in batch {
            let mut headers = OwnedHeaders::new_with_capacity(3)
                .insert(Header {
                    key: schemas::HEADER_EVENT_TYPE,
                    value: Some(o.event_type.as_bytes()),
                })
                .insert(Header {
                    key: schemas::HEADER_EVENT_VERSION,
                    value: Some(o.event_version.as_bytes()),
                });
            if let Some(c) = &o.correlation_id {
                headers = headers.insert(Header {
                    key: schemas::HEADER_CORRELATION_ID,
                    value: Some(c.as_bytes()),
                });
            }
            loop {
                let record = FutureRecord::to(&o.topic)
                    .key(&o.key)
                    .payload(&o.value)
                    .headers(headers.clone());
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        // Drain what is in flight, then enqueue this record again: order is kept.
                        for d in pending.drain(..) {
                            delivered(d.await)?;
                        }
                    }
                    Err((e, _)) => return Err(e),
                }
            }
        }
        let mut first_error = None;
        for d in pending {
            if let Err(e) = delivered(d.await) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

fn delivered(
    r: Result<
        rdkafka::producer::future_producer::OwnedDeliveryResult,
        futures::channel::oneshot::Canceled,
    >,
) -> Result<(), KafkaError> {
    match r {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(e),
        Err(_) => Err(KafkaError::Canceled),
    }
}

/// The correlation id in an event's metadata.
fn correlation_of(metadata: &serde_json::Value) -> Option<&str> {
    metadata
        .get(schemas::metadata_keys::CORRELATION_ID)
        .and_then(|v| v.as_str())
}

/// The lease a relay leads under.
#[derive(Debug)]
struct Lease {
    epoch: i64,
    /// When the last renewal (or the taking) was sent.
    renewed_at: Instant,
}

/// What [`recover_after_restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Events whose transaction id was re-based.
    pub rebased_events: u64,
    /// The first global position published again.
    pub republish_from: i64,
}

/// Why [`recover_after_restore`] refused.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The checkpoint is not ahead of the database: there is nothing to recover.
    #[error("relay {0}'s checkpoint is not ahead of the database: nothing to recover")]
    NotNeeded(String),
}

/// Recovers a relay whose database was restored from a dump (its checkpoint names a
/// transaction id the database has not handed out yet, see the module documentation).
///
/// In one transaction: every event already committed gets transaction id 0 (events keep
/// their global positions, so the outbox order among them is their position order; events
/// committed later get real, higher ids and follow), and the checkpoint is set to just before
/// `republish_from`. Everything from that position on is published again: consumers drop
/// what they already have by `(aggregate_id, sequence)`, so the safe default is 1 (all of
/// it); a higher position saves time when Kafka is known to hold everything before it. A
/// running relay notices within a second and goes on.
///
/// # Errors
/// [`RecoveryError::NotNeeded`] when the checkpoint is not ahead (nothing is changed).
pub async fn recover_after_restore(
    pool: &PgPool,
    relay: &str,
    republish_from: i64,
) -> Result<Recovery, RecoveryError> {
    let mut tx = pool.begin().await?;
    let ahead: Option<bool> = sqlx::query_scalar(
        "SELECT last_xid >= pg_snapshot_xmax(pg_current_snapshot())
           FROM relay_checkpoints WHERE relay = $1 FOR UPDATE",
    )
    .bind(relay)
    .fetch_optional(&mut *tx)
    .await?;
    if ahead != Some(true) {
        return Err(RecoveryError::NotNeeded(relay.to_owned()));
    }
    let rebased = sqlx::query("UPDATE events SET xid = '0'::xid8 WHERE xid <> '0'::xid8")
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let republish_from = republish_from.max(1);
    sqlx::query(
        "UPDATE relay_checkpoints SET last_xid = '0'::xid8, last_position = $2, updated_at = now()
          WHERE relay = $1",
    )
    .bind(relay)
    .bind(republish_from - 1)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Recovery {
        rebased_events: rebased,
        republish_from,
    })
}

fn lag_seconds(oldest: Option<DateTime<Utc>>) -> f64 {
    oldest.map_or(0.0, |t| {
        (Utc::now() - t).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(registry: &Registry) -> f64 {
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .expect("encode");
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{} ", names::LAG)))
            .and_then(|v| v.parse().ok())
            .expect("the lag gauge is exposed")
    }

    #[test]
    fn lag_is_the_age_at_scrape_time_of_the_oldest_unpublished_event() {
        let registry = Registry::new();
        let metrics = RelayMetrics::new(&registry).expect("metrics");
        assert_eq!(lag(&registry), 0.0, "nothing known: no lag");
        metrics
            .lag
            .set_oldest(Some(Utc::now() - chrono::TimeDelta::seconds(30)));
        let first = lag(&registry);
        assert!((30.0..31.0).contains(&first), "{first}");
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            lag(&registry) > first,
            "it grows while nothing is published"
        );
        metrics.lag.set_oldest(None);
        assert_eq!(lag(&registry), 0.0);
    }
}
