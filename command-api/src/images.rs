//! `POST /v1/products/{id}/images`: the upload answers `202` at once; decoding, resizing and
//! storing the renditions happen in the image worker (`sagas`), driven by the
//! `ProductImageRequested` event through Kafka.
//!
//! The request path does only what must be synchronous: the size limit (`413`), the format by
//! magic bytes (`415` for anything that is not PNG, JPEG or WebP, whatever the declared type),
//! a dry run of the domain's decision (owner, discontinued) so nothing is stored for a refused
//! upload, storing the original, then appending the event. The image id derives from the
//! product and the bytes' SHA-256, so the same upload again is the same image (a no-op).

use crate::context::CommandContext;
use crate::image_quota;
use crate::request::{product_location, ProductPath};
use crate::response::{load, refusal_problem};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::catalog_values::ImageId;
use domain::product::{sniff, MAX_IMAGE_BYTES};
use domain::product::{
    ImageByteSize, ImageContentType, ProductCommand, RequestImage, Sha256Digest, StorageKey,
};
use platform::blobs::{BlobKey, BlobStore};
use platform::bus::Reply;
use platform::http::ApiError;
use serde::Serialize;
use sha2::Digest;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// The answer to an upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageAccepted {
    /// The product.
    pub id: Uuid,
    /// The product's version after the upload was recorded.
    pub version: usize,
    /// The image.
    pub image_id: Uuid,
    /// `processing` (the outcome is at `status_url`).
    pub status: &'static str,
    /// Where the outcome appears (query API).
    pub status_url: String,
}

fn unsupported(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Unsupported media type",
        detail,
    )
}

/// Upload an image of a product (`image/jpeg`, `image/png` or `image/webp`, at most 10 MiB).
#[utoipa::path(
    post, path = "/v1/products/{id}/images", tag = "catalog",
    request_body(content = Vec<u8>, content_type = "image/png", description = "The image bytes (image/jpeg, image/png or image/webp)"),
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 202, description = "Accepted; processing in the background", body = ImageAccepted),
        (status = 403, description = "`insufficient_scope` or `not_owner`", body = platform::http::Problem),
        (status = 409, description = "`product_discontinued`", body = platform::http::Problem),
        (status = 413, description = "`payload_too_large` (over 10 MiB)", body = platform::http::Problem),
        (status = 415, description = "`unsupported_media_type`: not a PNG, JPEG or WebP", body = platform::http::Problem),
        (status = 409, description = "`image_quota_exceeded`: the supplier keeps as many image bytes as it may", body = platform::http::Problem),
        (status = 429, description = "`too_many_pending_images`: too many of the supplier's images are still being processed (`Retry-After`)", body = platform::http::Problem),
        (status = 507, description = "`storage_full`: the image store has no room now (`Retry-After`)", body = platform::http::Problem),
    ),
    security(("bearer" = ["catalog:write"]))
)]
pub async fn upload(
    State(app): State<AppState>,
    ctx: CommandContext,
    ProductPath(id): ProductPath,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let Ok(content_type) = ImageContentType::try_from(declared.as_str()) else {
        return Err(unsupported(
            "send the image as image/jpeg, image/png or image/webp",
        ));
    };
    let bytes = axum::body::to_bytes(body, MAX_IMAGE_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Request body too large",
                "an image may be at most 10 MiB",
            )
        })?;
    let Some(format) = sniff(&bytes) else {
        return Err(unsupported("the bytes are not a PNG, JPEG or WebP image"));
    };
    if format.content_type() != content_type.as_str() {
        return Err(unsupported(&format!(
            "the bytes are {}, not the declared {}",
            format.content_type(),
            content_type.as_str()
        )));
    }
    let digest = hex::encode(sha2::Sha256::digest(&bytes));
    let image_id = ImageId(Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("freshline:image:{id}:{digest}").as_bytes(),
    ));
    let key = BlobKey::original(id.0, image_id.0);
    let invalid = |e: domain::values::ValueError| ApiError::internal("image upload values", &e);
    let command = ProductCommand::RequestImage(RequestImage {
        caller: ctx.caller(),
        image_id,
        content_type,
        byte_size: ImageByteSize::try_from(bytes.len() as u64).map_err(invalid)?,
        sha256: Sha256Digest::try_from(digest.as_str()).map_err(invalid)?,
        original_key: StorageKey::try_from(key.as_str()).map_err(invalid)?,
    });
    // Decide first (owner, discontinued): nothing is stored for an upload that will be refused.
    let product: domain::product::Product = load(&app.products.bus, id).await?;
    product
        .decide(command.clone())
        .map_err(|e| refusal_problem(&e))?;
    let Some(supplier) = product.state().map(|p| p.supplier_id) else {
        return Err(refusal_problem(&domain::product::ProductError::NotFound));
    };
    // Then room: the supplier's quota and its cap on originals waiting to be processed.
    image_quota::reserve(
        &app.pool,
        app.image_limits,
        image_quota::Upload {
            supplier_id: supplier.0,
            product_id: id.0,
            image_id: image_id.0,
            bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        },
    )
    .await?;
    if let Err(e) = app
        .blobs
        .put(&key, bytes.to_vec(), content_type.as_str())
        .await
    {
        image_quota::release(&app.pool, image_id.0).await;
        tracing::warn!(error = %e, "original not stored");
        return Err(if e.is_full() {
            ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_full",
                "The image store is full",
                "the image store has no room for this upload now; the catalog and orders are not affected",
            )
            .retry_after(60)
        } else {
            ApiError::unavailable("the image store is unavailable; retry")
        });
    }
    let status_url = format!("{}/images/{}", product_location(id), image_id.0);
    // Not under an Idempotency-Key: an upload is idempotent by its content (the image id).
    let done = app
        .products
        .execute(
            &ctx,
            id,
            "request_image",
            command,
            None,
            Reply::changed(status_url.clone()),
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, status_url.clone())],
        Json(ImageAccepted {
            id: id.0,
            version: done.version,
            image_id: image_id.0,
            status: "processing",
            status_url,
        }),
    )
        .into_response())
}

/// The blob store, shared.
pub type SharedBlobs = Arc<dyn BlobStore>;
