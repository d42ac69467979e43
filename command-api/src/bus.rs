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
            store: PersistedEventStore::new_event_store(ChainedEventRepository::new(pool))
                .with_upcasters(upcasters),
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
