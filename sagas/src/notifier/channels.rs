//! The channels messages go out on, each behind a port: e-mail (SMTP, in `notifier.rs`), SMS and
//! push, each an HTTP provider API like a real one (Twilio's or FCM's shape: a JSON request, an
//! `Idempotency-Key`, a message id back). The simulated providers (`freshline-sim messaging`)
//! speak exactly these bodies.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// E-mail.
    Email,
    /// SMS to the customer's phone.
    Sms,
    /// Push to the customer's registered devices.
    Push,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Push => "push",
        }
    }

    /// From its stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// `POST {sms}/v1/messages`: one text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsRequest {
    /// The phone number (E.164).
    pub to: String,
    /// The text (at most 480 characters: three segments).
    pub body: String,
}

/// `POST {push}/v1/send`: one notification to one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    /// The device's push token.
    pub token: String,
    /// Title line.
    pub title: String,
    /// Body text.
    pub body: String,
}

/// What a provider answers to an accepted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAccepted {
    /// The provider's id of the message (the same for a request repeated with its key).
    pub id: String,
}

/// Where the SMS and push providers are.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The SMS provider's base URL (`FRESHLINE_SMS_URL`); none: SMS is off.
    pub sms_url: Option<String>,
    /// The push provider's base URL (`FRESHLINE_PUSH_URL`); none: push is off.
    pub push_url: Option<String>,
    /// Deadline of one provider call.
    pub timeout: Duration,
}

/// How a provider call ended.
#[derive(Debug)]
pub enum ProviderOutcome {
    /// Accepted.
    Accepted,
    /// Try again later (timeout, 5xx, 429, unreachable).
    Retry(String),
    /// Refused for good (4xx: a bad number, an unknown token).
    Refused(String),
}

/// The SMS and push ports, over HTTP.
#[derive(Debug, Clone)]
pub struct Providers {
    http: reqwest::Client,
    cfg: ProviderConfig,
}

impl Providers {
    /// A client for the providers in `cfg`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(cfg: ProviderConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder().timeout(cfg.timeout).build()?,
            cfg,
        })
    }

    /// Whether `channel` has a provider configured.
    pub fn enabled(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => true,
            Channel::Sms => self.cfg.sms_url.is_some(),
            Channel::Push => self.cfg.push_url.is_some(),
        }
    }

    /// Sends an SMS; `key` makes a repeated send one message at the provider.
    pub async fn sms(&self, key: &str, request: &SmsRequest) -> ProviderOutcome {
        match &self.cfg.sms_url {
            Some(base) => {
                self.post(&format!("{base}/v1/messages"), key, request)
                    .await
            }
            None => ProviderOutcome::Refused("no SMS provider configured".to_owned()),
        }
    }

    /// Sends a push notification; `key` makes a repeated send one message at the provider.
    pub async fn push(&self, key: &str, request: &PushRequest) -> ProviderOutcome {
        match &self.cfg.push_url {
            Some(base) => self.post(&format!("{base}/v1/send"), key, request).await,
            None => ProviderOutcome::Refused("no push provider configured".to_owned()),
        }
    }

    async fn post<B: Serialize>(&self, url: &str, key: &str, body: &B) -> ProviderOutcome {
        let sent = self
            .http
            .post(url)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await;
        match sent {
            Err(e) => ProviderOutcome::Retry(format!("{url}: {e}")),
            Ok(r) if r.status().is_success() => ProviderOutcome::Accepted,
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                ProviderOutcome::Retry(format!("{url}: HTTP {}", r.status()))
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                ProviderOutcome::Refused(format!("{url}: HTTP {status}: {text}"))
            }
        }
    }
}
