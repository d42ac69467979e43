//! The outbox relay against the real broker: nothing skipped when transactions commit out of
//! order, nothing lost when the relay is killed, envelopes as documented.

use crate::helpers::*;
use platform::relay::{Relay, RelayConfig, RelayMetrics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn prefix() -> String {
    format!("t{}.", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

async fn topics(prefix: &str) -> String {
    platform::kafka::ensure_topics(&kafka_brokers(), prefix, schemas::topics::ALL, 1)
        .await
        .expect("Kafka is up (run `make up` or infra/local/infra-up.sh)");
    schemas::topics::prefixed(prefix, schemas::topics::SUPPLIER)
}

fn start_relay(db: &TestDb, prefix: &str, batch_size: i64) -> CancellationToken {
    let producer =
        platform::kafka::idempotent_producer(&kafka_brokers(), "relay-test").expect("producer");
    let metrics = RelayMetrics::new(&prometheus::Registry::new()).expect("metrics");
    let relay = Relay::new(
        db.pool.clone(),
        producer,
        RelayConfig {
            name: "test".into(),
            topic_prefix: prefix.to_owned(),
            batch_size,
            poll_interval: Duration::from_millis(5),
            ..RelayConfig::default()
        },
        metrics,
    );
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move { relay.run(t).await.expect("relay runs") });
    token
}

/// Reads the topic from the beginning, in its own consumer group.
struct Reader {
    consumer: StreamConsumer,
    /// Arrival order of sequences per aggregate (duplicates included).
    seen: HashMap<String, Vec<i64>>,
    total: usize,
    distinct: std::collections::HashSet<(String, i64)>,
    envelopes: Vec<(schemas::Envelope, BTreeMap<String, String>)>,
}

impl Reader {
    fn new(topic: &str) -> Self {
        let consumer: StreamConsumer = platform::kafka::client_config(&kafka_brokers())
            .set("group.id", format!("test-{}", uuid::Uuid::new_v4()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        Self {
            consumer,
            seen: HashMap::new(),
            total: 0,
            distinct: std::collections::HashSet::new(),
            envelopes: Vec::new(),
        }
    }

    fn distinct(&self) -> usize {
        self.distinct.len()
    }

    async fn read_until(&mut self, distinct: usize, timeout: Duration, keep: bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.distinct() < distinct {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "timed out: {} of {distinct} events arrived",
                self.distinct()
            );
            let Ok(msg) = tokio::time::timeout(left, self.consumer.recv()).await else {
                continue;
            };
            let msg = match msg {
                Ok(m) => m,
                // A topic made a moment ago may not be in the broker's metadata yet: the
                // consumer says so and goes on.
                Err(rdkafka::error::KafkaError::MessageConsumption(
                    rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
                )) => continue,
                Err(e) => panic!("kafka message: {e}"),
            };
            let envelope: schemas::Envelope =
                serde_json::from_slice(msg.payload().expect("payload")).expect("envelope JSON");
            assert_eq!(
                msg.key(),
                Some(envelope.aggregate_id.as_bytes()),
                "keyed by aggregate id"
            );
            self.seen
                .entry(envelope.aggregate_id.clone())
                .or_default()
                .push(envelope.sequence);
            self.distinct
                .insert((envelope.aggregate_id.clone(), envelope.sequence));
            self.total += 1;
            if keep {
                let headers = msg
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                self.envelopes.push((envelope, headers));
            }
        }
    }

    /// Per aggregate, the first arrival of each sequence is in order and gapless from 1.
    fn assert_in_order(&self, expected_per_aggregate: &HashMap<String, i64>) {
        assert_eq!(self.seen.len(), expected_per_aggregate.len());
        for (agg, arrivals) in &self.seen {
            let mut firsts = Vec::new();
            for s in arrivals {
                if !firsts.contains(s) {
                    firsts.push(*s);
                }
            }
            let n = expected_per_aggregate[agg];
            assert_eq!(
                firsts,
                (1..=n).collect::<Vec<_>>(),
                "aggregate {agg} arrived as {arrivals:?}"
            );
        }
    }
}

async fn append(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, agg: &str, seq: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Supplier', $1, $2, 'SupplierApproved', '1', '{\"SupplierApproved\": {\"note\": null}}', '{}')",
    )
    .bind(agg)
    .bind(seq)
    .execute(&mut **tx)
    .await
    .expect("append");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_with_long_transactions_lose_and_reorder_nothing() {
    let db = TestDb::new().await;
    let prefix = prefix();
    let topic = topics(&prefix).await;
    let mut reader = Reader::new(&topic);
    let relay = start_relay(&db, &prefix, 50);

    let writers = (0..16).map(|w| {
        let pool = db.pool.clone();
        tokio::spawn(async move {
            let mut next: HashMap<String, i64> = HashMap::new();
            for t in 0..8 {
                let agg = format!("w{w}-a{}", t % 5);
                let mut tx = pool.begin().await.expect("begin");
                for _ in 0..(1 + (w + t) % 3) {
                    let seq = next.entry(agg.clone()).or_insert(0);
                    *seq += 1;
                    append(&mut tx, &agg, *seq).await;
                }
                if (w + t) % 5 == 0 {
                    // Holds its (older) transaction id open while others commit newer ones.
                    tokio::time::sleep(Duration::from_millis(1200)).await;
                }
                tx.commit().await.expect("commit");
            }
            next
        })
    });
    let mut expected: HashMap<String, i64> = HashMap::new();
    for w in writers {
        expected.extend(w.await.expect("writer"));
    }
    let total: i64 = expected.values().sum();
    reader
        .read_until(
            usize::try_from(total).expect("count"),
            Duration::from_secs(60),
            false,
        )
        .await;
    reader.assert_in_order(&expected);
    relay.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_killed_mid_stream_loses_nothing_when_restarted() {
    let db = TestDb::new().await;
    let prefix = prefix();
    let topic = topics(&prefix).await;
    let (aggregates, per_aggregate) = (600_i64, 100_i64);
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT 'Supplier', 'agg-' || a, s, 'SupplierApproved', '1', '{\"SupplierApproved\": {\"note\": null}}', '{}'
           FROM generate_series(1, $2::int) s, generate_series(1, $1::int) a ORDER BY s, a",
    )
    .bind(aggregates)
    .bind(per_aggregate)
    .execute(&db.pool)
    .await
    .expect("bulk insert");
    let total = aggregates * per_aggregate;

    let spawn = || {
        tokio::process::Command::from(crate::helpers::child_process("relay::relay_process"))
            .env("FRESHLINE_DATABASE_URL", &db.url)
            .env("FRESHLINE_KAFKA_BROKERS", kafka_brokers())
            .env("FRESHLINE_TOPIC_PREFIX", &prefix)
            .env("FRESHLINE_RELAY_HTTP_ADDR", "127.0.0.1:0")
            .env("FRESHLINE_RELAY_BATCH_SIZE", "500")
            .env("FRESHLINE_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn outbox-relay")
    };
    let checkpoint = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT last_position FROM relay_checkpoints WHERE relay = 'default'",
        )
        .fetch_optional(&pool)
        .await
        .expect("checkpoint")
    };
    let mut first = spawn();
    let at_kill = eventually(
        Duration::from_secs(60),
        "the relay to publish a first batch",
        || {
            let pool = db.pool.clone();
            async move { checkpoint(pool).await.filter(|p| *p > 0) }
        },
    )
    .await;
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("reaped");
    assert!(
        at_kill < total,
        "killed mid-stream (checkpoint {at_kill} of {total})"
    );

    let mut second = spawn();
    let mut reader = Reader::new(&topic);
    reader
        .read_until(
            usize::try_from(total).expect("count"),
            Duration::from_secs(120),
            false,
        )
        .await;
    let expected: HashMap<String, i64> = (1..=aggregates)
        .map(|a| (format!("agg-{a}"), per_aggregate))
        .collect();
    reader.assert_in_order(&expected);
    eprintln!(
        "killed at checkpoint {at_kill}/{total}; {} records read for {total} events ({} duplicates)",
        reader.total,
        reader.total - usize::try_from(total).expect("count")
    );
    second.start_kill().expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_arrives_on_its_topic_in_the_documented_envelope() {
    let app = TestApp::spawn().await;
    let prefix = prefix();
    let topic = topics(&prefix).await;
    let mut reader = Reader::new(&topic);
    let relay = start_relay(&app.db, &prefix, 100);
    let (s, b) = app
        .post_with(
            "/v1/suppliers",
            &app.supplier("acct-1"),
            supplier_body("NL-300"),
            &[("x-correlation-id", "corr-e2e")],
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_str().expect("id").to_owned();
    reader.read_until(1, Duration::from_secs(30), true).await;
    let (envelope, headers) = &reader.envelopes[0];
    assert_eq!(envelope.aggregate_type, "Supplier");
    assert_eq!(envelope.aggregate_id, id);
    assert_eq!(envelope.sequence, 1);
    assert_eq!(envelope.event_type, "SupplierRegistered");
    assert_eq!(envelope.event_version, 1);
    assert_eq!(
        envelope.event_id.get_version_num(),
        7,
        "event ids are UUIDv7"
    );
    assert_eq!(envelope.metadata["correlation_id"], "corr-e2e");
    assert_eq!(envelope.metadata["actor_sub"], "acct-1");
    let payload = schemas::supplier::SupplierEvent::decode(
        &envelope.event_type,
        envelope.event_version,
        envelope.payload.clone(),
    )
    .expect("payload matches its schema");
    let schemas::supplier::SupplierEvent::Registered(r) = payload else {
        panic!("not a registration")
    };
    assert_eq!(r.registration_number, "NL-300");
    assert_eq!(r.owner.as_deref(), Some("acct-1"));
    assert_eq!(headers["event_type"], "SupplierRegistered");
    assert_eq!(headers["event_version"], "1");
    assert_eq!(headers["correlation_id"], "corr-e2e");
    relay.cancel();
}

/// Appends `per_aggregate` events to each of `aggregates` new aggregates named `{tag}-{a}`.
async fn append_many(pool: &sqlx::PgPool, tag: &str, aggregates: i64, per_aggregate: i64) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT 'Supplier', $3 || '-' || a, s, 'SupplierApproved', '1', '{\"SupplierApproved\": {\"note\": null}}', '{}'
           FROM generate_series(1, $2::int) s, generate_series(1, $1::int) a ORDER BY s, a",
    )
    .bind(aggregates)
    .bind(per_aggregate)
    .bind(tag)
    .execute(pool)
    .await
    .expect("bulk insert");
}

async fn max_position(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
        .fetch_one(pool)
        .await
        .expect("max position")
}

async fn checkpoint_of(pool: &sqlx::PgPool, relay: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT last_position FROM relay_checkpoints WHERE relay = $1")
        .bind(relay)
        .fetch_optional(pool)
        .await
        .expect("checkpoint")
}

async fn lease_of(pool: &sqlx::PgPool, relay: &str) -> Option<(uuid::Uuid, i64)> {
    sqlx::query_as("SELECT holder, epoch FROM relay_leases WHERE relay = $1")
        .bind(relay)
        .fetch_optional(pool)
        .await
        .expect("lease")
}

fn signal(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_leader_loses_its_lease_to_a_standby_and_cannot_publish_when_it_wakes() {
    let db = TestDb::new().await;
    let prefix = prefix();
    let topic = topics(&prefix).await;
    let spawn = || {
        tokio::process::Command::from(crate::helpers::child_process("relay::relay_process"))
            .env("FRESHLINE_DATABASE_URL", &db.url)
            .env("FRESHLINE_KAFKA_BROKERS", kafka_brokers())
            .env("FRESHLINE_TOPIC_PREFIX", &prefix)
            .env("FRESHLINE_RELAY_HTTP_ADDR", "127.0.0.1:0")
            .env("FRESHLINE_RELAY_LEASE_SECS", "2")
            .env("FRESHLINE_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn outbox-relay")
    };
    let published = |upto: i64| {
        let pool = db.pool.clone();
        move || {
            let pool = pool.clone();
            async move { checkpoint_of(&pool, "default").await.filter(|p| *p >= upto) }
        }
    };
    let mut leader = spawn();
    append_many(&db.pool, "before", 20, 5).await;
    let upto = max_position(&db.pool).await;
    eventually(
        Duration::from_secs(60),
        "the leader to publish",
        published(upto),
    )
    .await;
    let (first_holder, first_epoch) = lease_of(&db.pool, "default").await.expect("a lease");

    // Frozen, as by a stop-the-world pause: its lease runs out; the standby takes it.
    signal(&leader, "-STOP");
    let mut standby = spawn();
    append_many(&db.pool, "frozen", 20, 5).await;
    let upto = max_position(&db.pool).await;
    let started = std::time::Instant::now();
    eventually(
        Duration::from_secs(30),
        "the standby to take over from the frozen leader",
        published(upto),
    )
    .await;
    let took_over = started.elapsed();
    let (holder, epoch) = lease_of(&db.pool, "default").await.expect("a lease");
    assert_ne!(holder, first_holder, "the standby holds the lease");
    assert!(
        epoch > first_epoch,
        "a new epoch: {epoch} after {first_epoch}"
    );

    // Woken, the old leader finds its lease gone and stands by; the new leader goes on.
    signal(&leader, "-CONT");
    tokio::time::sleep(Duration::from_secs(3)).await;
    append_many(&db.pool, "after", 20, 5).await;
    let upto = max_position(&db.pool).await;
    eventually(
        Duration::from_secs(30),
        "publishing to go on",
        published(upto),
    )
    .await;
    assert_eq!(
        lease_of(&db.pool, "default").await,
        Some((holder, epoch)),
        "the woken leader did not take the lease back"
    );
    let mut reader = Reader::new(&topic);
    reader.read_until(300, Duration::from_secs(60), false).await;
    let expected: HashMap<String, i64> = ["before", "frozen", "after"]
        .iter()
        .flat_map(|t| (1..=20).map(move |a| (format!("{t}-{a}"), 5)))
        .collect();
    reader.assert_in_order(&expected);
    eprintln!(
        "standby took over {took_over:?} after the freeze; {} records for 300 events",
        reader.total
    );
    leader.start_kill().expect("kill");
    standby.start_kill().expect("kill");
}

fn relay_in_process(
    db: &TestDb,
    prefix: &str,
    registry: &prometheus::Registry,
    lease: Duration,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<Result<(), platform::relay::RelayError>>,
) {
    let producer =
        platform::kafka::idempotent_producer(&kafka_brokers(), "relay-test").expect("producer");
    let relay = Relay::new(
        db.pool.clone(),
        producer,
        RelayConfig {
            name: "test".into(),
            topic_prefix: prefix.to_owned(),
            poll_interval: Duration::from_millis(5),
            lease,
            ..RelayConfig::default()
        },
        RelayMetrics::new(registry).expect("metrics"),
    );
    let token = CancellationToken::new();
    let t = token.clone();
    (token, tokio::spawn(async move { relay.run(t).await }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_whose_lease_was_taken_cannot_move_the_checkpoint() {
    let db = TestDb::new().await;
    let prefix = prefix();
    let topic = topics(&prefix).await;
    let registry = prometheus::Registry::new();
    let (_stop, relay) = relay_in_process(&db, &prefix, &registry, Duration::from_secs(30));
    append_many(&db.pool, "a", 5, 2).await;
    let upto = max_position(&db.pool).await;
    let pool = db.pool.clone();
    eventually(Duration::from_secs(30), "a first batch", || {
        let pool = pool.clone();
        async move { checkpoint_of(&pool, "test").await.filter(|p| *p >= upto) }
    })
    .await;
    // Another relay takes the lease (as after this one froze past its expiry).
    sqlx::query(
        "UPDATE relay_leases SET holder = gen_random_uuid(), epoch = epoch + 1 WHERE relay = 'test'",
    )
    .execute(&db.pool)
    .await
    .expect("take the lease");
    append_many(&db.pool, "b", 5, 2).await;
    let ended = tokio::time::timeout(Duration::from_secs(30), relay)
        .await
        .expect("the deposed leader stops")
        .expect("joined");
    assert!(
        matches!(ended, Err(platform::relay::RelayError::LostLeadership)),
        "{ended:?}"
    );
    assert_eq!(
        checkpoint_of(&db.pool, "test").await,
        Some(upto),
        "the deposed leader did not move the checkpoint"
    );
    drop(topic);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checkpoint_ahead_of_a_restored_database_stops_the_relay_until_recovered() {
    let db = TestDb::new().await;
    let prefix = prefix();
    let topic = topics(&prefix).await;
    let registry = prometheus::Registry::new();
    // Nothing to recover on a healthy database: the command refuses and changes nothing.
    append_many(&db.pool, "old", 3, 2).await;
    sqlx::query(
        "INSERT INTO relay_checkpoints (relay, last_xid, last_position)
         VALUES ('test', pg_current_xact_id(), 0)",
    )
    .execute(&db.pool)
    .await
    .expect("checkpoint");
    assert!(matches!(
        platform::relay::recover_after_restore(&db.pool, "test", 1).await,
        Err(platform::relay::RecoveryError::NotNeeded(_))
    ));
    // The state a restore leaves: the checkpoint names a transaction id the database has
    // not handed out (the dump came from a cluster further along).
    sqlx::query(
        "UPDATE relay_checkpoints SET last_xid = (pg_current_xact_id()::text::bigint + 1000000)::text::xid8,
                last_position = 6 WHERE relay = 'test'",
    )
    .execute(&db.pool)
    .await
    .expect("checkpoint ahead");
    let (stop, _relay) = relay_in_process(&db, &prefix, &registry, Duration::from_secs(10));
    append_many(&db.pool, "new", 3, 2).await;
    let gauge = |name: &str| {
        registry
            .gather()
            .iter()
            .find(|f| f.name() == name)
            .map_or(-1.0, |f| f.get_metric()[0].get_gauge().get_value())
    };
    let r = &registry;
    eventually(
        Duration::from_secs(20),
        "the relay to report the restore",
        || async move {
            let g = r
                .gather()
                .iter()
                .find(|f| f.name() == platform::relay::names::CHECKPOINT_AHEAD)
                .map(|f| f.get_metric()[0].get_gauge().get_value());
            (g == Some(1.0)).then_some(())
        },
    )
    .await;
    assert_eq!(gauge(platform::relay::names::STALLED), 1.0);
    assert_eq!(
        checkpoint_of(&db.pool, "test").await,
        Some(6),
        "nothing published"
    );

    let recovery = platform::relay::recover_after_restore(&db.pool, "test", 1)
        .await
        .expect("recovered");
    assert_eq!(recovery.republish_from, 1);
    assert_eq!(recovery.rebased_events, 12);
    // Everything is published again, in order per aggregate, and new events follow.
    append_many(&db.pool, "later", 3, 2).await;
    let mut reader = Reader::new(&topic);
    reader.read_until(18, Duration::from_secs(60), false).await;
    let expected: HashMap<String, i64> = ["old", "new", "later"]
        .iter()
        .flat_map(|t| (1..=3).map(move |a| (format!("{t}-{a}"), 2)))
        .collect();
    reader.assert_in_order(&expected);
    assert_eq!(gauge(platform::relay::names::CHECKPOINT_AHEAD), 0.0);
    assert_eq!(gauge(platform::relay::names::STALLED), 0.0);
    stop.cancel();
}

/// The outbox relay as its own OS process, for the test above to SIGKILL: this test binary run
/// again with only this test ([`crate::helpers::child_process`]), which then runs the relay as
/// `freshline serve outbox-relay` does, from the environment the parent set.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run by the relay kill test as a child process"]
async fn relay_process() {
    if crate::helpers::is_child() {
        command_api::serve::outbox_relay()
            .await
            .expect("the relay runs");
    }
}
