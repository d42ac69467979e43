//! Projection runtime tests against the real Kafka and PostgreSQL: each test has its own
//! database, topic prefix and consumer group.

use platform::consumer::ConsumerMetrics;
use projectors::runtime::{Runner, RunnerConfig};
use projectors::suppliers::SupplierProjection;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod audit;
mod catalog;
mod conformance;
mod customers;
mod end_to_end;
mod fulfilment;
mod ops;
mod orders;
mod rebuild;
mod saga_faults;
mod scheduler;
mod streams;

use test_support::{brokers, database, database_with_url};

struct Stream {
    prefix: String,
    topic: String,
    producer: FutureProducer,
}

impl Stream {
    async fn new() -> Self {
        let prefix = test_support::topic_prefix('p').await;
        let producer =
            platform::kafka::idempotent_producer(&brokers(), "projection-test").expect("producer");
        let topic = schemas::topics::prefixed(&prefix, schemas::topics::SUPPLIER);
        Self {
            prefix,
            topic,
            producer,
        }
    }

    async fn send_raw(&self, key: &str, value: &[u8]) {
        self.producer
            .send(
                FutureRecord::to(&self.topic).key(key).payload(value),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }

    /// Publishes `e` to the topic of its aggregate type.
    async fn send_to_its_topic(&self, e: &serde_json::Value) {
        let spec = schemas::topics::for_aggregate(e["aggregate_type"].as_str().expect("type"))
            .expect("a topic");
        let topic = schemas::topics::prefixed(&self.prefix, spec.name);
        let value = serde_json::to_vec(e).expect("json");
        self.producer
            .send(
                FutureRecord::to(&topic)
                    .key(e["aggregate_id"].as_str().expect("id"))
                    .payload(&value),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }

    async fn send(&self, e: &serde_json::Value) {
        self.send_raw(
            e["aggregate_id"].as_str().expect("id"),
            &serde_json::to_vec(e).expect("json"),
        )
        .await;
    }
}

fn envelope(id: &str, seq: i64, event_type: &str, payload: serde_json::Value) -> serde_json::Value {
    json!({
        "event_id": uuid::Uuid::now_v7(), "aggregate_type": "Supplier", "aggregate_id": id,
        "sequence": seq, "global_position": seq, "event_type": event_type, "event_version": 1,
        "occurred_at": "2026-11-21T10:00:00Z",
        "metadata": {"actor_sub": "admin-1", "actor_role": "admin", "correlation_id": format!("c-{id}"), "reason": "because"},
        "payload": payload,
    })
}

/// The events of one supplier going pending -> approved -> suspended (4 events).
fn lifecycle(id: &str, n: usize) -> Vec<serde_json::Value> {
    vec![
        envelope(
            id,
            1,
            "SupplierRegistered",
            json!({
            "supplier_id": id, "owner": format!("acct-{n}"), "legal_name": format!("Farm {n}"),
            "registration_number": format!("NL-{n}"), "contact_email": "a@b.example", "phone": "+31205550101",
            "address": {"line1": "Dijk 1", "city": "Naaldwijk", "postal_code": "2671 AA", "country": "NL"},
            "categories": ["fruit"]}),
        ),
        envelope(
            id,
            2,
            "SupplierDocumentSubmitted",
            json!({"kind": "business_license", "reference": "L-1", "expires_on": "2030-01-01"}),
        ),
        envelope(id, 3, "SupplierApproved", json!({"note": null})),
        envelope(id, 4, "SupplierSuspended", json!({"reason": "cold chain"})),
    ]
}

fn runner(pool: &PgPool, stream: &Stream, schema: &str) -> Runner {
    runner_for(Arc::new(SupplierProjection), pool, stream, schema)
}

fn runner_for(
    projection: Arc<dyn projectors::runtime::Projection>,
    pool: &PgPool,
    stream: &Stream,
    schema: &str,
) -> Runner {
    let mut cfg = RunnerConfig::new(&brokers());
    cfg.topic_prefix = stream.prefix.clone();
    cfg.schema = schema.to_owned();
    cfg.group_id = Some(format!("test-{}", uuid::Uuid::new_v4()));
    cfg.max_batch = 200;
    Runner::new(
        projection,
        pool.clone(),
        cfg,
        ConsumerMetrics::unregistered(),
    )
}

fn start(r: Runner) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let token = CancellationToken::new();
    let t = token.clone();
    // Like the projector binary: follow a rebuilt generation when it goes live.
    let handle = tokio::spawn(async move {
        loop {
            match r.run(t.clone()).await {
                Err(projectors::runtime::RunnerError::GenerationMoved(_)) => continue,
                other => break other.expect("runner"),
            }
        }
    });
    (token, handle)
}

/// Waits until `sql` (a count) reaches `want`.
async fn until_count(pool: &PgPool, sql: &str, want: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap_or(-1);
        if n == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sql}: {n}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn snapshot(pool: &PgPool, schema: &str) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let dir: Vec<serde_json::Value> = sqlx::query_scalar(&format!(
        "SELECT to_jsonb(s) - 'created_at' - 'updated_at' FROM {schema}.suppliers s ORDER BY id"
    ))
    .fetch_all(pool)
    .await
    .expect("directory");
    let hist: Vec<serde_json::Value> = sqlx::query_scalar(&format!(
        "SELECT to_jsonb(h) - 'event_id' FROM {schema}.supplier_history h ORDER BY supplier_id, sequence"
    ))
    .fetch_all(pool)
    .await
    .expect("history");
    (dir, hist)
}

/// (sequence, from_status, to_status, actor, reason, correlation_id)
type HistoryRow = (
    i64,
    Option<String>,
    String,
    serde_json::Value,
    Option<String>,
    Option<String>,
);

#[tokio::test]
async fn events_become_the_directory_and_the_history() {
    let pool = database().await;
    let stream = Stream::new().await;
    let id = uuid::Uuid::now_v7().to_string();
    for e in lifecycle(&id, 1) {
        stream.send(&e).await;
    }
    let (stop, handle) = start(runner(&pool, &stream, "read"));
    until_count(
        &pool,
        "SELECT coalesce(max(version), 0) FROM read.suppliers",
        4,
    )
    .await;
    let (status, docs, version): (String, serde_json::Value, i64) =
        sqlx::query_as("SELECT status, documents, version FROM read.suppliers")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!((status.as_str(), version), ("suspended", 4));
    assert_eq!(docs[0]["kind"], "business_license");
    let history: Vec<HistoryRow> = sqlx::query_as(
        "SELECT sequence, from_status, to_status, actor, reason, correlation_id FROM read.supplier_history ORDER BY sequence",
    )
    .fetch_all(&pool)
    .await
    .expect("history");
    let transitions: Vec<(Option<&str>, &str)> = history
        .iter()
        .map(|h| (h.1.as_deref(), h.2.as_str()))
        .collect();
    assert_eq!(
        transitions,
        [
            (None, "pending"),
            (Some("pending"), "pending"),
            (Some("pending"), "approved"),
            (Some("approved"), "suspended")
        ]
    );
    assert_eq!(history[3].3, json!({"sub": "admin-1", "role": "admin"}));
    assert_eq!(history[3].4.as_deref(), Some("because"));
    assert_eq!(history[3].5, Some(format!("c-{id}")));
    stop.cancel();
    handle.await.expect("stopped");
}

#[tokio::test]
async fn messages_delivered_twice_change_nothing() {
    let pool = database().await;
    let stream = Stream::new().await;
    let ids: Vec<String> = (0..20).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    for (n, id) in ids.iter().enumerate() {
        for e in lifecycle(id, n) {
            stream.send(&e).await;
        }
    }
    let (stop, handle) = start(runner(&pool, &stream, "read"));
    until_count(&pool, "SELECT count(*) FROM read.supplier_history", 80).await;
    let before = snapshot(&pool, "read").await;
    // The relay publishing a batch again after a crash: the same events, once more.
    for (n, id) in ids.iter().enumerate() {
        for e in lifecycle(id, n) {
            stream.send(&e).await;
        }
    }
    until_count(
        &pool,
        "SELECT sum(next_offset)::bigint FROM read_suppliers_g1.projection_offsets",
        160,
    )
    .await;
    assert_eq!(snapshot(&pool, "read").await, before);
    let skipped: i64 = sqlx::query_scalar("SELECT count(*) FROM read_suppliers_g1.dead_events")
        .fetch_one(&pool)
        .await
        .expect("dead");
    assert_eq!(skipped, 0, "duplicates are skipped, not dead");
    stop.cancel();
    handle.await.expect("stopped");
}

/// Poison dead-letters alone: an undecodable message and a payload that does not match its
/// schema are recorded dead; the poisoned stream's later events wait behind its dead event
/// (visibly, not dead themselves) while another stream applies whole; `skip` lets the
/// poisoned stream go on.
#[tokio::test]
async fn poison_dead_letters_alone_and_its_stream_waits_until_skipped() {
    let pool = database().await;
    let stream = Stream::new().await;
    let poisoned = uuid::Uuid::now_v7().to_string();
    let healthy = uuid::Uuid::now_v7().to_string();
    let events = lifecycle(&poisoned, 1);
    stream.send(&events[0]).await;
    stream.send_raw(&poisoned, b"{not json").await;
    let mut wrong = events[1].clone();
    wrong["payload"] = json!({"kind": 42});
    stream.send(&wrong).await;
    for e in &events[2..] {
        stream.send(e).await;
    }
    for e in lifecycle(&healthy, 2) {
        stream.send(&e).await;
    }
    let (stop, handle) = start(runner(&pool, &stream, "read"));
    until_count(
        &pool,
        "SELECT count(*) FROM read_suppliers_g1.dead_events",
        4,
    )
    .await;
    until_count(
        &pool,
        &format!("SELECT version FROM read.suppliers WHERE id = '{healthy}'"),
        4,
    )
    .await;
    let rows: Vec<(String, Option<i64>, String)> = sqlx::query_as(
        "SELECT state, sequence, error FROM read_suppliers_g1.dead_events ORDER BY kafka_offset",
    )
    .fetch_all(&pool)
    .await
    .expect("dead");
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("dead", None), "{rows:?}");
    assert!(rows[0].2.starts_with("undecodable envelope"), "{rows:?}");
    assert_eq!(
        (rows[1].0.as_str(), rows[1].1),
        ("dead", Some(2)),
        "{rows:?}"
    );
    assert!(rows[1].2.contains("does not match its schema"), "{rows:?}");
    for (row, seq) in rows[2..].iter().zip([3, 4]) {
        assert_eq!((row.0.as_str(), row.1), ("waiting", Some(seq)), "{rows:?}");
        assert!(
            row.2.contains("waits behind the dead event at sequence 2"),
            "{rows:?}"
        );
    }
    let version: i64 = sqlx::query_scalar(&format!(
        "SELECT version FROM read.suppliers WHERE id = '{poisoned}'"
    ))
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!(version, 1, "the poisoned stream waits");

    // A retry changes nothing: the payload is still wrong.
    let retried = projectors::rebuild::retry_dead(&pool, &SupplierProjection, "read")
        .await
        .expect("retry");
    assert_eq!((retried.applied, retried.still_dead), (0, 4));
    // Skipping the poison lets its stream go on; the undecodable message stays dead.
    let (partition, offset): (i32, i64) = sqlx::query_as(
        "SELECT partition, kafka_offset FROM read_suppliers_g1.dead_events WHERE sequence = 2",
    )
    .fetch_one(&pool)
    .await
    .expect("offset");
    let skipped = projectors::rebuild::skip(
        &pool,
        &SupplierProjection,
        "read",
        &projectors::rebuild::SkipRequest {
            topic: &stream.topic,
            partition,
            offset,
            by: "test",
            reason: "poison: the producer's bug, fixed since",
        },
    )
    .await
    .expect("skip");
    assert_eq!(
        (skipped.retried.applied, skipped.retried.still_dead),
        (2, 1)
    );
    let (status, version): (String, i64) = sqlx::query_as(&format!(
        "SELECT status, version FROM read.suppliers WHERE id = '{poisoned}'"
    ))
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!((status.as_str(), version), ("suspended", 4));
    let states: Vec<String> =
        sqlx::query_scalar("SELECT state FROM read_suppliers_g1.dead_events ORDER BY kafka_offset")
            .fetch_all(&pool)
            .await
            .expect("states");
    assert_eq!(states, ["dead", "skipped"]);
    stop.cancel();
    handle.await.expect("stopped");
}

#[tokio::test]
async fn a_projector_killed_mid_stream_ends_with_the_exact_read_model() {
    let (pool, url) = database_with_url().await;
    let stream = Stream::new().await;
    let ids: Vec<String> = (0..500).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let all: Vec<serde_json::Value> = ids
        .iter()
        .enumerate()
        .flat_map(|(n, id)| lifecycle(id, n))
        .collect();
    futures::future::join_all(all.iter().map(|e| stream.send(e))).await;

    // First run: aborted (like a SIGKILL: no shutdown path) after some batches committed.
    let (_, handle) = start(runner(&pool, &stream, "read"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM read.supplier_history")
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
        if n > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    handle.abort();
    let _ = handle.await;
    // A killed process's connections close, and PostgreSQL rolls its transaction back. (An
    // aborted task alone would leave the rollback queued on an idle pooled connection, still
    // holding the offset rows' locks.)
    pool.close().await;
    let pool = PgPool::connect(&url).await.expect("reconnect");
    let at_kill: i64 = sqlx::query_scalar("SELECT count(*) FROM read.supplier_history")
        .fetch_one(&pool)
        .await
        .expect("count");

    // Restarted in a new consumer group (so Kafka's offsets cannot help it): it resumes from
    // the offsets stored with the read model.
    let (stop, handle) = start(runner(&pool, &stream, "read"));
    until_count(&pool, "SELECT count(*) FROM read.supplier_history", 2000).await;
    stop.cancel();
    handle.await.expect("stopped");

    // A clean replay into another schema is the reference.
    let (stop, handle) = start(runner(&pool, &stream, "reference"));
    until_count(
        &pool,
        "SELECT count(*) FROM reference.supplier_history",
        2000,
    )
    .await;
    stop.cancel();
    handle.await.expect("stopped");
    assert!(
        at_kill < 2000,
        "killed mid-stream ({at_kill} of 2000 applied)"
    );
    assert_eq!(
        snapshot(&pool, "read").await,
        snapshot(&pool, "reference").await
    );
    let statuses: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM read.suppliers WHERE status = 'suspended' AND version = 4",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(statuses, 500);
}
