//! Executes commands against the postgres-es event store and reports the new version.
//!
//! cqrs-es's `CqrsFramework::execute` does not return the committed events, and every
//! response carries the aggregate's new `version`; so this drives the same `EventStore`
//! (`load_aggregate` -> `handle` -> `commit`) and reads the sequences back.

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore};
use platform::store::ChainedEventRepository;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::collections::HashMap;
use std::time::Instant;

/// Metric names of the write path, defined once.
pub mod names {
    /// Commands by aggregate, command and result.
    pub const COMMANDS: &str = "freshline_commands_total";
    /// Command latency by aggregate and command.
    pub const COMMAND_DURATION: &str = "freshline_command_duration_seconds";
    /// Events appended by aggregate.
    pub const EVENTS_APPENDED: &str = "freshline_events_appended_total";
}

/// Metrics of the command path.
#[derive(Debug, Clone)]
pub struct CommandMetrics {
    commands: IntCounterVec,
    duration: HistogramVec,
    appended: IntCounterVec,
}

impl CommandMetrics {
    /// Creates and registers them.
    ///
    /// # Errors
    /// When already registered.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        use platform::metrics::register;
        Ok(Self {
            commands: register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::COMMANDS, "Commands by aggregate, command and result"),
                    &["aggregate", "command", "result"],
                )?,
            )?,
            duration: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(names::COMMAND_DURATION, "Command latency")
                        .buckets(platform::metrics::LATENCY_BUCKETS.to_vec()),
                    &["aggregate", "command"],
                )?,
            )?,
            appended: register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::EVENTS_APPENDED, "Events appended"),
                    &["aggregate"],
                )?,
            )?,
        })
    }
}

/// The result of a command that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The aggregate's version after the command (its last event's sequence).
    pub version: usize,
    /// How many events the command appended.
    pub appended: usize,
}

/// Runs commands of one aggregate type.
pub struct CommandBus<A: Aggregate> {
    store: PersistedEventStore<ChainedEventRepository, A>,
    /// The same store, for appends across several new aggregates in one transaction.
    repo: ChainedEventRepository,
    pool: sqlx::PgPool,
    services: A::Services,
    metrics: CommandMetrics,
}

impl<A: Aggregate> std::fmt::Debug for CommandBus<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandBus")
            .field("aggregate", &A::TYPE)
            .finish_non_exhaustive()
    }
}

impl<A> CommandBus<A>
where
    A: Aggregate,
    A::Command: Clone,
{
    /// A bus over the hash-chained event store, reading old event versions through
    /// `upcasters` (no snapshots: cqrs-es 0.5.0's snapshot stores apply events twice when
    /// writing a snapshot).
    pub fn new(
        pool: sqlx::PgPool,
        services: A::Services,
        metrics: CommandMetrics,
        upcasters: Vec<Box<dyn cqrs_es::persist::EventUpcaster>>,
    ) -> Self {
        Self {
            store: PersistedEventStore::new_event_store(ChainedEventRepository::new(pool.clone()))
                .with_upcasters(upcasters),
            repo: ChainedEventRepository::new(pool.clone()),
            pool,
            services,
            metrics,
        }
    }

    /// Executes `command` on aggregate `id` with `metadata` on every event. On a concurrent
    /// write (the append's unique key is taken) it runs once more on the fresh state: every
    /// command is decided again from scratch, so the retry is safe; a second conflict is
    /// returned.
    ///
    /// # Errors
    /// The aggregate's rejection, a conflict, or a store failure.
    pub async fn execute(
        &self,
        id: &str,
        name: &'static str,
        command: A::Command,
        metadata: HashMap<String, String>,
    ) -> Result<Committed, AggregateError<A::Error>> {
        let started = Instant::now();
        let mut result = self.once(id, command.clone(), metadata.clone()).await;
        if matches!(result, Err(AggregateError::AggregateConflict)) {
            result = self.once(id, command, metadata).await;
        }
        let outcome = match &result {
            Ok(_) => "accepted",
            Err(AggregateError::UserError(_)) => "rejected",
            Err(AggregateError::AggregateConflict) => "conflict",
            Err(_) => "error",
        };
        self.metrics
            .commands
            .with_label_values(&[A::TYPE, name, outcome])
            .inc();
        self.metrics
            .duration
            .with_label_values(&[A::TYPE, name])
            .observe(started.elapsed().as_secs_f64());
        if let Ok(c) = &result {
            self.metrics
                .appended
                .with_label_values(&[A::TYPE])
                .inc_by(c.appended as u64);
        }
        result
    }

    /// The aggregate's current state and version, read from the store (for facts another
    /// aggregate's decision needs).
    ///
    /// # Errors
    /// A store failure.
    pub async fn load(&self, id: &str) -> Result<(A, usize), AggregateError<A::Error>> {
        let context = self.store.load_aggregate(id).await?;
        Ok((context.aggregate, context.current_sequence))
    }

    /// Loads several aggregates with one query. Only for aggregate types none of whose stored
    /// events need upcasting (products, batches): the upcasters are not applied here.
    ///
    /// # Errors
    /// A store failure or an undecodable event.
    pub async fn load_many(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, A>, AggregateError<A::Error>> {
        let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
            "SELECT aggregate_id, payload FROM events
              WHERE aggregate_type = $1 AND aggregate_id = ANY($2)
              ORDER BY aggregate_id, sequence",
        )
        .bind(A::TYPE)
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| AggregateError::DatabaseConnectionError(Box::new(e)))?;
        let mut out: HashMap<String, A> = HashMap::new();
        for (id, payload) in rows {
            let event: A::Event = serde_json::from_value(payload)
                .map_err(|e| AggregateError::DeserializationError(Box::new(e)))?;
            out.entry(id).or_default().apply(event);
        }
        Ok(out)
    }

    /// Creates several new aggregates, each decided from its initial state, with all their
    /// events appended in ONE transaction: all are created or none. An id that already has
    /// events makes the whole call a conflict.
    ///
    /// # Errors
    /// The first rejection (with its index), a conflict, or a store failure.
    pub async fn create_many(
        &self,
        name: &'static str,
        items: Vec<(String, A::Command)>,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<Committed>, (Option<usize>, AggregateError<A::Error>)> {
        use cqrs_es::DomainEvent;
        let started = Instant::now();
        let meta = serde_json::to_value(&metadata).unwrap_or_default();
        let mut serialized = Vec::new();
        let mut committed = Vec::with_capacity(items.len());
        for (index, (id, command)) in items.into_iter().enumerate() {
            let mut aggregate = A::default();
            let sink = EventSink::default();
            aggregate
                .handle(command, &self.services, &sink)
                .await
                .map_err(|e| (Some(index), AggregateError::UserError(e)))?;
            let events = sink.collect().await;
            for (n, event) in events.iter().enumerate() {
                let payload = serde_json::to_value(event)
                    .map_err(|e| (Some(index), AggregateError::UnexpectedError(Box::new(e))))?;
                serialized.push(cqrs_es::persist::SerializedEvent::new(
                    id.clone(),
                    n + 1,
                    A::TYPE.to_owned(),
                    event.event_type(),
                    event.event_version(),
                    payload,
                    meta.clone(),
                ));
            }
            committed.push(Committed {
                version: events.len(),
                appended: events.len(),
            });
        }
        use cqrs_es::persist::PersistedEventRepository;
        let result = self
            .repo
            .persist::<A>(&serialized, None)
            .await
            .map_err(|e| (None, AggregateError::from(e)));
        let outcome = if result.is_ok() {
            "accepted"
        } else {
            "conflict"
        };
        self.metrics
            .commands
            .with_label_values(&[A::TYPE, name, outcome])
            .inc_by(committed.len() as u64);
        self.metrics
            .duration
            .with_label_values(&[A::TYPE, name])
            .observe(started.elapsed().as_secs_f64());
        if result.is_ok() {
            self.metrics
                .appended
                .with_label_values(&[A::TYPE])
                .inc_by(serialized.len() as u64);
        }
        result.map(|()| committed)
    }

    async fn once(
        &self,
        id: &str,
        command: A::Command,
        metadata: HashMap<String, String>,
    ) -> Result<Committed, AggregateError<A::Error>> {
        let mut context = self.store.load_aggregate(id).await?;
        let current = context.current_sequence;
        let sink = EventSink::default();
        context
            .aggregate()
            .handle(command, &self.services, &sink)
            .await
            .map_err(AggregateError::UserError)?;
        let events = sink.collect().await;
        if events.is_empty() {
            return Ok(Committed {
                version: current,
                appended: 0,
            });
        }
        let committed = self.store.commit(events, context, metadata).await?;
        Ok(Committed {
            version: committed.last().map_or(current, |e| e.sequence),
            appended: committed.len(),
        })
    }
}
