//! The simulated card gateway through `HttpCardGateway`, on port 0 with its own database: each
//! test token, idempotency, the money rules under concurrency, and bad requests.

use sagas::payments::{
    AuthorizeRequest, GatewayError, GatewayOutcome, HttpCardGateway, HttpCardGatewayConfig,
    PaymentGateway,
};
use serde_json::{json, Value};
use simulators::card_gateway::{self, CardGatewayConfig};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use test_support::{database, database_with_url};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

struct Gateway {
    client: HttpCardGateway,
    base: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn gateway_on(pool: PgPool, cfg: CardGatewayConfig, client_timeout: Duration) -> Gateway {
    let shutdown = CancellationToken::new();
    let (addr, _) = card_gateway::start(
        "127.0.0.1:0",
        pool,
        cfg,
        &prometheus::Registry::new(),
        shutdown.clone(),
    )
    .await
    .expect("gateway starts");
    let base = format!("http://{addr}");
    let client = HttpCardGateway::new(&HttpCardGatewayConfig {
        base_url: base.clone(),
        timeout: client_timeout,
    })
    .expect("client");
    Gateway {
        client,
        base,
        http: reqwest::Client::new(),
        shutdown,
    }
}

async fn gateway() -> Gateway {
    gateway_on(
        database().await,
        CardGatewayConfig::default(),
        Duration::from_secs(5),
    )
    .await
}

impl Gateway {
    /// What the gateway holds for a payment (`GET /v1/payments/{id}`).
    async fn holdings(&self, payment_id: Uuid) -> Value {
        let r = self
            .http
            .get(format!("{}/v1/payments/{payment_id}", self.base))
            .send()
            .await
            .expect("gateway answers");
        assert_eq!(r.status(), 200);
        r.json().await.expect("json")
    }

    async fn raw_post(&self, path: &str, key: Option<&str>, body: &str) -> (u16, String, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let r = req.send().await.expect("gateway answers");
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = r.json().await.unwrap_or(Value::Null);
        (status, content_type, body)
    }

    /// An approved authorisation of `amount_minor` EUR cents: (payment id, authorisation ref).
    async fn authorized(&self, amount_minor: i64) -> (Uuid, String) {
        let payment_id = Uuid::now_v7();
        let outcome = self
            .client
            .authorize(request(payment_id, "tok_approved", amount_minor))
            .await
            .expect("authorised");
        (payment_id, approved(outcome))
    }

    /// A captured authorisation: (payment id, capture ref).
    async fn captured(&self, amount_minor: i64) -> (Uuid, String) {
        let (payment_id, auth) = self.authorized(amount_minor).await;
        let outcome = self
            .client
            .capture(&key(), &auth, amount_minor)
            .await
            .expect("captured");
        (payment_id, approved(outcome))
    }
}

fn key() -> String {
    format!("test-{}", Uuid::now_v7())
}

fn request(payment_id: Uuid, token: &str, amount_minor: i64) -> AuthorizeRequest {
    AuthorizeRequest {
        idempotency_key: key(),
        payment_id,
        card_token: token.to_owned(),
        amount_minor,
        currency: "EUR".to_owned(),
    }
}

fn approved(outcome: GatewayOutcome) -> String {
    match outcome {
        GatewayOutcome::Approved { reference } => reference,
        other => panic!("expected approval, got {other:?}"),
    }
}

fn rejected_code(result: Result<GatewayOutcome, GatewayError>) -> String {
    match result {
        Err(GatewayError::Rejected { code, .. }) => code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn an_approved_card_is_authorized_captured_and_partly_refunded() {
    let gw = gateway().await;
    let (payment_id, auth) = gw.authorized(2599).await;
    assert!(auth.starts_with("auth_"), "{auth}");

    let capture = approved(
        gw.client
            .capture(&key(), &auth, 2599)
            .await
            .expect("capture"),
    );
    let refund = approved(
        gw.client
            .refund(&key(), &capture, 599)
            .await
            .expect("refund"),
    );

    assert!(capture.starts_with("cap_") && refund.starts_with("rfd_"));
    let held = gw.holdings(payment_id).await;
    assert_eq!(held["authorizations"][0]["reference"], json!(auth));
    assert_eq!(held["authorizations"][0]["status"], "captured");
    assert_eq!(held["authorizations"][0]["amount_minor"], 2599);
    assert_eq!(held["authorizations"][0]["currency"], "EUR");
    assert_eq!(held["captures"][0]["reference"], json!(capture));
    assert_eq!(held["captures"][0]["amount_minor"], 2599);
    assert_eq!(held["captures"][0]["refunded_minor"], 599);
    assert_eq!(held["refunds"][0]["reference"], json!(refund));
    assert_eq!(held["refunds"][0]["amount_minor"], 599);
}

#[tokio::test]
async fn a_declined_card_is_declined_as_card_declined_and_cannot_be_captured() {
    let gw = gateway().await;
    let payment_id = Uuid::now_v7();

    let outcome = gw
        .client
        .authorize(request(payment_id, "tok_declined", 1000))
        .await
        .expect("an answer");

    let GatewayOutcome::Declined { code, reason } = outcome else {
        panic!("expected a decline, got {outcome:?}");
    };
    assert_eq!(code, "card_declined");
    assert!(!reason.is_empty());
    let held = gw.holdings(payment_id).await;
    assert_eq!(held["authorizations"][0]["status"], "declined");
    assert_eq!(held["authorizations"][0]["decline_code"], "card_declined");
    let auth = held["authorizations"][0]["reference"]
        .as_str()
        .expect("ref");
    assert_eq!(
        rejected_code(gw.client.capture(&key(), auth, 1000).await),
        "authorization_declined"
    );
    assert_eq!(held["captures"], json!([]));
}

#[tokio::test]
async fn an_unknown_token_is_declined_with_402_invalid_token() {
    let gw = gateway().await;

    let outcome = gw
        .client
        .authorize(request(Uuid::now_v7(), "tok_nobody_knows", 1000))
        .await
        .expect("an answer");
    let (status, content_type, body) = gw
        .raw_post(
            "/v1/authorizations",
            Some(&key()),
            &json!({"payment_id": Uuid::now_v7(), "card_token": "tok_whatever", "amount_minor": 5, "currency": "EUR"}).to_string(),
        )
        .await;

    assert!(
        matches!(&outcome, GatewayOutcome::Declined { code, .. } if code == "invalid_token"),
        "{outcome:?}"
    );
    assert_eq!(status, 402);
    assert_eq!(content_type, "application/json");
    assert_eq!(body["status"], "declined");
    assert_eq!(body["code"], "invalid_token");
}

#[tokio::test]
async fn a_timeout_token_is_transient_within_the_client_timeout_and_authorizes_nothing() {
    let gw = gateway_on(
        database().await,
        CardGatewayConfig::default(),
        Duration::from_millis(800),
    )
    .await;
    let payment_id = Uuid::now_v7();

    let started = Instant::now();
    let result = gw
        .client
        .authorize(request(payment_id, "tok_timeout", 1000))
        .await;
    let took = started.elapsed();

    assert!(
        matches!(result, Err(GatewayError::Transient(_))),
        "{result:?}"
    );
    assert!(
        took >= Duration::from_millis(700),
        "gave up early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "not within the timeout: {took:?}"
    );
    let r = gw
        .http
        .get(format!("{}/v1/payments/{payment_id}", gw.base))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 404, "nothing authorised");
}

#[tokio::test]
async fn a_flaky_token_is_transient_twice_then_approved_with_the_same_key() {
    let gw = gateway().await;
    let payment_id = Uuid::now_v7();
    let req = request(payment_id, "tok_flaky", 4200);

    let first = gw.client.authorize(req.clone()).await;
    let second = gw.client.authorize(req.clone()).await;
    let third = gw.client.authorize(req.clone()).await;
    let fourth = gw.client.authorize(req.clone()).await;

    assert!(
        matches!(first, Err(GatewayError::Transient(_))),
        "{first:?}"
    );
    assert!(
        matches!(second, Err(GatewayError::Transient(_))),
        "{second:?}"
    );
    let reference = approved(third.expect("third attempt approved"));
    assert_eq!(approved(fourth.expect("replayed")), reference);
    let held = gw.holdings(payment_id).await;
    assert_eq!(held["authorizations"].as_array().map(Vec::len), Some(1));
    // A new key starts its own count.
    let other = gw
        .client
        .authorize(request(payment_id, "tok_flaky", 4200))
        .await;
    assert!(
        matches!(other, Err(GatewayError::Transient(_))),
        "{other:?}"
    );
}

#[tokio::test]
async fn a_retried_capture_with_the_same_key_charges_once() {
    let gw = gateway().await;
    let (payment_id, auth) = gw.authorized(1500).await;
    let capture_key = key();

    let first = approved(
        gw.client
            .capture(&capture_key, &auth, 1500)
            .await
            .expect("first"),
    );
    let again = approved(
        gw.client
            .capture(&capture_key, &auth, 1500)
            .await
            .expect("again"),
    );
    let (status, _, body) = gw
        .raw_post(
            &format!("/v1/authorizations/{auth}/capture"),
            Some(&capture_key),
            r#"{ "amount_minor" : 1500 }"#,
        )
        .await;

    assert_eq!(first, again, "the stored answer is replayed");
    assert_eq!(status, 201);
    assert_eq!(body["reference"], json!(first));
    let held = gw.holdings(payment_id).await;
    assert_eq!(held["captures"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused_with_422() {
    let gw = gateway().await;
    let (payment_id, auth) = gw.authorized(1500).await;
    let capture_key = key();
    approved(
        gw.client
            .capture(&capture_key, &auth, 1000)
            .await
            .expect("first"),
    );

    let result = gw.client.capture(&capture_key, &auth, 1200).await;
    let (status, content_type, body) = gw
        .raw_post(
            &format!("/v1/authorizations/{auth}/capture"),
            Some(&capture_key),
            r#"{"amount_minor": 1}"#,
        )
        .await;

    assert_eq!(rejected_code(result), "idempotency_key_reused");
    assert_eq!(status, 422);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["code"], "idempotency_key_reused");
    let held = gw.holdings(payment_id).await;
    assert_eq!(held["captures"][0]["amount_minor"], 1000);
}

#[tokio::test]
async fn concurrent_captures_with_different_keys_take_the_money_once() {
    let gw = Arc::new(gateway().await);
    let (payment_id, auth) = gw.authorized(3000).await;

    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let gw = Arc::clone(&gw);
            let auth = auth.clone();
            tokio::spawn(async move { gw.client.capture(&key(), &auth, 3000).await })
        })
        .collect();
    let mut approvals = 0;
    let mut refusals = Vec::new();
    for attempt in attempts {
        match attempt.await.expect("joined") {
            Ok(GatewayOutcome::Approved { .. }) => approvals += 1,
            other => refusals.push(rejected_code(other)),
        }
    }

    assert_eq!(approvals, 1);
    assert_eq!(refusals, vec!["already_captured"; 7]);
    let held = gw.holdings(payment_id).await;
    assert_eq!(held["captures"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn concurrent_duplicates_under_one_key_act_once() {
    let gw = Arc::new(gateway().await);
    let (payment_id, auth) = gw.authorized(3000).await;
    let capture_key = key();

    let attempts: Vec<_> = (0..6)
        .map(|_| {
            let gw = Arc::clone(&gw);
            let (auth, capture_key) = (auth.clone(), capture_key.clone());
            tokio::spawn(async move { gw.client.capture(&capture_key, &auth, 3000).await })
        })
        .collect();
    let mut references = Vec::new();
    for attempt in attempts {
        references.push(approved(attempt.await.expect("joined").expect("answered")));
    }

    references.dedup();
    assert_eq!(references.len(), 1, "{references:?}");
    let held = gw.holdings(payment_id).await;
    assert_eq!(held["captures"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn refunds_never_exceed_what_was_captured() {
    let gw = Arc::new(gateway().await);
    let (payment_id, capture) = gw.captured(1000).await;

    approved(
        gw.client
            .refund(&key(), &capture, 400)
            .await
            .expect("first refund"),
    );
    let too_much = gw.client.refund(&key(), &capture, 601).await;
    // Ten concurrent refunds of 100 against the 600 left: six fit.
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let gw = Arc::clone(&gw);
            let capture = capture.clone();
            tokio::spawn(async move { gw.client.refund(&key(), &capture, 100).await })
        })
        .collect();
    let mut approvals = 0;
    for attempt in attempts {
        match attempt.await.expect("joined") {
            Ok(GatewayOutcome::Approved { .. }) => approvals += 1,
            other => assert_eq!(rejected_code(other), "refund_exceeds_captured"),
        }
    }
    let nothing_left = gw.client.refund(&key(), &capture, 1).await;

    assert_eq!(rejected_code(too_much), "refund_exceeds_captured");
    assert_eq!(approvals, 6);
    assert_eq!(rejected_code(nothing_left), "refund_exceeds_captured");
    let held = gw.holdings(payment_id).await;
    assert_eq!(held["captures"][0]["refunded_minor"], 1000);
    let refunded: i64 = held["refunds"]
        .as_array()
        .expect("refunds")
        .iter()
        .map(|r| r["amount_minor"].as_i64().expect("amount"))
        .sum();
    assert_eq!(refunded, 1000);
}

#[tokio::test]
async fn captures_beyond_the_authorization_or_of_unknown_or_voided_ones_are_rejected() {
    let gw = gateway().await;
    let (_, auth) = gw.authorized(1000).await;
    let (_, to_void) = gw.authorized(1000).await;

    let over = gw.client.capture(&key(), &auth, 1001).await;
    let unknown = gw
        .client
        .capture(&key(), "auth_0000000000000000000000000000000", 10)
        .await;
    approved(gw.client.void(&key(), &to_void).await.expect("voided"));
    let after_void = gw.client.capture(&key(), &to_void, 10).await;
    let partial = gw.client.capture(&key(), &auth, 800).await;
    let void_captured = gw.client.void(&key(), &auth).await;
    let unknown_capture = gw
        .client
        .refund(&key(), "cap_0000000000000000000000000000000", 10)
        .await;
    let bad_reference = gw.client.capture(&key(), "../../etc", 10).await;

    assert_eq!(rejected_code(over), "capture_exceeds_authorization");
    assert_eq!(rejected_code(unknown), "authorization_not_found");
    assert_eq!(rejected_code(after_void), "authorization_voided");
    approved(partial.expect("a partial capture is allowed"));
    assert_eq!(rejected_code(void_captured), "already_captured");
    assert_eq!(rejected_code(unknown_capture), "capture_not_found");
    assert_eq!(rejected_code(bad_reference), "invalid_reference");
}

/// What, path, key, body; then the status, code and first field expected.
type Case<'a> = (
    &'a str,
    String,
    Option<String>,
    String,
    u16,
    &'a str,
    Option<&'a str>,
);

#[tokio::test]
async fn bad_requests_get_problem_json_4xx_naming_the_problem() {
    let gw = gateway().await;
    let (_, auth) = gw.authorized(1000).await;
    let good = json!({"payment_id": Uuid::now_v7(), "card_token": "tok_approved", "amount_minor": 100, "currency": "EUR"});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body.to_string()
    };
    let capture = format!("/v1/authorizations/{auth}/capture");
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            "/v1/authorizations".into(),
            Some(key()),
            "{\"payment_id\": ".into(),
            400,
            "malformed_json",
            None,
        ),
        (
            "missing field",
            "/v1/authorizations".into(),
            Some(key()),
            json!({"card_token": "tok_approved", "amount_minor": 1, "currency": "EUR"}).to_string(),
            422,
            "validation_failed",
            Some("payment_id"),
        ),
        (
            "wrong type",
            "/v1/authorizations".into(),
            Some(key()),
            with("amount_minor", json!("ten")),
            422,
            "validation_failed",
            Some("amount_minor"),
        ),
        (
            "zero amount",
            "/v1/authorizations".into(),
            Some(key()),
            with("amount_minor", json!(0)),
            422,
            "validation_failed",
            Some("amount_minor"),
        ),
        (
            "negative amount",
            capture.clone(),
            Some(key()),
            r#"{"amount_minor": -5}"#.into(),
            422,
            "validation_failed",
            Some("amount_minor"),
        ),
        (
            "bad currency",
            "/v1/authorizations".into(),
            Some(key()),
            with("currency", json!("euro")),
            422,
            "validation_failed",
            Some("currency"),
        ),
        (
            "bad payment id",
            "/v1/authorizations".into(),
            Some(key()),
            with("payment_id", json!("p-1")),
            422,
            "validation_failed",
            Some("payment_id"),
        ),
        (
            "unknown field",
            "/v1/authorizations".into(),
            Some(key()),
            with("card_number", json!("4111111111111111")),
            422,
            "validation_failed",
            Some("card_number"),
        ),
        (
            "empty token",
            "/v1/authorizations".into(),
            Some(key()),
            with("card_token", json!("")),
            422,
            "validation_failed",
            Some("card_token"),
        ),
        (
            "no key",
            "/v1/authorizations".into(),
            None,
            good.to_string(),
            400,
            "idempotency_key_required",
            None,
        ),
        (
            "bad reference",
            "/v1/authorizations/nope/capture".into(),
            Some(key()),
            r#"{"amount_minor": 5}"#.into(),
            422,
            "validation_failed",
            Some("reference"),
        ),
        (
            "array body",
            "/v1/authorizations".into(),
            Some(key()),
            "[1]".into(),
            422,
            "validation_failed",
            Some("body"),
        ),
    ];

    for (what, path, key, body, status, code, field) in cases {
        let (got, content_type, problem) = gw.raw_post(&path, key.as_deref(), &body).await;
        assert_eq!(got, status, "{what}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{what}");
        assert_eq!(problem["code"], code, "{what}: {problem}");
        if let Some(field) = field {
            assert_eq!(problem["fields"][0]["field"], field, "{what}: {problem}");
        }
    }
    let r = gw
        .http
        .post(format!("{}/v1/authorizations", gw.base))
        .header("idempotency-key", key())
        .header("content-type", "text/plain")
        .body(good.to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 415);
    let r = gw
        .http
        .get(format!("{}/v1/payments/not-a-uuid", gw.base))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 422);
    let r = gw
        .http
        .get(format!("{}/v1/payments/{}", gw.base, Uuid::now_v7()))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_gateway_keeps_its_state_and_keys_across_a_restart() {
    let (pool, url) = database_with_url().await;
    let gw = gateway_on(pool, CardGatewayConfig::default(), Duration::from_secs(5)).await;
    let (payment_id, auth) = gw.authorized(700).await;
    let capture_key = key();
    let capture = approved(
        gw.client
            .capture(&capture_key, &auth, 700)
            .await
            .expect("captured"),
    );
    drop(gw);

    let again = gateway_on(
        PgPool::connect(&url).await.expect("reconnect"),
        CardGatewayConfig::default(),
        Duration::from_secs(5),
    )
    .await;
    let replayed = again.client.capture(&capture_key, &auth, 700).await;
    let other_key = again.client.capture(&key(), &auth, 700).await;

    assert_eq!(approved(replayed.expect("replayed")), capture);
    assert_eq!(rejected_code(other_key), "already_captured");
    assert_eq!(
        again.holdings(payment_id).await["captures"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let ready = again
        .http
        .get(format!("{}/readyz", again.base))
        .send()
        .await
        .expect("answer");
    assert_eq!(ready.status(), 200);
}
