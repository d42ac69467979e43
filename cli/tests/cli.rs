//! The `freshline` binary against a real PostgreSQL and Kafka: event export for analysts
//! (store and Kafka, JSONL and CSV, filters, schema-valid output) and the audit commands.

use platform::auth::{self, Actor, Role, Signer, Verifier};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use test_support::brokers;

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("freshline-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A test database with the schema, the command API over it, and a token.
struct Env {
    url: String,
    pool: sqlx::PgPool,
    api: String,
    token: String,
    client: reqwest::Client,
}

impl Env {
    async fn start() -> Self {
        let (pool, url) = test_support::database_with_url().await;
        platform::db::migrate(&pool).await.expect("migrate");
        let key = auth::generate_key("k1").expect("key");
        let verifier = Arc::new(
            Verifier::from_jwks_json(
                &json!({"keys": [key.public_jwk]}).to_string(),
                platform::config::defaults::AUDIENCE,
                None,
            )
            .expect("verifier"),
        );
        let signer = Signer::from_pem("k1", &key.private_pem).expect("signer");
        // An admin who logged in with a one-time password (approval needs it).
        let token = signer
            .sign(
                &auth::claims(
                    "admin-1",
                    &Actor::Person(Role::Admin),
                    Role::Admin.default_scopes(),
                    600,
                    "test",
                )
                .with_second_factor(),
            )
            .expect("token");
        let app = command_api::router(
            pool.clone(),
            verifier,
            prometheus::Registry::new(),
            std::sync::Arc::new(platform::blobs::LocalDirStore::new(
                std::env::temp_dir().join("freshline-blobs-cli"),
            )),
            command_api::Options::default(),
        )
        .expect("router");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let api = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Self {
            url,
            pool,
            api,
            token,
            client: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .client
            .post(format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.expect("json")
    }

    /// A supplier registered, documented and approved (3 events).
    async fn approved_supplier(&self, n: usize) -> String {
        let r = self
            .post("/v1/suppliers", json!({
                "legal_name": format!("Farm {n} B.V."), "registration_number": format!("NL-CLI-{n}"),
                "contact_email": "ops@farm.example", "phone": "+31205550101", "categories": ["fruit"],
                "owner_subject": format!("acct-{n}"),
                "address": {"line1": "Dijkweg 1", "city": "Naaldwijk", "postal_code": "2671 AA", "country": "NL"}}))
            .await;
        let id = r["id"].as_str().expect("id").to_owned();
        self.post(
            &format!("/v1/suppliers/{id}/documents"),
            json!({"kind": "business_license", "reference": "KVK-1", "expires_on": "2031-01-01"}),
        )
        .await;
        self.post(
            &format!("/v1/suppliers/{id}/approve"),
            json!({"note": "ok"}),
        )
        .await;
        id
    }

    fn freshline(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_freshline"))
            .args(args)
            .env("FRESHLINE_DATABASE_URL", &self.url)
            .env("FRESHLINE_KAFKA_BROKERS", brokers())
            .output()
            .expect("run freshline");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// Validates an exported envelope against the checked-in JSON Schemas: the envelope's and
/// its payload's (by event type and version).
fn assert_schema_valid(e: &Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/json");
    let load = |file: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).expect("schema file"))
            .expect("schema is JSON")
    };
    let envelope = jsonschema::validator_for(&load("envelope.schema.json")).expect("schema");
    let errors: Vec<String> = envelope.iter_errors(e).map(|x| x.to_string()).collect();
    assert!(errors.is_empty(), "{e}: {errors:?}");
    let payload_schema = format!(
        "{}.v{}.schema.json",
        e["event_type"].as_str().expect("type"),
        e["event_version"]
    );
    let payload = jsonschema::validator_for(&load(&payload_schema)).expect("schema");
    let errors: Vec<String> = payload
        .iter_errors(&e["payload"])
        .map(|x| x.to_string())
        .collect();
    assert!(errors.is_empty(), "{e}: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_schema_valid_envelopes_from_the_store_and_from_kafka() {
    let env = Env::start().await;
    let a = env.approved_supplier(1).await;
    let b = env.approved_supplier(2).await;
    env.post(
        &format!("/v1/suppliers/{a}/suspend"),
        json!({"reason": "quality complaints", "reason_code": "quality"}),
    )
    .await;
    // B's suspension was written by the previous release: v1.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Supplier', $1, 4, 'SupplierSuspended', '1',
                 '{\"SupplierSuspended\": {\"reason\": \"late twice\"}}', '{\"actor_sub\": \"admin-0\"}')",
    )
    .bind(&b)
    .execute(&env.pool)
    .await
    .expect("legacy row");
    platform::store::seal_unsealed(&env.pool)
        .await
        .expect("seal");
    let dir = temp_dir();

    // From the store, JSONL: every event, schema-valid, the old suspension read as v2.
    let file = dir.join("all.jsonl");
    let (code, _, err) = env.freshline(&[
        "events",
        "export",
        "--from",
        "store",
        "-o",
        file.to_str().expect("path"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("exported 8 events from the store"), "{err}");
    let all = lines(&std::fs::read_to_string(&file).expect("output"));
    assert_eq!(all.len(), 8);
    all.iter().for_each(assert_schema_valid);
    let legacy = all
        .iter()
        .find(|e| e["aggregate_id"] == b.as_str() && e["sequence"] == 4)
        .expect("B's suspension");
    assert_eq!(legacy["event_version"], 2);
    assert_eq!(legacy["payload"]["reason_code"], "other");
    assert!(all
        .iter()
        .all(|e| e["hash"].as_str().is_some_and(|h| h.len() == 64)));

    // As stored, to stdout: the v1 payload as written, and every chain recomputes.
    let (code, out, err) = env.freshline(&["events", "export", "--as-stored"]);
    assert_eq!(code, 0, "{err}");
    let stored: Vec<schemas::Envelope> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("envelope"))
        .collect();
    let legacy = stored
        .iter()
        .find(|e| e.aggregate_id == b && e.sequence == 4)
        .expect("B's suspension");
    assert_eq!(legacy.event_version, 1);
    for id in [&a, &b] {
        let stream: Vec<&schemas::Envelope> =
            stored.iter().filter(|e| e.aggregate_id == *id).collect();
        schemas::chain::verify_envelopes(stream).expect("exported chain holds");
    }

    // Filters.
    let count = |args: &[&str]| {
        let mut full = vec!["events", "export"];
        full.extend_from_slice(args);
        let (code, out, err) = env.freshline(&full);
        assert_eq!(code, 0, "{err}");
        out.lines().count()
    };
    assert_eq!(count(&["--aggregate-id", &a]), 4);
    assert_eq!(count(&["--event-type", "SupplierApproved"]), 2);
    assert_eq!(
        count(&[
            "--event-type",
            "SupplierApproved",
            "--event-type",
            "SupplierSuspended"
        ]),
        4
    );
    assert_eq!(
        count(&[
            "--aggregate-type",
            "Supplier",
            "--since",
            "2999-01-01T00:00:00Z"
        ]),
        0
    );
    assert_eq!(count(&["--until", "2000-01-01T00:00:00Z"]), 0);

    // CSV: a header and a row per event, payload as JSON text.
    let (code, out, err) = env.freshline(&["events", "export", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    let headers = reader.headers().expect("header").clone();
    assert_eq!(&headers[5], "event_type");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 8);
    for r in &rows {
        let _: Value = serde_json::from_str(&r[11]).expect("payload is JSON");
    }

    // From Kafka, once the relay has published: the same events.
    let prefix = format!("p{}.", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    platform::kafka::ensure_topics(&brokers(), &prefix, schemas::topics::ALL, 1)
        .await
        .expect("topics");
    let relay = platform::relay::Relay::new(
        env.pool.clone(),
        platform::kafka::idempotent_producer(&brokers(), "cli-test").expect("producer"),
        platform::relay::RelayConfig {
            topic_prefix: prefix.clone(),
            ..platform::relay::RelayConfig::default()
        },
        platform::relay::RelayMetrics::new(&prometheus::Registry::new()).expect("metrics"),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { relay.run(token).await.expect("relay") });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let published: Option<i64> =
            sqlx::query_scalar("SELECT max(last_position) FROM relay_checkpoints")
                .fetch_one(&env.pool)
                .await
                .expect("checkpoint");
        let last: Option<i64> = sqlx::query_scalar("SELECT max(global_position) FROM events")
            .fetch_one(&env.pool)
            .await
            .expect("max");
        if published.is_some() && published >= last {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "relay did not publish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    let (code, out, err) = env.freshline(&[
        "events",
        "export",
        "--from",
        "kafka",
        "--topic-prefix",
        &prefix,
    ]);
    assert_eq!(code, 0, "{err}");
    let from_kafka = lines(&out);
    from_kafka.iter().for_each(assert_schema_valid);
    let ids = |v: &[Value]| {
        let mut ids: Vec<String> = v.iter().map(|e| e["event_id"].to_string()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&from_kafka), ids(&all));

    // Tail follows the topic live: started at the end, it writes what is published after.
    let mut tail = std::process::Command::new(env!("CARGO_BIN_EXE_freshline"))
        .args([
            "events",
            "tail",
            "--topic-prefix",
            &prefix,
            "--aggregate-id",
            &a,
        ])
        .env("FRESHLINE_KAFKA_BROKERS", brokers())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tail");
    let mut stderr = std::io::BufReader::new(tail.stderr.take().expect("stderr"));
    let mut started = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut started).expect("tail starts");
    assert!(started.starts_with("following"), "{started}");
    let relay = platform::relay::Relay::new(
        env.pool.clone(),
        platform::kafka::idempotent_producer(&brokers(), "cli-test-2").expect("producer"),
        platform::relay::RelayConfig {
            topic_prefix: prefix.clone(),
            ..platform::relay::RelayConfig::default()
        },
        platform::relay::RelayMetrics::new(&prometheus::Registry::new()).expect("metrics"),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { relay.run(token).await.expect("relay") });
    env.post(&format!("/v1/suppliers/{a}/reinstate"), json!({}))
        .await;
    let stdout = tail.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("read");
        line
    });
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .expect("tail wrote the new event in time")
        .expect("join");
    tail.kill().expect("kill tail");
    tail.wait().expect("reap tail");
    stop.cancel();
    let live: Value = serde_json::from_str(&line).expect("an envelope");
    assert_eq!(
        (
            live["aggregate_id"].as_str(),
            live["event_type"].as_str(),
            live["sequence"].as_i64()
        ),
        (Some(a.as_str()), Some("SupplierReinstated"), Some(5))
    );
    let (code, out, _) = env.freshline(&[
        "events",
        "export",
        "--from",
        "kafka",
        "--topic-prefix",
        &prefix,
        "--aggregate-id",
        &b,
    ]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_a_tampered_payload_and_a_tampered_metadata_row() {
    let env = Env::start().await;
    let a = env.approved_supplier(1).await;
    let b = env.approved_supplier(2).await;
    let c = env.approved_supplier(3).await;
    let (code, out, err) = env.freshline(&["audit", "verify", "--all"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 streams, 9 events verified"), "{out}");
    assert!(out.contains("every chain holds"), "{out}");

    sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{SupplierDocumentSubmitted,expires_on}', '\"2099-12-31\"')
          WHERE aggregate_id = $1 AND sequence = 2",
    )
    .bind(&a)
    .execute(&env.pool)
    .await
    .expect("tamper payload");
    sqlx::query(
        "UPDATE events SET metadata = metadata || '{\"actor_sub\": \"someone-else\"}'
          WHERE aggregate_id = $1 AND sequence = 1",
    )
    .bind(&b)
    .execute(&env.pool)
    .await
    .expect("tamper metadata");

    let (code, out, _) = env.freshline(&["audit", "verify", "--all"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("BROKEN Supplier {a}: sequence 2:")),
        "{out}"
    );
    assert!(
        out.contains(&format!("BROKEN Supplier {b}: sequence 1:")),
        "{out}"
    );
    assert!(!out.contains(&c), "{out}");
    assert!(out.contains("2 broken"), "{out}");
    let (code, out, _) = env.freshline(&["audit", "verify", "--supplier", &c]);
    assert_eq!(code, 0, "{out}");
    let (code, _, _) = env.freshline(&["audit", "verify", "--supplier", &a]);
    assert_eq!(code, 1);
    // Removing an event is caught as well.
    sqlx::query("DELETE FROM events WHERE aggregate_id = $1 AND sequence = 2")
        .bind(&c)
        .execute(&env.pool)
        .await
        .expect("delete");
    let (code, out, _) = env.freshline(&["audit", "verify", "--supplier", &c]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("sequence 3 where 2 was expected"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_check_accepts_a_signed_export_and_refuses_an_edited_one() {
    let env = Env::start().await;
    let a = env.approved_supplier(1).await;
    let dir = temp_dir();
    let keys = dir.join("evidence");
    let (code, _, err) =
        env.freshline(&["audit", "keygen", "--out-dir", keys.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    let signer = platform::evidence::EvidenceSigner::from_file(&keys.join("evidence-key.pem"))
        .expect("signer");
    let events = platform::store::load_stream(&env.pool, "Supplier", &a)
        .await
        .expect("stream");
    let document = signer
        .sign(platform::evidence::history_document(
            &a,
            &events,
            chrono::Utc::now(),
            "audit-1",
        ))
        .expect("sign");
    let file = dir.join("export.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&document).expect("json"),
    )
    .expect("write");
    let jwks = keys.join("jwks.json");
    let (code, out, err) = env.freshline(&[
        "audit",
        "check",
        file.to_str().expect("path"),
        "--jwks",
        jwks.to_str().expect("path"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!("OK {a}: 3 events")), "{out}");

    let mut edited = document.clone();
    edited["events"][2]["metadata"]["actor_sub"] = json!("someone-else");
    std::fs::write(&file, edited.to_string()).expect("write");
    let (code, out, _) = env.freshline(&[
        "audit",
        "check",
        file.to_str().expect("path"),
        "--jwks",
        jwks.to_str().expect("path"),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("signature does not verify"), "{out}");
}
