//! Executes commands against the event store and reports the new version.
//!
//! cqrs-es's `CqrsFramework::execute` does not return the committed events, and every
//! response carries the aggregate's new `version`; so this drives the same steps itself: load
//! the aggregate, `handle` the command, and append the events with cqrs-es's
//! `PersistedEventStore::commit` (in its plain event-store mode) over the hash-chained
//! repository.
//!
//! **Snapshots are ours, not cqrs-es's.** cqrs-es 0.5.0's snapshot and aggregate stores are
//! wrong for handlers that write through the `EventSink`: `EventSink::write` applies each event
//! to the aggregate as `handle` emits it, and then `PersistedEventStore::commit` (through
//! `update_snapshot_with_events`) applies the same events to that same aggregate again before
//! serialising it as the snapshot, so every snapshot holds the command's events twice.
//! So this bus loads a snapshot and the events after it itself (one statement, events read
//! through the upcasters), and after a successful append it snapshots the state it already
//! holds, the aggregate `handle` brought up to date, whenever [`Snapshots::every`] or more
//! events have been appended since the last snapshot. The write is a separate statement after
//! the append, never in its transaction: a snapshot is only an optimisation, so failing to
//! write one must not fail (or slow the commit of) the command, and losing one costs a longer
//! replay, nothing else; what must never happen is using a wrong one, which the load guards
//! against (see [`SNAPSHOT_FORMAT`] and `platform::snapshots`). Events stay the only record:
//! audit, `as_of`, history and exports never read snapshots.

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore, SerializedEvent};
use cqrs_es::{Aggregate, AggregateError, EventStore};
use platform::snapshots::{self, StoredSnapshot, TailEvent};
use platform::store::ChainedEventRepository;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use std::collections::HashMap;
use std::time::Instant;

/// The format of the snapshots this bus writes (`snapshots.format`). Bump it when an
/// aggregate's state keeps its serialised shape but changes its meaning, or when an upcaster
/// starts reading old events differently: a snapshot cannot tell, so every stored one is then
/// ignored, replayed over and rewritten on its next load. A change of shape needs no bump: a
/// stored payload that does not serialise back to exactly the same text once read (a field
/// added, even with a serde default, removed, renamed or retyped) is not used.
pub const SNAPSHOT_FORMAT: i32 = 1;

/// When the bus snapshots an aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshots {
    every: usize,
}

impl Snapshots {
    /// The default interval (`FRESHLINE_SNAPSHOT_EVERY`).
    pub const DEFAULT_EVERY: usize = 100;

    /// A snapshot whenever `n` events have been appended (or replayed) since the last one, so
    /// that no load replays `n` events or more; `0` turns snapshots off (neither read nor
    /// written).
    pub const fn every(n: usize) -> Self {
        Self { every: n }
    }

    /// No snapshots: every load replays the whole stream.
    pub const fn off() -> Self {
        Self { every: 0 }
    }

    /// Whether snapshots are read and written.
    pub const fn is_on(self) -> bool {
        self.every > 0
    }

    /// Whether a state `since` events past the last snapshot should be snapshotted.
    const fn due(self, since: usize) -> bool {
        self.is_on() && since >= self.every
    }
}

impl Default for Snapshots {
    fn default() -> Self {
        Self::every(Self::DEFAULT_EVERY)
    }
}

/// An aggregate as loaded, and how it was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded<A> {
    /// Its state.
    pub aggregate: A,
    /// Its version: the last event's sequence (0: no events).
    pub version: usize,
    /// The sequence of the snapshot it started from, if one was used.
    pub snapshot: Option<usize>,
    /// How many events were applied (on top of the snapshot, or from the first).
    pub replayed: usize,
}

/// Why a stored snapshot was not used.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("written in format {0}, not {SNAPSHOT_FORMAT}")]
    Format(i32),
    #[error("its event is no longer in the store with the same chain link")]
    Unanchored,
    #[error("it does not read as the aggregate")]
    Unreadable(#[source] serde_json::Error),
    #[error("it reads, but the aggregate's shape changed (it does not serialise back the same)")]
    Reshaped,
}

/// Metric names of the write path, defined once.
pub mod names {
    /// Commands by aggregate, command and result.
    pub const COMMANDS: &str = "freshline_commands_total";
    /// Command latency by aggregate and command.
    pub const COMMAND_DURATION: &str = "freshline_command_duration_seconds";
    /// Events appended by aggregate.
    pub const EVENTS_APPENDED: &str = "freshline_events_appended_total";
    /// Snapshots by aggregate and outcome (`loaded`, `written`, `unusable`, `failed`).
    pub const SNAPSHOTS: &str = "freshline_snapshots_total";
}

/// Metrics of the command path.
#[derive(Debug, Clone)]
pub struct CommandMetrics {
    commands: IntCounterVec,
    duration: HistogramVec,
    appended: IntCounterVec,
    snapshots: IntCounterVec,
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
            snapshots: register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::SNAPSHOTS, "Snapshots by aggregate and outcome"),
                    &["aggregate", "outcome"],
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
    /// Only for `commit`, in event-store mode (it never reads the aggregate there).
    store: PersistedEventStore<ChainedEventRepository, A>,
    /// The same store, for appends across several new aggregates in one transaction.
    repo: ChainedEventRepository,
    pool: sqlx::PgPool,
    services: A::Services,
    metrics: CommandMetrics,
    upcasters: Vec<Box<dyn cqrs_es::persist::EventUpcaster>>,
    snapshots: Snapshots,
}

impl<A: Aggregate> std::fmt::Debug for CommandBus<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandBus")
            .field("aggregate", &A::TYPE)
            .field("snapshots", &self.snapshots)
            .finish_non_exhaustive()
    }
}

impl<A> CommandBus<A>
where
    A: Aggregate,
    A::Command: Clone,
{
    /// A bus over the hash-chained event store, reading old event versions through
    /// `upcasters`, without snapshots (see [`Self::with_snapshots`]).
    pub fn new(
        pool: sqlx::PgPool,
        services: A::Services,
        metrics: CommandMetrics,
        upcasters: Vec<Box<dyn cqrs_es::persist::EventUpcaster>>,
    ) -> Self {
        Self {
            store: PersistedEventStore::new_event_store(ChainedEventRepository::new(pool.clone())),
            repo: ChainedEventRepository::new(pool.clone()),
            pool,
            services,
            metrics,
            upcasters,
            snapshots: Snapshots::off(),
        }
    }

    /// The same bus, loading from and writing snapshots as `snapshots` says.
    #[must_use]
    pub fn with_snapshots(self, snapshots: Snapshots) -> Self {
        Self { snapshots, ..self }
    }

    /// Its snapshot policy.
    pub fn snapshots(&self) -> Snapshots {
        self.snapshots
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
        let loaded = self.load_traced(id).await?;
        Ok((loaded.aggregate, loaded.version))
    }

    /// The aggregate as the command path loads it (from its snapshot when there is a usable
    /// one), saying how.
    ///
    /// # Errors
    /// A store failure or an undecodable event.
    pub async fn load_traced(&self, id: &str) -> Result<Loaded<A>, AggregateError<A::Error>> {
        Ok(self.load_state(id).await?.0)
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
        let (loaded, last_snapshot) = self.load_state(id).await?;
        let current = loaded.version;
        let mut aggregate = loaded.aggregate;
        let sink = EventSink::default();
        // `handle` writes its events through the sink, which applies each to `aggregate`: after
        // it, `aggregate` is the state at the new version.
        aggregate
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
        // In event-store mode `commit` only numbers, serialises and appends the events; it never
        // reads the context's aggregate, so the real one stays here for the snapshot.
        let context = EventStoreAggregateContext {
            aggregate_id: id.to_owned(),
            aggregate: A::default(),
            current_sequence: current,
            current_snapshot: None,
        };
        let committed = self.store.commit(events, context, metadata).await?;
        let version = committed.last().map_or(current, |e| e.sequence);
        if self.snapshots.due(version - last_snapshot) {
            self.save_snapshot(id, version, &aggregate, false).await;
        }
        Ok(Committed {
            version,
            appended: committed.len(),
        })
    }

    /// Loads the aggregate, from its snapshot if that is usable, and returns it with the
    /// sequence of the newest snapshot now stored for it (0: none). A snapshot found unusable
    /// is replaced at once by one of the fully replayed state, and a replay of `every` events
    /// or more leaves one behind.
    async fn load_state(&self, id: &str) -> Result<(Loaded<A>, usize), AggregateError<A::Error>> {
        if !self.snapshots.is_on() {
            let events = snapshots::load_events_after(&self.pool, A::TYPE, id, 0)
                .await
                .map_err(db_error)?;
            let (aggregate, version, replayed) = self.replay(id, A::default(), 0, events)?;
            let loaded = Loaded {
                aggregate,
                version,
                snapshot: None,
                replayed,
            };
            return Ok((loaded, 0));
        }
        let stored = snapshots::load_with_snapshot(&self.pool, A::TYPE, id)
            .await
            .map_err(db_error)?;
        let (start, from, events, unusable) = match stored.snapshot {
            None => (A::default(), 0, stored.events, false),
            Some(snapshot) => match Self::read_snapshot(&snapshot) {
                Ok(aggregate) => {
                    self.count_snapshot("loaded");
                    let from = usize::try_from(snapshot.last_sequence).unwrap_or_default();
                    (aggregate, from, stored.events, false)
                }
                Err(why) => {
                    self.count_snapshot("unusable");
                    tracing::warn!(
                        aggregate = A::TYPE,
                        aggregate_id = id,
                        last_sequence = snapshot.last_sequence,
                        reason = %why,
                        "snapshot not used: replaying every event and rewriting it"
                    );
                    let all = snapshots::load_events_after(&self.pool, A::TYPE, id, 0)
                        .await
                        .map_err(db_error)?;
                    (A::default(), 0, all, true)
                }
            },
        };
        let (aggregate, version, replayed) = self.replay(id, start, from, events)?;
        let mut last_snapshot = from;
        if version > 0
            && (unusable || self.snapshots.due(replayed))
            && self.save_snapshot(id, version, &aggregate, unusable).await
        {
            last_snapshot = version;
        }
        let loaded = Loaded {
            aggregate,
            version,
            snapshot: (from > 0).then_some(from),
            replayed,
        };
        Ok((loaded, last_snapshot))
    }

    /// The snapshot's aggregate, if it may be used: written in this format, still anchored to
    /// its event, and read back exactly (serialising what was read gives the stored text).
    fn read_snapshot(snapshot: &StoredSnapshot) -> Result<A, Unusable> {
        if snapshot.format != SNAPSHOT_FORMAT {
            return Err(Unusable::Format(snapshot.format));
        }
        if !snapshot.anchored {
            return Err(Unusable::Unanchored);
        }
        let aggregate: A = serde_json::from_str(&snapshot.payload).map_err(Unusable::Unreadable)?;
        match serde_json::to_string(&aggregate) {
            Ok(text) if text == snapshot.payload => Ok(aggregate),
            _ => Err(Unusable::Reshaped),
        }
    }

    /// Applies `events` (read through the upcasters) to `aggregate` at version `version`.
    fn replay(
        &self,
        id: &str,
        mut aggregate: A,
        mut version: usize,
        events: Vec<TailEvent>,
    ) -> Result<(A, usize, usize), AggregateError<A::Error>> {
        let replayed = events.len();
        for event in events {
            version = usize::try_from(event.sequence).unwrap_or_default();
            aggregate.apply(self.decode(id, event)?);
        }
        Ok((aggregate, version, replayed))
    }

    /// One stored event as the current version of `A::Event`, upcast as cqrs-es would: each
    /// upcaster in order, if it takes the event as it is by then.
    fn decode(&self, id: &str, event: TailEvent) -> Result<A::Event, AggregateError<A::Error>> {
        let deserialization = |e: serde_json::Error| AggregateError::DeserializationError(e.into());
        let upcast = self
            .upcasters
            .iter()
            .any(|u| u.can_upcast(&event.event_type, &event.event_version));
        if !upcast {
            return serde_json::from_str(&event.payload).map_err(deserialization);
        }
        let stored = SerializedEvent::new(
            id.to_owned(),
            usize::try_from(event.sequence).unwrap_or_default(),
            A::TYPE.to_owned(),
            event.event_type,
            event.event_version,
            serde_json::from_str(&event.payload).map_err(deserialization)?,
            event.metadata,
        );
        let current = self.upcasters.iter().fold(stored, |e, u| {
            if u.can_upcast(&e.event_type, &e.event_version) {
                u.upcast(e)
            } else {
                e
            }
        });
        serde_json::from_value(current.payload).map_err(deserialization)
    }

    /// Writes the snapshot of `aggregate` at `version`; a failure is logged and counted, never
    /// returned (the command it follows has succeeded). Returns whether it was written.
    async fn save_snapshot(&self, id: &str, version: usize, aggregate: &A, replace: bool) -> bool {
        let written = match serde_json::to_string(aggregate) {
            Ok(payload) => snapshots::save(
                &self.pool,
                A::TYPE,
                id,
                i64::try_from(version).unwrap_or(i64::MAX),
                SNAPSHOT_FORMAT,
                &payload,
                replace,
            )
            .await
            .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match written {
            Ok(true) => {
                self.count_snapshot("written");
                true
            }
            Ok(false) => false,
            Err(error) => {
                self.count_snapshot("failed");
                tracing::warn!(
                    aggregate = A::TYPE,
                    aggregate_id = id,
                    version,
                    error,
                    "snapshot not written (the command was committed)"
                );
                false
            }
        }
    }

    fn count_snapshot(&self, outcome: &str) {
        self.metrics
            .snapshots
            .with_label_values(&[A::TYPE, outcome])
            .inc();
    }
}

fn db_error<E: std::error::Error>(e: sqlx::Error) -> AggregateError<E> {
    AggregateError::DatabaseConnectionError(Box::new(e))
}
