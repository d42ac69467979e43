//! The SQL of aggregate snapshots (the `snapshots` table): read an aggregate's latest snapshot
//! together with the events after it, and write one.
//!
//! What a snapshot holds and when it is taken is the command bus's business
//! (`crate::bus`); this module only guarantees two things. A snapshot is anchored to the
//! event it was taken at: it is written from that event's row (an `INSERT … SELECT` by primary
//! key, so no snapshot exists for an event that is not in the store) with that event's chain
//! link, and it reads back as `anchored` only while that event is still there with the same
//! link. And the snapshot and the events after it are read in one statement, so they come
//! from one consistent view of the store.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

/// A stored snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// The last event the state includes.
    pub last_sequence: i64,
    /// The format it was written in.
    pub format: i32,
    /// The aggregate, as its writer serialised it.
    pub payload: String,
    /// Whether the event at `last_sequence` is in the store with the link the snapshot was
    /// taken at.
    pub anchored: bool,
}

/// One stored event, as a loader needs it (the payload as stored, tagged with its type).
#[derive(Debug, Clone, PartialEq)]
pub struct TailEvent {
    /// Its sequence.
    pub sequence: i64,
    /// Its type.
    pub event_type: String,
    /// Its stored version.
    pub event_version: String,
    /// Its payload as stored (JSON text).
    pub payload: String,
    /// Its metadata.
    pub metadata: Value,
}

/// What a writer reads of one aggregate in one statement: its latest snapshot (if asked for
/// and there is one), every event after it (after sequence 0 when there is none), in sequence
/// order, the stream's head (what the next event links to) and the database's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamState {
    /// The snapshot.
    pub snapshot: Option<StoredSnapshot>,
    /// The events after it.
    pub events: Vec<TailEvent>,
    /// The stream's last event: its sequence, link and time.
    pub head: crate::store::StreamHead,
    /// The database's clock when it was read: new events are recorded at this time (or at the
    /// head's, if that is later), so every writer's events take their time from one clock.
    pub now: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    kind: i32,
    sequence: i64,
    event_type: Option<String>,
    event_version: Option<String>,
    payload: String,
    metadata: Option<Value>,
    format: Option<i32>,
    anchored: Option<bool>,
    hash: Option<Vec<u8>>,
    recorded_at: Option<DateTime<Utc>>,
    clock: Option<DateTime<Utc>>,
    position: Option<i64>,
}

/// Reads an aggregate as a writer needs it (see [`StreamState`]), in one statement; with
/// `with_snapshot` false no snapshot is read and every event is returned.
///
/// # Errors
/// When the database fails.
pub async fn load_stream(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
    with_snapshot: bool,
) -> Result<StreamState, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT 0 AS kind, s.last_sequence AS sequence, NULL::text AS event_type,
                NULL::text AS event_version, s.payload::text AS payload, NULL::jsonb AS metadata,
                s.format,
                -- A sub-plan on the whole primary key: as a join, a generic plan scans the
                -- stream for it.
                EXISTS (SELECT 1 FROM events e
                         WHERE e.aggregate_type = $1 AND e.aggregate_id = $2
                           AND e.sequence = s.last_sequence
                           AND e.hash IS NOT DISTINCT FROM s.event_hash) AS anchored,
                NULL::bytea AS hash, NULL::timestamptz AS recorded_at, NULL::timestamptz AS clock,
                NULL::int8 AS position
           FROM snapshots s
          WHERE $3 AND s.aggregate_type = $1 AND s.aggregate_id = $2
         UNION ALL
         SELECT 1, sequence, event_type, event_version, payload::text, metadata, NULL, NULL,
                NULL, NULL, NULL, NULL
           FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2
            AND sequence > CASE WHEN $3 THEN
                             coalesce((SELECT last_sequence FROM snapshots
                                        WHERE aggregate_type = $1 AND aggregate_id = $2), 0)
                           ELSE 0 END
         UNION ALL
         SELECT 2, coalesce(h.sequence, 0), NULL, NULL, '', NULL, NULL, NULL, h.hash,
                h.recorded_at, clock_timestamp(), h.global_position
           FROM (SELECT 1) one
           LEFT JOIN LATERAL (SELECT sequence, hash, recorded_at, global_position
                                FROM events
                               WHERE aggregate_type = $1 AND aggregate_id = $2
                               ORDER BY sequence DESC LIMIT 1) h ON true
          ORDER BY kind, sequence",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(with_snapshot)
    .fetch_all(pool)
    .await?;
    let mut snapshot = None;
    let mut events = Vec::new();
    let mut head = crate::store::StreamHead::default();
    let mut now = Utc::now();
    for row in rows {
        match row.kind {
            0 => {
                snapshot = Some(StoredSnapshot {
                    last_sequence: row.sequence,
                    format: row.format.unwrap_or_default(),
                    payload: row.payload,
                    anchored: row.anchored.unwrap_or(false),
                });
            }
            1 => events.push(TailEvent {
                sequence: row.sequence,
                event_type: row.event_type.unwrap_or_default(),
                event_version: row.event_version.unwrap_or_default(),
                payload: row.payload,
                metadata: row.metadata.unwrap_or(Value::Null),
            }),
            _ => {
                now = row.clock.unwrap_or(now);
                head = crate::store::StreamHead {
                    sequence: row.sequence,
                    hash: row.hash.as_deref().and_then(|h| h.try_into().ok()),
                    recorded_at: row.recorded_at,
                    position: row.position,
                };
            }
        }
    }
    Ok(StreamState {
        snapshot,
        events,
        head,
        now,
    })
}

/// Every event of one aggregate after sequence `after` (0: all of them), in sequence order.
///
/// # Errors
/// When the database fails.
pub async fn load_events_after(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
    after: i64,
) -> Result<Vec<TailEvent>, sqlx::Error> {
    let rows: Vec<(i64, String, String, String, Value)> = sqlx::query_as(
        "SELECT sequence, event_type, event_version, payload::text, metadata
           FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
          ORDER BY sequence",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(after)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(sequence, event_type, event_version, payload, metadata)| TailEvent {
                sequence,
                event_type,
                event_version,
                payload,
                metadata,
            },
        )
        .collect())
}

/// Writes the snapshot of one aggregate taken at `last_sequence`, anchored to that event's
/// row and chain link. It replaces the stored one only if that one is not newer, unless
/// `replace` (used to overwrite a snapshot found unusable, whatever its sequence). Returns
/// whether a row was written (not when the event is not in the store, or a newer snapshot is).
///
/// # Errors
/// When the database fails.
pub async fn save(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
    last_sequence: i64,
    format: i32,
    payload: &str,
    replace: bool,
) -> Result<bool, sqlx::Error> {
    let written = sqlx::query(
        "INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, event_hash, format,
                                payload)
         SELECT aggregate_type, aggregate_id, sequence, hash, $4, $5::text::json
           FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3
         ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
            SET last_sequence = EXCLUDED.last_sequence, event_hash = EXCLUDED.event_hash,
                format = EXCLUDED.format, payload = EXCLUDED.payload, taken_at = now()
          WHERE $6 OR snapshots.last_sequence <= EXCLUDED.last_sequence",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(last_sequence)
    .bind(format)
    .bind(payload)
    .bind(replace)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(written > 0)
}
