//! The event store: rows as envelopes, the hash-chained append used by the write side, and
//! the chain verifier.
//!
//! Every append goes through [`Append`]: a command's events (or a bulk creation's), the unique
//! values they claim and the idempotent answer to the request are written in ONE statement,
//! so they commit together or not at all, in one round trip. Each event gets its id, its time
//! and its link in the stream's hash chain (see [`schemas::chain`]) from the writer, computed
//! against the stream's head the writer read; two writers racing for one sequence still
//! collide on the primary key (optimistic concurrency).

use chrono::{DateTime, Utc};
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use futures::TryStreamExt;
use postgres_es::PostgresEventRepository;
use schemas::chain::{self, BrokenLink, Content, Hash};
use schemas::envelope::{parse_version, untag_stored_payload};
use schemas::{Envelope, EnvelopeError};
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// The columns of an event row, in this order, for `SELECT`s that build [`EventRow`]s.
pub const EVENT_COLUMNS: &str = "aggregate_type, aggregate_id, sequence, event_type, \
     event_version, payload, metadata, global_position, event_id, recorded_at, hash";

/// One stored event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    /// Aggregate type.
    pub aggregate_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Sequence in the stream.
    pub sequence: i64,
    /// Event type.
    pub event_type: String,
    /// Stored version.
    pub event_version: String,
    /// Stored payload, tagged with the event type.
    pub payload: Value,
    /// Metadata object.
    pub metadata: Value,
    /// Position in the store.
    pub global_position: i64,
    /// Event id.
    pub event_id: Uuid,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Its chain link, if sealed.
    pub hash: Option<Vec<u8>>,
}

impl EventRow {
    /// The envelope as published (stored version, untagged payload, hash in hex).
    ///
    /// # Errors
    /// When the row does not fit the envelope (untagged payload, bad version).
    pub fn into_envelope(self) -> Result<Envelope, EnvelopeError> {
        let metadata = match self.metadata {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        Ok(Envelope {
            event_version: parse_version(&self.event_version)?,
            payload: untag_stored_payload(&self.event_type, self.payload)?,
            hash: self.hash.as_deref().map(hex::encode),
            event_id: self.event_id,
            aggregate_type: self.aggregate_type,
            aggregate_id: self.aggregate_id,
            sequence: self.sequence,
            global_position: self.global_position,
            event_type: self.event_type,
            occurred_at: self.recorded_at,
            metadata,
        })
    }

    /// The digest of the row's canonical envelope. A row that does not even fit the envelope
    /// (tampered into something else) gets the digest of its raw text, which never matches.
    pub fn digest(&self) -> Hash {
        let metadata = self.metadata.as_object();
        let payload = match &self.payload {
            Value::Object(m) if m.len() == 1 => m.get(&self.event_type),
            _ => None,
        };
        match (metadata, payload, parse_version(&self.event_version)) {
            (Some(metadata), Some(payload), Ok(event_version)) => Content {
                event_id: self.event_id,
                aggregate_type: &self.aggregate_type,
                aggregate_id: &self.aggregate_id,
                sequence: self.sequence,
                event_type: &self.event_type,
                event_version,
                occurred_at: self.recorded_at,
                metadata,
                payload,
            }
            .digest(),
            _ => {
                use sha2::Digest;
                let raw = format!("{}{}{}", self.payload, self.metadata, self.event_version);
                sha2::Sha256::digest(raw.as_bytes()).into()
            }
        }
    }

    fn stored_hash(&self) -> Option<Hash> {
        self.hash.as_deref().and_then(|h| h.try_into().ok())
    }
}

/// The head of a stream as a writer read it: what the next event links to, and the time it
/// must not predate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamHead {
    /// The last event's sequence (0: the stream is empty).
    pub sequence: i64,
    /// The last event's chain link (`None`: empty, or written before the chain existed).
    pub hash: Option<Hash>,
    /// When the last event was recorded.
    pub recorded_at: Option<DateTime<Utc>>,
    /// The last event's store position (when read with it).
    pub position: Option<i64>,
}

/// A decided event in its stored form: its type, version and payload (an object tagged with
/// its type).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The event type.
    pub event_type: String,
    /// Its version.
    pub event_version: String,
    /// The payload, tagged with the type.
    pub payload: Value,
}

/// An event ready to be appended: numbered, timed, identified and linked into its stream's
/// hash chain (see [`Append::stream`]).
#[derive(Debug, Clone)]
struct Sealed {
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Value,
    metadata: Value,
    event_id: Uuid,
    recorded_at: DateTime<Utc>,
    hash: Hash,
}

/// A value that must be unique across every stream, taken by the event that introduces it
/// (a supplier's registration number): `kind` names the namespace, `value` the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The namespace (e.g. `supplier.registration_number`).
    pub kind: &'static str,
    /// The value, normalised as it must be unique.
    pub value: String,
}

/// The answer to an idempotent request, stored in the same statement as the command's events
/// so that the effect and its answer commit together, or neither does.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    /// The token subject the key belongs to.
    pub principal: String,
    /// The `Idempotency-Key`.
    pub key: String,
    /// The hash of the request (method, path, body).
    pub request_hash: Vec<u8>,
    /// The HTTP status.
    pub status: u16,
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// The `Location`, if any.
    pub location: Option<String>,
    /// How long it is kept.
    pub ttl: std::time::Duration,
}

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer appended to one of the streams first (its sequence is taken).
    #[error("a stream was appended to concurrently")]
    StreamConflict,
    /// A [`Claim`] is held by another stream.
    #[error("a unique value is already claimed")]
    ClaimTaken,
    /// The idempotency key already has an answer (another request with it went first).
    #[error("the idempotency key already has an answer")]
    KeyTaken,
    /// An event is not in the stored (tagged) form.
    #[error("{0} is not stored in envelope form")]
    Malformed(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// One append: the events of one or more streams, the claims they take and the answer to
/// store, written by [`Append::commit`] as ONE statement (so one implicit transaction and one
/// round trip). Each event gets its id, time and chain link here: the link from the stream's
/// head as the writer read it, the time from `now` but never before the head's (so a stream's
/// times never go backwards, whatever the writers' clocks did). A writer whose head is stale
/// collides on the primary key: optimistic concurrency, as before.
#[derive(Debug)]
pub struct Append {
    aggregate_type: &'static str,
    events: Vec<Sealed>,
    claims: Vec<(Claim, String)>,
}

impl Append {
    /// An empty append of streams of `aggregate_type`.
    pub fn new(aggregate_type: &'static str) -> Self {
        Self {
            aggregate_type,
            events: Vec::new(),
            claims: Vec::new(),
        }
    }

    /// Adds the events of one stream after `head`, recorded at `now` (or the head's time, if
    /// later), with `metadata` on each. Each event's payload is in the stored form (an object
    /// tagged with its type).
    ///
    /// # Errors
    /// When an event is not in the stored form.
    pub fn stream(
        &mut self,
        aggregate_id: &str,
        head: &StreamHead,
        now: DateTime<Utc>,
        events: Vec<NewEvent>,
        metadata: &serde_json::Map<String, Value>,
    ) -> Result<(), AppendError> {
        let now = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let recorded_at = head.recorded_at.map_or(now, |last| now.max(last));
        let mut metadata = metadata.clone();
        metadata.insert(
            schemas::metadata_keys::RECORDED_AT.to_owned(),
            Value::String(recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        let mut prev = head.hash.unwrap_or(chain::GENESIS);
        for (sequence, event) in (head.sequence + 1..).zip(events) {
            let NewEvent {
                event_type,
                event_version,
                payload,
            } = event;
            let event_id = Uuid::now_v7();
            let untagged = match &payload {
                Value::Object(m) if m.len() == 1 => m.get(&event_type),
                _ => None,
            };
            let (Some(untagged), Ok(version)) = (untagged, parse_version(&event_version)) else {
                return Err(AppendError::Malformed(format!(
                    "{event_type} v{event_version}"
                )));
            };
            let digest = Content {
                event_id,
                aggregate_type: self.aggregate_type,
                aggregate_id,
                sequence,
                event_type: &event_type,
                event_version: version,
                occurred_at: recorded_at,
                metadata: &metadata,
                payload: untagged,
            }
            .digest();
            prev = chain::link(&prev, &digest);
            self.events.push(Sealed {
                aggregate_id: aggregate_id.to_owned(),
                sequence,
                event_type,
                event_version,
                payload,
                metadata: Value::Object(metadata.clone()),
                event_id,
                recorded_at,
                hash: prev,
            });
        }
        Ok(())
    }

    /// Adds a claim taken by stream `aggregate_id`.
    pub fn claim(&mut self, aggregate_id: &str, claim: Claim) {
        self.claims.push((claim, aggregate_id.to_owned()));
    }

    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether it holds no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Writes the events, the claims and `answer` in one statement: all of them, or none.
    ///
    /// # Errors
    /// [`AppendError::StreamConflict`], [`AppendError::ClaimTaken`] or
    /// [`AppendError::KeyTaken`] when a unique key is taken (by a committed writer: a
    /// concurrent one is waited for), or a database failure.
    pub async fn commit(
        self,
        pool: &PgPool,
        answer: Option<&StoredAnswer>,
    ) -> Result<Appended, AppendError> {
        let n = self.events.len();
        let mut ids = Vec::with_capacity(n);
        let mut sequences = Vec::with_capacity(n);
        let mut types = Vec::with_capacity(n);
        let mut versions = Vec::with_capacity(n);
        let mut payloads = Vec::with_capacity(n);
        let mut metadata = Vec::with_capacity(n);
        let mut event_ids = Vec::with_capacity(n);
        let mut times = Vec::with_capacity(n);
        let mut hashes = Vec::with_capacity(n);
        for e in self.events {
            ids.push(e.aggregate_id);
            sequences.push(e.sequence);
            types.push(e.event_type);
            versions.push(e.event_version);
            payloads.push(e.payload);
            metadata.push(e.metadata);
            event_ids.push(e.event_id);
            times.push(e.recorded_at);
            hashes.push(e.hash.to_vec());
        }
        let (mut kinds, mut values, mut holders) = (Vec::new(), Vec::new(), Vec::new());
        for (claim, holder) in self.claims {
            kinds.push(claim.kind);
            values.push(claim.value);
            holders.push(holder);
        }
        // Data-modifying CTEs all run to completion whether or not the outer query reads them;
        // a unique violation in any of them undoes the whole statement.
        let row = sqlx::query(
            "WITH appended AS (
               INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                   event_version, payload, metadata, event_id, recorded_at, hash)
               SELECT $1, e.* FROM unnest($2::text[], $3::int8[], $4::text[], $5::text[],
                                          $6::jsonb[], $7::jsonb[], $8::uuid[],
                                          $9::timestamptz[], $10::bytea[]) AS e
               RETURNING global_position
             ), claimed AS (
               INSERT INTO unique_claims (kind, value, aggregate_type, aggregate_id)
               SELECT c.kind, c.value, $1, c.holder
                 FROM unnest($11::text[], $12::text[], $13::text[]) AS c(kind, value, holder)
             ), answered AS (
               INSERT INTO idempotency_keys (principal, key, request_hash, status, response_body,
                                             location, completed_at, expires_at)
               SELECT $14, $15, $16, $17,
                      convert_to(jsonb_set(convert_from($18, 'UTF8')::jsonb, '{position}',
                                           to_jsonb((SELECT max(global_position) FROM appended)))::text,
                                 'UTF8'),
                      $19, now(), now() + make_interval(secs => $20)
                WHERE $14::text IS NOT NULL
               RETURNING response_body
             )
             SELECT (SELECT max(global_position) FROM appended), (SELECT response_body FROM answered)",
        )
        .bind(self.aggregate_type)
        .bind(ids)
        .bind(sequences)
        .bind(types)
        .bind(versions)
        .bind(payloads)
        .bind(metadata)
        .bind(event_ids)
        .bind(times)
        .bind(hashes)
        .bind(kinds)
        .bind(values)
        .bind(holders)
        .bind(answer.map(|a| a.principal.as_str()))
        .bind(answer.map(|a| a.key.as_str()))
        .bind(answer.map(|a| a.request_hash.as_slice()))
        .bind(answer.map(|a| i16::try_from(a.status).unwrap_or(500)))
        .bind(answer.map(|a| a.body.as_slice()))
        .bind(answer.and_then(|a| a.location.as_deref()))
        .bind(answer.map(|a| a.ttl.as_secs_f64()))
        .fetch_one(pool)
        .await
        .map_err(append_error)?;
        let (position, body): (Option<i64>, Option<Vec<u8>>) = (row.get(0), row.get(1));
        Ok(Appended {
            position: position.unwrap_or(0),
            stored_body: body,
        })
    }
}

/// What an [`Append`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The store position of its last event.
    pub position: i64,
    /// The stored answer's body, with the `position` added (when an answer was stored).
    pub stored_body: Option<Vec<u8>>,
}

/// Which unique key a failed append collided on.
fn append_error(err: sqlx::Error) -> AppendError {
    if let sqlx::Error::Database(db) = &err {
        if db.code().as_deref() == Some("23505") {
            return match db.constraint() {
                Some("idempotency_keys_pkey") => AppendError::KeyTaken,
                Some("unique_claims_pkey") => AppendError::ClaimTaken,
                _ => AppendError::StreamConflict,
            };
        }
        // A deadlock between two appends: like a conflict, deciding again is the answer.
        if db.code().as_deref() == Some("40P01") {
            return AppendError::StreamConflict;
        }
    }
    AppendError::Db(err)
}

/// The write side's event repository for cqrs-es: reads through postgres-es, and appends
/// through [`Append`] (reading the stream's head first, since cqrs-es does not pass it).
/// cqrs-es's snapshot path is refused (its `PersistedEventStore::commit` applies a command's
/// events again to the state the handler already applied them to, so its snapshots are
/// wrong); asking this repository to read or write one is an error. The command bus
/// ([`crate::bus`]) appends through [`Append`] directly and keeps its own snapshots.
pub struct ChainedEventRepository {
    pool: PgPool,
    reads: PostgresEventRepository,
}

impl std::fmt::Debug for ChainedEventRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainedEventRepository")
            .finish_non_exhaustive()
    }
}

impl ChainedEventRepository {
    /// Over the `events` table of `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            reads: PostgresEventRepository::new(pool.clone()),
            pool,
        }
    }

    async fn append<A: Aggregate>(&self, events: &[SerializedEvent]) -> Result<(), AppendError> {
        let mut append = Append::new(A::TYPE);
        let mut streams: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
        streams.dedup();
        for id in streams {
            let mine: Vec<&SerializedEvent> =
                events.iter().filter(|e| e.aggregate_id == id).collect();
            let first = mine.first().map_or(1, |e| e.sequence);
            let head = read_head(
                &self.pool,
                A::TYPE,
                id,
                i64::try_from(first).unwrap_or(1) - 1,
            )
            .await?;
            let metadata = mine
                .first()
                .and_then(|e| e.metadata.as_object().cloned())
                .unwrap_or_default();
            let batch = mine
                .iter()
                .map(|e| NewEvent {
                    event_type: e.event_type.clone(),
                    event_version: e.event_version.clone(),
                    payload: e.payload.clone(),
                })
                .collect();
            append.stream(id, &head, Utc::now(), batch, &metadata)?;
        }
        append.commit(&self.pool, None).await.map(|_| ())
    }
}

/// The head of a stream at `sequence` (its link and time), as [`Append`] needs it.
async fn read_head(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
) -> Result<StreamHead, sqlx::Error> {
    let row: Option<(Option<Vec<u8>>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT hash, recorded_at FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .fetch_optional(pool)
    .await?;
    Ok(StreamHead {
        sequence,
        hash: row
            .as_ref()
            .and_then(|(h, _)| h.as_deref().and_then(|h| h.try_into().ok())),
        recorded_at: row.map(|(_, t)| t),
        position: None,
    })
}

fn persistence_error(err: AppendError) -> PersistenceError {
    match err {
        AppendError::StreamConflict | AppendError::ClaimTaken | AppendError::KeyTaken => {
            PersistenceError::OptimisticLockError
        }
        AppendError::Db(
            e @ (sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut),
        ) => PersistenceError::ConnectionError(Box::new(e)),
        other => PersistenceError::UnknownError(Box::new(other)),
    }
}

impl PersistedEventRepository for ChainedEventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads.get_events::<A>(aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        _aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        Err(PersistenceError::UnknownError(
            "cqrs-es snapshots are not used on the chained event store (see platform::snapshots)"
                .into(),
        ))
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_some() {
            return Err(PersistenceError::UnknownError(
                "cqrs-es snapshots are not used on the chained event store (see platform::snapshots)"
                    .into(),
            ));
        }
        self.append::<A>(events).await.map_err(persistence_error)
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_all_events::<A>().await
    }
}

/// Which streams to verify.
#[derive(Debug, Clone, Default)]
pub struct StreamFilter {
    /// Only this aggregate type.
    pub aggregate_type: Option<String>,
    /// Only this aggregate id.
    pub aggregate_id: Option<String>,
}

/// A broken link, with its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenStream {
    /// Aggregate type.
    pub aggregate_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// The first broken link.
    pub link: BrokenLink,
}

/// What a verification found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Streams checked.
    pub streams: u64,
    /// Events checked.
    pub events: u64,
    /// Streams whose chain does not hold, each with its first broken link.
    pub broken: Vec<BrokenStream>,
}

/// Recomputes the chains of the selected streams from the stored rows, streaming them in
/// primary-key order, and names each broken stream's first broken link.
///
/// # Errors
/// When the database fails.
pub async fn verify_chains(
    pool: &PgPool,
    filter: &StreamFilter,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, sqlx::Error> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events
          WHERE ($1::text IS NULL OR aggregate_type = $1)
            AND ($2::text IS NULL OR aggregate_id = $2)
          ORDER BY aggregate_type, aggregate_id, sequence"
    );
    let mut rows = sqlx::query_as::<_, EventRow>(&sql)
        .bind(&filter.aggregate_type)
        .bind(&filter.aggregate_id)
        .fetch(pool);
    let mut report = VerifyReport::default();
    let mut current: Option<(String, String)> = None;
    let mut verifier = chain::Verifier::default();
    let mut failed = false;
    while let Some(row) = rows.try_next().await? {
        let same = current
            .as_ref()
            .is_some_and(|(t, id)| *t == row.aggregate_type && *id == row.aggregate_id);
        if !same {
            current = Some((row.aggregate_type.clone(), row.aggregate_id.clone()));
            verifier = chain::Verifier::default();
            failed = false;
            report.streams += 1;
        }
        report.events += 1;
        if report.events.is_multiple_of(10_000) {
            progress(report.events);
        }
        if let Err(link) = verifier.check(row.sequence, &row.digest(), row.stored_hash().as_ref()) {
            if !failed {
                failed = true;
                report.broken.push(BrokenStream {
                    aggregate_type: row.aggregate_type.clone(),
                    aggregate_id: row.aggregate_id.clone(),
                    link,
                });
            }
        }
    }
    progress(report.events);
    Ok(report)
}

/// Seals events written before the chain existed (`hash IS NULL`), stream by stream in
/// sequence order, continuing from the last sealed link. Returns how many were sealed.
/// Run once after the migration that added the column; a no-op afterwards.
///
/// # Errors
/// When the database fails.
pub async fn seal_unsealed(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let streams: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT aggregate_type, aggregate_id FROM events WHERE hash IS NULL",
    )
    .fetch_all(pool)
    .await?;
    let mut sealed = 0;
    for (aggregate_type, aggregate_id) in streams {
        let mut tx = pool.begin().await?;
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2
              ORDER BY sequence FOR UPDATE"
        ))
        .bind(&aggregate_type)
        .bind(&aggregate_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut prev = chain::GENESIS;
        for row in rows {
            match row.stored_hash() {
                Some(h) => prev = h,
                None => {
                    prev = chain::link(&prev, &row.digest());
                    sqlx::query(
                        "UPDATE events SET hash = $4
                          WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
                    )
                    .bind(&row.aggregate_type)
                    .bind(&row.aggregate_id)
                    .bind(row.sequence)
                    .bind(&prev[..])
                    .execute(&mut *tx)
                    .await?;
                    sealed += 1;
                }
            }
        }
        tx.commit().await?;
    }
    Ok(sealed)
}

/// Every event of one stream, in sequence order, as envelopes.
///
/// # Errors
/// When the database fails or a row does not fit the envelope.
pub async fn load_stream(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<Envelope>, StoreError> {
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2
          ORDER BY sequence"
    ))
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| r.into_envelope().map_err(StoreError::from))
        .collect()
}

/// A failure reading the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// A row does not fit the envelope.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}
