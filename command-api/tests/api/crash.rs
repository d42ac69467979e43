//! Exactly once across crashes: a command-api process of the test's own is SIGKILLed at a
//! random moment while a client sends a keyed command and retries it with the same key until
//! it gets an answer (as `freshline load`, the saga and every well-behaved client do). For a
//! keyed registration, bulk receipt, spoilage and refund, in many rounds: the effect is applied
//! exactly once per key, and every answer the client ever received for a key is the same,
//! byte for byte.

use crate::helpers::{batch_body, order_body, supplier_body, TestApp};
use rand::Rng;
use serde_json::{json, Value};
use std::process::{Child, Stdio};
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
        let child = crate::helpers::child_process("crash::command_api_process")
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

/// Sends [`ROUNDS`] keyed commands (`command(round)`: path and body) as `token` through a
/// command-api process killed once in each, and checks after each round that every answer was
/// the first and that the effects counted by `effects` (bound to `bind(round, key)`) number
/// `expected(round)`.
async fn exactly_once_through_kills(
    app: &TestApp,
    token: &str,
    prefix: &str,
    command: impl Fn(usize) -> (String, Value),
    effects: &str,
    bind: impl Fn(usize, &str) -> String,
    expected: impl Fn(usize) -> i64,
) {
    let mut process = Process::start(app);
    for round in 0..ROUNDS {
        let key = format!("{prefix}-{round}");
        let (path, body) = command(round);
        let answers = until_answered(&mut process, &path, token, &body, &key).await;
        assert_one_answer(&key, &answers);
        let counted = count(app, effects, &bind(round, &key)).await;
        assert_eq!(counted, expected(round), "{key}");
    }
}

fn nth(round: usize) -> i64 {
    i64::try_from(round).expect("small") + 1
}

#[tokio::test]
async fn a_keyed_registration_survives_kills_exactly_once() {
    let app = TestApp::spawn().await;
    let number = |round| format!("NL-K-{round}");
    exactly_once_through_kills(
        &app,
        &app.supplier("acct-crash"),
        "register",
        |round| ("/v1/suppliers".to_owned(), supplier_body(&number(round))),
        "SELECT count(*) FROM events WHERE event_type = 'SupplierRegistered'
           AND payload->'SupplierRegistered'->>'registration_number' = $1",
        |round, _| number(round),
        |_| 1,
    )
    .await;
}

#[tokio::test]
async fn a_keyed_bulk_receipt_survives_kills_exactly_once() {
    let app = TestApp::spawn().await;
    let (supplier, product) = app.listed_product("acct-1", "NL-K-B", "kg", 349).await;
    let batches: Vec<Value> = (1..=5)
        .map(|q| batch_body(&product, &supplier, json!(q)))
        .collect();
    exactly_once_through_kills(
        &app,
        &app.warehouse("wh-1"),
        "receipt",
        |_| {
            let body = json!({ "batches": batches });
            ("/v1/inventory/batches/bulk".to_owned(), body)
        },
        "SELECT count(*) FROM events WHERE event_type = 'BatchReceived'
           AND metadata->>'idempotency_key' = $1",
        |_, key| key.to_owned(),
        // One receipt of five batches per key.
        |_| 5,
    )
    .await;
}

#[tokio::test]
async fn a_keyed_spoilage_survives_kills_exactly_once() {
    let app = TestApp::spawn().await;
    let (supplier, product) = app.listed_product("acct-1", "NL-K-S", "kg", 349).await;
    let token = app.warehouse("wh-1");
    let (s, b) = app
        .post(
            "/v1/inventory/batches",
            &token,
            batch_body(&product, &supplier, json!(1000)),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let batch_id = b["id"].as_str().expect("id").to_owned();
    exactly_once_through_kills(
        &app,
        &token,
        "spoilage",
        |_| {
            let path = format!("/v1/inventory/batches/{batch_id}/spoilage");
            (path, json!({"quantity": 1, "reason": "damaged"}))
        },
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type <> 'BatchReceived'",
        |_, _| batch_id.clone(),
        nth,
    )
    .await;
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
    exactly_once_through_kills(
        &app,
        &app.admin(),
        "refund",
        |_| {
            let body =
                json!({"amount": {"amount_minor": 10, "currency": "EUR"}, "reason": "bruised"});
            (format!("/v1/payments/{payment}/refund"), body)
        },
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = 'RefundRequested'",
        |_, _| payment.clone(),
        nth,
    )
    .await;
}

#[tokio::test]
async fn two_concurrent_requests_with_one_key_act_once_and_answer_alike() {
    let app = TestApp::spawn().await;
    let (supplier, product) = app.listed_product("acct-1", "NL-K-C", "kg", 349).await;
    let token = app.warehouse("wh-1");
    let (s, b) = app
        .post(
            "/v1/inventory/batches",
            &token,
            batch_body(&product, &supplier, json!(1000)),
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
        let bulk = json!({"batches": [batch_body(&product, &supplier, json!(3)), batch_body(&product, &supplier, json!(4))]});
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

/// command-api as its own OS process, for the tests above to SIGKILL: this test binary run
/// again with only this test ([`crate::helpers::child_process`]), which then serves command-api
/// as `freshline serve command-api` does, from the environment the parent set.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run by the crash tests as a child process"]
async fn command_api_process() {
    if crate::helpers::is_child() {
        command_api::serve::command_api()
            .await
            .expect("command-api serves");
    }
}
