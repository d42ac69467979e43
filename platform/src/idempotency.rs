//! `Idempotency-Key` on POST: the first request with a key runs and its response is stored;
//! a retry with the same key and the same body gets the stored response again (with
//! `Idempotent-Replayed: true`); the same key with another body is refused with
//! `422 idempotency_key_reused`. Keys are scoped per token subject. A request still running
//! under a key answers `409 idempotency_in_progress`; a server error releases the key so the
//! client may retry, and a key left behind by a crashed process is taken over after a minute.

use crate::auth::Principal;
use crate::http::{ApiError, Authenticated};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// What the middleware needs.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// Where keys are stored.
    pub pool: PgPool,
    /// The body limit (bodies are buffered to be hashed).
    pub max_body_bytes: usize,
}

/// The key of the current request, for event metadata.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

/// A stored key: request hash, and the response once complete (status, body, location).
type StoredKey = (Vec<u8>, Option<i16>, Option<Vec<u8>>, Option<String>);

enum Claim {
    Fresh,
    Replay {
        status: u16,
        body: Vec<u8>,
        location: Option<String>,
    },
    InProgress,
    Reused,
}

/// The middleware (see the module documentation).
pub async fn idempotent(State(cfg): State<Idempotency>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(raw_key) = request.headers().get(HEADER).cloned() else {
        return next.run(request).await;
    };
    let key = match raw_key.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_owned()
        }
        _ => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Invalid Idempotency-Key",
                "the key must be 1 to 255 visible ASCII characters",
            )
            .into_response()
        }
    };
    let principal = match request.extensions().get::<Authenticated>() {
        Some(Authenticated(Ok(Principal { subject, .. }))) => subject.clone(),
        // Unauthenticated: the handler answers 401; nothing to remember.
        _ => return next.run(request).await,
    };

    let (mut parts, body) = request.into_parts();
    let bytes = match to_bytes(body, cfg.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Request body too large",
                format!("the body limit is {} bytes", cfg.max_body_bytes),
            )
            .into_response()
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.path());
    hasher.update([0]);
    hasher.update(&bytes);
    let hash = hasher.finalize().to_vec();

    match claim(&cfg.pool, &principal, &key, &hash).await {
        Err(e) => {
            tracing::warn!(error = %e, "idempotency store unavailable");
            ApiError::unavailable("idempotency store unavailable").into_response()
        }
        Ok(Claim::Reused) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was used with a different request",
        )
        .into_response(),
        Ok(Claim::InProgress) => ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_in_progress",
            "Request in progress",
            "a request with this Idempotency-Key is still being processed",
        )
        .retry_after(1)
        .into_response(),
        Ok(Claim::Replay {
            status,
            body,
            location,
        }) => replay(status, body, location),
        Ok(Claim::Fresh) => {
            parts.extensions.insert(IdempotencyKey(key.clone()));
            // Detached from the connection: a client that hangs up cannot cancel the command
            // halfway, and its answer is always recorded for the retry.
            let pool = cfg.pool.clone();
            let request = Request::from_parts(parts, Body::from(bytes));
            let work = tokio::spawn(async move {
                let response = next.run(request).await;
                finish(&pool, &principal, &key, response).await
            });
            match work.await {
                Ok(response) => response,
                Err(e) => ApiError::internal("idempotent request", &e).into_response(),
            }
        }
    }
}

async fn claim(
    pool: &PgPool,
    principal: &str,
    key: &str,
    hash: &[u8],
) -> Result<Claim, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT (principal, key) DO UPDATE SET created_at = now()
           WHERE idempotency_keys.status IS NULL
             AND idempotency_keys.request_hash = EXCLUDED.request_hash
             AND idempotency_keys.created_at < now() - interval '60 seconds'
         RETURNING 1",
    )
    .bind(principal)
    .bind(key)
    .bind(hash)
    .fetch_optional(pool)
    .await?;
    if inserted.is_some() {
        return Ok(Claim::Fresh);
    }
    let row: Option<StoredKey> = sqlx::query_as(
        "SELECT request_hash, status, response_body, location FROM idempotency_keys
         WHERE principal = $1 AND key = $2",
    )
    .bind(principal)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        // Released between our insert and select: treat as in progress; the client retries.
        None => Claim::InProgress,
        Some((stored, _, _, _)) if stored != hash => Claim::Reused,
        Some((_, None, _, _)) => Claim::InProgress,
        Some((_, Some(status), body, location)) => Claim::Replay {
            status: u16::try_from(status).unwrap_or(500),
            body: body.unwrap_or_default(),
            location,
        },
    })
}

async fn finish(pool: &PgPool, principal: &str, key: &str, response: Response) -> Response {
    let status = response.status();
    // Answers that say "try again" (server errors, throttling, a lost race) or that were about
    // the caller rather than the request (401, 403) are not remembered: a retry runs afresh.
    let transient = status.is_server_error()
        || matches!(status.as_u16(), 401 | 403 | 429)
        || (status == StatusCode::CONFLICT
            && response
                .extensions()
                .get::<crate::http::ProblemCode>()
                .is_some_and(|c| c.0 == "concurrent_modification"));
    if transient {
        if let Err(e) =
            sqlx::query("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2")
                .bind(principal)
                .bind(key)
                .execute(pool)
                .await
        {
            tracing::warn!(error = %e, "could not release idempotency key after a server error");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, 1 << 20).await else {
        return ApiError::internal(
            "buffering a response for idempotency",
            &std::io::Error::other("response body too large"),
        )
        .into_response();
    };
    let location = parts
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Err(e) = sqlx::query(
        "UPDATE idempotency_keys SET status = $3, response_body = $4, location = $5, completed_at = now()
         WHERE principal = $1 AND key = $2",
    )
    .bind(principal)
    .bind(key)
    .bind(i16::try_from(status.as_u16()).unwrap_or(500))
    .bind(bytes.as_ref())
    .bind(&location)
    .execute(pool)
    .await
    {
        // The command already took effect: answer it; a retry will see "in progress" until
        // the key is taken over after a minute.
        tracing::warn!(error = %e, "could not record idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(status: u16, body: Vec<u8>, location: Option<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        crate::http::PROBLEM_JSON
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, l);
    }
    response
}
