//! The event store: rows as envelopes, the hash-chained append used by the write side, and
//! the chain verifier.
//!
//! [`ChainedEventRepository`] is a cqrs-es repository that reads through postgres-es and
//! appends itself, so that every event gets its id and time from the writer and its link in
//! the stream's hash chain (see [`schemas::chain`]) in the same `INSERT`: the previous link is
//! read by a sub-select on the primary key inside that statement, so an append costs no extra
//! round trip, and two writers racing for one sequence still collide on the primary key
//! (optimistic concurrency, as before).

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
use sqlx::PgPool;
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

/// The write side's event repository (see the module documentation). cqrs-es's snapshot path
/// is refused (its `PersistedEventStore::commit` applies a command's events again to the state
/// the handler already applied them to, so its snapshots are wrong); asking this repository to
/// read or write one is an error. Snapshots are kept by the command bus instead, through
/// [`crate::snapshots`].
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

    async fn append<A: Aggregate>(&self, events: &[SerializedEvent]) -> Result<(), sqlx::Error> {
        // One event is one INSERT, atomic on its own: no BEGIN and COMMIT round trips. Several
        // go in one transaction, each linking to the one before.
        if let [one] = events {
            let mut conn = self.pool.acquire().await?;
            return insert_chained::<A>(&mut conn, one).await;
        }
        let mut tx = self.pool.begin().await?;
        for e in events {
            insert_chained::<A>(&mut tx, e).await?;
        }
        tx.commit().await
    }
}

/// Appends one event with its chain link (computed against the previous event in the same
/// statement).
async fn insert_chained<A: Aggregate>(
    conn: &mut sqlx::PgConnection,
    e: &SerializedEvent,
) -> Result<(), sqlx::Error> {
    let event_id = Uuid::now_v7();
    let now = Utc::now();
    let recorded_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let sequence = i64::try_from(e.sequence).unwrap_or(i64::MAX);
    let empty = serde_json::Map::new();
    let metadata = e.metadata.as_object().unwrap_or(&empty);
    let payload = match &e.payload {
        Value::Object(m) if m.len() == 1 => m.get(&e.event_type),
        _ => None,
    };
    let version = parse_version(&e.event_version);
    let (Some(payload), Ok(event_version)) = (payload, version) else {
        return Err(sqlx::Error::Protocol(format!(
            "{} v{} is not stored in envelope form",
            e.event_type, e.event_version
        )));
    };
    let digest = Content {
        event_id,
        aggregate_type: A::TYPE,
        aggregate_id: &e.aggregate_id,
        sequence,
        event_type: &e.event_type,
        event_version,
        occurred_at: recorded_at,
        metadata,
        payload,
    }
    .digest();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                 event_version, payload, metadata, event_id, recorded_at, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                 sha256(coalesce((SELECT p.hash FROM events p
                                   WHERE p.aggregate_type = $1 AND p.aggregate_id = $2
                                     AND p.sequence = $3 - 1), $10) || $11))",
    )
    .bind(A::TYPE)
    .bind(&e.aggregate_id)
    .bind(sequence)
    .bind(&e.event_type)
    .bind(&e.event_version)
    .bind(&e.payload)
    .bind(&e.metadata)
    .bind(event_id)
    .bind(recorded_at)
    .bind(&chain::GENESIS[..])
    .bind(&digest[..])
    .execute(conn)
    .await?;
    Ok(())
}

fn persistence_error(err: sqlx::Error) -> PersistenceError {
    match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            PersistenceError::OptimisticLockError
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
            PersistenceError::ConnectionError(Box::new(err))
        }
        _ => PersistenceError::UnknownError(Box::new(err)),
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
