//! Simulated SMS and push providers (`freshline-sim messaging`): the HTTP APIs the notifier's
//! ports call (`sagas::notifier::channels`), keeping every accepted message so tests and
//! people can read them (`GET /v1/messages?to=`, `GET /v1/sent?token=`). A request repeated
//! with the same `Idempotency-Key` is one message, as at a real provider. In memory: a
//! restart forgets what was sent (what a provider's test mode does too).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use sagas::notifier::channels::{ProviderAccepted, PushRequest, SmsRequest};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A message the simulated providers accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accepted {
    /// The provider's id.
    pub id: String,
    /// `sms` or `push`.
    pub channel: String,
    /// The phone number or the device token.
    pub to: String,
    /// The title (push only).
    pub title: Option<String>,
    /// The text.
    pub body: String,
    /// The request's `Idempotency-Key`.
    pub key: Option<String>,
    /// When it was accepted.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Inbox {
    messages: Vec<Accepted>,
    by_key: HashMap<String, String>,
}

/// The providers' state.
#[derive(Debug, Clone)]
pub struct Messaging {
    inbox: Arc<Mutex<Inbox>>,
    registry: prometheus::Registry,
    accepted: prometheus::IntCounterVec,
}

impl Messaging {
    /// Empty inboxes, and their metric (`freshline_messaging_accepted_total{channel}`).
    ///
    /// # Errors
    /// When the metric cannot be made.
    pub fn new() -> Result<Self, platform::metrics::MetricsError> {
        let registry = prometheus::Registry::new();
        let accepted = platform::metrics::register(
            &registry,
            prometheus::IntCounterVec::new(
                prometheus::Opts::new(
                    "freshline_messaging_accepted_total",
                    "Messages the simulated providers accepted, by channel",
                ),
                &["channel"],
            )?,
        )?;
        for channel in ["sms", "push"] {
            accepted.with_label_values(&[channel]);
        }
        Ok(Self {
            inbox: Arc::default(),
            registry,
            accepted,
        })
    }
}

fn problem(status: StatusCode, detail: &str) -> (StatusCode, Json<serde_json::Value>) {
    (
        status,
        Json(serde_json::json!({"status": status.as_u16(), "detail": detail})),
    )
}

type Answer = Result<(StatusCode, Json<ProviderAccepted>), (StatusCode, Json<serde_json::Value>)>;

impl Messaging {
    fn accept(
        &self,
        headers: &HeaderMap,
        channel: &str,
        to: String,
        title: Option<String>,
        body: String,
    ) -> Answer {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut inbox = self
            .inbox
            .lock()
            .map_err(|_| problem(StatusCode::INTERNAL_SERVER_ERROR, "inbox poisoned"))?;
        if let Some(id) = key.as_ref().and_then(|k| inbox.by_key.get(k)) {
            return Ok((StatusCode::OK, Json(ProviderAccepted { id: id.clone() })));
        }
        let id = format!("{channel}-{}", uuid::Uuid::now_v7().simple());
        if let Some(k) = &key {
            inbox.by_key.insert(k.clone(), id.clone());
        }
        self.accepted.with_label_values(&[channel]).inc();
        inbox.messages.push(Accepted {
            id: id.clone(),
            channel: channel.to_owned(),
            to,
            title,
            body,
            key,
            at: Utc::now(),
        });
        Ok((StatusCode::CREATED, Json(ProviderAccepted { id })))
    }

    /// Every message accepted on `channel` to `to` (all when `to` is none), oldest first.
    pub fn sent(&self, channel: &str, to: Option<&str>) -> Vec<Accepted> {
        self.inbox
            .lock()
            .map(|i| {
                i.messages
                    .iter()
                    .filter(|m| m.channel == channel && to.is_none_or(|t| m.to == t))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

async fn sms(
    State(m): State<Messaging>,
    headers: HeaderMap,
    Json(request): Json<SmsRequest>,
) -> Answer {
    let digits = request.to.strip_prefix('+').unwrap_or("");
    if digits.len() < 8 || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "`to` must be an E.164 number",
        ));
    }
    if request.body.is_empty() || request.body.chars().count() > 480 {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "`body`: 1 to 480 characters",
        ));
    }
    m.accept(&headers, "sms", request.to, None, request.body)
}

async fn push(
    State(m): State<Messaging>,
    headers: HeaderMap,
    Json(request): Json<PushRequest>,
) -> Answer {
    if request.token.trim().is_empty() {
        return Err(problem(StatusCode::BAD_REQUEST, "`token` is empty"));
    }
    m.accept(
        &headers,
        "push",
        request.token,
        Some(request.title),
        request.body,
    )
}

/// `?to=` for SMS, `?token=` for push.
#[derive(Debug, Deserialize)]
struct Filter {
    to: Option<String>,
    token: Option<String>,
}

async fn sms_sent(State(m): State<Messaging>, Query(f): Query<Filter>) -> Json<Vec<Accepted>> {
    Json(m.sent("sms", f.to.as_deref()))
}

async fn push_sent(State(m): State<Messaging>, Query(f): Query<Filter>) -> Json<Vec<Accepted>> {
    Json(m.sent("push", f.token.as_deref()))
}

/// The providers' routes: the SMS API under `/sms`, the push API under `/push`.
pub fn router(m: Messaging) -> Router {
    Router::new()
        .route("/sms/v1/messages", post(sms).get(sms_sent))
        .route("/push/v1/send", post(push))
        .route("/push/v1/sent", get(push_sent))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(|State(m): State<Messaging>| async move { platform::metrics::render(&m.registry) }),
        )
        .with_state(m)
}
