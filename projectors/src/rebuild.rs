//! Rebuilding a projection without downtime, and re-applying dead events.
//!
//! A rebuild replays the projection's topics from offset 0 into a new generation's schema,
//! with its own consumer group, while the live generation keeps serving. When the new one has
//! caught up with the topics' high watermarks, one transaction points the views in the view
//! schema at it and makes it live; the live projector sees the change on its next batch and
//! continues from the new generation's own offsets. The old generation is then dropped.

use crate::runtime::{
    physical_schema, point_views, prepare, prepare_live, ApplyError, Projection, ProjectionMetrics,
    Runner, RunnerConfig,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use schemas::Envelope;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

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
    prepare(pool, projection.as_ref(), &physical).await?;

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
        ProjectionMetrics::new(&prometheus::Registry::new())
            .map_err(|e| RebuildError::Replay(e.to_string()))?,
    );
    let stop = CancellationToken::new();
    let replay = {
        let stop = stop.clone();
        tokio::spawn(async move { runner.run(stop).await })
    };
    let topics: Vec<String> = projection
        .topics()
        .iter()
        .map(|t| schemas::topics::prefixed(&cfg.topic_prefix, t))
        .collect();
    let consumed = loop {
        if replay.is_finished() {
            let outcome = replay
                .await
                .map_err(|e| RebuildError::Replay(e.to_string()))?;
            return Err(RebuildError::Replay(format!("{outcome:?}")));
        }
        let total = high_watermarks(&cfg.brokers, &topics).await?;
        let done: HashMap<(String, i32), i64> = sqlx::query_as::<_, (String, i32, i64)>(&format!(
            "SELECT topic, partition, next_offset FROM {physical}.projection_offsets WHERE projection = $1"
        ))
        .bind(name)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(t, p, o)| ((t, p), o))
        .collect();
        let consumed: i64 = done.values().sum();
        let all: i64 = total.values().sum();
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

/// High watermark of every partition of `topics`.
async fn high_watermarks(
    brokers: &str,
    topics: &[String],
) -> Result<HashMap<(String, i32), i64>, RebuildError> {
    let brokers = brokers.to_owned();
    let topics = topics.to_vec();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = platform::kafka::client_config(&brokers).create()?;
        let mut out = HashMap::new();
        for topic in &topics {
            let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(5))?;
            for t in metadata.topics() {
                for p in t.partitions() {
                    let (_, high) =
                        consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(5))?;
                    out.insert((topic.clone(), p.id()), high);
                }
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| RebuildError::Replay(e.to_string()))?
}

/// What `retry_dead` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retried {
    /// Dead events that applied now (removed from `dead_events`).
    pub applied: u64,
    /// Dead events that still fail (their error and attempts updated).
    pub still_dead: u64,
}

/// Applies the live generation's dead events again, oldest first; each in its own transaction.
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
    let dead: Vec<(String, i32, i64, Vec<u8>)> = sqlx::query_as(&format!(
        "SELECT topic, partition, kafka_offset, raw FROM {physical}.dead_events
          WHERE projection = $1 ORDER BY dead_at, topic, partition, kafka_offset"
    ))
    .bind(projection.name())
    .fetch_all(pool)
    .await?;
    let mut out = Retried::default();
    for (topic, partition, offset, raw) in dead {
        let mut tx = pool.begin().await?;
        let outcome = match serde_json::from_slice::<Envelope>(&raw) {
            Err(e) => Err(format!("undecodable envelope: {e}")),
            Ok(envelope) => match projection.apply(&mut tx, &physical, &envelope).await {
                Ok(_) => Ok(()),
                Err(ApplyError::Poison(p)) => Err(p),
                Err(ApplyError::Database(e)) => Err(format!("database: {e}")),
            },
        };
        match outcome {
            Ok(()) => {
                sqlx::query(&format!(
                    "DELETE FROM {physical}.dead_events WHERE projection = $1 AND topic = $2 AND partition = $3 AND kafka_offset = $4"
                ))
                .bind(projection.name())
                .bind(&topic)
                .bind(partition)
                .bind(offset)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                out.applied += 1;
            }
            Err(error) => {
                tx.rollback().await?;
                sqlx::query(&format!(
                    "UPDATE {physical}.dead_events SET error = $5, attempts = attempts + 1, dead_at = now()
                      WHERE projection = $1 AND topic = $2 AND partition = $3 AND kafka_offset = $4"
                ))
                .bind(projection.name())
                .bind(&topic)
                .bind(partition)
                .bind(offset)
                .bind(error)
                .execute(pool)
                .await?;
                out.still_dead += 1;
            }
        }
    }
    Ok(out)
}
