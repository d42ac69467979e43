//! Each supplier's image quota: the bytes of images it keeps, and how many of its originals
//! may wait for the image worker at once (`image_uploads`, see its migration).
//!
//! An upload reserves its row before the original is stored, under a per-supplier
//! transaction lock (so two uploads at once cannot both take the last room); a store that
//! fails gives the reservation back; the worker's outcome settles it. A row left pending by a
//! crash between storing and appending counts as pending for an hour only.

use axum::http::StatusCode;
use platform::http::ApiError;
use sqlx::PgPool;
use uuid::Uuid;

/// The limits, per supplier.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    /// Bytes of images (pending or processed) a supplier may keep.
    pub quota_bytes: i64,
    /// Originals a supplier may have waiting for processing at once.
    pub max_pending: i64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            quota_bytes: 512 << 20,
            max_pending: 20,
        }
    }
}

/// One upload to reserve room for.
#[derive(Debug, Clone, Copy)]
pub struct Upload {
    pub supplier_id: Uuid,
    pub product_id: Uuid,
    pub image_id: Uuid,
    pub bytes: i64,
}

/// Reserves room for `upload` (the same image again is already reserved: no-op).
///
/// # Errors
/// `409 image_quota_exceeded`, `429 too_many_pending_images` (with `Retry-After`), or a
/// database problem.
pub async fn reserve(pool: &PgPool, limits: ImageLimits, upload: Upload) -> Result<(), ApiError> {
    let db = |e: sqlx::Error| ApiError::database("reserving image quota", &e);
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtext('freshline.image_quota'), hashtext($1::text))",
    )
    .bind(upload.supplier_id)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM image_uploads WHERE image_id = $1)")
            .bind(upload.image_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
    if known {
        return Ok(());
    }
    let (used, pending): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(bytes) FILTER (WHERE state <> 'failed'), 0)::bigint,
                count(*) FILTER (WHERE state = 'pending' AND created_at > now() - interval '1 hour')
           FROM image_uploads WHERE supplier_id = $1",
    )
    .bind(upload.supplier_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    if pending >= limits.max_pending {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_pending_images",
            "Too many images waiting to be processed",
            format!(
                "{pending} of this supplier's images are still being processed (at most {} at once); retry when they are done",
                limits.max_pending
            ),
        )
        .retry_after(5));
    }
    if used.saturating_add(upload.bytes) > limits.quota_bytes {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "image_quota_exceeded",
            "Image quota exceeded",
            format!(
                "this supplier keeps {used} bytes of images; {} more would pass its quota of {} bytes",
                upload.bytes, limits.quota_bytes
            ),
        ));
    }
    sqlx::query(
        "INSERT INTO image_uploads (image_id, supplier_id, product_id, bytes) VALUES ($1, $2, $3, $4)",
    )
    .bind(upload.image_id)
    .bind(upload.supplier_id)
    .bind(upload.product_id)
    .bind(upload.bytes)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)
}

/// Gives back the room of an upload whose original could not be stored.
pub async fn release(pool: &PgPool, image_id: Uuid) {
    let released =
        sqlx::query("DELETE FROM image_uploads WHERE image_id = $1 AND state = 'pending'")
            .bind(image_id)
            .execute(pool)
            .await;
    if let Err(e) = released {
        tracing::warn!(%image_id, error = %e, "image reservation not released; it stops counting as pending within the hour");
    }
}

/// Records the worker's outcome: `processed` keeps counting against the quota, `failed`
/// does not. Idempotent.
pub async fn settle(pool: &PgPool, image_id: Uuid, processed: bool) {
    let settled = sqlx::query(
        "UPDATE image_uploads SET state = $2, settled_at = now()
          WHERE image_id = $1 AND state = 'pending'",
    )
    .bind(image_id)
    .bind(if processed { "processed" } else { "failed" })
    .execute(pool)
    .await;
    if let Err(e) = settled {
        tracing::warn!(%image_id, error = %e, "image outcome not settled in the quota");
    }
}
