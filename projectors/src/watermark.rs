//! A projection's watermark: the store position up to which every event of its aggregate
//! types is applied, what `min_position` reads compare with.

use crate::projection::{aggregate_types, Projection};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Events examined per watermark step at most.
const WATERMARK_STEP: i64 = 50_000;

/// The shortest time between two watermark steps.
const WATERMARK_GAP: Duration = Duration::from_millis(100);

/// Keeps `projection_watermark`: the position up to which every event of the projection's
/// aggregate types is applied. Woken after batches that changed the read model; idle
/// otherwise.
///
/// Positions are handed out when events are inserted, not when they commit, so a position may
/// commit after a higher one. The watermark only moves up to a limit known final: the store's
/// highest visible position `L` taken together with the snapshot's `xmax`; once every
/// transaction below that `xmax` has ended (the current snapshot's `xmin` has passed it), no
/// event at or below `L` can still appear.
pub(crate) async fn keep_watermark(
    pool: PgPool,
    projection: Arc<dyn Projection>,
    physical: String,
    advanced: Arc<tokio::sync::Notify>,
    stop: CancellationToken,
) {
    let name = projection.name();
    let types = aggregate_types(projection.as_ref());
    let mut probe: Option<(i64, String)> = None;
    loop {
        let pause = match watermark_step(&pool, name, &physical, &types, &mut probe).await {
            Ok(true) => WATERMARK_GAP,
            Ok(false) => Duration::from_secs(3600),
            Err(e) => {
                tracing::debug!(projection = name, error = %e, "watermark step failed; trying later");
                probe = None;
                Duration::from_secs(1)
            }
        };
        // At most one step per gap, however many batches commit meanwhile: the watermark
        // only narrows what a `min_position` read looks at, it is not on the read's path.
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(WATERMARK_GAP) => {}
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = advanced.notified() => {}
            () = tokio::time::sleep(pause.saturating_sub(WATERMARK_GAP)) => {}
        }
    }
}

/// One step; `true` when there is more to do soon (a probe waiting to become final, or more
/// events to examine).
async fn watermark_step(
    pool: &PgPool,
    name: &str,
    physical: &str,
    types: &[String],
    probe: &mut Option<(i64, String)>,
) -> Result<bool, sqlx::Error> {
    let at: i64 = sqlx::query_scalar(&format!(
        "SELECT coalesce((SELECT position FROM {physical}.projection_watermark WHERE projection = $1), 0)"
    ))
    .bind(name)
    .fetch_one(pool)
    .await?;
    let Some((limit, xmax)) = probe.clone() else {
        let (limit, xmax): (i64, String) = sqlx::query_as(
            "SELECT coalesce((SELECT max(global_position) FROM events), 0),
                    pg_snapshot_xmax(pg_current_snapshot())::text",
        )
        .fetch_one(pool)
        .await?;
        if limit <= at {
            return Ok(false);
        }
        *probe = Some((limit, xmax));
        return Ok(true);
    };
    let fin: bool =
        sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::text::xid8")
            .bind(&xmax)
            .fetch_one(pool)
            .await?;
    if !fin {
        return Ok(true);
    }
    let upto = limit.min(at.saturating_add(WATERMARK_STEP));
    // In position order, stopping at the first event not applied yet: a projection that lags
    // (the usual case under load) costs a few rows, not the whole step (a `min()` over a join
    // read all of it).
    let first_missing: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT e.global_position FROM events e
          WHERE e.global_position > $1 AND e.global_position <= $2
            AND e.aggregate_type = ANY($3)
            AND e.sequence > coalesce((SELECT v.version FROM {physical}.applied_versions v
                                        WHERE v.aggregate_type = e.aggregate_type
                                          AND v.aggregate_id = e.aggregate_id), 0)
          ORDER BY e.global_position LIMIT 1"
    ))
    .bind(at)
    .bind(upto)
    .bind(types)
    // No row when every event in the range is applied (the usual case once caught up).
    .fetch_optional(pool)
    .await?;
    let reached = first_missing.map_or(upto, |p| p - 1);
    if reached > at {
        sqlx::query(&format!(
            "INSERT INTO {physical}.projection_watermark (projection, position) VALUES ($1, $2)
             ON CONFLICT (projection) DO UPDATE SET position = greatest(
                 {physical}.projection_watermark.position, EXCLUDED.position), updated_at = now()"
        ))
        .bind(name)
        .bind(reached)
        .execute(pool)
        .await?;
    }
    let more = first_missing.is_none() && upto < limit;
    if !more {
        *probe = None;
    }
    Ok(more)
}
