//! How sagas act: commands to command-api over HTTP with the service's own token, each with a
//! deterministic `Idempotency-Key`, its flow's correlation id and the id of the event that
//! caused it. An answer is one of three things, and callers branch on them differently
//! (STYLE 9):
//!
//! - **done** (2xx);
//! - **refused by the domain**: a `404`/`409` problem whose `code` is one the caller said it
//!   knows for this call (`insufficient_stock` for a reservation, ...): the caller's "no"
//!   branch (compensate, plan again, give up);
//! - **failed** ([`CallError`]): *transient* (the network, a timeout, 408, 429, 5xx, a lost
//!   race) or a *fault* (401/403: a token or scope problem; 404/405/415: a route that is not
//!   there; 422: a request the saga built wrongly; any code the caller does not know). Both are
//!   retried with backoff and never taken for a "no": a misconfiguration must not cancel
//!   orders or drop refunds. Faults are counted, logged and reported by `/readyz`.

use platform::auth::{self, Actor, Signer};
use schemas::api::Call;
use serde::Serialize;
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a command came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted (2xx), with the answer's body.
    Done(Value),
    /// Refused by the domain with a code the caller knows for this call: final.
    Refused {
        /// HTTP status (404 or 409).
        status: u16,
        /// The problem's `code`.
        code: String,
        /// The whole problem.
        problem: Value,
    },
}

/// Why a command did not come to an [`Outcome`]: try again later either way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The network, a timeout, 408, 429, 5xx, a lost race.
    #[error("transient: {0}")]
    Transient(String),
    /// An answer the caller has no branch for: a token or scope problem, a missing route, a
    /// request built wrongly, an unknown code. A defect or a misconfiguration, never a "no".
    #[error("fault: {0}")]
    Fault(String),
}

/// A failure worth retrying (kept for callers that only tell transient from done).
#[derive(Debug, thiserror::Error)]
#[error("transient: {0}")]
pub struct Transient(pub String);

impl From<CallError> for Transient {
    fn from(e: CallError) -> Self {
        Self(e.to_string())
    }
}

/// Why a command is sent: the flow it belongs to and the event that caused it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cause<'a> {
    /// The flow's correlation id (`X-Correlation-Id`).
    pub correlation_id: Option<&'a str>,
    /// The event that caused the command (`X-Causation-Id`); recorded as `causation_id` on
    /// the events it appends.
    pub event_id: Option<uuid::Uuid>,
}

impl<'a> Cause<'a> {
    /// Caused by `event_id`, in the flow `correlation_id`.
    pub fn new(correlation_id: Option<&'a str>, event_id: Option<uuid::Uuid>) -> Self {
        Self {
            correlation_id,
            event_id,
        }
    }
}

/// How long before a token's expiry it is no longer sent (clocks drift).
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// `exp` of a JWT (read, not verified: the sender only needs to know when to stop using it).
fn token_expiry(token: &str) -> Option<i64> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<Value>(&bytes).ok()?["exp"].as_i64()
}

/// Where the service token comes from.
#[derive(Debug)]
pub enum TokenSource {
    /// A token given by the platform (e.g. from the identity provider), used as is.
    Fixed(String),
    /// Minted locally with a signing key (development, tests), renewed before it expires.
    Minted {
        /// The service identity (`sagas`, `delivery`, ...) with its default scopes.
        service: String,
        /// The key.
        signer: Signer,
        /// Issuer.
        issuer: String,
        /// The current token and when to renew it.
        current: Mutex<Option<(String, Instant)>>,
    },
}

impl TokenSource {
    /// Tokens for `service` (with its default scopes) signed by `signer` as `issuer`.
    pub fn minted(service: &str, signer: Signer, issuer: &str) -> Self {
        Self::Minted {
            service: service.to_owned(),
            signer,
            issuer: issuer.to_owned(),
            current: Mutex::new(None),
        }
    }

    fn token(&self) -> Result<String, CallError> {
        match self {
            Self::Fixed(t) => {
                // An expired token is reported, not sent: every answer to it would be a 401.
                if let Some(exp) = token_expiry(t) {
                    let margin = i64::try_from(EXPIRY_MARGIN.as_secs()).unwrap_or(30);
                    if exp - margin <= chrono::Utc::now().timestamp() {
                        return Err(CallError::Fault(format!(
                            "the service token expired (exp {exp}); give the service a new one"
                        )));
                    }
                }
                Ok(t.clone())
            }
            Self::Minted {
                service,
                signer,
                issuer,
                current,
            } => {
                let mut guard = current
                    .lock()
                    .map_err(|_| CallError::Transient("token cache poisoned".into()))?;
                if let Some((t, renew_at)) = guard.as_ref() {
                    if Instant::now() < *renew_at {
                        return Ok(t.clone());
                    }
                }
                let claims = auth::claims(
                    &format!("svc-{service}"),
                    &Actor::Service(service.clone()),
                    auth::service_default_scopes(service),
                    3600,
                    issuer,
                );
                let t = signer
                    .sign(&claims)
                    .map_err(|e| CallError::Fault(format!("minting a token: {e}")))?;
                *guard = Some((t.clone(), Instant::now() + Duration::from_secs(1800)));
                Ok(t)
            }
        }
    }
}

/// A client of command-api.
#[derive(Debug)]
pub struct CommandClient {
    http: reqwest::Client,
    base: String,
    token: TokenSource,
    /// The last fault and when, until an answer comes back done or refused (shared with the
    /// readiness check, see [`CommandClient::readiness_check`]).
    fault: std::sync::Arc<Mutex<Option<(Instant, String)>>>,
}

impl CommandClient {
    /// A client of the command API at `base` (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(base: &str, token: TokenSource) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
            token,
            fault: std::sync::Arc::new(Mutex::new(None)),
        })
    }

    /// A `/readyz` check named `name`: ready while command-api's last answer to this
    /// client was not a fault (an expired token, a missing scope or route, ...); a fault is
    /// retried, never taken for a "no", and reported here until an answer goes through.
    pub fn readiness_check(&self, name: &'static str) -> (&'static str, platform::ops::Check) {
        let fault = self.fault.clone();
        (
            name,
            std::sync::Arc::new(move || {
                let last = fault.lock().ok().and_then(|f| f.clone());
                Box::pin(async move {
                    if let Some((_, why)) = &last {
                        tracing::warn!(fault = %why, "not ready: command-api answers with a fault");
                    }
                    last.is_none()
                })
            }),
        )
    }

    /// Whether the last answer was not a fault (for `/readyz`): `Err` says what is wrong.
    ///
    /// # Errors
    /// The last fault, while no answer since was done or refused.
    pub fn health(&self) -> Result<(), String> {
        match self.fault.lock().map(|f| f.clone()) {
            Ok(Some((_, why))) => Err(why),
            _ => Ok(()),
        }
    }

    fn note(&self, fault: Option<&str>) {
        if let Ok(mut f) = self.fault.lock() {
            *f = fault.map(|why| (Instant::now(), why.to_owned()));
        }
    }

    /// Sends `call` (a route of [`schemas::api::calls`] with its typed body) with
    /// `idempotency_key` and `cause`; `refusals` are the problem codes this call has a branch
    /// for (see the module documentation).
    ///
    /// # Errors
    /// [`CallError`]: transient, or a fault; both are worth trying again later.
    pub async fn send<B: Serialize>(
        &self,
        call: &Call<B>,
        idempotency_key: &str,
        cause: Cause<'_>,
        refusals: &[&str],
    ) -> Result<Outcome, CallError> {
        let out = self.request(call, idempotency_key, cause, refusals).await;
        match &out {
            Err(CallError::Fault(why)) => {
                let path = call.path.as_str();
                tracing::error!(path, fault = %why, "command answered with a fault; retrying later");
                self.note(Some(&format!("{path}: {why}")));
            }
            Ok(_) => self.note(None),
            Err(CallError::Transient(_)) => {}
        }
        out
    }

    async fn request<B: Serialize>(
        &self,
        call: &Call<B>,
        idempotency_key: &str,
        cause: Cause<'_>,
        refusals: &[&str],
    ) -> Result<Outcome, CallError> {
        let url = format!("{}{}", self.base, call.path);
        let method = reqwest::Method::from(call.method);
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(self.token.token()?)
            .header("idempotency-key", idempotency_key)
            .json(&call.body);
        if let Some(c) = cause.correlation_id {
            req = req.header(platform::http::CORRELATION_HEADER, c);
        }
        if let Some(e) = cause.event_id {
            req = req.header(platform::http::CAUSATION_HEADER, e.to_string());
        }
        let r = req
            .send()
            .await
            .map_err(|e| CallError::Transient(e.to_string()))?;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let code = body["code"].as_str().unwrap_or_default().to_owned();
        match status {
            200..=299 => Ok(Outcome::Done(body)),
            408 | 429 | 500..=599 => Err(CallError::Transient(format!("{status}: {body}"))),
            // Lost a race with another writer of the same aggregate (the same command again
            // is decided on the fresh state), or the first attempt under this key is still
            // running (a retry after a crash): both are worth trying again.
            409 if code == "concurrent_modification" || code == "idempotency_in_progress" => {
                Err(CallError::Transient(format!("{status}: {body}")))
            }
            404 | 409 if refusals.contains(&code.as_str()) => Ok(Outcome::Refused {
                status,
                code,
                problem: body,
            }),
            _ => Err(CallError::Fault(format!("{status} {code}: {body}"))),
        }
    }
}

/// Exponential backoff from 200 ms to 30 s.
#[derive(Debug, Clone, Copy, Default)]
pub struct Backoff(u32);

impl Backoff {
    /// How many waits were handed out.
    pub fn attempts(&self) -> u32 {
        self.0
    }

    /// The next wait.
    pub fn next_delay(&mut self) -> Duration {
        let ms = 200u64.saturating_mul(1 << self.0.min(8)).min(30_000);
        self.0 = self.0.saturating_add(1);
        Duration::from_millis(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn token_expiring_at(exp: i64) -> String {
        let part = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.sig",
            part(serde_json::json!({"alg": "EdDSA"})),
            part(serde_json::json!({"sub": "svc-sagas", "exp": exp}))
        )
    }

    #[tokio::test]
    async fn an_expired_fixed_token_is_a_fault_reported_by_readiness_and_never_sent() {
        // Nothing listens there: a request actually sent would fail as transient instead.
        let client = CommandClient::new(
            "http://127.0.0.1:9",
            TokenSource::Fixed(token_expiring_at(chrono::Utc::now().timestamp() - 60)),
        )
        .expect("client");
        let (name, ready) = client.readiness_check("command-api");
        assert_eq!(name, "command-api");
        assert!(ready().await, "ready before any answer");
        let out = client
            .send(
                &schemas::api::calls::pack_order(uuid::Uuid::nil()),
                "k",
                Cause::default(),
                &[],
            )
            .await;
        assert!(
            matches!(&out, Err(CallError::Fault(f)) if f.contains("expired")),
            "{out:?}"
        );
        assert!(!ready().await, "a fault makes the service not ready");
        assert!(client.health().is_err());
    }

    #[tokio::test]
    async fn a_network_failure_is_transient_and_does_not_touch_readiness() {
        let client = CommandClient::new(
            "http://127.0.0.1:9",
            TokenSource::Fixed(token_expiring_at(chrono::Utc::now().timestamp() + 3600)),
        )
        .expect("client");
        let (_, ready) = client.readiness_check("command-api");
        let out = client
            .send(
                &schemas::api::calls::pack_order(uuid::Uuid::nil()),
                "k",
                Cause::default(),
                &[],
            )
            .await;
        assert!(matches!(out, Err(CallError::Transient(_))), "{out:?}");
        assert!(ready().await);
    }
}
