//! The simulated card gateway (binary `card-gateway`): an HTTP server that behaves like a
//! payment provider's test mode, so that local runs and tests exercise every path a real
//! provider has. Its state lives in PostgreSQL (schema `card_gateway`, created at start), so it
//! survives restarts of its callers and its own.
//!
//! - `POST /v1/authorizations` `{payment_id, card_token, amount_minor, currency}`;
//! - `POST /v1/authorizations/{ref}/capture` `{amount_minor}` (at most the authorised amount,
//!   at most one capture per authorisation);
//! - `POST /v1/authorizations/{ref}/void`;
//! - `POST /v1/captures/{ref}/refunds` `{amount_minor}` (never more than captured minus already
//!   refunded);
//! - `GET /v1/payments/{payment_id}`: what the gateway holds for a payment.
//!
//! The card token decides: [`tokens::APPROVED`] approves, [`tokens::DECLINED`] declines
//! (`card_declined`), [`tokens::TIMEOUT`] never answers in time and authorises nothing,
//! [`tokens::FLAKY`] answers `503` twice for the same idempotency key and then approves; any
//! other token is declined as `invalid_token`. Declines answer `402`.
//!
//! Every POST needs an `Idempotency-Key`. The key is recorded in the same transaction as the
//! effect and the answer, so the same key with the same body replays the stored answer without
//! acting again (a concurrent duplicate waits for the first and then replays it), and the same
//! key with another body is refused with `422 idempotency_key_reused`. Transient failures
//! (`503`, `504`) store nothing, so a retry with the key acts afresh. The money rules are
//! enforced by conditional updates under row locks and backed by constraints (one capture per
//! authorisation, refunded never above captured), so concurrent requests with different keys
//! cannot both take the same money.

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use platform::http::{ApiError, FieldError, ValidJson};
use sagas::payments::wire::{AmountBody, AuthorizeBody, VoidBody};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The test-mode card tokens.
pub mod tokens {
    /// Approves.
    pub const APPROVED: &str = "tok_approved";
    /// Declines with `card_declined`.
    pub const DECLINED: &str = "tok_declined";
    /// Never answers in time; authorises nothing.
    pub const TIMEOUT: &str = "tok_timeout";
    /// `503` twice for the same idempotency key, then approves.
    pub const FLAKY: &str = "tok_flaky";
}

/// How many times [`tokens::FLAKY`] fails for one idempotency key before it approves.
pub const FLAKY_FAILURES: i32 = 2;
/// The largest amount accepted (10 billion in major units), so sums never overflow.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardGatewayConfig {
    /// Added to every API request, like a provider's network round trip.
    pub latency: Duration,
    /// How long [`tokens::TIMEOUT`] sleeps before answering `504` (longer than any sane client
    /// timeout).
    pub timeout_sleep: Duration,
}

impl Default for CardGatewayConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            timeout_sleep: Duration::from_secs(60),
        }
    }
}

impl CardGatewayConfig {
    /// From `FRESHLINE_GATEWAY_LATENCY_MS` (default 0) and `FRESHLINE_GATEWAY_TIMEOUT_SLEEP_MS`
    /// (default 60000).
    ///
    /// # Errors
    /// When either is not a number of milliseconds.
    pub fn from_settings() -> Result<Self, platform::config::ConfigError> {
        Ok(Self {
            latency: Duration::from_millis(platform::config::parse(
                "FRESHLINE_GATEWAY_LATENCY_MS",
                0u64,
            )?),
            timeout_sleep: Duration::from_millis(platform::config::parse(
                "FRESHLINE_GATEWAY_TIMEOUT_SLEEP_MS",
                60_000u64,
            )?),
        })
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its schema could not be created.
    #[error("creating the card_gateway schema: {0}")]
    Schema(#[from] sqlx::Error),
    /// The address could not be bound.
    #[error("binding the gateway address: {0}")]
    Bind(#[from] std::io::Error),
    /// Its metrics could not be registered.
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Creates the `card_gateway` schema and tables when missing (safe when several start at once).
///
/// # Errors
/// When the database fails.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // CREATE ... IF NOT EXISTS still races on the catalog; one starter at a time.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('freshline.card_gateway'))")
        .execute(&mut *tx)
        .await?;
    for ddl in [
        "CREATE SCHEMA IF NOT EXISTS card_gateway",
        "CREATE TABLE IF NOT EXISTS card_gateway.idempotency_keys (
            key text PRIMARY KEY,
            operation text NOT NULL,
            fingerprint bytea NOT NULL,
            status smallint NOT NULL DEFAULT 0,
            body jsonb,
            created_at timestamptz NOT NULL DEFAULT now())",
        "CREATE TABLE IF NOT EXISTS card_gateway.flaky_failures (
            key text PRIMARY KEY,
            failures integer NOT NULL)",
        "CREATE TABLE IF NOT EXISTS card_gateway.authorizations (
            reference text PRIMARY KEY,
            payment_id uuid NOT NULL,
            card_token text NOT NULL,
            amount_minor bigint NOT NULL CHECK (amount_minor > 0),
            currency text NOT NULL,
            status text NOT NULL
                CHECK (status IN ('authorized', 'declined', 'captured', 'voided')),
            decline_code text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now())",
        "CREATE INDEX IF NOT EXISTS authorizations_by_payment
            ON card_gateway.authorizations (payment_id, created_at)",
        "CREATE TABLE IF NOT EXISTS card_gateway.captures (
            reference text PRIMARY KEY,
            authorization_ref text NOT NULL UNIQUE
                REFERENCES card_gateway.authorizations (reference),
            amount_minor bigint NOT NULL CHECK (amount_minor > 0),
            refunded_minor bigint NOT NULL DEFAULT 0
                CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
            created_at timestamptz NOT NULL DEFAULT now())",
        "CREATE TABLE IF NOT EXISTS card_gateway.refunds (
            reference text PRIMARY KEY,
            capture_ref text NOT NULL REFERENCES card_gateway.captures (reference),
            amount_minor bigint NOT NULL CHECK (amount_minor > 0),
            created_at timestamptz NOT NULL DEFAULT now())",
        "CREATE INDEX IF NOT EXISTS refunds_by_capture ON card_gateway.refunds (capture_ref)",
    ] {
        sqlx::query(ddl).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// The gateway's state: its database and settings.
#[derive(Debug)]
pub struct CardGateway {
    pool: PgPool,
    cfg: CardGatewayConfig,
    shutdown: CancellationToken,
}

/// Migrates, binds `addr` and serves until `shutdown`: the bound address (port 0 picks one)
/// and the server task.
///
/// # Errors
/// When the schema cannot be created, the address bound or the metrics registered.
pub async fn start(
    addr: &str,
    pool: PgPool,
    cfg: CardGatewayConfig,
    registry: &prometheus::Registry,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    migrate(&pool).await?;
    let app = router(
        Arc::new(CardGateway {
            pool,
            cfg,
            shutdown: shutdown.clone(),
        }),
        registry,
    )?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "card gateway listening");
    let handle = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            platform::telemetry::log_error_chain("card gateway server failed", &e);
        }
    });
    Ok((local, handle))
}

/// The routes, with `/healthz`, `/readyz` and `/metrics`.
///
/// # Errors
/// When the HTTP metrics are already registered in `registry`.
pub fn router(
    gateway: Arc<CardGateway>,
    registry: &prometheus::Registry,
) -> Result<Router, prometheus::Error> {
    let http_metrics = platform::metrics::HttpMetrics::new(registry)?;
    let registry = registry.clone();
    Ok(Router::new()
        .route("/v1/authorizations", post(authorize))
        .route("/v1/authorizations/{reference}/capture", post(capture))
        .route("/v1/authorizations/{reference}/void", post(void))
        .route("/v1/captures/{reference}/refunds", post(refund))
        .route("/v1/payments/{payment_id}", get(payment))
        .route("/healthz", get(platform::http::healthz))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move { platform::metrics::render(&registry) }
            }),
        )
        .fallback(platform::http::not_found_fallback)
        .method_not_allowed_fallback(platform::http::method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn_with_state(
            http_metrics,
            platform::metrics::track_http,
        ))
        .layer(axum::middleware::from_fn(platform::http::correlate))
        .with_state(gateway))
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

// The bodies are the client's: `sagas::payments::wire`.

/// The `Idempotency-Key` header, required on every POST.
#[derive(Debug)]
struct IdempotencyKey(String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let bad = |detail: &str| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Invalid Idempotency-Key",
                detail,
            )
        };
        let value = parts
            .headers
            .get(platform::idempotency::HEADER)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "idempotency_key_required",
                    "Idempotency-Key required",
                    "every POST to the gateway needs an Idempotency-Key header",
                )
            })?;
        match value.to_str() {
            Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
                Ok(Self(k.to_owned()))
            }
            _ => Err(bad("the key must be 1 to 255 visible ASCII characters")),
        }
    }
}

fn amount_errors(field: &str, amount_minor: i64, errors: &mut Vec<FieldError>) {
    if !(1..=MAX_AMOUNT_MINOR).contains(&amount_minor) {
        errors.push(FieldError::new(
            field,
            format!("must be from 1 to {MAX_AMOUNT_MINOR} (minor units)"),
        ));
    }
}

/// Whether an authorisation request is well formed (field errors otherwise).
fn validate(body: &AuthorizeBody) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if !(1..=64).contains(&body.card_token.len())
        || !body
            .card_token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        errors.push(FieldError::new(
            "card_token",
            "must be 1 to 64 of A-Z a-z 0-9 _",
        ));
    }
    amount_errors("amount_minor", body.amount_minor, &mut errors);
    if body.currency.len() != 3 || !body.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        errors.push(FieldError::new(
            "currency",
            "must be an ISO 4217 code, three upper-case letters",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
    }
}

fn parse_reference(reference: &str, prefix: &str) -> Result<(), ApiError> {
    let valid = reference.len() <= 64
        && reference.strip_prefix(prefix).is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if valid {
        Ok(())
    } else {
        Err(ApiError::validation(vec![FieldError::new(
            "reference",
            format!("must be a gateway reference starting with {prefix}"),
        )]))
    }
}

/// What a POST asks the gateway to do.
#[derive(Debug)]
enum Operation {
    Authorize(AuthorizeBody),
    Capture {
        authorization_ref: String,
        amount_minor: i64,
    },
    Void {
        authorization_ref: String,
    },
    Refund {
        capture_ref: String,
        amount_minor: i64,
    },
}

impl Operation {
    fn name(&self) -> &'static str {
        match self {
            Self::Authorize(_) => "authorize",
            Self::Capture { .. } => "capture",
            Self::Void { .. } => "void",
            Self::Refund { .. } => "refund",
        }
    }

    /// What makes two requests "the same": the operation, its target and its parsed body (so
    /// whitespace and field order do not matter).
    fn fingerprint(&self) -> Vec<u8> {
        let canonical = match self {
            Self::Authorize(b) => json!([self.name(), b]),
            Self::Capture {
                authorization_ref,
                amount_minor,
            } => json!([self.name(), authorization_ref, amount_minor]),
            Self::Void { authorization_ref } => json!([self.name(), authorization_ref]),
            Self::Refund {
                capture_ref,
                amount_minor,
            } => json!([self.name(), capture_ref, amount_minor]),
        };
        Sha256::digest(canonical.to_string().as_bytes()).to_vec()
    }
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// An answer, as stored under its idempotency key.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Value,
    replayed: bool,
}

impl Answer {
    fn new(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body,
            replayed: false,
        }
    }

    fn declined(code: &str, reason: &str, reference: &str) -> Self {
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            json!({"status": "declined", "code": code, "reason": reason, "reference": reference}),
        )
    }

    /// A problem document, shaped like [`ApiError`]'s.
    fn problem(status: StatusCode, code: &str, title: &str, detail: String) -> Self {
        Self::new(
            status,
            json!({
                "type": format!("urn:freshline:problem:{code}"),
                "title": title,
                "status": status.as_u16(),
                "detail": detail,
                "code": code,
            }),
        )
    }

    fn conflict(code: &str, detail: String) -> Self {
        Self::problem(
            StatusCode::CONFLICT,
            code,
            "The request conflicts with the gateway's state",
            detail,
        )
    }

    fn not_found(code: &str, detail: String) -> Self {
        Self::problem(StatusCode::NOT_FOUND, code, "Not found", detail)
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let is_problem = self.status.is_client_error()
            && self.status != StatusCode::PAYMENT_REQUIRED
            || self.status.is_server_error();
        let mut response = (self.status, self.body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(if is_problem {
                platform::http::PROBLEM_JSON
            } else {
                "application/json"
            }),
        );
        if self.replayed {
            headers.insert(
                platform::idempotency::REPLAYED_HEADER,
                HeaderValue::from_static("true"),
            );
        }
        response
    }
}

fn internal(e: &sqlx::Error) -> ApiError {
    ApiError::database("card gateway database failure", e)
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

async fn authorize(
    State(gw): State<Arc<CardGateway>>,
    IdempotencyKey(key): IdempotencyKey,
    ValidJson(body): ValidJson<AuthorizeBody>,
) -> Result<Answer, ApiError> {
    validate(&body)?;
    gw.pause().await;
    match body.card_token.as_str() {
        tokens::TIMEOUT => return Ok(gw.never_in_time().await),
        tokens::FLAKY if gw.flakes(&key).await.map_err(|e| internal(&e))? => {
            return Ok(Answer::problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service temporarily unavailable",
                "the card network did not answer; try again with the same key".to_owned(),
            ));
        }
        _ => {}
    }
    gw.idempotent(&key, Operation::Authorize(body)).await
}

async fn capture(
    State(gw): State<Arc<CardGateway>>,
    Path(reference): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    ValidJson(body): ValidJson<AmountBody>,
) -> Result<Answer, ApiError> {
    parse_reference(&reference, "auth_")?;
    let mut errors = Vec::new();
    amount_errors("amount_minor", body.amount_minor, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    gw.pause().await;
    let op = Operation::Capture {
        authorization_ref: reference,
        amount_minor: body.amount_minor,
    };
    gw.idempotent(&key, op).await
}

async fn void(
    State(gw): State<Arc<CardGateway>>,
    Path(reference): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    ValidJson(VoidBody {}): ValidJson<VoidBody>,
) -> Result<Answer, ApiError> {
    parse_reference(&reference, "auth_")?;
    gw.pause().await;
    let op = Operation::Void {
        authorization_ref: reference,
    };
    gw.idempotent(&key, op).await
}

async fn refund(
    State(gw): State<Arc<CardGateway>>,
    Path(reference): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    ValidJson(body): ValidJson<AmountBody>,
) -> Result<Answer, ApiError> {
    parse_reference(&reference, "cap_")?;
    let mut errors = Vec::new();
    amount_errors("amount_minor", body.amount_minor, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    gw.pause().await;
    let op = Operation::Refund {
        capture_ref: reference,
        amount_minor: body.amount_minor,
    };
    gw.idempotent(&key, op).await
}

async fn payment(
    State(gw): State<Arc<CardGateway>>,
    Path(payment_id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let payment_id = Uuid::parse_str(&payment_id)
        .map_err(|_| ApiError::validation(vec![FieldError::new("payment_id", "must be a UUID")]))?;
    gw.pause().await;
    gw.holdings(payment_id)
        .await
        .map_err(|e| internal(&e))?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found(format!("the gateway holds nothing for {payment_id}")))
}

async fn readyz(State(gw): State<Arc<CardGateway>>) -> Response {
    platform::http::readiness(&[("postgres", platform::db::ping(&gw.pool).await)])
}

// ---------------------------------------------------------------------------------------------
// The gateway's logic over PostgreSQL
// ---------------------------------------------------------------------------------------------

impl CardGateway {
    async fn pause(&self) {
        if !self.cfg.latency.is_zero() {
            tokio::time::sleep(self.cfg.latency).await;
        }
    }

    /// `tok_timeout`: answer only after any sane client gave up, having done nothing.
    async fn never_in_time(&self) -> Answer {
        tokio::select! {
            () = tokio::time::sleep(self.cfg.timeout_sleep) => {}
            () = self.shutdown.cancelled() => {}
        }
        Answer::problem(
            StatusCode::GATEWAY_TIMEOUT,
            "gateway_timeout",
            "The card network timed out",
            "the issuer did not answer; nothing was authorised".to_owned(),
        )
    }

    /// `tok_flaky`: whether this attempt under `key` is one of the first failures. Counted in
    /// PostgreSQL, so the count holds across restarts and instances.
    async fn flakes(&self, key: &str) -> Result<bool, sqlx::Error> {
        let done: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM card_gateway.idempotency_keys WHERE key = $1)",
        )
        .bind(key)
        .fetch_one(&self.pool)
        .await?;
        if done {
            return Ok(false);
        }
        let failed: Option<i32> = sqlx::query_scalar(
            "INSERT INTO card_gateway.flaky_failures AS f (key, failures) VALUES ($1, 1)
             ON CONFLICT (key) DO UPDATE SET failures = f.failures + 1 WHERE f.failures < $2
             RETURNING failures",
        )
        .bind(key)
        .bind(FLAKY_FAILURES)
        .fetch_optional(&self.pool)
        .await?;
        Ok(failed.is_some())
    }

    /// Runs `op` once per idempotency key: the key, the effect and the answer commit together.
    /// Runs `op` once under `key`, detached from the request: a caller that hangs up (a
    /// client timeout, a killed process) cannot cancel it halfway through its transaction.
    async fn idempotent(self: &Arc<Self>, key: &str, op: Operation) -> Result<Answer, ApiError> {
        let me = self.clone();
        let key = key.to_owned();
        tokio::spawn(async move { me.idempotent_now(&key, op).await })
            .await
            .map_err(|e| ApiError::internal("the gateway's request task failed", &e))?
    }

    async fn idempotent_now(&self, key: &str, op: Operation) -> Result<Answer, ApiError> {
        let fingerprint = op.fingerprint();
        let mut tx = self.pool.begin().await.map_err(|e| internal(&e))?;
        // A concurrent request under the same key blocks here until the first commits (then
        // this one replays its answer) or rolls back (then this one acts).
        let fresh = sqlx::query(
            "INSERT INTO card_gateway.idempotency_keys (key, operation, fingerprint)
             VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(op.name())
        .bind(&fingerprint)
        .execute(&mut *tx)
        .await
        .map_err(|e| internal(&e))?
        .rows_affected()
            == 1;
        if !fresh {
            let (stored, status, body): (Vec<u8>, i16, Option<Value>) = sqlx::query_as(
                "SELECT fingerprint, status, body FROM card_gateway.idempotency_keys
                 WHERE key = $1",
            )
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| internal(&e))?;
            drop(tx);
            if stored != fingerprint {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "Idempotency-Key reused",
                    "this key was used for another request; use a new key for a new request",
                ));
            }
            let status = u16::try_from(status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .ok_or_else(|| {
                    ApiError::internal(
                        "a stored idempotent answer has no status",
                        &std::io::Error::other(format!("status {status} under a key")),
                    )
                })?;
            return Ok(Answer {
                status,
                body: body.unwrap_or(Value::Null),
                replayed: true,
            });
        }
        let answer = execute(&mut tx, op).await.map_err(|e| internal(&e))?;
        sqlx::query(
            "UPDATE card_gateway.idempotency_keys SET status = $2, body = $3 WHERE key = $1",
        )
        .bind(key)
        .bind(i16::try_from(answer.status.as_u16()).unwrap_or(500))
        .bind(&answer.body)
        .execute(&mut *tx)
        .await
        .map_err(|e| internal(&e))?;
        tx.commit().await.map_err(|e| internal(&e))?;
        Ok(answer)
    }

    /// What the gateway holds for a payment; `None` when nothing.
    async fn holdings(&self, payment_id: Uuid) -> Result<Option<Value>, sqlx::Error> {
        type AuthRow = (
            String,
            String,
            i64,
            String,
            String,
            Option<String>,
            DateTime<Utc>,
        );
        let authorizations: Vec<AuthRow> = sqlx::query_as(
            "SELECT reference, card_token, amount_minor, currency, status, decline_code, created_at
             FROM card_gateway.authorizations WHERE payment_id = $1
             ORDER BY created_at, reference",
        )
        .bind(payment_id)
        .fetch_all(&self.pool)
        .await?;
        if authorizations.is_empty() {
            return Ok(None);
        }
        let captures: Vec<(String, String, i64, i64, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT c.reference, c.authorization_ref, c.amount_minor, c.refunded_minor,
                    a.currency, c.created_at
             FROM card_gateway.captures c
             JOIN card_gateway.authorizations a ON a.reference = c.authorization_ref
             WHERE a.payment_id = $1 ORDER BY c.created_at, c.reference",
        )
        .bind(payment_id)
        .fetch_all(&self.pool)
        .await?;
        let refunds: Vec<(String, String, i64, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT r.reference, r.capture_ref, r.amount_minor, a.currency, r.created_at
             FROM card_gateway.refunds r
             JOIN card_gateway.captures c ON c.reference = r.capture_ref
             JOIN card_gateway.authorizations a ON a.reference = c.authorization_ref
             WHERE a.payment_id = $1 ORDER BY r.created_at, r.reference",
        )
        .bind(payment_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(json!({
            "payment_id": payment_id,
            "authorizations": authorizations.into_iter().map(|(reference, card_token, amount_minor, currency, status, decline_code, created_at)| json!({
                "reference": reference, "card_token": card_token, "amount_minor": amount_minor,
                "currency": currency, "status": status, "decline_code": decline_code,
                "created_at": created_at,
            })).collect::<Vec<_>>(),
            "captures": captures.into_iter().map(|(reference, authorization_ref, amount_minor, refunded_minor, currency, created_at)| json!({
                "reference": reference, "authorization_ref": authorization_ref,
                "amount_minor": amount_minor, "refunded_minor": refunded_minor,
                "currency": currency, "created_at": created_at,
            })).collect::<Vec<_>>(),
            "refunds": refunds.into_iter().map(|(reference, capture_ref, amount_minor, currency, created_at)| json!({
                "reference": reference, "capture_ref": capture_ref, "amount_minor": amount_minor,
                "currency": currency, "created_at": created_at,
            })).collect::<Vec<_>>(),
        })))
    }
}

fn new_reference(prefix: &str) -> String {
    format!("{prefix}{}", Uuid::now_v7().simple())
}

async fn execute(tx: &mut PgConnection, op: Operation) -> Result<Answer, sqlx::Error> {
    match op {
        Operation::Authorize(body) => authorize_in(tx, body).await,
        Operation::Capture {
            authorization_ref,
            amount_minor,
        } => capture_in(tx, &authorization_ref, amount_minor).await,
        Operation::Void { authorization_ref } => void_in(tx, &authorization_ref).await,
        Operation::Refund {
            capture_ref,
            amount_minor,
        } => refund_in(tx, &capture_ref, amount_minor).await,
    }
}

async fn authorize_in(tx: &mut PgConnection, body: AuthorizeBody) -> Result<Answer, sqlx::Error> {
    let reference = new_reference("auth_");
    let decline = match body.card_token.as_str() {
        tokens::APPROVED | tokens::FLAKY => None,
        tokens::DECLINED => Some(("card_declined", "the issuer declined the card")),
        _ => Some((
            "invalid_token",
            "the card token is not known to the gateway",
        )),
    };
    sqlx::query(
        "INSERT INTO card_gateway.authorizations
            (reference, payment_id, card_token, amount_minor, currency, status, decline_code)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&reference)
    .bind(body.payment_id)
    .bind(&body.card_token)
    .bind(body.amount_minor)
    .bind(&body.currency)
    .bind(if decline.is_some() {
        "declined"
    } else {
        "authorized"
    })
    .bind(decline.map(|(code, _)| code))
    .execute(&mut *tx)
    .await?;
    Ok(match decline {
        Some((code, reason)) => Answer::declined(code, reason, &reference),
        None => Answer::new(
            StatusCode::CREATED,
            json!({
                "status": "approved", "reference": reference, "payment_id": body.payment_id,
                "amount_minor": body.amount_minor, "currency": body.currency,
            }),
        ),
    })
}

/// Why an authorisation cannot be captured or voided: read after the conditional update
/// matched nothing (a fresh snapshot, so it sees what a concurrent winner committed).
async fn authorization_refusal(
    tx: &mut PgConnection,
    reference: &str,
    amount_minor: Option<i64>,
) -> Result<Answer, sqlx::Error> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT status, amount_minor FROM card_gateway.authorizations WHERE reference = $1",
    )
    .bind(reference)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(match row {
        None => Answer::not_found(
            "authorization_not_found",
            format!("no authorization {reference}"),
        ),
        Some((status, _)) if status == "declined" => Answer::conflict(
            "authorization_declined",
            format!("{reference} was declined; nothing is authorised"),
        ),
        Some((status, _)) if status == "voided" => {
            Answer::conflict("authorization_voided", format!("{reference} was voided"))
        }
        Some((status, _)) if status == "captured" => Answer::conflict(
            "already_captured",
            format!("{reference} is already captured (one capture per authorization)"),
        ),
        Some((_, authorized)) => Answer::conflict(
            "capture_exceeds_authorization",
            format!(
                "{} minor units asked, {authorized} authorised",
                amount_minor.unwrap_or_default()
            ),
        ),
    })
}

async fn capture_in(
    tx: &mut PgConnection,
    authorization_ref: &str,
    amount_minor: i64,
) -> Result<Answer, sqlx::Error> {
    // The conditional update takes the row lock: of two concurrent captures one matches, the
    // other waits, re-reads the row as `captured` and matches nothing.
    let currency: Option<String> = sqlx::query_scalar(
        "UPDATE card_gateway.authorizations SET status = 'captured', updated_at = now()
         WHERE reference = $1 AND status = 'authorized' AND amount_minor >= $2
         RETURNING currency",
    )
    .bind(authorization_ref)
    .bind(amount_minor)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(currency) = currency else {
        return authorization_refusal(tx, authorization_ref, Some(amount_minor)).await;
    };
    let reference = new_reference("cap_");
    sqlx::query(
        "INSERT INTO card_gateway.captures (reference, authorization_ref, amount_minor)
         VALUES ($1, $2, $3)",
    )
    .bind(&reference)
    .bind(authorization_ref)
    .bind(amount_minor)
    .execute(&mut *tx)
    .await?;
    Ok(Answer::new(
        StatusCode::CREATED,
        json!({
            "status": "approved", "reference": reference, "authorization_ref": authorization_ref,
            "amount_minor": amount_minor, "currency": currency,
        }),
    ))
}

async fn void_in(tx: &mut PgConnection, authorization_ref: &str) -> Result<Answer, sqlx::Error> {
    let voided: Option<String> = sqlx::query_scalar(
        "UPDATE card_gateway.authorizations SET status = 'voided', updated_at = now()
         WHERE reference = $1 AND status = 'authorized' RETURNING reference",
    )
    .bind(authorization_ref)
    .fetch_optional(&mut *tx)
    .await?;
    match voided {
        Some(reference) => Ok(Answer::new(
            StatusCode::OK,
            json!({"status": "approved", "reference": reference, "voided": true}),
        )),
        None => authorization_refusal(tx, authorization_ref, None).await,
    }
}

async fn refund_in(
    tx: &mut PgConnection,
    capture_ref: &str,
    amount_minor: i64,
) -> Result<Answer, sqlx::Error> {
    // Same pattern: the update that raises `refunded_minor` only matches while the refund
    // fits, under the capture's row lock; the CHECK constraint backs it.
    let refunded: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE card_gateway.captures SET refunded_minor = refunded_minor + $2
         WHERE reference = $1 AND refunded_minor + $2 <= amount_minor
         RETURNING amount_minor, refunded_minor",
    )
    .bind(capture_ref)
    .bind(amount_minor)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((captured, refunded_total)) = refunded else {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT amount_minor, refunded_minor FROM card_gateway.captures WHERE reference = $1",
        )
        .bind(capture_ref)
        .fetch_optional(&mut *tx)
        .await?;
        return Ok(match row {
            None => Answer::not_found("capture_not_found", format!("no capture {capture_ref}")),
            Some((captured, refunded)) => Answer::conflict(
                "refund_exceeds_captured",
                format!(
                    "{amount_minor} minor units asked; {captured} captured, {refunded} already \
                     refunded, {} refundable",
                    captured - refunded
                ),
            ),
        });
    };
    let reference = new_reference("rfd_");
    sqlx::query(
        "INSERT INTO card_gateway.refunds (reference, capture_ref, amount_minor)
         VALUES ($1, $2, $3)",
    )
    .bind(&reference)
    .bind(capture_ref)
    .bind(amount_minor)
    .execute(&mut *tx)
    .await?;
    Ok(Answer::new(
        StatusCode::CREATED,
        json!({
            "status": "approved", "reference": reference, "capture_ref": capture_ref,
            "amount_minor": amount_minor, "refunded_minor": refunded_total,
            "refundable_minor": captured - refunded_total,
        }),
    ))
}
