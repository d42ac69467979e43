//! Exactly once across crashes: a command-api process of the test's own is SIGKILLed at a
//! random moment while a client sends a keyed command and retries it with the same key until
//! it gets an answer (as `freshline load`, the saga and every well-behaved client do). For a
//! keyed registration, bulk receipt, spoilage and refund, in many rounds: the effect is applied
//! exactly once per key, and every answer the client ever received for a key is the same,
//! byte for byte.

use crate::helpers::{order_body, supplier_body, TestApp};
use platform::auth::{Actor, Role};
use rand::Rng;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How many keyed commands each scenario sends (each with one kill somewhere in it).
const ROUNDS: usize = 12;

/// A command-api process on a fixed port over the test's database, killed and restarted at
/// will.
struct Process {
    child: Option<Child>,
    port: u16,
    env: Vec<(&'static str, String)>,
}

impl Process {
    fn start(app: &TestApp) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let jwks = app.blob_dir.with_extension("jwks.json");
        std::fs::write(&jwks, &app.jwks).expect("jwks file");
        let env = vec![
            ("FRESHLINE_DATABASE_URL", app.db.url.clone()),
            ("FRESHLINE_HTTP_ADDR", format!("127.0.0.1:{port}")),
            ("FRESHLINE_JWKS_PATH", jwks.display().to_string()),
            ("FRESHLINE_BLOB_DIR", app.blob_dir.display().to_string()),
            ("FRESHLINE_DB_MAX_CONNECTIONS", "8".to_owned()),
            ("FRESHLINE_LOG", "error".to_owned()),
        ];
        let mut p = Self {
            child: None,
            port,
            env,
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_command-api"))
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn command-api");
        self.child = Some(child);
    }

    /// SIGKILL, then a new process on the same port.
    fn crash_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn();
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends the command with its key until an answer comes back (not a connection failure, a
/// 5xx or "in progress"), killing the process once at a random moment after the first send.
/// Returns every answer received (status, exact body bytes).
async fn until_answered(
    process: &mut Process,
    path: &str,
    token: &str,
    body: &Value,
    key: &str,
) -> Vec<(u16, Vec<u8>)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let url = format!("{}{path}", process.base());
    let send = || {
        client
            .post(&url)
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body)
            .send()
    };
    let mut answers = Vec::new();
    // First attempt, raced against a kill at a random moment while it runs.
    let delay = Duration::from_micros(rand::thread_rng().gen_range(0..20_000));
    let first = tokio::spawn(send());
    tokio::time::sleep(delay).await;
    process.crash_and_restart();
    if let Ok(Ok(r)) = first.await {
        let status = r.status().as_u16();
        if let Ok(bytes) = r.bytes().await {
            if status < 500 {
                answers.push((status, bytes.to_vec()));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "no answer for {key} in 60 s");
        if let Ok(r) = send().await {
            let status = r.status().as_u16();
            let bytes = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            let in_progress = status == 409
                && serde_json::from_slice::<Value>(&bytes)
                    .is_ok_and(|b| b["code"] == "idempotency_in_progress");
            if status < 500 && !in_progress {
                answers.push((status, bytes));
                return answers;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn assert_one_answer(key: &str, answers: &[(u16, Vec<u8>)]) {
    let first = &answers[0];
    assert!(
        (200..300).contains(&first.0),
        "{key}: {} {}",
        first.0,
        String::from_utf8_lossy(&first.1)
    );
    for other in answers {
        assert_eq!(
            other, first,
            "{key}: every answer is the first, byte for byte"
        );
    }
}

async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&app.db.pool)
        .await
        .expect("count")
}

fn warehouse(app: &TestApp) -> String {
    app.token(
        "wh-1",
        Actor::Person(Role::Warehouse),
        Role::Warehouse.default_scopes(),
    )
}

fn batch(product: &str, supplier: &str, quantity: u32) -> Value {
    json!({
        "product_id": product, "supplier_id": supplier,
        "warehouse_id": "0190f0e0-0000-7000-8000-000000000001", "quantity": quantity,
        "received_at": "2026-11-20T06:00:00Z", "expires_at": "2030-11-27T06:00:00Z",
        "cold_chain": true, "procurement_price": {"amount_minor": 120, "currency": "EUR"}
    })
}

#[tokio::test]
async fn a_keyed_registration_survives_kills_exactly_once() {
    let app = TestApp::spawn().await;
    let mut process = Process::start(&app);
    let token = app.supplier("acct-crash");
    for round in 0..ROUNDS {
        let key = format!("register-{round}");
        let number = format!("NL-K-{round}");
        let answers = until_answered(
            &mut process,
            "/v1/suppliers",
            &token,
            &supplier_body(&number),
            &key,
        )
        .await;
        assert_one_answer(&key, &answers);
        let registered = count(
            &app,
            "SELECT count(*) FROM events WHERE event_type = 'SupplierRegistered'
               AND payload->'SupplierRegistered'->>'registration_number' = $1",
            &number,
        )
        .await;
        assert_eq!(registered, 1, "{key}");
    }
}

#[tokio::test]
async fn a_keyed_bulk_receipt_survives_kills_exactly_once() {
    let app = TestApp::spawn().await;
    let (supplier, product) = app.listed_product("acct-1", "NL-K-B", "kg", 349).await;
    let mut process = Process::start(&app);
    let token = warehouse(&app);
    let body =
        json!({"batches": (1..=5).map(|q| batch(&product, &supplier, q)).collect::<Vec<_>>()});
    for round in 0..ROUNDS {
        let key = format!("receipt-{round}");
        let answers = until_answered(
            &mut process,
            "/v1/inventory/batches/bulk",
            &token,
            &body,
            &key,
        )
        .await;
        assert_one_answer(&key, &answers);
        let received = count(
            &app,
            "SELECT count(*) FROM events WHERE event_type = 'BatchReceived'
               AND metadata->>'idempotency_key' = $1",
            &key,
        )
        .await;
        assert_eq!(received, 5, "{key}: one receipt of five batches");
    }
}

#[tokio::test]
async fn a_keyed_spoilage_survives_kills_exactly_once() {
    let app = TestApp::spawn().await;
    let (supplier, product) = app.listed_product("acct-1", "NL-K-S", "kg", 349).await;
    let token = warehouse(&app);
    let (s, b) = app
        .post(
            "/v1/inventory/batches",
            &token,
            batch(&product, &supplier, 1000),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let batch_id = b["id"].as_str().expect("id").to_owned();
    let mut process = Process::start(&app);
    let path = format!("/v1/inventory/batches/{batch_id}/spoilage");
    for round in 0..ROUNDS {
        let key = format!("spoilage-{round}");
        let body = json!({"quantity": 1, "reason": "damaged"});
        let answers = until_answered(&mut process, &path, &token, &body, &key).await;
        assert_one_answer(&key, &answers);
        let spoiled = count(
            &app,
            "SELECT count(*) FROM events WHERE aggregate_id = $1
               AND event_type <> 'BatchReceived'",
            &batch_id,
        )
        .await;
        assert_eq!(spoiled, i64::try_from(round).expect("small") + 1, "{key}");
    }
}

#[tokio::test]
async fn a_keyed_refund_survives_kills_exactly_once() {
    let app = TestApp::spawn().await;
    let (_, product) = app.listed_product("acct-a", "NL-K-R", "piece", 100).await;
    let tomorrow = chrono::Utc::now() + chrono::TimeDelta::days(1);
    let slot = app
        .delivery_slot(tomorrow, tomorrow + chrono::TimeDelta::hours(2), 10)
        .await;
    let order = app
        .place_order("cust-1", order_body(&[(&product, json!(50))], &slot))
        .await;
    let sagas = app.service("sagas");
    let (s, b) = app
        .post("/v1/payments", &sagas, json!({"order_id": order}))
        .await;
    assert_eq!(s, 201, "{b}");
    let payment = b["id"].as_str().expect("id").to_owned();
    for (route, r) in [("authorized", "auth-1"), ("captured", "cap-1")] {
        let (s, b) = app
            .post(
                &format!("/v1/payments/{payment}/{route}"),
                &sagas,
                json!({"gateway_ref": r, "amount": {"amount_minor": 5000, "currency": "EUR"}}),
            )
            .await;
        assert_eq!(s, 202, "{route}: {b}");
    }
    let mut process = Process::start(&app);
    let admin = app.admin();
    let path = format!("/v1/payments/{payment}/refund");
    let body = json!({"amount": {"amount_minor": 10, "currency": "EUR"}, "reason": "bruised"});
    for round in 0..ROUNDS {
        let key = format!("refund-{round}");
        let answers = until_answered(&mut process, &path, &admin, &body, &key).await;
        assert_one_answer(&key, &answers);
        let refunds = count(
            &app,
            "SELECT count(*) FROM events WHERE aggregate_id = $1
               AND event_type = 'RefundRequested'",
            &payment,
        )
        .await;
        assert_eq!(refunds, i64::try_from(round).expect("small") + 1, "{key}");
    }
}

#[tokio::test]
async fn two_concurrent_requests_with_one_key_act_once_and_answer_alike() {
    let app = TestApp::spawn().await;
    let (supplier, product) = app.listed_product("acct-1", "NL-K-C", "kg", 349).await;
    let token = warehouse(&app);
    let (s, b) = app
        .post(
            "/v1/inventory/batches",
            &token,
            batch(&product, &supplier, 1000),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let batch_id = b["id"].as_str().expect("id").to_owned();
    for round in 0..8 {
        let key = format!("twice-{round}");
        let send = |path: String, body: Value| {
            let (app, token, key) = (&app, &token, &key);
            async move {
                let r = app
                    .client
                    .post(format!("{}{path}", app.base))
                    .bearer_auth(token)
                    .header("idempotency-key", key.as_str())
                    .json(&body)
                    .send()
                    .await
                    .expect("request");
                (r.status().as_u16(), r.bytes().await.expect("body").to_vec())
            }
        };
        let spoil = format!("/v1/inventory/batches/{batch_id}/spoilage");
        let bulk =
            json!({"batches": [batch(&product, &supplier, 3), batch(&product, &supplier, 4)]});
        let (a, b, c, d) = tokio::join!(
            send(spoil.clone(), json!({"quantity": 1, "reason": "damaged"})),
            send(spoil, json!({"quantity": 1, "reason": "damaged"})),
            send("/v1/inventory/batches/bulk".into(), bulk.clone()),
            send("/v1/inventory/batches/bulk".into(), bulk),
        );
        // The key is the subject's: the first of the four to commit wins it, the others get its
        // answer or, for another request, 422.
        let answers = [a, b, c, d];
        let winners: Vec<_> = answers.iter().filter(|(s, _)| *s < 300).collect();
        assert!(!winners.is_empty(), "{key}: {answers:?}");
        assert!(
            winners.iter().all(|w| *w == winners[0]),
            "{key}: {answers:?}"
        );
        for (s, body) in answers.iter().filter(|(s, _)| *s >= 300) {
            let code = serde_json::from_slice::<Value>(body).expect("problem")["code"].clone();
            assert_eq!((*s, code), (422, json!("idempotency_key_reused")), "{key}");
        }
        let effects = count(
            &app,
            "SELECT count(DISTINCT e.xid::text) FROM events e
              WHERE e.metadata->>'idempotency_key' = $1",
            &key,
        )
        .await;
        assert_eq!(effects, 1, "{key}: one transaction acted");
    }
}
