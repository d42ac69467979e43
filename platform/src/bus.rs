//! The command pipeline: every command of every aggregate runs through [`CommandBus::execute`]
//! (and bulk creations through [`CommandBus::create_many`]).
//!
//! **One statement per command.** The bus loads the aggregate (snapshot, newer events, the
//! stream's head and the database clock, in one statement; nothing at all for a creation with a
//! fresh id), runs the cqrs-es `handle`, renders the answer the command will give, and writes
//! the events, the unique values they claim ([`crate::store::Claim`]) and that answer (when
//! the request has an `Idempotency-Key`) in ONE statement ([`crate::store::Append`]): the
//! effect and its answer commit together or not at all, so after any crash a retry with the
//! same key either finds the answer (and gets it byte for byte) or finds nothing done. A
//! keyed command thus costs two round trips, a creation one; no explicit transaction, no
//! second commit. A concurrent request with the same key waits on the key's row and then
//! gets the first answer; a concurrent writer to the same stream collides on its sequence and
//! the command is decided again on the fresh state.
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
//! against (see [`SNAPSHOT_FORMAT`] and `crate::snapshots`). Events stay the only record:
//! audit, `as_of`, history and exports never read snapshots.

use crate::snapshots::{self, StoredSnapshot, TailEvent};
use crate::store::{Append, AppendError, Claim, NewEvent, StoredAnswer, StreamHead};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::SerializedEvent;
use cqrs_es::{Aggregate, AggregateError, DomainEvent};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use serde::Serialize;
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
        use crate::metrics::register;
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
                        .buckets(crate::metrics::LATENCY_BUCKETS.to_vec()),
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

/// The body of every accepted command: the aggregate's id and its version after the command
/// (pass it as `min_version` to the query API to read your own write).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CommandAccepted {
    /// The aggregate's id.
    #[schema(value_type = uuid::Uuid)]
    pub id: String,
    /// The aggregate's version after the command; pass it as `min_version` to the query API
    /// to read your own write.
    pub version: usize,
}

/// The body of a bulk creation: the new aggregates in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BulkCreated {
    /// One entry per item, in request order.
    pub items: Vec<CommandAccepted>,
}

/// The answer a command will give if it is accepted, described before it runs so that the bus
/// can store it with the command's events (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct Reply {
    created: bool,
    location: Option<String>,
    key: Option<crate::idempotency::IdempotencyKey>,
}

impl Reply {
    /// `201 Created` at `location`, for a command that creates its aggregate under a new id
    /// (the bus then does not read the stream first).
    pub fn created(location: impl Into<String>) -> Self {
        Self {
            created: true,
            location: Some(location.into()),
            key: None,
        }
    }

    /// `202 Accepted` at `location`, for any other command.
    pub fn changed(location: impl Into<String>) -> Self {
        Self {
            created: false,
            location: Some(location.into()),
            key: None,
        }
    }

    /// `201 Created` without a `Location`, for a bulk creation.
    pub fn bulk() -> Self {
        Self {
            created: true,
            location: None,
            key: None,
        }
    }

    /// The same reply, stored under the request's `Idempotency-Key` (if it has one) in the
    /// same statement as the events.
    #[must_use]
    pub fn keyed(self, key: Option<crate::idempotency::IdempotencyKey>) -> Self {
        Self { key, ..self }
    }

    fn status(&self) -> StatusCode {
        if self.created {
            StatusCode::CREATED
        } else {
            StatusCode::ACCEPTED
        }
    }

    fn render(&self, body: &impl Serialize) -> Result<Answer, serde_json::Error> {
        Ok(Answer {
            status: self.status(),
            body: serde_json::to_vec(body)?,
            location: self.location.clone(),
            stored: false,
        })
    }

    fn stored(&self, answer: &Answer) -> Option<StoredAnswer> {
        self.key.as_ref().map(|k| StoredAnswer {
            principal: k.principal.clone(),
            key: k.key.clone(),
            request_hash: k.request_hash.clone(),
            status: answer.status.as_u16(),
            body: answer.body.clone(),
            location: answer.location.clone(),
            ttl: k.ttl,
        })
    }
}

/// The HTTP answer of an accepted command, exactly as sent (and, when `stored`, as kept under
/// its `Idempotency-Key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `201` or `202`.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Vec<u8>,
    /// The `Location`.
    pub location: Option<String>,
    /// Whether it was stored with the events (else the idempotency middleware stores it).
    pub stored: bool,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(l) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, l);
        }
        if self.stored {
            response
                .extensions_mut()
                .insert(crate::idempotency::AnswerStored);
        }
        response
    }
}

/// The request's `Idempotency-Key` already has an answer: another request with it committed
/// first. The idempotency middleware answers with that one.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the Idempotency-Key already has an answer")]
pub struct KeyTaken;

/// The result of a command that was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The aggregate's version after the command (its last event's sequence).
    pub version: usize,
    /// How many events the command appended.
    pub appended: usize,
    /// The answer, as sent.
    pub answer: Answer,
}

/// The unique values an event claims (none by default).
pub type ClaimsOf<E> = fn(&E) -> Vec<Claim>;

/// Runs commands of one aggregate type.
pub struct CommandBus<A: Aggregate> {
    pool: sqlx::PgPool,
    services: A::Services,
    metrics: CommandMetrics,
    upcasters: Vec<Box<dyn cqrs_es::persist::EventUpcaster>>,
    snapshots: Snapshots,
    claims: ClaimsOf<A::Event>,
}

impl<A: Aggregate> std::fmt::Debug for CommandBus<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandBus")
            .field("aggregate", &A::TYPE)
            .field("snapshots", &self.snapshots)
            .finish_non_exhaustive()
    }
}

/// What an attempt read before deciding.
struct Read<A> {
    loaded: Loaded<A>,
    last_snapshot: usize,
    head: StreamHead,
    now: chrono::DateTime<Utc>,
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
            pool,
            services,
            metrics,
            upcasters,
            snapshots: Snapshots::off(),
            claims: |_| Vec::new(),
        }
    }

    /// The same bus, loading from and writing snapshots as `snapshots` says.
    #[must_use]
    pub fn with_snapshots(self, snapshots: Snapshots) -> Self {
        Self { snapshots, ..self }
    }

    /// The same bus, writing the unique values `claims` names for each event in the same
    /// statement as the event: a value another stream holds makes the append a conflict, and
    /// the command is decided again (when its handler then sees the holder, it refuses).
    #[must_use]
    pub fn with_claims(self, claims: ClaimsOf<A::Event>) -> Self {
        Self { claims, ..self }
    }

    /// Its snapshot policy.
    pub fn snapshots(&self) -> Snapshots {
        self.snapshots
    }

    /// Executes `command` on aggregate `id` with `metadata` on every event and answers as
    /// `reply` says. A creation first assumes its stream is new and reads nothing; if the
    /// stream exists after all, the command is decided again on what is stored. On a
    /// concurrent write (the append's unique key is taken) it runs once more on the fresh
    /// state: every command is decided again from scratch, so the retry is safe; a second
    /// conflict is returned.
    ///
    /// # Errors
    /// The aggregate's rejection, a conflict, [`KeyTaken`] (as `UnexpectedError`), or a store
    /// failure.
    pub async fn execute(
        &self,
        id: &str,
        name: &'static str,
        command: A::Command,
        metadata: HashMap<String, String>,
        reply: &Reply,
    ) -> Result<Committed, AggregateError<A::Error>> {
        let started = Instant::now();
        let metadata = metadata_object(metadata);
        let mut fresh = reply.created;
        let mut retried = false;
        let result = loop {
            match self
                .once(id, command.clone(), &metadata, reply, fresh)
                .await
            {
                Err(AggregateError::AggregateConflict) if fresh => fresh = false,
                Err(AggregateError::AggregateConflict) if !retried => retried = true,
                other => break other,
            }
        };
        let outcome = match &result {
            Ok(_) => "accepted",
            Err(AggregateError::UserError(_)) => "rejected",
            Err(AggregateError::AggregateConflict) => "conflict",
            Err(AggregateError::UnexpectedError(e)) if e.is::<KeyTaken>() => "replayed",
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
        Ok(self.load_state(id).await?.loaded)
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
        .map_err(db_error)?;
        let mut out: HashMap<String, A> = HashMap::new();
        for (id, payload) in rows {
            let event: A::Event = serde_json::from_value(payload)
                .map_err(|e| AggregateError::DeserializationError(Box::new(e)))?;
            out.entry(id).or_default().apply(event);
        }
        Ok(out)
    }

    /// Creates several new aggregates, each decided from its initial state, with all their
    /// events (and the answer, when keyed) appended in ONE statement: all are created or none.
    /// An id that already has events makes the whole call a conflict.
    ///
    /// # Errors
    /// The first rejection (with its index), a conflict, [`KeyTaken`], or a store failure.
    pub async fn create_many(
        &self,
        name: &'static str,
        items: Vec<(String, A::Command)>,
        metadata: HashMap<String, String>,
        reply: &Reply,
    ) -> Result<Answer, (Option<usize>, AggregateError<A::Error>)> {
        let started = Instant::now();
        let metadata = metadata_object(metadata);
        let count = items.len();
        let mut append = Append::new(A::TYPE);
        let mut accepted = Vec::with_capacity(count);
        let now = Utc::now();
        for (index, (id, command)) in items.into_iter().enumerate() {
            let mut aggregate = A::default();
            let sink = EventSink::default();
            aggregate
                .handle(command, &self.services, &sink)
                .await
                .map_err(|e| (Some(index), AggregateError::UserError(e)))?;
            let events = sink.collect().await;
            accepted.push(CommandAccepted {
                id: id.clone(),
                version: events.len(),
            });
            for claim in events.iter().flat_map(self.claims) {
                append.claim(&id, claim);
            }
            let serialized = serialize::<A>(&events).map_err(|e| (Some(index), e))?;
            append
                .stream(&id, &StreamHead::default(), now, serialized, &metadata)
                .map_err(|e| (Some(index), append_failure(e)))?;
        }
        let appended = append.len();
        let rendered = reply
            .render(&BulkCreated { items: accepted })
            .map_err(|e| (None, AggregateError::UnexpectedError(Box::new(e))));
        let result = match rendered {
            Ok(mut answer) => {
                let stored = reply.stored(&answer);
                match append.commit(&self.pool, stored.as_ref()).await {
                    Ok(()) => {
                        answer.stored = stored.is_some();
                        Ok(answer)
                    }
                    Err(e) => Err((None, append_failure(e))),
                }
            }
            Err(e) => Err(e),
        };
        let outcome = match &result {
            Ok(_) => "accepted",
            Err((_, AggregateError::UnexpectedError(e))) if e.is::<KeyTaken>() => "replayed",
            Err((_, AggregateError::AggregateConflict)) => "conflict",
            Err(_) => "error",
        };
        self.metrics
            .commands
            .with_label_values(&[A::TYPE, name, outcome])
            .inc_by(count as u64);
        self.metrics
            .duration
            .with_label_values(&[A::TYPE, name])
            .observe(started.elapsed().as_secs_f64());
        if result.is_ok() {
            self.metrics
                .appended
                .with_label_values(&[A::TYPE])
                .inc_by(appended as u64);
        }
        result
    }

    async fn once(
        &self,
        id: &str,
        command: A::Command,
        metadata: &serde_json::Map<String, serde_json::Value>,
        reply: &Reply,
        fresh: bool,
    ) -> Result<Committed, AggregateError<A::Error>> {
        let read = if fresh {
            Read {
                loaded: Loaded {
                    aggregate: A::default(),
                    version: 0,
                    snapshot: None,
                    replayed: 0,
                },
                last_snapshot: 0,
                head: StreamHead::default(),
                now: Utc::now(),
            }
        } else {
            self.load_state(id).await?
        };
        let current = read.loaded.version;
        let mut aggregate = read.loaded.aggregate;
        let sink = EventSink::default();
        // `handle` writes its events through the sink, which applies each to `aggregate`: after
        // it, `aggregate` is the state at the new version.
        aggregate
            .handle(command, &self.services, &sink)
            .await
            .map_err(AggregateError::UserError)?;
        let events = sink.collect().await;
        let version = current + events.len();
        let mut answer = reply
            .render(&CommandAccepted {
                id: id.to_owned(),
                version,
            })
            .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?;
        if events.is_empty() {
            // Nothing to append: the answer (if keyed) is stored by the middleware.
            return Ok(Committed {
                version,
                appended: 0,
                answer,
            });
        }
        let mut append = Append::new(A::TYPE);
        for claim in events.iter().flat_map(self.claims) {
            append.claim(id, claim);
        }
        append
            .stream(id, &read.head, read.now, serialize::<A>(&events)?, metadata)
            .map_err(append_failure)?;
        let stored = reply.stored(&answer);
        append
            .commit(&self.pool, stored.as_ref())
            .await
            .map_err(append_failure)?;
        answer.stored = stored.is_some();
        if self.snapshots.due(version - read.last_snapshot) {
            self.save_snapshot(id, version, &aggregate, false).await;
        }
        Ok(Committed {
            version,
            appended: events.len(),
            answer,
        })
    }

    /// Loads the aggregate, from its snapshot if that is usable, with the sequence of the
    /// newest snapshot now stored for it (0: none), the stream's head and the database's
    /// clock. A snapshot found unusable is replaced at once by one of the fully replayed
    /// state, and a replay of `every` events or more leaves one behind.
    async fn load_state(&self, id: &str) -> Result<Read<A>, AggregateError<A::Error>> {
        let stored = snapshots::load_stream(&self.pool, A::TYPE, id, self.snapshots.is_on())
            .await
            .map_err(db_error)?;
        let (head, now) = (stored.head, stored.now);
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
        if i64::try_from(version).unwrap_or(i64::MAX) != head.sequence {
            // The head is read in the same statement as the events, so this cannot happen
            // unless the store is damaged; deciding on it would fork the chain.
            return Err(AggregateError::UnexpectedError(
                format!(
                    "{} {id}: replayed to version {version} but the stream's head is {}",
                    A::TYPE,
                    head.sequence
                )
                .into(),
            ));
        }
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
        Ok(Read {
            loaded,
            last_snapshot,
            head,
            now,
        })
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

/// The metadata as the JSON object stored on every event.
fn metadata_object(
    metadata: HashMap<String, String>,
) -> serde_json::Map<String, serde_json::Value> {
    metadata
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect()
}

/// Events in their stored form: type, version and the payload tagged with its type.
fn serialize<A: Aggregate>(events: &[A::Event]) -> Result<Vec<NewEvent>, AggregateError<A::Error>> {
    events
        .iter()
        .map(|e| {
            serde_json::to_value(e)
                .map(|payload| NewEvent {
                    event_type: e.event_type(),
                    event_version: e.event_version(),
                    payload,
                })
                .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))
        })
        .collect()
}

/// What a failed append means to the caller: a taken sequence or claim is a conflict (decide
/// again), a taken key is [`KeyTaken`], a failure of the database to answer is
/// `DatabaseConnectionError` (the command may or may not have committed: retry with the key),
/// anything else is unexpected.
fn append_failure<E: std::error::Error>(e: AppendError) -> AggregateError<E> {
    match e {
        AppendError::StreamConflict | AppendError::ClaimTaken => AggregateError::AggregateConflict,
        AppendError::KeyTaken => AggregateError::UnexpectedError(Box::new(KeyTaken)),
        AppendError::Db(e) if crate::db::is_transient(&e) => {
            AggregateError::DatabaseConnectionError(Box::new(e))
        }
        other => AggregateError::UnexpectedError(Box::new(other)),
    }
}
