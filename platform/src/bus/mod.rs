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

mod metrics;
mod reply;
mod snapshotting;

pub use metrics::{names, CommandMetrics};
pub use reply::{Answer, BulkCreated, CommandAccepted, KeyTaken, Reply};
pub use snapshotting::{Snapshots, SNAPSHOT_FORMAT};

use crate::snapshots::{self, TailEvent};
use crate::store::{Append, AppendError, Claim, NewEvent, StreamHead};
use chrono::Utc;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::SerializedEvent;
use cqrs_es::{Aggregate, AggregateError, DomainEvent};
use std::collections::HashMap;
use std::time::Instant;

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
    appended: crate::relay::AppendSignal,
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
            appended: crate::relay::AppendSignal::start(pool.clone()),
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
        let mut fresh = reply.fresh;
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
        self.metrics.record(
            A::TYPE,
            name,
            result.as_ref().map(|c| c.appended).map_err(outcome),
            1,
            started,
        );
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
                position: None,
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
        let unexpected =
            |e: serde_json::Error| (None, AggregateError::UnexpectedError(Box::new(e)));
        let rendered = reply
            .render(&BulkCreated {
                items: accepted.clone(),
                position: None,
            })
            .map_err(unexpected);
        let result = match rendered {
            Ok(mut answer) => {
                let stored = reply.stored(&answer);
                match append.commit(&self.pool, stored.as_ref()).await {
                    Ok(appended) => {
                        self.appended.raise();
                        answer.stored = stored.is_some();
                        match appended.stored_body {
                            Some(body) => {
                                answer.body = body;
                                Ok(answer)
                            }
                            None => reply
                                .render(&BulkCreated {
                                    items: accepted,
                                    position: Some(appended.position),
                                })
                                .map(|a| Answer {
                                    stored: answer.stored,
                                    ..a
                                })
                                .map_err(unexpected),
                        }
                    }
                    Err(e) => Err((None, append_failure(e))),
                }
            }
            Err(e) => Err(e),
        };
        self.metrics.record(
            A::TYPE,
            name,
            result
                .as_ref()
                .map(|_| appended)
                .map_err(|(_, e)| outcome(e)),
            count,
            started,
        );
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
                // Nothing appended (a command already applied, or one that changes nothing):
                // the stream's latest position, which the read models must reach to show it.
                position: if events.is_empty() {
                    read.head.position
                } else {
                    None
                },
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
        let appended = append
            .commit(&self.pool, stored.as_ref())
            .await
            .map_err(append_failure)?;
        self.appended.raise();
        answer.body = match appended.stored_body {
            // Sent exactly as stored (a retry with the key gets the same bytes).
            Some(body) => body,
            None => {
                reply
                    .render(&CommandAccepted {
                        id: id.to_owned(),
                        version,
                        position: Some(appended.position),
                    })
                    .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?
                    .body
            }
        };
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
            // Read in one statement, the events and the head agree; after an unusable
            // snapshot the events are read again, and a writer may have appended in between.
            // Deciding on that state would fork the chain: it is a conflict, decided again.
            return Err(AggregateError::AggregateConflict);
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
}

/// The `result` label of a command that was not accepted.
fn outcome<E: std::error::Error>(e: &AggregateError<E>) -> &'static str {
    match e {
        AggregateError::UserError(_) => "rejected",
        AggregateError::AggregateConflict => "conflict",
        AggregateError::UnexpectedError(e) if e.is::<KeyTaken>() => "replayed",
        _ => "error",
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
