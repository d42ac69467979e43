//! The per-stream guard every projection applies through (live batches, a replay from the
//! store, `retry-dead`): duplicates skipped, each stream's next event handed to the
//! projection, gaps and poison recorded dead, and a dead event's later stream events parked
//! behind it as `waiting`.

use crate::projection::{ApplyError, Projection};
use platform::consumer::{Delivery, Tally};
use schemas::Envelope;
use sqlx::PgConnection;
use std::collections::HashMap;
use std::sync::Mutex;

/// One event to apply, and where it came from.
#[derive(Debug, Clone)]
pub struct Item {
    /// Topic (or `events` when replayed from the store).
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset (or global position).
    pub offset: i64,
    /// The event, or why it does not decode.
    pub event: Result<Envelope, String>,
    /// The message as received (empty when the event came decoded from the store).
    pub raw: Vec<u8>,
}

impl Item {
    /// From a Kafka message.
    pub fn from_delivery(m: &Delivery) -> Self {
        Self {
            topic: m.topic.clone(),
            partition: m.partition,
            offset: m.offset,
            event: m.envelope(),
            raw: m.payload.clone(),
        }
    }

    fn raw(&self) -> Vec<u8> {
        match (&self.event, self.raw.is_empty()) {
            (Ok(e), true) => serde_json::to_vec(e).unwrap_or_default(),
            _ => self.raw.clone(),
        }
    }
}

/// Why a guarded apply did not finish.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The database failed (transient or not: the caller decides).
    #[error("database")]
    Database(#[from] sqlx::Error),
    /// An apply failed in the database in a way that may not repeat: try again on a fresh
    /// transaction (it is dead after `max_attempts`).
    #[error("{0}")]
    Retry(String),
    /// [`Care::Fast`] met a failing event: the transaction is spoilt; run the batch again on a
    /// fresh one with [`Care::Careful`].
    #[error("an event of the batch failed: apply it again with care")]
    NeedsCare,
}

/// How a batch is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Care {
    /// In one go, no savepoints: any failing event fails the call with
    /// [`GuardError::NeedsCare`] (the common case costs no extra round trips).
    Fast,
    /// Inside savepoints: a failing event is found, recorded dead, and the rest applied.
    Careful,
}

/// What a guarded apply did, and the stream versions it moved (not written yet: see
/// [`write_versions`] and [`versions_upsert`]).
#[derive(Debug, Default)]
pub struct Guarded {
    /// Applied, skipped and dead events.
    pub tally: Tally,
    /// `(aggregate_type, aggregate_id, version)` of every stream that moved.
    pub moved: Vec<(String, String, i64)>,
}

impl Guarded {
    /// The moved versions as the three arrays [`versions_upsert`] binds.
    pub fn moved_columns(&self) -> (Vec<String>, Vec<String>, Vec<i64>) {
        let mut out = (
            Vec::with_capacity(self.moved.len()),
            Vec::with_capacity(self.moved.len()),
            Vec::with_capacity(self.moved.len()),
        );
        for (t, id, v) in &self.moved {
            out.0.push(t.clone());
            out.1.push(id.clone());
            out.2.push(*v);
        }
        out
    }
}

/// The statement moving stream versions in `schema.applied_versions`, its arrays bound at
/// `$types`, `$ids` and `$versions` (e.g. `"$1"`); usable on its own or as a CTE.
pub fn versions_upsert(schema: &str, types: &str, ids: &str, versions: &str) -> String {
    format!(
        "INSERT INTO {schema}.applied_versions (aggregate_type, aggregate_id, version)
         SELECT * FROM UNNEST({types}::text[], {ids}::text[], {versions}::int8[])
         ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = EXCLUDED.version"
    )
}

/// Writes the versions `guarded` moved.
///
/// # Errors
/// When the database fails.
pub async fn write_versions(
    conn: &mut PgConnection,
    schema: &str,
    guarded: &Guarded,
) -> Result<(), sqlx::Error> {
    if guarded.moved.is_empty() {
        return Ok(());
    }
    let (types, ids, versions) = guarded.moved_columns();
    sqlx::query(&versions_upsert(schema, "$1", "$2", "$3"))
        .bind(types)
        .bind(ids)
        .bind(versions)
        .execute(conn)
        .await?;
    Ok(())
}

/// Attempts so far per message that failed in the database, kept across fresh transactions.
pub type Attempts = Mutex<HashMap<(String, i32, i64), u32>>;

type StreamKey = (String, String);

/// Applies `items` in order inside the caller's transaction, through the per-stream guard:
/// duplicates skipped, the next event of each stream handed to the projection (set-based),
/// gaps and poison recorded dead, and the later events of a stream with a dead event recorded
/// as waiting behind it. Returns what happened (`applied` counts events that changed the read
/// model) and the stream versions to write with the batch's other bookkeeping.
pub async fn apply_guarded(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    schema: &str,
    items: &[Item],
    care: Care,
    max_attempts: u32,
    attempts: &Attempts,
) -> Result<Guarded, GuardError> {
    let careful = care == Care::Careful;
    let keys: Vec<StreamKey> = {
        let mut k: Vec<StreamKey> = items
            .iter()
            .filter_map(|i| i.event.as_ref().ok())
            .map(|e| (e.aggregate_type.clone(), e.aggregate_id.clone()))
            .collect();
        k.sort();
        k.dedup();
        k
    };
    let (types, ids): (Vec<String>, Vec<String>) = keys.iter().cloned().unzip();
    // Each stream's version (locked: one applier per stream at a time) and the first
    // sequence still dead in it, in one round trip.
    let mut versions: HashMap<StreamKey, i64> = HashMap::new();
    let mut blocked: HashMap<StreamKey, i64> = HashMap::new();
    let rows: Vec<(bool, String, String, i64)> = sqlx::query_as(&format!(
        "WITH k AS (SELECT * FROM UNNEST($1::text[], $2::text[]) AS k(t, id)),
              v AS (SELECT aggregate_type, aggregate_id, version FROM {schema}.applied_versions
                     WHERE (aggregate_type, aggregate_id) IN (SELECT t, id FROM k)
                       FOR UPDATE),
              d AS (SELECT aggregate_type, aggregate_id, min(sequence) AS sequence
                      FROM {schema}.dead_events
                     WHERE (aggregate_type, aggregate_id) IN (SELECT t, id FROM k)
                       AND state <> 'skipped' AND sequence IS NOT NULL
                     GROUP BY 1, 2)
         SELECT false, aggregate_type, aggregate_id, version FROM v
         UNION ALL
         SELECT true, aggregate_type, aggregate_id, sequence FROM d"
    ))
    .bind(&types)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    for (dead, t, id, v) in rows {
        if dead { &mut blocked } else { &mut versions }.insert((t, id), v);
    }

    // Events found poison so far (index -> reason); each round plans without them.
    let mut poisoned: HashMap<usize, String> = HashMap::new();
    let plan = loop {
        let plan = Plan::new(items, &versions, &blocked, &poisoned);
        if careful {
            sqlx::query("SAVEPOINT guarded").execute(&mut *conn).await?;
        }
        let envelopes: Vec<Envelope> = plan
            .ready
            .iter()
            .filter_map(|i| items[*i].event.as_ref().ok().cloned())
            .collect();
        match projection.apply_batch(conn, schema, &envelopes).await {
            Ok(outcomes) => {
                let mut found = false;
                for (k, outcome) in outcomes.into_iter().enumerate() {
                    if let Err(reason) = outcome {
                        poisoned.insert(plan.ready[k], reason);
                        found = true;
                    }
                }
                if found {
                    if !careful {
                        return Err(GuardError::NeedsCare);
                    }
                    // Its stream's later events were applied too: plan again without it.
                    sqlx::query("ROLLBACK TO SAVEPOINT guarded")
                        .execute(&mut *conn)
                        .await?;
                    continue;
                }
                if careful {
                    sqlx::query("RELEASE SAVEPOINT guarded")
                        .execute(&mut *conn)
                        .await?;
                }
                break plan;
            }
            Err(err) if platform::db::is_transient(&err) => return Err(err.into()),
            Err(_) if !careful => return Err(GuardError::NeedsCare),
            Err(err) => {
                tracing::warn!(projection = projection.name(), error = %err, "batch failed; applying its events one by one");
                sqlx::query("ROLLBACK TO SAVEPOINT guarded")
                    .execute(&mut *conn)
                    .await?;
                if let Some((index, reason)) = find_culprit(
                    conn,
                    projection,
                    schema,
                    items,
                    &plan.ready,
                    max_attempts,
                    attempts,
                )
                .await?
                {
                    sqlx::query("ROLLBACK TO SAVEPOINT guarded")
                        .execute(&mut *conn)
                        .await?;
                    poisoned.insert(index, reason);
                    continue;
                }
                // Each event applies on its own: keep that.
                sqlx::query("RELEASE SAVEPOINT guarded")
                    .execute(&mut *conn)
                    .await?;
                break plan;
            }
        }
    };
    let moved: Vec<(String, String, i64)> = plan
        .versions
        .iter()
        .filter(|(k, v)| versions.get(*k) != Some(*v))
        .map(|((t, id), v)| (t.clone(), id.clone(), *v))
        .collect();
    for (index, state, reason) in &plan.parked {
        let item = &items[*index];
        let tries = attempts
            .lock()
            .ok()
            .and_then(|mut a| a.remove(&(item.topic.clone(), item.partition, item.offset)))
            .unwrap_or(0)
            .max(1);
        record_dead(conn, projection.name(), schema, item, state, reason, tries).await?;
    }
    Ok(Guarded {
        tally: Tally {
            applied: plan.ready.len() as u64,
            skipped: plan.duplicates,
            dead: plan.parked.len() as u64,
        },
        moved,
    })
}

/// What a batch does, event by event.
struct Plan {
    /// Indexes handed to the projection, in order.
    ready: Vec<usize>,
    /// Indexes recorded in `dead_events`: (index, state, reason).
    parked: Vec<(usize, &'static str, String)>,
    duplicates: u64,
    /// Every stream's version once `ready` is applied.
    versions: HashMap<StreamKey, i64>,
}

impl Plan {
    fn new(
        items: &[Item],
        versions: &HashMap<StreamKey, i64>,
        blocked: &HashMap<StreamKey, i64>,
        poisoned: &HashMap<usize, String>,
    ) -> Self {
        let mut plan = Plan {
            ready: Vec::new(),
            parked: Vec::new(),
            duplicates: 0,
            versions: versions.clone(),
        };
        let mut blocked = blocked.clone();
        for (i, item) in items.iter().enumerate() {
            let e = match &item.event {
                Ok(e) => e,
                Err(reason) => {
                    plan.parked.push((i, "dead", reason.clone()));
                    continue;
                }
            };
            let key = (e.aggregate_type.clone(), e.aggregate_id.clone());
            if let Some(at) = blocked.get(&key).copied().filter(|at| *at <= e.sequence) {
                plan.parked.push((
                    i,
                    "waiting",
                    format!(
                        "waits behind the dead event at sequence {at} of {} {}",
                        e.aggregate_type, e.aggregate_id
                    ),
                ));
                continue;
            }
            let version = plan.versions.get(&key).copied().unwrap_or(0);
            if e.sequence <= version {
                plan.duplicates += 1;
                continue;
            }
            let reason = if let Some(reason) = poisoned.get(&i) {
                Some(reason.clone())
            } else if e.sequence != version + 1 {
                Some(format!(
                    "sequence gap: {} {} is at {version}, event has {}",
                    e.aggregate_type, e.aggregate_id, e.sequence
                ))
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    plan.parked.push((i, "dead", reason));
                    blocked.insert(key, e.sequence);
                }
                None => {
                    plan.versions.insert(key, e.sequence);
                    plan.ready.push(i);
                }
            }
        }
        plan
    }
}

/// Applies `ready` one by one (inside the savepoint `guarded`) to find the event that fails
/// the batch: `Some((index, reason))` for poison or a database failure seen `max_attempts`
/// times; `None` when every event applies on its own.
async fn find_culprit(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    schema: &str,
    items: &[Item],
    ready: &[usize],
    max_attempts: u32,
    attempts: &Attempts,
) -> Result<Option<(usize, String)>, GuardError> {
    for index in ready {
        let item = &items[*index];
        let Ok(e) = &item.event else { continue };
        sqlx::query("SAVEPOINT one").execute(&mut *conn).await?;
        match projection.apply(conn, schema, e).await {
            Ok(()) => {
                sqlx::query("RELEASE SAVEPOINT one")
                    .execute(&mut *conn)
                    .await?;
            }
            Err(ApplyError::Poison(p)) => return Ok(Some((*index, p))),
            Err(ApplyError::Database(d)) if platform::db::is_transient(&d) => return Err(d.into()),
            Err(ApplyError::Database(d)) => {
                let key = (item.topic.clone(), item.partition, item.offset);
                let tries = attempts
                    .lock()
                    .map(|mut a| {
                        let n = a.entry(key).or_insert(0);
                        *n += 1;
                        *n
                    })
                    .unwrap_or(max_attempts);
                let reason = format!("database: {d}");
                if tries >= max_attempts {
                    return Ok(Some((*index, reason)));
                }
                // Maybe not deterministic: the whole batch again, on a fresh transaction.
                return Err(GuardError::Retry(reason));
            }
        }
    }
    Ok(None)
}

async fn record_dead(
    conn: &mut PgConnection,
    projection: &str,
    schema: &str,
    item: &Item,
    state: &str,
    error: &str,
    attempts: u32,
) -> Result<(), sqlx::Error> {
    let envelope = item.event.as_ref().ok();
    let correlation_id = envelope
        .and_then(|e| e.metadata.get(schemas::metadata_keys::CORRELATION_ID))
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    tracing::warn!(
        projection, topic = %item.topic, partition = item.partition, offset = item.offset,
        event_id = ?envelope.map(|e| e.event_id),
        event_type = envelope.map_or("", |e| e.event_type.as_str()), correlation_id,
        state, %error, "event recorded in dead_events"
    );
    sqlx::query(&format!(
        "INSERT INTO {schema}.dead_events (projection, topic, partition, kafka_offset, aggregate_type,
             aggregate_id, sequence, event_type, raw, error, attempts, state)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (projection, topic, partition, kafka_offset) DO NOTHING"
    ))
    .bind(projection)
    .bind(&item.topic)
    .bind(item.partition)
    .bind(item.offset)
    .bind(envelope.map(|e| e.aggregate_type.clone()))
    .bind(envelope.map(|e| e.aggregate_id.clone()))
    .bind(envelope.map(|e| e.sequence))
    .bind(envelope.map(|e| e.event_type.clone()))
    .bind(item.raw())
    .bind(error)
    .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
    .bind(state)
    .execute(conn)
    .await?;
    Ok(())
}
