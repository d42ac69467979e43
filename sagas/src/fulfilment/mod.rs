//! The order fulfilment saga: a process manager keyed by order id, its state in PostgreSQL
//! (schema `fulfilment`), driven by events from Kafka, acting only through command-api (with
//! its own service token) and the payment gateway.
//!
//! ```text
//! OrderPlaced → reserve stock (FEFO) → authorise + capture (or accept cash) → order paid
//!   → book slot → schedule delivery → nearest rider → [packed] → commit reservations
//!   → [picked up] → shipped → [delivered] → (cash captured) → delivered → rider freed
//! ```
//!
//! Compensations: out of stock → cancel; payment declined or not confirmed in time → release
//! stock, cancel; no slot or rider → refund, release, cancel; delivery failed → refund, return
//! stock by policy, cancel; the customer cancelling → undo whatever was done.
//!
//! **Delivery guarantee: every event is applied to its saga exactly once in effect, and every
//! step takes effect at most once.** The intake writes each event into `fulfilment.inbox`
//! (keyed by event id) before committing its Kafka offset, so a redelivery adds nothing; a
//! worker claims a saga by a lease (one short statement; no transaction stays open while it
//! calls other services), applies its inbox rows and runs its steps, writing each result back
//! with a compare-and-set on the lease (a worker whose lease ran out and was taken over has
//! its write refused); every step
//! is a command (or gateway call) with a deterministic idempotency key (order id + step), so a
//! step retried after a crash is answered from the first attempt instead of acting twice.
//! Transient failures back off and retry; domain refusals take the compensation branch.
//! Deadlines (payment confirmation, finding a rider) are rows in `fulfilment.deadlines`,
//! polled; a passed deadline is one more inbox event.

pub mod machine;
mod steps;

pub use machine::{DeadlineKind, Next, Outcome, Saga, SagaEvent, Step};

use crate::commands::{Cause, CommandClient};
use crate::payments::PaymentGateway;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::consumer::{
    ConsumerConfig, ConsumerError, ConsumerMetrics, Delivery, Failure, Handler, StartAt, Tally,
};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use schemas::Envelope;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

/// Metric names of the saga, defined once.
pub mod names {
    /// Steps run, by step and outcome (`done`, `waiting`: not yet, asked again later,
    /// `transient`: failed, backing off, `stuck`: refused unexpectedly, retried slowly).
    pub const STEPS: &str = "freshline_saga_steps_total";
    /// Step latency by step.
    pub const STEP_DURATION: &str = "freshline_saga_step_duration_seconds";
    /// Saga instances by status.
    pub const INSTANCES: &str = "freshline_saga_instances";
    /// Deadlines that passed, by kind.
    pub const DEADLINES: &str = "freshline_saga_deadlines_fired_total";
    /// Events taken in, by event type.
    pub const EVENTS: &str = "freshline_saga_events_total";
}

/// The saga's metrics.
#[derive(Debug, Clone)]
pub struct SagaMetrics {
    steps: IntCounterVec,
    duration: HistogramVec,
    instances: IntGaugeVec,
    deadlines: IntCounterVec,
    events: IntCounterVec,
    consumer: ConsumerMetrics,
}

impl SagaMetrics {
    /// Creates and registers them.
    ///
    /// # Errors
    /// When already registered.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        use platform::metrics::register;
        Ok(Self {
            steps: register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::STEPS, "Saga steps by step and outcome"),
                    &["step", "outcome"],
                )?,
            )?,
            duration: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(names::STEP_DURATION, "Saga step latency")
                        .buckets(platform::metrics::LATENCY_BUCKETS.to_vec()),
                    &["step"],
                )?,
            )?,
            instances: register(
                registry,
                IntGaugeVec::new(
                    Opts::new(names::INSTANCES, "Saga instances by status"),
                    &["status"],
                )?,
            )?,
            deadlines: register(
                registry,
                IntCounterVec::new(Opts::new(names::DEADLINES, "Deadlines passed"), &["kind"])?,
            )?,
            events: register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::EVENTS, "Events taken in by the saga"),
                    &["event_type"],
                )?,
            )?,
            consumer: ConsumerMetrics::new(registry)?,
        })
    }
}

/// Settings.
#[derive(Debug, Clone)]
pub struct SagaConfig {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Topic prefix (tests).
    pub topic_prefix: String,
    /// The intake's consumer group.
    pub group: String,
    /// A stable id for this instance in the group (Kafka static membership): a restarted
    /// instance takes its partitions back at once instead of waiting out a rebalance.
    pub instance_id: Option<String>,
    /// The schema with the read models (batches, riders).
    pub read_schema: String,
    /// Concurrent workers running steps.
    pub workers: usize,
    /// A card payment must be captured this long after placement, else the order is cancelled.
    pub payment_timeout: Duration,
    /// A rider must be found this long after the search starts.
    pub rider_timeout: Duration,
    /// How often workers look for due sagas when not woken.
    pub poll_interval: Duration,
    /// How long a claim holds a saga without writing back; past it, another worker takes the
    /// saga over and the late write-back is refused.
    pub lease: Duration,
    /// Returned goods that need the cold chain, or expire within this, are written off
    /// instead of received back.
    pub restock_min_shelf_life: Duration,
}

impl SagaConfig {
    /// Local defaults with `brokers`.
    pub fn new(brokers: &str) -> Self {
        Self {
            brokers: brokers.to_owned(),
            topic_prefix: String::new(),
            group: "fulfilment-saga".to_owned(),
            instance_id: None,
            read_schema: "read".to_owned(),
            workers: 16,
            payment_timeout: Duration::from_secs(120),
            rider_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_millis(200),
            lease: Duration::from_secs(60),
            restock_min_shelf_life: Duration::from_secs(12 * 3600),
        }
    }
}

/// Why the saga stopped.
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// Kafka failed.
    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// PostgreSQL failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Creates the saga's tables (idempotent).
///
/// # Errors
/// When the database fails.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Several processes may start at once.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('fulfilment.migrate'))")
        .execute(&mut *tx)
        .await?;
    for ddl in [
        "CREATE SCHEMA IF NOT EXISTS fulfilment",
        "CREATE TABLE IF NOT EXISTS fulfilment.sagas (
            order_id       uuid PRIMARY KEY,
            payment_id     uuid NOT NULL,
            delivery_id    uuid NOT NULL,
            status         text NOT NULL,
            state          jsonb NOT NULL,
            next_at        timestamptz,
            attempts       int NOT NULL DEFAULT 0,
            last_step      text,
            last_error     text,
            correlation_id text,
            created_at     timestamptz NOT NULL DEFAULT now(),
            updated_at     timestamptz NOT NULL DEFAULT now())",
        // A claim is a lease: the worker holding it (a fresh id per claim) and until when.
        "ALTER TABLE fulfilment.sagas ADD COLUMN IF NOT EXISTS lease_owner uuid",
        "ALTER TABLE fulfilment.sagas ADD COLUMN IF NOT EXISTS lease_until timestamptz",
        "CREATE INDEX IF NOT EXISTS sagas_due ON fulfilment.sagas (next_at) WHERE status = 'running'",
        "CREATE INDEX IF NOT EXISTS sagas_payment ON fulfilment.sagas (payment_id)",
        "CREATE INDEX IF NOT EXISTS sagas_delivery ON fulfilment.sagas (delivery_id)",
        "CREATE TABLE IF NOT EXISTS fulfilment.inbox (
            event_id    uuid PRIMARY KEY,
            order_id    uuid NOT NULL,
            seq         bigserial,
            event       jsonb NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            applied_at  timestamptz)",
        "CREATE INDEX IF NOT EXISTS inbox_pending ON fulfilment.inbox (order_id, seq) WHERE applied_at IS NULL",
        "CREATE TABLE IF NOT EXISTS fulfilment.deadlines (
            order_id uuid NOT NULL,
            kind     text NOT NULL,
            due_at   timestamptz NOT NULL,
            fired_at timestamptz,
            PRIMARY KEY (order_id, kind))",
        "CREATE INDEX IF NOT EXISTS deadlines_due ON fulfilment.deadlines (due_at) WHERE fired_at IS NULL",
    ] {
        sqlx::query(ddl).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// The intake: each event of a batch recorded (a new saga, an inbox row, or nothing);
/// recording is idempotent by event id, so a batch tried again adds nothing twice.
#[async_trait]
impl Handler for FulfilmentSaga {
    type Error = std::convert::Infallible;

    async fn handle(&self, batch: &[Delivery]) -> Result<Tally, Failure<Self::Error>> {
        let mut tally = Tally::default();
        for m in batch {
            match m.envelope() {
                Ok(e) => {
                    self.take_in(&e).await.map_err(Failure::transient)?;
                    tally.applied += 1;
                }
                Err(problem) => {
                    tracing::error!(topic = %m.topic, offset = m.offset, %problem, "undecodable message skipped by the saga");
                    tally.skipped += 1;
                }
            }
        }
        Ok(tally)
    }
}

/// The saga: intake, workers and the deadline poller.
pub struct FulfilmentSaga {
    pool: PgPool,
    cfg: SagaConfig,
    runner: Arc<steps::Runner>,
    metrics: SagaMetrics,
    wake: Arc<Notify>,
    /// Raised when a step is put off to a later time (the due poller looks again).
    rescheduled: Arc<Notify>,
}

impl std::fmt::Debug for FulfilmentSaga {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FulfilmentSaga")
            .field("group", &self.cfg.group)
            .finish_non_exhaustive()
    }
}

impl FulfilmentSaga {
    /// A saga over `pool` (its own tables and the read models), acting through `api` and
    /// `gateway`.
    ///
    /// # Errors
    /// When its tables cannot be created.
    pub async fn new(
        pool: PgPool,
        api: CommandClient,
        gateway: Arc<dyn PaymentGateway>,
        cfg: SagaConfig,
        metrics: SagaMetrics,
    ) -> Result<Self, sqlx::Error> {
        migrate(&pool).await?;
        Ok(Self {
            runner: Arc::new(steps::Runner {
                pool: pool.clone(),
                api,
                gateway,
                cfg: cfg.clone(),
            }),
            pool,
            cfg,
            metrics,
            wake: Arc::new(Notify::new()),
            rescheduled: Arc::new(Notify::new()),
        })
    }

    /// Runs intake, workers and deadlines until `shutdown`.
    ///
    /// # Errors
    /// When the consumer cannot be created.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), SagaError> {
        let topics: Vec<String> = [
            schemas::topics::ORDER,
            schemas::topics::PAYMENT,
            schemas::topics::DELIVERY,
        ]
        .iter()
        .map(|t| schemas::topics::prefixed(&self.cfg.topic_prefix, t))
        .collect();
        let mut consumer = ConsumerConfig::new(
            "fulfilment-saga",
            &self.cfg.brokers,
            &self.cfg.group,
            topics,
        );
        consumer.instance_id.clone_from(&self.cfg.instance_id);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..self.cfg.workers.max(1) {
            let me = self.clone();
            let stop = shutdown.clone();
            tasks.spawn(async move { me.work(stop).await });
        }
        let me = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { me.deadlines(stop).await });
        let me = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { me.due(stop).await });
        let me = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { me.gauge(stop).await });
        // The intake: an offset is done once its event is in the inbox.
        let result = platform::consumer::run(
            &consumer,
            self.as_ref(),
            StartAt::Committed,
            &self.metrics.consumer,
            &shutdown,
        )
        .await;
        shutdown.cancel();
        while tasks.join_next().await.is_some() {}
        match result {
            Ok(()) => Ok(()),
            Err(ConsumerError::Kafka(e)) => Err(e.into()),
            Err(ConsumerError::Stopped(never)) => match never {},
        }
    }

    /// Records one event: a new saga for `OrderPlaced`, an inbox row for what concerns a
    /// running saga, nothing for the rest.
    async fn take_in(&self, e: &Envelope) -> Result<(), sqlx::Error> {
        use schemas::{delivery, order, payment};
        let id = || Uuid::parse_str(&e.aggregate_id).ok();
        let decoded = match e.aggregate_type.as_str() {
            schemas::aggregate_types::ORDER => {
                match order::OrderEvent::decode(&e.event_type, e.event_version, e.payload.clone()) {
                    Ok(order::OrderEvent::OrderPlaced(p)) => {
                        let Some(order_id) = id() else { return Ok(()) };
                        self.metrics
                            .events
                            .with_label_values(&[&e.event_type])
                            .inc();
                        return self.start(order_id, &p, e).await;
                    }
                    Ok(order::OrderEvent::OrderPacked(_)) => id().map(|o| (o, SagaEvent::Packed)),
                    Ok(order::OrderEvent::OrderCancelled(c)) => id().map(|o| {
                        (
                            o,
                            SagaEvent::OrderCancelled {
                                reason: c.reason,
                                detail: c.detail,
                            },
                        )
                    }),
                    _ => None,
                }
            }
            schemas::aggregate_types::PAYMENT => {
                match payment::PaymentEvent::decode(
                    &e.event_type,
                    e.event_version,
                    e.payload.clone(),
                ) {
                    Ok(payment::PaymentEvent::RefundRequested(r)) => {
                        let order = match id() {
                            Some(p) => self.order_of("payment_id", p).await?,
                            None => None,
                        };
                        order.map(|o| {
                            (
                                o,
                                SagaEvent::RefundRequested {
                                    refund_id: r.refund_id,
                                    amount_minor: r.amount.amount_minor,
                                    reason: r.reason,
                                },
                            )
                        })
                    }
                    _ => None,
                }
            }
            schemas::aggregate_types::DELIVERY => {
                let event = match delivery::DeliveryEvent::decode(
                    &e.event_type,
                    e.event_version,
                    e.payload.clone(),
                ) {
                    Ok(delivery::DeliveryEvent::DeliveryPickedUp(_)) => Some(SagaEvent::PickedUp),
                    Ok(delivery::DeliveryEvent::DeliveryCompleted(_)) => Some(SagaEvent::Delivered),
                    Ok(delivery::DeliveryEvent::DeliveryFailed(f)) => {
                        Some(SagaEvent::DeliveryFailed { reason: f.reason })
                    }
                    _ => None,
                };
                match (event, id()) {
                    (Some(ev), Some(d)) => self.order_of("delivery_id", d).await?.map(|o| (o, ev)),
                    _ => None,
                }
            }
            _ => None,
        };
        let Some((order_id, event)) = decoded else {
            return Ok(());
        };
        self.metrics
            .events
            .with_label_values(&[&e.event_type])
            .inc();
        self.enqueue(e.event_id, order_id, &event).await
    }

    async fn order_of(&self, column: &str, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
        sqlx::query_scalar(&format!(
            "SELECT order_id FROM fulfilment.sagas WHERE {column} = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    async fn enqueue(
        &self,
        event_id: Uuid,
        order_id: Uuid,
        event: &SagaEvent,
    ) -> Result<(), sqlx::Error> {
        let json = serde_json::to_value(event).unwrap_or_default();
        sqlx::query(
            "INSERT INTO fulfilment.inbox (event_id, order_id, event) VALUES ($1, $2, $3)
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event_id)
        .bind(order_id)
        .bind(json)
        .execute(&self.pool)
        .await?;
        self.wake.notify_waiters();
        Ok(())
    }

    async fn start(
        &self,
        order_id: Uuid,
        placed: &schemas::order::OrderPlacedV1,
        e: &Envelope,
    ) -> Result<(), sqlx::Error> {
        let mut saga = Saga::start(order_id, placed, e.occurred_at);
        saga.last_event = Some(e.event_id);
        let delivery_id =
            domain::fulfilment_values::DeliveryId::of_order(domain::OrderId(order_id));
        let correlation = e
            .metadata
            .get(schemas::metadata_keys::CORRELATION_ID)
            .and_then(|v| v.as_str());
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO fulfilment.sagas (order_id, payment_id, delivery_id, status, state, next_at, correlation_id)
             VALUES ($1, $2, $3, 'running', $4, now(), $5) ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(order_id)
        .bind(saga.payment_id)
        .bind(delivery_id.0)
        .bind(serde_json::to_value(&saga).unwrap_or_default())
        .bind(correlation)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 && saga.by_card() {
            let due = e.occurred_at
                + chrono::TimeDelta::from_std(self.cfg.payment_timeout)
                    .unwrap_or(chrono::TimeDelta::MAX);
            sqlx::query(
                "INSERT INTO fulfilment.deadlines (order_id, kind, due_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(order_id)
            .bind(DeadlineKind::Payment.as_str())
            .bind(due)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(())
    }

    /// One worker: claims a due saga (or one with unapplied events), applies its events, runs
    /// its next step, stores the result; repeats.
    ///
    /// New events wake a worker at once; a worker that ran a step wakes another (there may be
    /// more); steps due later (retries) are woken by [`Self::due`]. A slow poll covers a wake-up
    /// missed while every worker was busy.
    async fn work(&self, shutdown: CancellationToken) {
        let poll = self.cfg.poll_interval * 10;
        while !shutdown.is_cancelled() {
            match self.run_one().await {
                Ok(true) => {
                    self.wake.notify_one();
                    continue;
                }
                Ok(false) => {}
                Err(e) => platform::telemetry::log_error_chain("saga worker failed", &e),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Wakes the workers when a saga's next step falls due: sleeps until the earliest
    /// `next_at` (at most a second), or until a step is rescheduled.
    async fn due(&self, shutdown: CancellationToken) {
        loop {
            let next: Result<Option<DateTime<Utc>>, sqlx::Error> = sqlx::query_scalar(
                "SELECT min(next_at) FROM fulfilment.sagas WHERE status = 'running'",
            )
            .fetch_one(&self.pool)
            .await;
            let now = Utc::now();
            let wait = match next {
                Ok(Some(at)) if at <= now => {
                    self.wake.notify_waiters();
                    self.cfg.poll_interval
                }
                Ok(Some(at)) => (at - now).to_std().unwrap_or_default(),
                Ok(None) => Duration::from_secs(1),
                Err(e) => {
                    platform::telemetry::log_error_chain("saga due poll failed", &e);
                    Duration::from_secs(1)
                }
            }
            .min(Duration::from_secs(1));
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.rescheduled.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Claims a due saga (or one with unapplied events) and carries it forward; `false` when
    /// nothing was due.
    pub async fn run_one(&self) -> Result<bool, sqlx::Error> {
        let Some(claim) = self.claim().await? else {
            return Ok(false);
        };
        // Every log line of this claim, and the commands it sends, carry the order's
        // correlation id (its OrderPlaced's, passed on with every command).
        let span = tracing::info_span!(
            "saga_step",
            order_id = %claim.order_id,
            correlation_id = claim.correlation.as_deref().unwrap_or_default(),
            step = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        self.advance(claim).instrument(span).await?;
        Ok(true)
    }

    /// Takes a lease on one saga that is due or has unapplied events, and is neither parked
    /// nor leased (an expired lease is taken over). One short statement: no transaction stays
    /// open while the saga's steps call other services.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn claim(&self) -> Result<Option<Claim>, sqlx::Error> {
        let lease = lease_interval(self.cfg.lease);
        type Row = (
            Uuid,
            serde_json::Value,
            i32,
            Option<String>,
            Uuid,
            serde_json::Value,
        );
        let row: Option<Row> = sqlx::query_as(
            "WITH candidate AS (
                 SELECT order_id FROM fulfilment.sagas
                  WHERE order_id = ANY(ARRAY(
                          (SELECT order_id FROM fulfilment.sagas
                            WHERE status = 'running' AND next_at <= now() ORDER BY next_at LIMIT 64)
                          UNION
                          (SELECT i.order_id FROM fulfilment.inbox i
                             JOIN fulfilment.sagas s USING (order_id)
                            WHERE i.applied_at IS NULL AND s.status <> 'parked'
                              AND (s.lease_until IS NULL OR s.lease_until < now())
                            LIMIT 64)))
                    AND status <> 'parked'
                    AND (lease_until IS NULL OR lease_until < now())
                  LIMIT 1 FOR UPDATE SKIP LOCKED)
             UPDATE fulfilment.sagas s
                SET lease_owner = gen_random_uuid(), lease_until = now() + make_interval(secs => $1),
                    -- Due again when the lease runs out (a worker that dies is taken over).
                    next_at = CASE WHEN s.status = 'running' THEN now() + make_interval(secs => $1) END
               FROM candidate c WHERE s.order_id = c.order_id
             RETURNING s.order_id, s.state, s.attempts, s.correlation_id, s.lease_owner,
                       (SELECT coalesce(jsonb_agg(jsonb_build_array(i.event_id, i.event) ORDER BY i.seq), '[]')
                          FROM fulfilment.inbox i
                         WHERE i.order_id = s.order_id AND i.applied_at IS NULL)",
        )
        .bind(lease)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(order_id, state, attempts, correlation, lease, inbox)| Claim {
                order_id,
                state,
                attempts,
                correlation,
                lease,
                inbox: inbox_events(inbox),
            },
        ))
    }

    /// Applies the claimed saga's inbox and runs its steps, writing each step's result back
    /// under the lease before the next (a compare-and-set on it: a worker whose lease was
    /// taken over has its write refused and stops). An order is carried forward while its
    /// steps go through, up to [`STEPS_PER_CLAIM`]. `false` when the lease was taken over
    /// meanwhile: this worker's result was refused.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn advance(&self, claim: Claim) -> Result<bool, sqlx::Error> {
        let span = tracing::Span::current();
        let Claim {
            order_id,
            state,
            mut attempts,
            correlation,
            lease,
            inbox,
        } = claim;
        let Ok(mut saga) = serde_json::from_value::<Saga>(state) else {
            span.record("outcome", "parked");
            tracing::error!("saga state unreadable; parked until an operator acts");
            let parked = sqlx::query(
                "UPDATE fulfilment.sagas
                    SET status = 'parked', next_at = NULL, lease_owner = NULL, lease_until = NULL,
                        last_error = 'state unreadable', updated_at = now()
                  WHERE order_id = $1 AND lease_owner = $2
                    AND pg_notify($3, 'sagas') IS NOT NULL",
            )
            .bind(order_id)
            .bind(lease)
            .bind(platform::db::CHANGED_CHANNEL)
            .execute(&self.pool)
            .await?
            .rows_affected();
            return Ok(parked == 1);
        };
        let mut ran = 0;
        // Events taken in and not yet applied: read with the claim, then with each write-back
        // (marked applied with the result of the step that saw them).
        let mut pending = inbox;
        loop {
            let applied: Vec<Uuid> = pending.iter().map(|(id, _)| *id).collect();
            for (event_id, event) in std::mem::take(&mut pending) {
                match serde_json::from_value::<SagaEvent>(event) {
                    Ok(e) => {
                        if !matches!(e, SagaEvent::Deadline(_)) {
                            saga.last_event = Some(event_id);
                        }
                        saga.on_event(e);
                    }
                    Err(err) => {
                        tracing::error!(%event_id, error = %err, "inbox event unreadable; skipped")
                    }
                }
            }
            let cause = Cause::new(correlation.as_deref(), saga.last_event);
            let result = self.step(&mut saga, attempts, cause).await;
            ran += 1;
            let runnable = result.status == "running"
                && result.error.is_none()
                && result.next_at.is_some_and(|t| t <= Utc::now());
            let go_on = runnable && ran < STEPS_PER_CLAIM;
            let Some(arrived) = self
                .write_back(order_id, lease, &saga, &result, &applied, go_on)
                .await?
            else {
                span.record("outcome", "lease_lost");
                tracing::warn!("the saga's lease was taken over; this worker's result is dropped (its commands are idempotent)");
                self.metrics
                    .steps
                    .with_label_values(&["claim", "lease_lost"])
                    .inc();
                return Ok(false);
            };
            pending = arrived;
            attempts = result.attempts;
            if !go_on {
                if result.next_at.is_some_and(|at| at > Utc::now()) {
                    self.rescheduled.notify_one();
                }
                tracing::debug!(status = result.status, "saga step stored");
                return Ok(true);
            }
        }
    }

    /// Runs the saga's next step (if any) and says what to store.
    async fn step(&self, saga: &mut Saga, attempts: i32, cause: Cause<'_>) -> StepResult {
        let span = tracing::Span::current();
        let result = |status, next_at, attempts, step, error| StepResult {
            status,
            next_at,
            attempts,
            step,
            error,
        };
        match saga.next_step() {
            Next::Done(outcome) => {
                let status = match outcome {
                    Outcome::Delivered => "delivered",
                    Outcome::Compensated => "compensated",
                };
                saga.outcome = Some(outcome);
                result(status, None, 0, None, None)
            }
            Next::Wait => result("waiting", None, 0, None, None),
            Next::Run(step) => {
                let name = step.name();
                span.record("step", name);
                let started = std::time::Instant::now();
                let outcome = self.runner.run(saga, &step, cause).await;
                self.metrics
                    .duration
                    .with_label_values(&[name])
                    .observe(started.elapsed().as_secs_f64());
                let (label, out) = match outcome {
                    Ok(steps::Progress::Done) => (
                        "done",
                        result("running", Some(Utc::now()), 0, Some(name), None),
                    ),
                    Ok(steps::Progress::RetryIn(wait)) => (
                        "waiting",
                        result(
                            "running",
                            Some(Utc::now() + wait),
                            attempts,
                            Some(name),
                            None,
                        ),
                    ),
                    Err(steps::StepError::Transient(t)) => {
                        tracing::warn!(error = %t, "saga step failed transiently; backing off");
                        (
                            "transient",
                            result(
                                "running",
                                Some(Utc::now() + backoff(attempts)),
                                attempts.saturating_add(1),
                                Some(name),
                                Some(t),
                            ),
                        )
                    }
                    // A fault (a token, a scope, a route, a request built wrongly, an answer
                    // the step has no branch for): never a "no"; retried with backoff.
                    Err(steps::StepError::Stuck(t)) => {
                        tracing::error!(problem = %t, "saga step met a fault; retrying with backoff");
                        (
                            "stuck",
                            result(
                                "running",
                                Some(Utc::now() + backoff(attempts)),
                                attempts.saturating_add(1),
                                Some(name),
                                Some(t),
                            ),
                        )
                    }
                };
                span.record("outcome", label);
                self.metrics.steps.with_label_values(&[name, label]).inc();
                out
            }
        }
    }

    /// Stores a step's result if this worker still holds the lease (keeping it when
    /// `keep_lease`, else letting it go), marks the events it saw applied and arms the rider
    /// deadline. Answers, when the lease is kept, the events taken in since (for the next
    /// step); `None` when the lease was taken over: nothing is written.
    async fn write_back(
        &self,
        order_id: Uuid,
        lease: Uuid,
        saga: &Saga,
        r: &StepResult,
        applied: &[Uuid],
        keep_lease: bool,
    ) -> Result<Option<Vec<(Uuid, serde_json::Value)>>, sqlx::Error> {
        let rider_due = (r.step == Some("assign_rider")).then(|| {
            Utc::now()
                + chrono::TimeDelta::from_std(self.cfg.rider_timeout)
                    .unwrap_or(chrono::TimeDelta::MAX)
        });
        let (stored, arrived): (i64, serde_json::Value) = sqlx::query_as(
            "WITH s AS (
                 UPDATE fulfilment.sagas AS sg
                    SET state = $3, status = $4, attempts = $6,
                        last_step = COALESCE($7, last_step), last_error = $8, updated_at = now(),
                        lease_owner = CASE WHEN $9 THEN sg.lease_owner END,
                        lease_until = CASE WHEN $9 THEN now() + make_interval(secs => $10) END,
                        next_at = CASE WHEN $9 THEN now() + make_interval(secs => $10) ELSE $5 END
                   FROM (SELECT attempts AS before FROM fulfilment.sagas WHERE order_id = $1) AS old
                  WHERE sg.order_id = $1 AND sg.lease_owner = $2
                  RETURNING sg.order_id, old.before >= $15 AS was_stuck),
               -- Operators' live view wakes when a saga becomes or stops being stuck.
               n AS (SELECT pg_notify($14, 'sagas') FROM s WHERE s.was_stuck <> ($6 >= $15)),
               i AS (
                 UPDATE fulfilment.inbox SET applied_at = now()
                  WHERE event_id = ANY($11) AND order_id IN (SELECT order_id FROM s)),
               d AS (
                 INSERT INTO fulfilment.deadlines (order_id, kind, due_at)
                 SELECT order_id, $12, $13 FROM s WHERE $13::timestamptz IS NOT NULL
                 ON CONFLICT DO NOTHING)
             SELECT (SELECT count(*) FROM s) + 0 * (SELECT count(*) FROM n),
                    (SELECT coalesce(jsonb_agg(jsonb_build_array(event_id, event) ORDER BY seq), '[]')
                       FROM fulfilment.inbox
                      WHERE $9 AND order_id = $1 AND applied_at IS NULL AND event_id <> ALL($11))",
        )
        .bind(order_id)
        .bind(lease)
        .bind(serde_json::to_value(saga).unwrap_or_default())
        .bind(r.status)
        .bind(r.next_at)
        .bind(r.attempts)
        .bind(r.step)
        .bind(r.error.as_deref())
        .bind(keep_lease)
        .bind(lease_interval(self.cfg.lease))
        .bind(applied)
        .bind(DeadlineKind::Rider.as_str())
        .bind(rider_due)
        .bind(platform::db::CHANGED_CHANNEL)
        .bind(platform::db::SAGA_STUCK_AFTER)
        .fetch_one(&self.pool)
        .await?;
        Ok((stored == 1).then(|| inbox_events(arrived)))
    }

    /// Turns passed deadlines into inbox events.
    async fn deadlines(&self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.fire_deadlines().await {
                Ok(0) => {}
                Ok(_) => self.wake.notify_waiters(),
                Err(e) => platform::telemetry::log_error_chain("deadline poll failed", &e),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    /// Fires every deadline that has passed; returns how many.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn fire_deadlines(&self) -> Result<usize, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let fired: Vec<(Uuid, String)> = sqlx::query_as(
            "UPDATE fulfilment.deadlines SET fired_at = now()
              WHERE (order_id, kind) IN (SELECT order_id, kind FROM fulfilment.deadlines
                                          WHERE fired_at IS NULL AND due_at <= now()
                                          LIMIT 500 FOR UPDATE SKIP LOCKED)
              RETURNING order_id, kind",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (order_id, kind) in &fired {
            let Some(k) = DeadlineKind::parse(kind) else {
                continue;
            };
            self.metrics.deadlines.with_label_values(&[kind]).inc();
            let event_id = Uuid::new_v5(order_id, format!("deadline:{kind}").as_bytes());
            sqlx::query(
                "INSERT INTO fulfilment.inbox (event_id, order_id, event) VALUES ($1, $2, $3)
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(event_id)
            .bind(order_id)
            .bind(serde_json::to_value(SagaEvent::Deadline(k)).unwrap_or_default())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(fired.len())
    }

    async fn gauge(&self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Ok(rows) = sqlx::query_as::<_, (String, i64)>(
                "SELECT status, count(*) FROM fulfilment.sagas GROUP BY status",
            )
            .fetch_all(&self.pool)
            .await
            {
                for s in ["running", "waiting", "delivered", "compensated", "parked"] {
                    let n = rows.iter().find(|(st, _)| st == s).map_or(0, |(_, n)| *n);
                    self.metrics.instances.with_label_values(&[s]).set(n);
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }
}

/// Steps one claim may run for one saga before it goes back to the queue. Each step's result
/// is stored before the next runs, so a crash loses at most the step in flight (whose commands
/// are answered from their idempotency keys when it runs again).
const STEPS_PER_CLAIM: u32 = 64;

/// A saga taken by a worker.
#[derive(Debug)]
pub struct Claim {
    /// The order.
    pub order_id: Uuid,
    /// Its stored state.
    state: serde_json::Value,
    attempts: i32,
    correlation: Option<String>,
    /// The lease: a fresh id per claim, compared on every write-back.
    pub lease: Uuid,
    /// Its inbox events not applied yet, in arrival order.
    inbox: Vec<(Uuid, serde_json::Value)>,
}

/// Inbox events as the claim and the write-back read them: `[[event_id, event], ...]`.
fn inbox_events(rows: serde_json::Value) -> Vec<(Uuid, serde_json::Value)> {
    match rows {
        serde_json::Value::Array(rows) => rows
            .into_iter()
            .filter_map(|row| match row {
                serde_json::Value::Array(mut pair) if pair.len() == 2 => {
                    let event = pair.pop()?;
                    let id = pair.pop()?.as_str().and_then(|s| Uuid::parse_str(s).ok())?;
                    Some((id, event))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What a step leaves to store.
#[derive(Debug)]
struct StepResult {
    status: &'static str,
    next_at: Option<DateTime<Utc>>,
    attempts: i32,
    step: Option<&'static str>,
    error: Option<String>,
}

/// A lease length in seconds (`make_interval(secs => ...)`).
fn lease_interval(d: Duration) -> f64 {
    d.as_secs_f64().max(0.001)
}

/// 200 ms doubling to 30 s.
fn backoff(attempts: i32) -> chrono::TimeDelta {
    let ms = 200i64.saturating_mul(1 << attempts.clamp(0, 8)).min(30_000);
    chrono::TimeDelta::milliseconds(ms)
}

/// A saga's stored status and state, for operators and tests.
///
/// # Errors
/// When the database fails.
pub async fn load(
    pool: &PgPool,
    order_id: Uuid,
) -> Result<Option<(String, Saga, DateTime<Utc>)>, sqlx::Error> {
    let row: Option<(String, serde_json::Value, DateTime<Utc>)> = sqlx::query_as(
        "SELECT status, state, updated_at FROM fulfilment.sagas WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(s, v, at)| serde_json::from_value(v).ok().map(|saga| (s, saga, at))))
}
