//! The expiry and stock scheduler: on every tick it reads the catalog read models and sends
//! commands through command-api —
//! - `expire` for every active batch past its expiry (the batch writes off what is left);
//! - `expiring-soon` for every active batch expiring within the horizon (default 48 h) that has
//!   not been flagged (the batch records `BatchExpiringSoon` once);
//! - a stock assessment for every product and warehouse whose level crossed its threshold since
//!   the last tick (the `StockAlert` stream records `LowStock` once per shortage, then
//!   `StockRecovered`).
//!
//! The domain makes each alert happen once, however often it is asked; the scheduler's own
//! table (`scheduler.stock_levels`) only keeps it from asking about levels that did not move.
//! A command that fails transiently is asked again on the next tick.

use crate::commands::{CallError, Cause, CommandClient, Outcome};
use chrono::{DateTime, TimeDelta, Utc};
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};
use schemas::api::{calls, AbandonCartBody, AssessBody, Call, ExpiringSoonBody};
use serde::Serialize;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

/// Metric names of the scheduler, defined once.
pub mod names {
    /// Ticks, by `outcome`: `ok`, or `failed` (the read models could not be read).
    pub const TICKS: &str = "freshline_scheduler_ticks_total";
    /// How long a tick took.
    pub const TICK_DURATION: &str = "freshline_scheduler_tick_duration_seconds";
    /// When the last tick that read the read models ended (Unix seconds).
    pub const LAST_TICK: &str = "freshline_scheduler_last_tick_timestamp_seconds";
    /// Commands sent, by `command` (`expire`, `expiring_soon`, `assess`) and `result` (`done`,
    /// `refused` by the domain, `deferred` after a transient failure, retried next tick).
    pub const COMMANDS: &str = "freshline_scheduler_commands_total";
}

/// The scheduler's metrics.
#[derive(Debug, Clone)]
pub struct SchedulerMetrics {
    ticks: IntCounterVec,
    duration: Histogram,
    last_tick: IntGauge,
    commands: IntCounterVec,
}

impl SchedulerMetrics {
    /// Creates and registers them; every series exists from the start at 0.
    ///
    /// # Errors
    /// When already registered.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        use platform::metrics::register;
        let metrics = Self {
            ticks: register(
                registry,
                IntCounterVec::new(Opts::new(names::TICKS, "Scheduler ticks"), &["outcome"])?,
            )?,
            duration: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(names::TICK_DURATION, "Scheduler tick duration")
                        .buckets(platform::metrics::LATENCY_BUCKETS.to_vec()),
                )?,
            )?,
            last_tick: register(
                registry,
                IntGauge::new(names::LAST_TICK, "End of the last successful tick (Unix s)")?,
            )?,
            commands: register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::COMMANDS, "Scheduler commands by command and result"),
                    &["command", "result"],
                )?,
            )?,
        };
        for outcome in ["ok", "failed"] {
            metrics.ticks.with_label_values(&[outcome]);
        }
        for command in ["expire", "expiring_soon", "assess", "abandon_cart"] {
            for result in ["done", "refused", "deferred"] {
                metrics.commands.with_label_values(&[command, result]);
            }
        }
        Ok(metrics)
    }
}

/// Settings.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Alert this long before expiry.
    pub horizon: TimeDelta,
    /// The schema with the read models' views.
    pub read_schema: String,
    /// At most this many commands of each kind per tick.
    pub max_per_tick: i64,
    /// Carts untouched this long are abandoned.
    pub cart_idle: TimeDelta,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            horizon: TimeDelta::hours(48),
            read_schema: "read".to_owned(),
            max_per_tick: 500,
            cart_idle: TimeDelta::days(domain::cart::IDLE_DAYS),
        }
    }
}

/// What a tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Batches expired.
    pub expired: u32,
    /// Batches flagged as expiring soon.
    pub flagged: u32,
    /// Stock levels assessed (a crossing in either direction).
    pub assessed: u32,
    /// Idle carts abandoned.
    pub abandoned: u32,
    /// Commands refused by the domain (e.g. already expired), not retried.
    pub refused: u32,
    /// Commands that failed transiently, retried next tick.
    pub deferred: u32,
}

/// The scheduler.
#[derive(Debug)]
pub struct Scheduler {
    pool: PgPool,
    api: CommandClient,
    cfg: SchedulerConfig,
    metrics: Option<SchedulerMetrics>,
}

impl Scheduler {
    /// Creates its table if needed.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn new(
        pool: PgPool,
        api: CommandClient,
        cfg: SchedulerConfig,
    ) -> Result<Self, sqlx::Error> {
        sqlx::query("CREATE SCHEMA IF NOT EXISTS scheduler")
            .execute(&pool)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS scheduler.stock_levels (
                product_id uuid NOT NULL, warehouse_id uuid NOT NULL, low boolean NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (product_id, warehouse_id))",
        )
        .execute(&pool)
        .await?;
        Ok(Self {
            pool,
            api,
            cfg,
            metrics: None,
        })
    }

    /// Counts ticks and commands into `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: SchedulerMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Ticks every `every` until `shutdown`. Each tick's commands share one correlation id
    /// (`scheduler-<uuid>`), in its log lines and in the events they append.
    pub async fn run(&self, every: Duration, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            let correlation_id = format!("scheduler-{}", Uuid::now_v7());
            let span = tracing::info_span!("scheduler_tick", %correlation_id);
            let started = Instant::now();
            let outcome = self
                .tick_as(Utc::now(), Some(&correlation_id))
                .instrument(span.clone())
                .await;
            let _entered = span.enter();
            let ok = outcome.is_ok();
            match outcome {
                Ok(r) if r != TickReport::default() => tracing::info!(?r, "scheduler tick"),
                Ok(_) => {}
                Err(e) => platform::telemetry::log_error_chain("scheduler tick failed", &e),
            }
            if let Some(m) = &self.metrics {
                m.duration.observe(started.elapsed().as_secs_f64());
                m.ticks
                    .with_label_values(&[if ok { "ok" } else { "failed" }])
                    .inc();
                if ok {
                    m.last_tick.set(Utc::now().timestamp());
                }
            }
        }
    }

    async fn send<B: Serialize>(
        &self,
        command: &'static str,
        call: Call<B>,
        key: &str,
        correlation_id: Option<&str>,
        report: &mut TickReport,
    ) -> bool {
        // Time causes these commands, not an event.
        let cause = Cause::new(correlation_id, None);
        let refusals = [
            "not_yet_expired",
            "batch_expired",
            "not_expiring_soon",
            "invalid_transition",
            "not_found",
            "cart_not_idle",
            "cart_changed",
        ];
        let path = call.path.as_str();
        let (done, result) = match self.api.send(&call, key, cause, &refusals).await {
            Ok(Outcome::Done(_)) => (true, "done"),
            Ok(Outcome::Refused { status, code, .. }) => {
                tracing::debug!(path, status, %code, "refused");
                report.refused += 1;
                (false, "refused")
            }
            Err(CallError::Transient(why)) => {
                tracing::warn!(path, %why, "deferred to the next tick");
                report.deferred += 1;
                (false, "deferred")
            }
            Err(CallError::Fault(why)) => {
                tracing::error!(path, %why, "fault; deferred to the next tick");
                report.deferred += 1;
                (false, "fault")
            }
        };
        if let Some(m) = &self.metrics {
            m.commands.with_label_values(&[command, result]).inc();
        }
        done
    }

    /// One pass at `now`.
    ///
    /// # Errors
    /// When the read models cannot be read.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, sqlx::Error> {
        self.tick_as(now, None).await
    }

    /// One pass at `now` whose commands carry `correlation_id` (`None`: each its own).
    ///
    /// # Errors
    /// When the read models cannot be read.
    pub async fn tick_as(
        &self,
        now: DateTime<Utc>,
        correlation_id: Option<&str>,
    ) -> Result<TickReport, sqlx::Error> {
        let schema = &self.cfg.read_schema;
        let mut report = TickReport::default();
        let expired: Vec<Uuid> = sqlx::query_scalar(&format!(
            "SELECT id FROM {schema}.batches WHERE status = 'active' AND expires_at <= $1
              ORDER BY expires_at LIMIT $2"
        ))
        .bind(now)
        .bind(self.cfg.max_per_tick)
        .fetch_all(&self.pool)
        .await?;
        for id in expired {
            if self
                .send(
                    "expire",
                    calls::expire_batch(id),
                    &format!("scheduler:expire:{id}"),
                    correlation_id,
                    &mut report,
                )
                .await
            {
                report.expired += 1;
            }
        }
        let soon: Vec<Uuid> = sqlx::query_scalar(&format!(
            "SELECT id FROM {schema}.batches
              WHERE status = 'active' AND NOT expiring_soon AND on_hand > 0
                AND expires_at > $1 AND expires_at <= $1 + $2
              ORDER BY expires_at LIMIT $3"
        ))
        .bind(now)
        .bind(self.cfg.horizon)
        .bind(self.cfg.max_per_tick)
        .fetch_all(&self.pool)
        .await?;
        let hours = self.cfg.horizon.num_hours().clamp(1, 720);
        for id in soon {
            let key = format!("scheduler:expiring-soon:{id}:{hours}");
            if self
                .send(
                    "expiring_soon",
                    calls::flag_expiring_soon(
                        id,
                        ExpiringSoonBody {
                            horizon_hours: hours,
                        },
                    ),
                    &key,
                    correlation_id,
                    &mut report,
                )
                .await
            {
                report.flagged += 1;
            }
        }
        let crossings: Vec<(Uuid, Uuid, String, String, bool)> = sqlx::query_as(&format!(
            "WITH levels AS (
                SELECT b.product_id, b.warehouse_id, sum(b.on_hand - b.reserved) AS available,
                       p.low_stock_threshold AS threshold
                  FROM {schema}.batches b JOIN {schema}.products p ON p.id = b.product_id
                 WHERE b.status = 'active' AND p.status = 'active'
                 GROUP BY b.product_id, b.warehouse_id, p.low_stock_threshold)
             SELECT l.product_id, l.warehouse_id, trim_scale(l.available)::text,
                    trim_scale(l.threshold)::text, l.available < l.threshold AS low
               FROM levels l
               LEFT JOIN scheduler.stock_levels s
                 ON s.product_id = l.product_id AND s.warehouse_id = l.warehouse_id
              WHERE (l.available < l.threshold) <> coalesce(s.low, false)
              LIMIT $1"
        ))
        .bind(self.cfg.max_per_tick)
        .fetch_all(&self.pool)
        .await?;
        for (product, warehouse, available, threshold, low) in crossings {
            let body = AssessBody {
                product_id: product,
                warehouse_id: warehouse,
                available: number(&available),
                threshold: number(&threshold),
            };
            let key = format!("scheduler:assess:{product}:{warehouse}:{low}:{available}");
            if self
                .send(
                    "assess",
                    calls::assess_stock(body),
                    &key,
                    correlation_id,
                    &mut report,
                )
                .await
            {
                report.assessed += 1;
                sqlx::query(
                    "INSERT INTO scheduler.stock_levels (product_id, warehouse_id, low)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (product_id, warehouse_id)
                     DO UPDATE SET low = EXCLUDED.low, updated_at = now()",
                )
                .bind(product)
                .bind(warehouse)
                .bind(low)
                .execute(&self.pool)
                .await?;
            }
        }
        let idle: Vec<(Uuid, Uuid)> = sqlx::query_as(&format!(
            "SELECT stream_id, cart_id FROM {schema}.carts
              WHERE status = 'open' AND last_changed <= $1 - $2
              ORDER BY last_changed LIMIT $3"
        ))
        .bind(now)
        .bind(self.cfg.cart_idle)
        .bind(self.cfg.max_per_tick)
        .fetch_all(&self.pool)
        .await?;
        for (stream, cart_id) in idle {
            if self
                .send(
                    "abandon_cart",
                    calls::abandon_cart(stream, AbandonCartBody { cart_id }),
                    &format!("scheduler:abandon-cart:{cart_id}"),
                    correlation_id,
                    &mut report,
                )
                .await
            {
                report.abandoned += 1;
            }
        }
        Ok(report)
    }
}

/// Decimal text (from PostgreSQL's numeric) as a JSON number.
fn number(text: &str) -> serde_json::Number {
    text.parse().unwrap_or_else(|_| serde_json::Number::from(0))
}
