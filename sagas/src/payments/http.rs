//! [`HttpCardGateway`]: the [`PaymentGateway`] port over HTTP/JSON, spoken by the simulated
//! card gateway (and shaped like a provider's REST API): every POST carries `Idempotency-Key`;
//! `2xx` is approved, `402` declined, `408`/`429`/`5xx` and network failures are transient,
//! any other `4xx` is a contract rejection.

use super::wire::{AmountBody, Answer, AuthorizeBody, VoidBody};
use super::{AuthorizeRequest, GatewayError, GatewayOutcome, PaymentGateway};
use async_trait::async_trait;
use serde::Serialize;
use std::time::Duration;

/// Where the gateway is and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCardGatewayConfig {
    /// Base URL (`http://127.0.0.1:8090`).
    pub base_url: String,
    /// The whole request's deadline; past it the call is [`GatewayError::Transient`].
    pub timeout: Duration,
}

impl Default for HttpCardGatewayConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8090".to_owned(),
            timeout: Duration::from_secs(5),
        }
    }
}

impl HttpCardGatewayConfig {
    /// From `FRESHLINE_CARD_GATEWAY_URL` and `FRESHLINE_CARD_GATEWAY_TIMEOUT_MS` (defaults:
    /// the local simulator, 5000 ms).
    ///
    /// # Errors
    /// When the timeout is not a number of milliseconds.
    pub fn from_settings() -> Result<Self, platform::config::ConfigError> {
        let default = Self::default();
        Ok(Self {
            base_url: platform::config::string("FRESHLINE_CARD_GATEWAY_URL", &default.base_url),
            timeout: Duration::from_millis(platform::config::parse(
                "FRESHLINE_CARD_GATEWAY_TIMEOUT_MS",
                5000u64,
            )?),
        })
    }
}

/// A card gateway reached over HTTP.
#[derive(Debug, Clone)]
pub struct HttpCardGateway {
    http: reqwest::Client,
    base: String,
}

impl HttpCardGateway {
    /// A client of the gateway described by `cfg`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(cfg: &HttpCardGatewayConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(cfg.timeout)
                .connect_timeout(cfg.timeout.min(Duration::from_secs(2)))
                .build()?,
            base: cfg.base_url.trim_end_matches('/').to_owned(),
        })
    }

    async fn post(
        &self,
        path: &str,
        idempotency_key: &str,
        body: &impl Serialize,
    ) -> Result<GatewayOutcome, GatewayError> {
        check_key(idempotency_key)?;
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("idempotency-key", idempotency_key)
            .json(body)
            .send()
            .await
            .map_err(|e| GatewayError::Transient(describe(&e)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| GatewayError::Transient(describe(&e)))?;
        let answer: Answer = serde_json::from_str(&text).unwrap_or_default();
        match status {
            200..=299 => match answer.reference {
                Some(reference) => Ok(GatewayOutcome::Approved { reference }),
                None => Err(GatewayError::Transient(format!(
                    "{status} without a reference: {}",
                    excerpt(&text)
                ))),
            },
            402 => Ok(GatewayOutcome::Declined {
                code: answer.code.unwrap_or_else(|| "declined".to_owned()),
                reason: answer.reason.or(answer.detail).unwrap_or_default(),
            }),
            408 | 429 | 500..=599 => Err(GatewayError::Transient(format!(
                "{status}: {}",
                excerpt(&text)
            ))),
            409 if answer.code.as_deref() == Some("idempotency_in_progress") => Err(
                GatewayError::Transient("the same key is still being processed".to_owned()),
            ),
            _ => Err(GatewayError::Rejected {
                code: answer.code.unwrap_or_else(|| format!("http_{status}")),
                reason: answer.detail.unwrap_or_else(|| excerpt(&text)),
            }),
        }
    }
}

#[async_trait]
impl PaymentGateway for HttpCardGateway {
    async fn authorize(&self, req: AuthorizeRequest) -> Result<GatewayOutcome, GatewayError> {
        let body = AuthorizeBody {
            payment_id: req.payment_id,
            card_token: req.card_token,
            amount_minor: req.amount_minor,
            currency: req.currency,
        };
        self.post("/v1/authorizations", &req.idempotency_key, &body)
            .await
    }

    async fn capture(
        &self,
        idempotency_key: &str,
        authorization_ref: &str,
        amount_minor: i64,
    ) -> Result<GatewayOutcome, GatewayError> {
        check_reference(authorization_ref)?;
        self.post(
            &format!("/v1/authorizations/{authorization_ref}/capture"),
            idempotency_key,
            &AmountBody { amount_minor },
        )
        .await
    }

    async fn void(
        &self,
        idempotency_key: &str,
        authorization_ref: &str,
    ) -> Result<GatewayOutcome, GatewayError> {
        check_reference(authorization_ref)?;
        self.post(
            &format!("/v1/authorizations/{authorization_ref}/void"),
            idempotency_key,
            &VoidBody {},
        )
        .await
    }

    async fn refund(
        &self,
        idempotency_key: &str,
        capture_ref: &str,
        amount_minor: i64,
    ) -> Result<GatewayOutcome, GatewayError> {
        check_reference(capture_ref)?;
        self.post(
            &format!("/v1/captures/{capture_ref}/refunds"),
            idempotency_key,
            &AmountBody { amount_minor },
        )
        .await
    }
}

/// A reference goes into a URL path: only the characters gateways use in them.
fn check_reference(reference: &str) -> Result<(), GatewayError> {
    if (1..=64).contains(&reference.len())
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err(GatewayError::Rejected {
            code: "invalid_reference".to_owned(),
            reason: "a gateway reference is 1 to 64 of A-Z a-z 0-9 _ -".to_owned(),
        })
    }
}

fn check_key(key: &str) -> Result<(), GatewayError> {
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(GatewayError::Rejected {
            code: "invalid_idempotency_key".to_owned(),
            reason: "an idempotency key is 1 to 255 visible ASCII characters".to_owned(),
        })
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer in time: {e}")
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(300).collect()
}
