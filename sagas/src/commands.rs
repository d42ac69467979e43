//! How sagas act: commands to command-api over HTTP with the `sagas` service token, each with a
//! deterministic `Idempotency-Key`. An answer is one of three things, and callers branch on
//! them differently (STYLE 9): done, refused by the domain (compensate or give up), or a
//! transient failure (try again later).

use platform::auth::{self, Actor, Signer};
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a command came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted (2xx), with the answer's body.
    Done(Value),
    /// Refused by the domain or the contract (4xx other than 408/429): final.
    Refused {
        /// HTTP status.
        status: u16,
        /// The problem's `code`.
        code: String,
        /// The whole problem.
        problem: Value,
    },
}

/// A failure worth retrying: the network, a timeout, 408, 429 or 5xx.
#[derive(Debug, thiserror::Error)]
#[error("transient: {0}")]
pub struct Transient(pub String);

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
    fn token(&self) -> Result<String, Transient> {
        match self {
            Self::Fixed(t) => Ok(t.clone()),
            Self::Minted {
                service,
                signer,
                issuer,
                current,
            } => {
                let mut guard = current
                    .lock()
                    .map_err(|_| Transient("token cache poisoned".into()))?;
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
                    .map_err(|e| Transient(format!("minting a token: {e}")))?;
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
        })
    }

    /// Sends `body` to `path` with `idempotency_key` and `correlation_id`.
    ///
    /// # Errors
    /// [`Transient`] when it is worth trying again.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        idempotency_key: &str,
        correlation_id: Option<&str>,
    ) -> Result<Outcome, Transient> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token.token()?)
            .header("idempotency-key", idempotency_key)
            .json(body);
        if let Some(c) = correlation_id {
            req = req.header("x-correlation-id", c);
        }
        let r = req.send().await.map_err(|e| Transient(e.to_string()))?;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        match status {
            200..=299 => Ok(Outcome::Done(body)),
            408 | 429 | 500..=599 => Err(Transient(format!("{status}: {body}"))),
            // Lost a race with another writer of the same aggregate (the same command again
            // is decided on the fresh state), or the first attempt under this key is still
            // running (a retry after a crash): both are worth trying again.
            409 if body["code"] == "concurrent_modification"
                || body["code"] == "idempotency_in_progress" =>
            {
                Err(Transient(format!("{status}: {body}")))
            }
            _ => Ok(Outcome::Refused {
                status,
                code: body["code"].as_str().unwrap_or_default().to_owned(),
                problem: body,
            }),
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

/// The command client of a saga binary, from its settings: `FRESHLINE_COMMAND_API_URL`, and
/// `FRESHLINE_SERVICE_TOKEN` or else a `sagas` service token minted with the key at
/// `FRESHLINE_SIGNING_KEY` (local development).
///
/// # Errors
/// When neither a token nor a readable signing key is given.
pub fn client_from_settings() -> anyhow::Result<CommandClient> {
    client_for_service("sagas", "FRESHLINE_SERVICE_TOKEN")
}

/// A command client acting as `service`: the token in the variable `token_var`, or else one
/// minted for `service` (with its default scopes) with the key at `FRESHLINE_SIGNING_KEY`.
///
/// # Errors
/// When neither a token nor a readable signing key is given.
pub fn client_for_service(service: &str, token_var: &str) -> anyhow::Result<CommandClient> {
    use anyhow::Context;
    use platform::config::{self, defaults};
    let token = match config::string(token_var, "") {
        t if !t.is_empty() => TokenSource::Fixed(t),
        _ => {
            let key = config::string("FRESHLINE_SIGNING_KEY", defaults::SIGNING_KEY_PATH);
            let pem = std::fs::read_to_string(&key)
                .with_context(|| format!("reading {key} (or set {token_var})"))?;
            let kid = std::fs::read_to_string(std::path::Path::new(&key).with_extension("kid"))?;
            TokenSource::Minted {
                service: service.to_owned(),
                signer: Signer::from_pem(kid.trim(), &pem)?,
                issuer: config::string("FRESHLINE_AUTH_ISSUER", defaults::ISSUER),
                current: Mutex::new(None),
            }
        }
    };
    Ok(CommandClient::new(
        &config::string("FRESHLINE_COMMAND_API_URL", "http://127.0.0.1:8080"),
        token,
    )?)
}
