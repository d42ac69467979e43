//! `Idempotency-Key` on POST: the first request with a key runs and its answer is stored; a
//! retry with the same key and the same request (method, path, body) gets the stored answer
//! again, byte for byte (with `Idempotent-Replayed: true`); the same key with another request
//! is refused with `422 idempotency_key_reused`. Keys are scoped per token subject and kept for
//! [`Idempotency::ttl`] (then purged by [`purge_expired`]).
//!
//! **The answer of a command with an effect is stored with the effect.** The middleware only
//! hashes the request and hands the key to the handler ([`IdempotencyKey`]); the command bus
//! writes the answer in the same statement as the events (`crate::bus`), so after a crash
//! there is either an effect with its answer or neither, never an effect whose retry runs
//! again. An answer without an effect (a refusal, a command that changed nothing) is stored
//! by this middleware before it is sent. Nothing is stored before the command runs, so there
//! is no "in progress" state to take over after a crash: a second request with the key while
//! the first runs waits on the first's row when it writes, and is answered with the first's
//! answer. Answers that say "try again" (server errors, throttling, a lost race) or that were
//! about the caller rather than the request (401, 403) are not stored.
//!
//! Apply it as a route layer inside the route's scope check, so that a caller without the
//! scope is refused before its body is read.

use crate::auth::Principal;
use crate::http::{ApiError, Authenticated, ProblemCode};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::time::Duration;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// The problem code a handler answers with when its command found the key already answered
/// (`crate::bus::KeyTaken`); the middleware replaces it with the stored answer.
pub const REPLAY_CODE: &str = "idempotency_replay";

/// What the middleware needs.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// Where keys are stored.
    pub pool: PgPool,
    /// The body limit (bodies are buffered to be hashed).
    pub max_body_bytes: usize,
    /// How long an answer is kept.
    pub ttl: Duration,
}

/// The default time an answer is kept (`FRESHLINE_IDEMPOTENCY_TTL_SECS`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// The key of the current request, for the command bus and the event metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The `Idempotency-Key`.
    pub key: String,
    /// The token subject it belongs to.
    pub principal: String,
    /// SHA-256 of method, path and body.
    pub request_hash: Vec<u8>,
    /// How long its answer is kept.
    pub ttl: Duration,
}

/// Marks a response whose answer the command bus already stored with its events.
#[derive(Debug, Clone, Copy)]
pub struct AnswerStored;

/// A stored answer: request hash, status, body, location.
type StoredRow = (Vec<u8>, i16, Vec<u8>, Option<String>);

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
    let claim = IdempotencyKey {
        key,
        principal,
        request_hash: hasher.finalize().to_vec(),
        ttl: cfg.ttl,
    };
    parts.extensions.insert(claim.clone());
    // Detached from the connection: a client that hangs up cannot cancel the command halfway
    // between its effect and its answer.
    let pool = cfg.pool.clone();
    let request = Request::from_parts(parts, Body::from(bytes));
    let work = tokio::spawn(async move {
        let response = next.run(request).await;
        settle(&pool, &claim, response).await
    });
    match work.await {
        Ok(response) => response,
        Err(e) => ApiError::internal("idempotent request", &e).into_response(),
    }
}

/// What becomes of the handler's response: passed on when the bus stored it with its events,
/// replaced by the stored answer when the key was taken, stored now when it has no effect.
async fn settle(pool: &PgPool, claim: &IdempotencyKey, response: Response) -> Response {
    if response.extensions().get::<AnswerStored>().is_some() {
        return response;
    }
    let code = response.extensions().get::<ProblemCode>().map(|c| c.0);
    if code == Some(REPLAY_CODE) {
        return stored_answer(pool, claim).await;
    }
    let status = response.status();
    let transient = status.is_server_error()
        || matches!(status.as_u16(), 401 | 403 | 429)
        || code == Some("concurrent_modification");
    if transient {
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
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, request_hash, status, response_body,
                                       location, completed_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now(), now() + make_interval(secs => $7))
         ON CONFLICT (principal, key) DO NOTHING",
    )
    .bind(&claim.principal)
    .bind(&claim.key)
    .bind(&claim.request_hash)
    .bind(i16::try_from(status.as_u16()).unwrap_or(500))
    .bind(bytes.as_ref())
    .bind(&location)
    .bind(claim.ttl.as_secs_f64())
    .execute(pool)
    .await;
    match inserted {
        Ok(done) if done.rows_affected() == 1 => Response::from_parts(parts, Body::from(bytes)),
        // Another request with the key answered first: its answer is the answer.
        Ok(_) => stored_answer(pool, claim).await,
        Err(e) => {
            // Not sent unless stored: a retry decides again, which is safe (no effect yet).
            tracing::warn!(error = %e, "could not store an idempotent answer");
            ApiError::unavailable("idempotency store unavailable").into_response()
        }
    }
}

/// The answer stored under the key: replayed when the request is the same, `422` when it is
/// not.
async fn stored_answer(pool: &PgPool, claim: &IdempotencyKey) -> Response {
    let row: Result<Option<StoredRow>, _> = sqlx::query_as(
        "SELECT request_hash, status, response_body, location FROM idempotency_keys
          WHERE principal = $1 AND key = $2",
    )
    .bind(&claim.principal)
    .bind(&claim.key)
    .fetch_optional(pool)
    .await;
    match row {
        Err(e) => {
            tracing::warn!(error = %e, "idempotency store unavailable");
            ApiError::unavailable("idempotency store unavailable").into_response()
        }
        Ok(Some((stored, _, _, _))) if stored != claim.request_hash => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was used with a different request",
        )
        .into_response(),
        Ok(Some((_, status, body, location))) => {
            replay(u16::try_from(status).unwrap_or(500), body, location)
        }
        // Purged between the conflict and this read: the client tries again.
        Ok(None) => ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_in_progress",
            "Request in progress",
            "a request with this Idempotency-Key is still being processed",
        )
        .retry_after(1)
        .into_response(),
    }
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

/// Deletes answers older than their time to live, at most `batch` at a time; returns how many.
///
/// # Errors
/// When the database fails.
pub async fn purge_expired(pool: &PgPool, batch: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM idempotency_keys
          WHERE ctid = ANY (ARRAY(SELECT ctid FROM idempotency_keys
                                   WHERE expires_at < now() LIMIT $1))",
    )
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Purges expired answers every `every` until `shutdown` is cancelled.
pub async fn purge_loop(
    pool: PgPool,
    every: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        loop {
            match purge_expired(&pool, 10_000).await {
                Ok(10_000) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "could not purge expired idempotency keys");
                    break;
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
