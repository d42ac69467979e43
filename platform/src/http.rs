//! HTTP conventions shared by every service: RFC 9457 problem+json errors with a stable `code`,
//! a JSON body extractor whose every refusal is a clear 4xx naming the fields, bearer-token
//! authentication as a middleware, correlation ids, and health endpoints.

use crate::auth::{AuthError, Principal, Verifier};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Request header carrying a correlation id (echoed on the response).
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// Request header naming the event that caused a command (a UUID); recorded as
/// `causation_id` on the events the command appends.
pub const CAUSATION_HEADER: &str = "x-causation-id";

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's path in the body (`address.country`), or the path or query parameter.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// An RFC 9457 problem, answered as `application/problem+json`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`invalid_transition`, `validation_failed`, ...).
    pub code: &'static str,
    /// Short summary of the kind of problem.
    pub title: &'static str,
    /// Human-readable explanation of this occurrence.
    pub detail: String,
    /// Further members (`fields`, `current_status`, ...).
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Seconds for `Retry-After`, for 429 and 503.
    pub retry_after: Option<u32>,
}

/// The `code` of a problem response, kept in its extensions for middleware.
#[derive(Debug, Clone, Copy)]
pub struct ProblemCode(pub &'static str);

/// The body of a problem document, for the OpenAPI description.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`urn:freshline:problem:<code>`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Explanation.
    pub detail: String,
    /// Stable code.
    pub code: String,
    /// Field errors, for `validation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldError>>,
}

impl ApiError {
    /// A problem with no extra members.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            extra: serde_json::Map::new(),
            retry_after: None,
        }
    }

    /// Adds a member to the problem body.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        if let Ok(v) = serde_json::to_value(value) {
            self.extra.insert(key.to_owned(), v);
        }
        self
    }

    /// Sets `Retry-After`.
    #[must_use]
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// `422 validation_failed` listing the fields.
    pub fn validation(fields: Vec<FieldError>) -> Self {
        let detail = match fields.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "The request is invalid",
            detail,
        )
        .with("fields", fields)
    }

    /// `404 not_found`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found", detail)
    }

    /// `409` with a domain code.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            code,
            "The request conflicts with the current state",
            detail,
        )
    }

    /// `503 unavailable`: a dependency is down; try again.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service temporarily unavailable",
            detail,
        )
        .retry_after(1)
    }

    /// A database failure: `503 unavailable` (with `Retry-After`) when it is worth a retry (the
    /// database unreachable, the pool exhausted, a deadlock, a cancelled statement, see
    /// [`crate::db::is_transient`]), else `500 internal`.
    pub fn database(context: &str, e: &sqlx::Error) -> Self {
        if crate::db::is_transient(e) {
            tracing::warn!(error = %e, context, "database unavailable");
            Self::unavailable("the database is unavailable; retry")
        } else {
            Self::internal(context, e)
        }
    }

    /// `500 internal`: logs the cause chain once, answers a generic body.
    pub fn internal(context: &str, err: &(dyn std::error::Error + 'static)) -> Self {
        crate::telemetry::log_error_chain(context, err);
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "an unexpected error occurred; it has been logged",
        )
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing | AuthError::Invalid(_) | AuthError::UnknownKey => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
                e.to_string(),
            ),
            AuthError::SecondFactorRequired => Self::new(
                StatusCode::UNAUTHORIZED,
                "mfa_required",
                "Second factor required",
                e.to_string(),
            ),
            AuthError::InsufficientScope { needed } => Self::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "Insufficient scope",
                e.to_string(),
            )
            .with("required_scope", needed),
            AuthError::RoleNotAllowed { needed, .. } => Self::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "Insufficient scope",
                e.to_string(),
            )
            .with("required_scope", needed),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::Map::new();
        body.insert(
            "type".into(),
            format!("urn:freshline:problem:{}", self.code).into(),
        );
        body.insert("title".into(), self.title.into());
        body.insert("status".into(), self.status.as_u16().into());
        body.insert("detail".into(), self.detail.into());
        body.insert("code".into(), self.code.into());
        body.extend(self.extra);
        let mut response =
            (self.status, serde_json::Value::Object(body).to_string()).into_response();
        response.extensions_mut().insert(ProblemCode(self.code));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"freshline\""),
            );
        }
        response
    }
}

/// A JSON body: `415` unless `Content-Type` is JSON, `413` over the body limit, `400` for
/// malformed JSON, `422 validation_failed` naming the field for wrong types, missing fields,
/// unknown fields and unknown enum values. An empty body reads as `{}`, so commands whose
/// fields are all optional can be sent with no body.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = json_content_type(req.headers());
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "Request body too large",
                        rejection.body_text(),
                    )
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        "Unreadable request body",
                        rejection.body_text(),
                    )
                }
            })?;
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        let bytes: &[u8] = if first.is_none() {
            b"{}"
        } else if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "send the body as application/json",
            ));
        } else if first != Some(&b'{') && first.is_some_and(|b| b"[\"-0123456789tfn".contains(b)) {
            return Err(ApiError::validation(vec![FieldError::new(
                "body",
                "must be a JSON object",
            )]));
        } else {
            &bytes
        };
        parse_json(bytes).map(ValidJson)
    }
}

fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(|mime| {
            mime.eq_ignore_ascii_case("application/json")
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

/// Parses JSON with the path of the first offending field.
///
/// # Errors
/// `400 malformed_json` for syntax errors, `422 validation_failed` for data errors and for a
/// NUL character (`\u0000`) anywhere: no field takes one, and the event store (`jsonb`)
/// cannot hold one.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_nul_escape(bytes) {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "text must not contain the NUL character (\\u0000)",
        )]));
    }
    let malformed = |e: &serde_json::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "Malformed JSON",
            e.to_string(),
        )
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => {
            de.end().map_err(|e| malformed(&e))?;
            Ok(v)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.classify() == serde_json::error::Category::Data {
                let message = strip_position(&inner.to_string());
                Err(ApiError::validation(vec![FieldError::new(
                    field_of(&path, &message),
                    message,
                )]))
            } else {
                Err(malformed(&inner))
            }
        }
    }
}

/// The field a data error is about: its path, or for a missing field the path of that field.
fn field_of(path: &str, message: &str) -> String {
    // serde_path_to_error already puts an unknown field in the path; a missing one is reported
    // at its parent.
    let named = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => "body".to_owned(),
        (p, Some(name)) => format!("{p}.{name}"),
        (p, None) => p.to_owned(),
    }
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The outcome of authentication, put in request extensions by [`authenticate`].
#[derive(Debug, Clone)]
pub struct Authenticated(pub Result<Principal, Arc<AuthError>>);

/// Middleware: verifies the bearer token once per request and records the outcome; the
/// [`Principal`] extractor then answers 401 when it failed.
pub async fn authenticate(
    axum::extract::State(verifier): axum::extract::State<Arc<Verifier>>,
    mut request: Request,
    next: Next,
) -> Response {
    let outcome = match bearer(request.headers()) {
        None => Err(Arc::new(AuthError::Missing)),
        Some(token) => verifier.verify_refreshing(token).await.map_err(Arc::new),
    };
    request.extensions_mut().insert(Authenticated(outcome));
    next.run(request).await
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        match parts.extensions.get::<Authenticated>() {
            Some(Authenticated(Ok(p))) => Ok(p.clone()),
            Some(Authenticated(Err(e))) => Err(match e.as_ref() {
                AuthError::Missing => AuthError::Missing,
                AuthError::Invalid(m) => AuthError::Invalid(m.clone()),
                AuthError::UnknownKey => AuthError::UnknownKey,
                AuthError::SecondFactorRequired => AuthError::SecondFactorRequired,
                AuthError::InsufficientScope { needed } => AuthError::InsufficientScope { needed },
                AuthError::RoleNotAllowed { role, needed } => AuthError::RoleNotAllowed {
                    role: *role,
                    needed,
                },
            }
            .into()),
            None => Err(AuthError::Missing.into()),
        }
    }
}

/// What a route requires: a scope, and for people one of some roles.
#[derive(Debug, Clone, Copy)]
pub struct Requirement {
    /// The scope the token must grant.
    pub scope: &'static str,
    /// The roles a person must have (services are governed by their scopes).
    pub roles: &'static [crate::auth::Role],
    /// Whether a person's token must show a second factor (sensitive operations).
    pub second_factor: bool,
    /// Whether a caller without any token is admitted (the public catalog); a token, when
    /// given, must still be valid and allowed.
    pub public: bool,
}

impl Requirement {
    /// A route needing `scope`, open to people of `roles`.
    pub const fn new(scope: &'static str, roles: &'static [crate::auth::Role]) -> Self {
        Self {
            scope,
            roles,
            second_factor: false,
            public: false,
        }
    }

    /// The same, also open to callers without a token.
    #[must_use]
    pub const fn public(mut self) -> Self {
        self.public = true;
        self
    }

    /// The same, for a sensitive operation when `on`: a person must show a second factor.
    #[must_use]
    pub const fn sensitive(mut self, on: bool) -> Self {
        self.second_factor = on;
        self
    }
}

/// Route middleware: checks the [`Requirement`] before the handler reads the body, so a caller
/// without the scope gets `403` whatever it sent (and `401` without a valid token).
pub async fn require(
    axum::extract::State(req): axum::extract::State<Requirement>,
    request: Request,
    next: Next,
) -> Response {
    let outcome = match request.extensions().get::<Authenticated>() {
        Some(Authenticated(Ok(p))) => p
            .authorize(req.scope, req.roles)
            .and_then(|()| {
                if req.second_factor {
                    p.require_second_factor()
                } else {
                    Ok(())
                }
            })
            .map_err(ApiError::from),
        Some(Authenticated(Err(e))) if req.public && matches!(e.as_ref(), AuthError::Missing) => {
            Ok(())
        }
        None if req.public => Ok(()),
        Some(Authenticated(Err(e))) => Err(ApiError::from(match e.as_ref() {
            AuthError::Invalid(m) => AuthError::Invalid(m.clone()),
            AuthError::UnknownKey => AuthError::UnknownKey,
            _ => AuthError::Missing,
        })),
        None => Err(ApiError::from(AuthError::Missing)),
    };
    match outcome {
        Ok(()) => next.run(request).await,
        Err(problem) => problem.into_response(),
    }
}

/// The correlation id of a request: the caller's `X-Correlation-Id` when it is a sane token
/// (1-128 of `A-Z a-z 0-9 - _ . :`), else a new UUIDv7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationId(pub String);

/// Middleware: makes sure every request has a correlation id and echoes it on the response.
pub async fn correlate(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    request.extensions_mut().insert(CorrelationId(id.clone()));
    // The route template, never the raw path (which carries ids); no personal data.
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", axum::extract::MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!(
        "request",
        correlation_id = %id,
        %method,
        %route,
        status = tracing::field::Empty,
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
    );
    let mut response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    span.record("status", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(CORRELATION_HEADER, v);
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for CorrelationId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CorrelationId>()
            .cloned()
            .unwrap_or_else(|| CorrelationId(uuid::Uuid::now_v7().to_string())))
    }
}

/// Whether JSON text holds the escape `\u0000` (not the six characters `\\u0000`).
fn has_nul_escape(json: &[u8]) -> bool {
    json.windows(6).enumerate().any(|(i, w)| {
        w.eq_ignore_ascii_case(b"\\u0000")
            && json[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    })
}

/// Refuses a query string whose parameters carry a control character (`%00` to `%1F`, `%7F`,
/// or one sent raw) with `422 validation_failed` naming the parameter: no filter needs one,
/// and PostgreSQL refuses a NUL in any text.
pub async fn refuse_control_characters(request: Request, next: Next) -> Response {
    let bad = request.uri().query().and_then(|query| {
        query.split('&').find_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_decoded(value);
            decoded
                .iter()
                .any(|b| *b < 0x20 || *b == 0x7F)
                .then(|| String::from_utf8_lossy(&percent_decoded(name)).into_owned())
        })
    });
    match bad {
        Some(name) => ApiError::validation(vec![FieldError::new(
            name,
            "must not contain control characters",
        )])
        .into_response(),
        None => next.run(request).await,
    }
}

/// The bytes of a form-urlencoded value (`+` is a space, `%XX` a byte; a stray `%` stays).
fn percent_decoded(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// `404 route_not_found` for unknown routes: a code of its own, so a client never takes a
/// wrong path for "that thing does not exist" (`not_found`).
pub async fn not_found_fallback() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "Not found",
        "no such route",
    )
}

/// `405 method_not_allowed` for known routes with another method.
pub async fn method_not_allowed_fallback() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        "this route does not accept that method",
    )
}

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// The answer of `GET /readyz` given named dependency checks.
pub fn readiness(checks: &[(&str, bool)]) -> Response {
    let ready = checks.iter().all(|(_, ok)| *ok);
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": checks.iter().map(|(n, ok)| (n.to_string(), serde_json::Value::from(if *ok { "ok" } else { "down" }))).collect::<serde_json::Map<_, _>>(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

pub use schemas::api::whole;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded_to_bytes() {
        assert_eq!(percent_decoded("a+b%20c"), b"a b c");
        assert_eq!(percent_decoded("%00%1f%7F"), [0, 0x1f, 0x7f]);
        assert_eq!(percent_decoded("100%"), b"100%");
        assert_eq!(percent_decoded("%zz%4"), b"%zz%4");
    }

    #[test]
    fn a_nul_escape_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(has_nul_escape(br#"{"a": "x\u0000"}"#));
        assert!(has_nul_escape(br#"{"a": "\\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a": "\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a": "u0000"}"#));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn data_errors_name_the_field_and_syntax_errors_are_malformed_json() {
        let e = parse_json::<Body>(br#"{"name": "x", "inner": {"count": "many"}}"#)
            .expect_err("wrong type");
        assert_eq!(e.code, "validation_failed");
        assert_eq!(e.extra["fields"][0]["field"], "inner.count");

        let e = parse_json::<Body>(br#"{"name": "x"}"#).expect_err("missing");
        assert_eq!(e.extra["fields"][0]["field"], "inner");
        let e = parse_json::<Body>(br#"{"name": "x", "inner": {}}"#).expect_err("missing");
        assert_eq!(e.extra["fields"][0]["field"], "inner.count");

        let e = parse_json::<Body>(br#"{"name": "x", "inner": {"count": 1}, "x": 1}"#)
            .expect_err("unknown field");
        assert_eq!(e.extra["fields"][0]["field"], "x");

        let e = parse_json::<Body>(br#"{"name": "#).expect_err("syntax");
        assert_eq!(e.code, "malformed_json");
        let e = parse_json::<Body>(br#"{"name": "x", "inner": {"count": 1}} trailing"#)
            .expect_err("trailing");
        assert_eq!(e.code, "malformed_json");
    }
}
