//! Simulated warehouse staff and riders, for local runs, tests and benchmarks: when a rider is
//! assigned to an order's delivery, the warehouse packs the order and the rider picks it up,
//! reports a position on the way and hands it over (or, every `fail_every`-th delivery, fails
//! with `customer_absent`). They act like the real partners would: through command-api, as the
//! `warehouse` and `delivery` services.
//!
//! **Delivery guarantee: at least once, effect once.** The consumer commits an assignment's
//! offset after its commands are answered; every command carries an idempotency key made of
//! the delivery id and the step, so a redelivered assignment repeats nothing.

use async_trait::async_trait;
use platform::consumer::{
    ConsumerConfig, ConsumerMetrics, Delivery, Failure, Handler, StartAt, Tally,
};
use prometheus::{IntCounterVec, Opts, Registry};
use sagas::commands::{Backoff, CallError, Cause, CommandClient, Outcome};
use schemas::api::{calls, FreeReasonBody, GeoBody};
use schemas::rider::RiderEvent;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

/// Metric names of the simulator, defined once.
pub mod names {
    /// Simulated steps, by `step` (`pack`, `pickup`, `location`, `deliver`, `fail`) and
    /// `outcome` (`done`, `refused`: the delivery is left alone, `retried`: a transient
    /// failure or a rider waiting for the dispatcher).
    pub const STEPS: &str = "freshline_sim_steps_total";
}

/// The simulator's metrics.
#[derive(Debug, Clone)]
pub struct SimulatorMetrics {
    steps: IntCounterVec,
    consumer: ConsumerMetrics,
}

impl SimulatorMetrics {
    /// Creates and registers them.
    ///
    /// # Errors
    /// When already registered.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(Self {
            steps: platform::metrics::register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::STEPS, "Simulated warehouse and rider steps"),
                    &["step", "outcome"],
                )?,
            )?,
            consumer: ConsumerMetrics::new(registry)?,
        })
    }

    fn count(&self, step: &str, outcome: &str) {
        self.steps.with_label_values(&[step, outcome]).inc();
    }
}

/// The consumer side: each rider assignment starts a simulated delivery (at most
/// `concurrency` at once). Offsets run ahead of deliveries in flight only within this process;
/// a crash loses at most what is in flight, and a real rider would call again.
struct Assignments {
    sim: Arc<Simulator>,
    limit: Arc<Semaphore>,
    inflight: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
    shutdown: CancellationToken,
}

#[async_trait]
impl Handler for Assignments {
    type Error = std::convert::Infallible;

    async fn handle(&self, batch: &[Delivery]) -> Result<Tally, Failure<Self::Error>> {
        let mut tally = Tally::default();
        for m in batch {
            let assigned = m.envelope().ok().and_then(|e| {
                let correlation = e
                    .metadata
                    .get(schemas::metadata_keys::CORRELATION_ID)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                match RiderEvent::decode(&e.event_type, e.event_version, e.payload).ok()? {
                    RiderEvent::RiderAssigned(a) => {
                        Some((a.delivery_id, a.order_id, correlation, e.event_id))
                    }
                    _ => None,
                }
            });
            let Some((delivery, order, correlation, cause)) = assigned else {
                tally.skipped += 1;
                continue;
            };
            let Ok(permit) = self.limit.clone().acquire_owned().await else {
                break;
            };
            let me = self.sim.clone();
            let stop = self.shutdown.clone();
            let span = tracing::info_span!(
                "simulated_delivery",
                %delivery,
                %order,
                correlation_id = correlation.as_deref().unwrap_or_default(),
            );
            let mut inflight = self.inflight.lock().await;
            while inflight.try_join_next().is_some() {}
            inflight.spawn(
                async move {
                    me.carry(
                        delivery,
                        order,
                        Cause::new(correlation.as_deref(), Some(cause)),
                        &stop,
                    )
                    .await;
                    drop(permit);
                }
                .instrument(span),
            );
            tally.applied += 1;
        }
        Ok(tally)
    }
}

/// Settings.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Topic prefix.
    pub topic_prefix: String,
    /// Consumer group.
    pub group: String,
    /// Pause between packing, pickup, the position report and delivery (zero: instant).
    pub step_delay: Duration,
    /// Every n-th delivery fails (0: none).
    pub fail_every: u64,
    /// Deliveries handled at once.
    pub concurrency: usize,
}

impl SimulatorConfig {
    /// Instant riders on `brokers`.
    pub fn new(brokers: &str) -> Self {
        Self {
            brokers: brokers.to_owned(),
            topic_prefix: String::new(),
            group: "delivery-sim".to_owned(),
            step_delay: Duration::ZERO,
            fail_every: 0,
            concurrency: 32,
        }
    }
}

/// The simulator.
pub struct Simulator {
    warehouse: CommandClient,
    delivery: CommandClient,
    cfg: SimulatorConfig,
    seen: AtomicU64,
    metrics: Option<SimulatorMetrics>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// A simulator packing as `warehouse` and riding as `delivery`.
    pub fn new(warehouse: CommandClient, delivery: CommandClient, cfg: SimulatorConfig) -> Self {
        Self {
            warehouse,
            delivery,
            cfg,
            seen: AtomicU64::new(0),
            metrics: None,
        }
    }

    /// Counts steps into `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: SimulatorMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn count(&self, step: &str, outcome: &str) {
        if let Some(m) = &self.metrics {
            m.count(step, outcome);
        }
    }

    /// Runs until `shutdown`.
    ///
    /// # Errors
    /// When Kafka fails.
    pub async fn run(
        self: Arc<Self>,
        shutdown: CancellationToken,
    ) -> Result<(), rdkafka::error::KafkaError> {
        let consumer = ConsumerConfig::new(
            "delivery-sim",
            &self.cfg.brokers,
            &self.cfg.group,
            vec![schemas::topics::prefixed(
                &self.cfg.topic_prefix,
                schemas::topics::RIDER,
            )],
        );
        let metrics = self
            .metrics
            .as_ref()
            .map_or_else(ConsumerMetrics::unregistered, |m| m.consumer.clone());
        let assignments = Assignments {
            limit: Arc::new(Semaphore::new(self.cfg.concurrency.max(1))),
            inflight: tokio::sync::Mutex::new(tokio::task::JoinSet::new()),
            shutdown: shutdown.clone(),
            sim: self,
        };
        let outcome = platform::consumer::run(
            &consumer,
            &assignments,
            StartAt::Committed,
            &metrics,
            &shutdown,
        )
        .await;
        assignments.inflight.lock().await.shutdown().await;
        match outcome {
            Ok(()) => Ok(()),
            Err(platform::consumer::ConsumerError::Kafka(e)) => Err(e),
            Err(platform::consumer::ConsumerError::Stopped(never)) => match never {},
        }
    }

    /// Packs, picks up, rides and hands over one delivery; its commands carry the assignment's
    /// correlation id (the order's, passed on by the saga) and the assignment as their cause.
    async fn carry(
        &self,
        delivery: Uuid,
        order: Uuid,
        cause: Cause<'_>,
        shutdown: &CancellationToken,
    ) {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        let fails = self.cfg.fail_every > 0 && n.is_multiple_of(self.cfg.fail_every);
        let last = if fails { Step::Fail } else { Step::Deliver };
        let steps = [Step::Pack, Step::PickUp, Step::Location, last];
        for step in steps {
            let name = step.name();
            if !self.cfg.step_delay.is_zero() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(self.cfg.step_delay) => {}
                }
            }
            let mut backoff = Backoff::default();
            let mut patience = Backoff::default();
            loop {
                // A refusal is remembered under its key, so asking again after one needs a
                // new key (the step itself is idempotent in the domain).
                let key = format!("sim:{delivery}:{name}:{}", patience.attempts());
                match self.send(step, delivery, order, &key, cause).await {
                    Ok(Outcome::Done(_)) => {
                        self.count(name, "done");
                        break;
                    }
                    // The dispatcher has not recorded the rider on the delivery yet: a
                    // rider at the counter waits a moment.
                    Ok(Outcome::Refused { code, .. })
                        if code == "invalid_transition" && patience.attempts() < 120 =>
                    {
                        self.count(name, "retried");
                        let wait = patience.next_delay().min(Duration::from_secs(2));
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(wait) => {}
                        }
                    }
                    Ok(Outcome::Refused { status, code, .. }) => {
                        // The order was cancelled meanwhile, or the step is done: stop here.
                        self.count(name, "refused");
                        tracing::info!(%delivery, step = name, status, %code, "simulated step refused; leaving this delivery");
                        return;
                    }
                    Err(t) => {
                        self.count(name, "retried");
                        let wait = backoff.next_delay();
                        tracing::warn!(%delivery, step = name, error = %t, ?wait, "simulated step failed; retrying");
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(wait) => {}
                        }
                    }
                }
            }
        }
    }

    /// Sends `step` of carrying `delivery` (of `order`), as the warehouse or the rider.
    async fn send(
        &self,
        step: Step,
        delivery: Uuid,
        order: Uuid,
        key: &str,
        cause: Cause<'_>,
    ) -> Result<Outcome, CallError> {
        let refusals = ["invalid_transition", "not_found"];
        let rider = &self.delivery;
        match step {
            Step::Pack => {
                let call = calls::pack_order(order);
                self.warehouse.send(&call, key, cause, &refusals).await
            }
            Step::PickUp => {
                let call = calls::pick_up(delivery);
                rider.send(&call, key, cause, &refusals).await
            }
            Step::Location => {
                let call = calls::delivery_location(
                    delivery,
                    GeoBody {
                        lat: serde_json::Number::from_f64(52.3676).unwrap_or_else(|| 52.into()),
                        lon: serde_json::Number::from_f64(4.9041).unwrap_or_else(|| 4.into()),
                    },
                );
                rider.send(&call, key, cause, &refusals).await
            }
            Step::Fail => {
                let call = calls::fail_delivery(
                    delivery,
                    FreeReasonBody {
                        reason: "customer_absent".into(),
                    },
                );
                rider.send(&call, key, cause, &refusals).await
            }
            Step::Deliver => {
                let call = calls::complete_delivery(delivery);
                rider.send(&call, key, cause, &refusals).await
            }
        }
    }
}

/// The steps of carrying a delivery, in order (the last is a hand-over or a failure).
#[derive(Debug, Clone, Copy)]
enum Step {
    Pack,
    PickUp,
    Location,
    Fail,
    Deliver,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Self::Pack => "pack",
            Self::PickUp => "pickup",
            Self::Location => "location",
            Self::Fail => "fail",
            Self::Deliver => "deliver",
        }
    }
}
