//! Rebuilding a projection without downtime, and re-applying (or skipping) dead events.
//!
//! A rebuild fills a new generation's schema while the live generation keeps serving, from
//! one of two sources: **Kafka** (the projection's topics from offset 0, with a consumer group
//! of its own) or **the event store** (the `events` table in position order, set-based pages,
//! then Kafka from the high watermarks taken before the first page: topics may have finite
//! retention, the store never forgets). When the new generation has caught up with the topics'
//! high watermarks, one transaction points the views in the view schema at it and makes it
//! live; the live projector sees the change on its next batch and continues from the new
//! generation's own offsets. The old generation is then dropped.

use crate::guard::{apply_guarded, write_versions, Attempts, Care, GuardError, Item};
use crate::runtime::{
    physical_schema, point_views, prepare, prepare_live, Projection, ReadIndexes, Runner,
    RunnerConfig,
};
use platform::consumer::ConsumerMetrics;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Where a rebuild reads the events from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// The projection's topics, from offset 0.
    #[default]
    Kafka,
    /// The event store, then Kafka for what came after.
    Store,
}

/// Progress of a rebuild, reported about twice a second.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Messages consumed so far.
    pub consumed: i64,
    /// Messages on the topics (high watermarks) at this moment.
    pub total: i64,
    /// Consumption rate over the whole rebuild.
    pub per_second: f64,
    /// Estimated time left.
    pub eta: Option<Duration>,
}

/// What a rebuild did.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// The generation that was live before.
    pub from_generation: i32,
    /// The generation live now.
    pub to_generation: i32,
    /// Messages consumed.
    pub consumed: i64,
    /// Wall time.
    pub elapsed: Duration,
}

/// Why a rebuild failed (the live generation is untouched then).
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// PostgreSQL failed.
    #[error("database")]
    Database(#[from] sqlx::Error),
    /// Kafka failed.
    #[error("kafka")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The replaying runner stopped.
    #[error("the replay stopped: {0}")]
    Replay(String),
}

/// Rebuilds `projection` (see the module documentation). `cfg` names the brokers, topic prefix
/// and view schema.
///
/// # Errors
/// [`RebuildError`]; the live generation keeps serving whatever happens.
pub async fn rebuild(
    pool: &PgPool,
    projection: Arc<dyn Projection>,
    cfg: &RunnerConfig,
    source: Source,
    mut on_progress: impl FnMut(Progress),
) -> Result<Rebuilt, RebuildError> {
    let started = Instant::now();
    let name = projection.name();
    let live = prepare_live(pool, projection.as_ref(), &cfg.schema).await?;
    let next = live + 1;
    let physical = physical_schema(&cfg.schema, name, next);
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {physical} CASCADE"))
        .execute(pool)
        .await?;
    prepare(
        pool,
        projection.as_ref(),
        &physical,
        ReadIndexes::AfterReplay,
    )
    .await?;
    let topics: Vec<String> = projection
        .topics()
        .iter()
        .map(|t| schemas::topics::prefixed(&cfg.topic_prefix, t))
        .collect();
    let from_store = match source {
        Source::Kafka => 0,
        Source::Store => {
            replay_store(
                pool,
                projection.as_ref(),
                cfg,
                &physical,
                &topics,
                started,
                &mut on_progress,
            )
            .await?
        }
    };

    let mut replay_cfg = cfg.clone();
    replay_cfg.generation = Some(next);
    replay_cfg.group_id = Some(format!(
        "freshline.projection.{name}.rebuild.{}",
        uuid::Uuid::new_v4()
    ));
    let runner = Runner::new(
        projection.clone(),
        pool.clone(),
        replay_cfg,
        ConsumerMetrics::unregistered(),
    );
    let stop = CancellationToken::new();
    let replay = {
        let stop = stop.clone();
        tokio::spawn(async move { runner.run(stop).await })
    };
    let start_offsets: i64 = sqlx::query_scalar::<_, Option<i64>>(&format!(
        "SELECT sum(next_offset)::bigint FROM {physical}.projection_offsets WHERE projection = $1"
    ))
    .bind(name)
    .fetch_one(pool)
    .await?
    .unwrap_or(0);
    let consumed = loop {
        if replay.is_finished() {
            let outcome = replay
                .await
                .map_err(|e| RebuildError::Replay(e.to_string()))?;
            return Err(RebuildError::Replay(format!("{outcome:?}")));
        }
        let total = platform::kafka::high_watermarks(&cfg.brokers, &topics).await?;
        let done: HashMap<(String, i32), i64> = sqlx::query_as::<_, (String, i32, i64)>(&format!(
            "SELECT topic, partition, next_offset FROM {physical}.projection_offsets WHERE projection = $1"
        ))
        .bind(name)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(t, p, o)| ((t, p), o))
        .collect();
        // After a replay from the store, Kafka adds only what came after it.
        let from_kafka: i64 = done.values().sum::<i64>() - start_offsets;
        let consumed = from_store + from_kafka.max(0);
        let all: i64 = from_store + total.values().sum::<i64>() - start_offsets;
        let caught_up = total
            .iter()
            .all(|(k, high)| done.get(k).copied().unwrap_or(0) >= *high);
        let per_second = consumed as f64 / started.elapsed().as_secs_f64().max(0.001);
        on_progress(Progress {
            consumed,
            total: all,
            per_second,
            eta: (per_second > 0.0)
                .then(|| Duration::from_secs_f64((all - consumed).max(0) as f64 / per_second)),
        });
        if caught_up {
            break consumed;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    stop.cancel();
    replay
        .await
        .map_err(|e| RebuildError::Replay(e.to_string()))?
        .map_err(|e| RebuildError::Replay(e.to_string()))?;

    // The read indexes, built in bulk now that the tables are full (much cheaper than
    // maintaining them row by row during the replay).
    prepare(pool, projection.as_ref(), &physical, ReadIndexes::Now).await?;
    // Fresh tables have no planner statistics yet: gather them before readers arrive, or the
    // first queries plan as if the tables were empty.
    for view in projection.views() {
        sqlx::query(&format!("ANALYZE {physical}.{view}"))
            .execute(pool)
            .await?;
    }

    // The swap: readers and the live projector move together. It takes the lock start-up
    // takes, so a projector starting meanwhile reads the new generation, never the old one
    // (which is dropped below).
    let mut tx = pool.begin().await?;
    sqlx::query(crate::runtime::DDL_LOCK)
        .execute(&mut *tx)
        .await?;
    let current: i32 = sqlx::query_scalar(&format!(
        "SELECT live FROM {}.projection_generations WHERE projection = $1 FOR UPDATE",
        cfg.schema
    ))
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    if current != live {
        return Err(RebuildError::Replay(format!(
            "another rebuild made generation {current} live meanwhile"
        )));
    }
    point_views(&mut tx, projection.as_ref(), &cfg.schema, &physical).await?;
    sqlx::query(&format!(
        "UPDATE {}.projection_generations SET live = $2, swapped_at = now() WHERE projection = $1",
        cfg.schema
    ))
    .bind(name)
    .bind(next)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let old = physical_schema(&cfg.schema, name, live);
    if let Err(e) = sqlx::query(&format!("DROP SCHEMA IF EXISTS {old} CASCADE"))
        .execute(pool)
        .await
    {
        tracing::warn!(error = %e, schema = %old, "could not drop the old generation; drop it by hand");
    }
    Ok(Rebuilt {
        from_generation: live,
        to_generation: next,
        consumed,
        elapsed: started.elapsed(),
    })
}

/// Events per page of a replay from the store.
const STORE_PAGE: i64 = 5000;

/// The page of the store's events of `types` after `after`, in position order.
async fn read_page(
    pool: PgPool,
    types: Vec<String>,
    after: i64,
) -> Result<Vec<platform::store::EventRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {} FROM events WHERE aggregate_type = ANY($1) AND global_position > $2
          ORDER BY global_position LIMIT $3",
        platform::store::EVENT_COLUMNS
    ))
    .bind(&types)
    .bind(after)
    .bind(STORE_PAGE)
    .fetch_all(&pool)
    .await
}

/// Fills `physical` from the event store: the events of the projection's aggregate types in
/// position order, a page per transaction, through the runtime's guard. The topics' high
/// watermarks are taken first and become the generation's Kafka offsets: every message below
/// them was published, so its event had committed and is in the pages; what comes after is
/// read from Kafka (a duplicate of a replayed event is skipped by the guard). Returns the
/// events replayed.
async fn replay_store(
    pool: &PgPool,
    projection: &dyn Projection,
    cfg: &RunnerConfig,
    physical: &str,
    topics: &[String],
    started: Instant,
    on_progress: &mut impl FnMut(Progress),
) -> Result<i64, RebuildError> {
    let name = projection.name();
    let marks = platform::kafka::high_watermarks(&cfg.brokers, topics).await?;
    let types = crate::runtime::aggregate_types(projection);
    let total: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = ANY($1)")
            .bind(&types)
            .fetch_one(pool)
            .await?;
    let attempts = Attempts::default();
    let mut replayed = 0i64;
    let mut reported = Instant::now();
    // The next page is read (on another connection) while this one is applied.
    let mut next = tokio::spawn(read_page(pool.clone(), types.clone(), 0));
    loop {
        let rows = next
            .await
            .map_err(|e| RebuildError::Replay(e.to_string()))??;
        let Some(last) = rows.last() else { break };
        next = tokio::spawn(read_page(pool.clone(), types.clone(), last.global_position));
        let items: Vec<Item> = rows
            .into_iter()
            .map(|row| {
                let position = row.global_position;
                Item {
                    topic: "events".into(),
                    partition: 0,
                    offset: position,
                    event: row.into_envelope().map_err(|e| e.to_string()),
                    raw: Vec::new(),
                }
            })
            .collect();
        let mut care = Care::Fast;
        loop {
            let mut tx = pool.begin().await?;
            match apply_guarded(
                &mut tx,
                projection,
                physical,
                &items,
                care,
                cfg.max_attempts,
                &attempts,
            )
            .await
            {
                Ok(guarded) => {
                    write_versions(&mut tx, physical, &guarded).await?;
                    tx.commit().await?;
                    break;
                }
                Err(GuardError::NeedsCare) => care = Care::Careful,
                Err(e) => {
                    return Err(RebuildError::Replay(format!(
                        "replaying from the store: {e}"
                    )))
                }
            }
        }
        replayed += i64::try_from(items.len()).unwrap_or(i64::MAX);
        if reported.elapsed() >= Duration::from_millis(500) {
            reported = Instant::now();
            let per_second = replayed as f64 / started.elapsed().as_secs_f64().max(0.001);
            on_progress(Progress {
                consumed: replayed,
                total,
                per_second,
                eta: (per_second > 0.0).then(|| {
                    Duration::from_secs_f64((total - replayed).max(0) as f64 / per_second)
                }),
            });
        }
    }
    let (t, p): (Vec<String>, Vec<i32>) = marks.keys().cloned().unzip();
    let o: Vec<i64> = marks.values().copied().collect();
    sqlx::query(&format!(
        "INSERT INTO {physical}.projection_offsets (projection, topic, partition, next_offset)
         SELECT $1, t, p, o FROM UNNEST($2::text[], $3::int4[], $4::int8[]) AS u(t, p, o)
         ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset"
    ))
    .bind(name)
    .bind(&t)
    .bind(&p)
    .bind(&o)
    .execute(pool)
    .await?;
    Ok(replayed)
}

/// What `retry_dead` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retried {
    /// Dead or waiting events that applied now, or turned out already applied (removed from
    /// `dead_events`).
    pub applied: u64,
    /// Events still dead or waiting (their error and attempts updated).
    pub still_dead: u64,
}

/// Applies the live generation's dead and waiting events again, each stream's in sequence
/// order; each in its own transaction, through the runtime's guard (a stream whose dead event
/// applies now goes on with the events waiting behind it).
///
/// # Errors
/// When the database fails.
pub async fn retry_dead(
    pool: &PgPool,
    projection: &dyn Projection,
    view_schema: &str,
) -> Result<Retried, sqlx::Error> {
    let live = prepare_live(pool, projection, view_schema).await?;
    let physical = physical_schema(view_schema, projection.name(), live);
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(&format!(
        "SELECT topic, partition, kafka_offset FROM {physical}.dead_events
          WHERE projection = $1 AND state <> 'skipped'
          ORDER BY aggregate_type NULLS FIRST, aggregate_id, sequence, dead_at, topic, partition, kafka_offset"
    ))
    .bind(projection.name())
    .fetch_all(pool)
    .await?;
    let attempts = Attempts::default();
    let mut out = Retried::default();
    for (topic, partition, offset) in rows {
        let mut tx = pool.begin().await?;
        // Taken out, then applied through the guard: it goes back in (dead, or waiting) if
        // it still cannot apply.
        let Some((raw, tries)): Option<(Vec<u8>, i32)> = sqlx::query_as(&format!(
            "DELETE FROM {physical}.dead_events
              WHERE projection = $1 AND topic = $2 AND partition = $3 AND kafka_offset = $4
              RETURNING raw, attempts"
        ))
        .bind(projection.name())
        .bind(&topic)
        .bind(partition)
        .bind(offset)
        .fetch_optional(&mut *tx)
        .await?
        else {
            continue;
        };
        let item = Item {
            event: serde_json::from_slice(&raw).map_err(|e| format!("undecodable envelope: {e}")),
            topic: topic.clone(),
            partition,
            offset,
            raw,
        };
        if let Ok(mut a) = attempts.lock() {
            a.insert(
                (topic, partition, offset),
                u32::try_from(tries).unwrap_or(0) + 1,
            );
        }
        let guarded = match apply_guarded(
            &mut tx,
            projection,
            &physical,
            &[item],
            Care::Careful,
            1,
            &attempts,
        )
        .await
        {
            Ok(g) => g,
            Err(GuardError::Database(e)) => return Err(e),
            Err(e @ (GuardError::Retry(_) | GuardError::NeedsCare)) => {
                return Err(sqlx::Error::Protocol(e.to_string()));
            }
        };
        write_versions(&mut tx, &physical, &guarded).await?;
        let tally = guarded.tally;
        tx.commit().await?;
        if tally.dead > 0 {
            out.still_dead += 1;
        } else {
            out.applied += 1;
        }
    }
    // Whatever happened (even a skip with nothing behind it): the read model and its dead
    // events changed; waiting reads and live streams look again.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(platform::db::CHANGED_CHANNEL)
        .bind(projection.name())
        .execute(pool)
        .await?;
    Ok(out)
}

/// What `skip` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// The stream's events that waited behind the skipped one and applied now.
    pub retried: Retried,
}

/// Which dead event to give up on, who gives it up and why (recorded with it).
#[derive(Debug, Clone, Copy)]
pub struct SkipRequest<'a> {
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Who (a token subject, `cli`).
    pub by: &'a str,
    /// Why.
    pub reason: &'a str,
}

/// The schema of the projection's live generation (prepared if need be).
///
/// # Errors
/// When the database fails.
pub async fn live_schema(
    pool: &PgPool,
    projection: &dyn Projection,
    view_schema: &str,
) -> Result<String, sqlx::Error> {
    let live = prepare_live(pool, projection, view_schema).await?;
    Ok(physical_schema(view_schema, projection.name(), live))
}

/// Gives up on one dead event of the live generation: it stays in `dead_events` as
/// `skipped` (for the record, with who and why), its stream's guard moves past it, and the
/// events that waited behind it are applied again ([`retry_dead`]).
///
/// # Errors
/// When the database fails, or there is no dead (not waiting) event at that place.
pub async fn skip(
    pool: &PgPool,
    projection: &dyn Projection,
    view_schema: &str,
    what: &SkipRequest<'_>,
) -> Result<Skipped, sqlx::Error> {
    let live = prepare_live(pool, projection, view_schema).await?;
    let physical = physical_schema(view_schema, projection.name(), live);
    let mut tx = pool.begin().await?;
    let stream: Option<(Option<String>, Option<String>, Option<i64>)> = sqlx::query_as(&format!(
        "UPDATE {physical}.dead_events SET state = 'skipped', skipped_by = $5, skip_reason = $6
          WHERE projection = $1 AND topic = $2 AND partition = $3 AND kafka_offset = $4
            AND state = 'dead'
          RETURNING aggregate_type, aggregate_id, sequence"
    ))
    .bind(projection.name())
    .bind(what.topic)
    .bind(what.partition)
    .bind(what.offset)
    .bind(what.by)
    .bind(what.reason)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((aggregate_type, aggregate_id, sequence)) = stream else {
        return Err(sqlx::Error::RowNotFound);
    };
    if let (Some(t), Some(id), Some(seq)) = (aggregate_type, aggregate_id, sequence) {
        sqlx::query(&format!(
            "INSERT INTO {physical}.applied_versions (aggregate_type, aggregate_id, version)
             VALUES ($1, $2, $3)
             ON CONFLICT (aggregate_type, aggregate_id)
             DO UPDATE SET version = greatest({physical}.applied_versions.version, EXCLUDED.version)"
        ))
        .bind(t)
        .bind(id)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let retried = retry_dead(pool, projection, view_schema).await?;
    Ok(Skipped { retried })
}
