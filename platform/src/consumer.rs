//! The consumer runtime: the one Kafka consumer loop every service that reads events runs
//! (projections, the fulfilment saga's intake, the notifier, the image worker, the delivery
//! simulator). A consumer only says what a batch of messages does ([`Handler`]); the runtime
//! owns the rest, once:
//!
//! - `select!` over shutdown and the next message; a batch is the first message plus whatever
//!   arrives within `max_wait`, up to `max_batch`.
//! - The handler's answer decides what happens to the batch. `Ok` marks its offsets done.
//!   [`Failure::Transient`] (a connection lost, a lock wait past the statement timeout, a
//!   deadlock, a dependency down) tries **the same batch** again with backoff for as long as it
//!   takes: it is counted (`..._retried_total`) and raises `..._retrying` while it lasts, but
//!   nothing is skipped and nothing dead-letters. [`Failure::Stop`] ends the consumer.
//! - Where the consumer starts: [`StartAt::Committed`] (Kafka's committed offsets, for
//!   handlers whose effect is idempotent by event id) or [`StartAt::Stored`] (offsets the
//!   handler keeps in PostgreSQL with its effect, in one transaction: exactly-once effect).
//!   Either way done offsets are committed to Kafka **periodically** (every
//!   `commit_interval`, on revocation and at shutdown), not per message: a crash redelivers
//!   at most one interval, which handlers absorb.
//! - Rebalances are logged; one metric set, labelled by consumer: applied, skipped, retried,
//!   dead, lag per partition (from a client of its own, every 5 s) and batch latency.

use async_trait::async_trait;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use schemas::Envelope;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Metric names of every consumer, defined once (label `consumer`).
pub mod names {
    /// Messages whose effect was applied.
    pub const APPLIED: &str = "freshline_consumer_applied_total";
    /// Messages skipped: already applied (a redelivery), or of no concern to the consumer.
    pub const SKIPPED: &str = "freshline_consumer_skipped_total";
    /// Batches tried again after a transient failure.
    pub const RETRIED: &str = "freshline_consumer_retried_total";
    /// Messages recorded as dead (they will never apply as they are).
    pub const DEAD: &str = "freshline_consumer_dead_total";
    /// 1 while the consumer is retrying a batch after a transient failure.
    pub const RETRYING: &str = "freshline_consumer_retrying";
    /// Messages not yet done, per topic and partition.
    pub const LAG: &str = "freshline_consumer_lag";
    /// Seconds a batch took to handle (retries included).
    pub const BATCH_SECONDS: &str = "freshline_consumer_batch_seconds";
}

/// A topic and partition.
pub type Partition = (String, i32);

/// Settings of one consumer.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Its name in logs and metrics.
    pub name: String,
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Consumer group.
    pub group_id: String,
    /// Static membership (`group.instance.id`), if any.
    pub instance_id: Option<String>,
    /// The topics, with their prefix.
    pub topics: Vec<String>,
    /// Messages per batch at most.
    pub max_batch: usize,
    /// How long to wait to fill a batch after its first message.
    pub max_wait: Duration,
    /// How often done offsets are committed to Kafka.
    pub commit_interval: Duration,
}

impl ConsumerConfig {
    /// A consumer `name` in `group_id` reading `topics` (already prefixed); batches of up to
    /// 500 messages gathered for at most 1 ms; offsets committed every second.
    pub fn new(name: &str, brokers: &str, group_id: &str, topics: Vec<String>) -> Self {
        Self {
            name: name.to_owned(),
            brokers: brokers.to_owned(),
            group_id: group_id.to_owned(),
            instance_id: None,
            topics,
            max_batch: 500,
            max_wait: Duration::from_millis(1),
            commit_interval: Duration::from_secs(1),
        }
    }
}

/// One message of a batch, copied out of the consumer.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The value (empty when the message had none).
    pub payload: Vec<u8>,
}

impl Delivery {
    fn from_borrowed(m: &BorrowedMessage<'_>) -> Self {
        Self {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            payload: m.payload().unwrap_or_default().to_vec(),
        }
    }

    /// The event it carries, decoded through `schemas`; the reason when it does not decode.
    ///
    /// # Errors
    /// When the value is not an [`Envelope`].
    pub fn envelope(&self) -> Result<Envelope, String> {
        if self.payload.is_empty() {
            return Err("no payload".into());
        }
        serde_json::from_slice(&self.payload).map_err(|e| format!("undecodable envelope: {e}"))
    }
}

/// What a batch did, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages whose effect was applied.
    pub applied: u64,
    /// Messages already applied or of no concern.
    pub skipped: u64,
    /// Messages recorded as dead.
    pub dead: u64,
}

impl Tally {
    /// Adds another tally.
    pub fn add(&mut self, other: Tally) {
        self.applied += other.applied;
        self.skipped += other.skipped;
        self.dead += other.dead;
    }
}

/// Any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a batch was not done.
#[derive(Debug)]
pub enum Failure<E> {
    /// Try the same batch again after a backoff (for as long as it takes).
    Transient(BoxError),
    /// Stop the consumer.
    Stop(E),
}

impl<E> Failure<E> {
    /// A transient failure from any error.
    pub fn transient(e: impl Into<BoxError>) -> Self {
        Self::Transient(e.into())
    }
}

/// What a consumer does with a batch. Dropping the future (at shutdown) must leave nothing
/// half done that a redelivery would not complete: the runtime cancels a batch in flight.
#[async_trait]
pub trait Handler: Send + Sync {
    /// Why the consumer would stop.
    type Error: Send;
    /// Handles `batch`, in order.
    async fn handle(&self, batch: &[Delivery]) -> Result<Tally, Failure<Self::Error>>;
}

/// Where the consumer starts reading a partition it is assigned.
#[derive(Debug, Clone)]
pub enum StartAt {
    /// Kafka's committed offset for the group (or the beginning).
    Committed,
    /// Offsets the handler stores itself (the next offset to read, per partition); a
    /// partition without one starts at the beginning. Kept up to date with every done batch.
    Stored(HashMap<Partition, i64>),
}

/// Why the consumer stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError<E> {
    /// Kafka failed in a way the client does not recover from.
    #[error("kafka")]
    Kafka(#[from] KafkaError),
    /// The handler asked to stop.
    #[error("the handler stopped the consumer")]
    Stopped(E),
}

/// The metric set of consumers (one per registry; a consumer is a label).
#[derive(Debug, Clone)]
pub struct ConsumerMetrics {
    applied: IntCounterVec,
    skipped: IntCounterVec,
    retried: IntCounterVec,
    dead: IntCounterVec,
    retrying: IntGaugeVec,
    lag: IntGaugeVec,
    batch: HistogramVec,
}

impl ConsumerMetrics {
    /// Creates and registers them.
    ///
    /// # Errors
    /// When already registered in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        use crate::metrics::register;
        let counter = |name: &str, help: &str| {
            register(
                registry,
                IntCounterVec::new(Opts::new(name, help), &["consumer"])?,
            )
        };
        Ok(Self {
            applied: counter(names::APPLIED, "Messages whose effect was applied")?,
            skipped: counter(names::SKIPPED, "Messages already applied or of no concern")?,
            retried: counter(
                names::RETRIED,
                "Batches tried again after a transient failure",
            )?,
            dead: counter(names::DEAD, "Messages recorded as dead")?,
            retrying: register(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        names::RETRYING,
                        "1 while a batch is retried after a transient failure",
                    ),
                    &["consumer"],
                )?,
            )?,
            lag: register(
                registry,
                IntGaugeVec::new(
                    Opts::new(names::LAG, "Messages not yet done"),
                    &["consumer", "topic", "partition"],
                )?,
            )?,
            batch: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(names::BATCH_SECONDS, "Seconds a batch took").buckets(vec![
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
                    ]),
                    &["consumer"],
                )?,
            )?,
        })
    }

    /// Metrics registered nowhere (tests, tools).
    pub fn unregistered() -> Self {
        Self::new(&Registry::new()).unwrap_or_else(|_| unreachable!("a new registry is empty"))
    }

    /// Messages applied so far by `consumer`.
    pub fn applied(&self, consumer: &str) -> u64 {
        self.applied.with_label_values(&[consumer]).get()
    }

    /// Messages recorded dead so far by `consumer`.
    pub fn dead(&self, consumer: &str) -> u64 {
        self.dead.with_label_values(&[consumer]).get()
    }

    /// Batches retried so far by `consumer`.
    pub fn retried(&self, consumer: &str) -> u64 {
        self.retried.with_label_values(&[consumer]).get()
    }

    /// Counts one transient failure of `consumer` outside a batch (its start-up).
    pub fn retry(&self, consumer: &str) {
        self.retried.with_label_values(&[consumer]).inc();
    }

    fn count(&self, consumer: &str, t: Tally) {
        self.applied
            .with_label_values(&[consumer])
            .inc_by(t.applied);
        self.skipped
            .with_label_values(&[consumer])
            .inc_by(t.skipped);
        self.dead.with_label_values(&[consumer]).inc_by(t.dead);
    }
}

type Done = Arc<Mutex<HashMap<Partition, i64>>>;

/// Positions assigned partitions, logs rebalances and commits done offsets of revoked ones.
struct Context {
    name: String,
    done: Done,
    seek: bool,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let done = self.done.lock().map(|m| m.clone()).unwrap_or_default();
                for mut elem in tpl.elements() {
                    let key = (elem.topic().to_owned(), elem.partition());
                    if self.seek {
                        let offset = done
                            .get(&key)
                            .map_or(Offset::Beginning, |o| Offset::Offset(*o));
                        if let Err(e) = elem.set_offset(offset) {
                            tracing::error!(consumer = %self.name, error = %e, topic = %key.0, partition = key.1, "cannot position partition");
                        }
                    }
                    tracing::info!(consumer = %self.name, topic = %key.0, partition = key.1, offset = ?elem.offset(), "partition assigned");
                }
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(consumer = %self.name, partitions = tpl.count(), "partitions revoked");
                let mut done = self.done.lock().map(|m| m.clone()).unwrap_or_default();
                let mut commit = TopicPartitionList::new();
                for elem in tpl.elements() {
                    let key = (elem.topic().to_owned(), elem.partition());
                    let offset = if self.seek {
                        done.get(&key).copied()
                    } else {
                        done.remove(&key)
                    };
                    if let Some(offset) = offset {
                        commit
                            .add_partition_offset(&key.0, key.1, Offset::Offset(offset))
                            .ok();
                    }
                }
                if !self.seek {
                    if let Ok(mut d) = self.done.lock() {
                        *d = done;
                    }
                }
                if commit.count() > 0 {
                    if let Err(e) = consumer.commit(&commit, CommitMode::Sync) {
                        tracing::warn!(consumer = %self.name, error = %e, "offset commit on revocation failed; those messages come again");
                    }
                }
            }
            Rebalance::Error(e) => {
                tracing::warn!(consumer = %self.name, error = %e, "rebalance error")
            }
        }
    }
}

/// Runs `handler` over the topics of `cfg` until `shutdown` (then commits what is done).
///
/// # Errors
/// [`ConsumerError`] when Kafka fails for good or the handler stops the consumer.
pub async fn run<H: Handler>(
    cfg: &ConsumerConfig,
    handler: &H,
    start: StartAt,
    metrics: &ConsumerMetrics,
    shutdown: &CancellationToken,
) -> Result<(), ConsumerError<H::Error>> {
    let (seek, done) = match start {
        StartAt::Committed => (false, HashMap::new()),
        StartAt::Stored(offsets) => (true, offsets),
    };
    let done: Done = Arc::new(Mutex::new(done));
    let mut config = crate::kafka::client_config(&cfg.brokers);
    config
        .set("group.id", &cfg.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000");
    if let Some(id) = &cfg.instance_id {
        config.set("group.instance.id", id);
    }
    let consumer: StreamConsumer<Context> = config.create_with_context(Context {
        name: cfg.name.clone(),
        done: done.clone(),
        seek,
    })?;
    consumer.subscribe(&cfg.topics.iter().map(String::as_str).collect::<Vec<_>>())?;
    tracing::info!(consumer = %cfg.name, group = %cfg.group_id, topics = ?cfg.topics, "consumer running");

    // Lag is measured by a client of its own: on the consumer's connection a ListOffsets
    // request waits behind the fetch long-poll.
    let lag_stop = shutdown.child_token();
    let _lag_guard = lag_stop.clone().drop_guard();
    tokio::spawn(report_lag(
        crate::kafka::client_config(&cfg.brokers),
        cfg.topics.clone(),
        done.clone(),
        metrics.clone(),
        cfg.name.clone(),
        lag_stop,
    ));

    let name = cfg.name.as_str();
    let mut last_commit = Instant::now();
    let mut uncommitted = false;
    let outcome = loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            m = consumer.recv() => m,
        };
        let first = match first {
            Ok(m) => m,
            Err(e) => {
                // librdkafka recovers from broker restarts on its own; say so and go on.
                tracing::warn!(consumer = name, error = %e, "consumer error");
                tokio::select! {
                    () = shutdown.cancelled() => break Ok(()),
                    () = tokio::time::sleep(Duration::from_millis(200)) => continue,
                }
            }
        };
        let mut batch = vec![Delivery::from_borrowed(&first)];
        drop(first);
        let deadline = tokio::time::Instant::now() + cfg.max_wait;
        while batch.len() < cfg.max_batch {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(m)) => batch.push(Delivery::from_borrowed(&m)),
                Ok(Err(e)) => {
                    tracing::warn!(consumer = name, error = %e, "consumer error");
                    break;
                }
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let mut backoff = Duration::from_millis(50);
        let tally = loop {
            let result = tokio::select! {
                () = shutdown.cancelled() => None,
                r = handler.handle(&batch) => Some(r),
            };
            match result {
                None => break None,
                Some(Ok(t)) => break Some(t),
                Some(Err(Failure::Stop(e))) => {
                    metrics.retrying.with_label_values(&[name]).set(0);
                    return Err(ConsumerError::Stopped(e));
                }
                Some(Err(Failure::Transient(e))) => {
                    metrics.retried.with_label_values(&[name]).inc();
                    metrics.retrying.with_label_values(&[name]).set(1);
                    crate::telemetry::log_error_chain(
                        "batch failed transiently; retrying",
                        e.as_ref(),
                    );
                    tokio::select! {
                        () = shutdown.cancelled() => break None,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        metrics.retrying.with_label_values(&[name]).set(0);
        let Some(tally) = tally else { break Ok(()) };
        metrics.count(name, tally);
        metrics
            .batch
            .with_label_values(&[name])
            .observe(started.elapsed().as_secs_f64());
        if let Ok(mut d) = done.lock() {
            for m in &batch {
                let at = d.entry((m.topic.clone(), m.partition)).or_insert(0);
                *at = (*at).max(m.offset + 1);
            }
        }
        uncommitted = true;
        if last_commit.elapsed() >= cfg.commit_interval {
            commit(&consumer, &done, CommitMode::Async, name);
            last_commit = Instant::now();
            uncommitted = false;
        }
    };
    if uncommitted {
        commit(&consumer, &done, CommitMode::Sync, name);
    }
    tracing::info!(consumer = name, "consumer stopped");
    outcome
}

fn commit(consumer: &StreamConsumer<Context>, done: &Done, mode: CommitMode, name: &str) {
    let offsets = done.lock().map(|m| m.clone()).unwrap_or_default();
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in &offsets {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .ok();
    }
    if tpl.count() == 0 {
        return;
    }
    if let Err(e) = consumer.commit(&tpl, mode) {
        // Harmless: the messages come again and handlers recognise them.
        tracing::debug!(consumer = name, error = %e, "offset commit failed");
    }
}

/// Every 5 s: the high watermark of each partition minus the consumer's done offset.
async fn report_lag(
    config: ClientConfig,
    topics: Vec<String>,
    done: Done,
    metrics: ConsumerMetrics,
    name: String,
    stop: CancellationToken,
) {
    let Ok(client) = config.create::<BaseConsumer>() else {
        tracing::warn!(consumer = %name, "no lag client; lag is not reported");
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
        let positions = done.lock().map(|m| m.clone()).unwrap_or_default();
        for (topic, partition, high) in marks {
            let Some(at) = positions.get(&(topic.clone(), partition)).copied() else {
                continue;
            };
            metrics
                .lag
                .with_label_values(&[&name, &topic, &partition.to_string()])
                .set((high - at).max(0));
        }
    }
}
