//! `freshline bench projection`: how fast a projection replays a topic from the beginning;
//! `freshline bench snapshots`: command latency on a long stream with and without snapshots.

mod snapshots;

use anyhow::Context;
use clap::Subcommand;
use futures::stream::{self, StreamExt};
use platform::config::defaults;
use platform::consumer::ConsumerMetrics;
use projectors::runtime::{Runner, RunnerConfig};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The outbox relay: a backlog of N events published to a scratch topic prefix (events/s),
    /// then the publish lag (append -> consumed) at a steady rate. Prints the record size for
    /// the ProducerPerformance anchor.
    Relay {
        /// Events in the backlog.
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// Events/s appended in the steady phase.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// Seconds of steady phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// PostgreSQL URL (a scratch database is created next to it).
        #[arg(long, env = "FRESHLINE_DATABASE_URL", default_value = defaults::DATABASE_URL, hide_env_values = true)]
        database_url: String,
        /// Kafka bootstrap servers.
        #[arg(long, env = "FRESHLINE_KAFKA_BROKERS", default_value = defaults::KAFKA_BROKERS)]
        brokers: String,
    },
    /// Publish N supplier events to a scratch topic, then time the supplier projection
    /// replaying them into a scratch database from offset 0.
    Projection {
        /// Events (4 per supplier).
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// PostgreSQL URL (a scratch database is created next to it).
        #[arg(long, env = "FRESHLINE_DATABASE_URL", default_value = defaults::DATABASE_URL, hide_env_values = true)]
        database_url: String,
        /// Kafka bootstrap servers.
        #[arg(long, env = "FRESHLINE_KAFKA_BROKERS", default_value = defaults::KAFKA_BROKERS)]
        brokers: String,
    },
    /// Build an inventory batch and a rider of N events each in a scratch database, then time
    /// commands on each through the command bus with snapshots off and on.
    Snapshots {
        /// Events in each stream before the measured commands.
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Commands timed per row.
        #[arg(long, default_value_t = 200)]
        commands: usize,
        /// The snapshot interval of the "on" rows.
        #[arg(long, default_value_t = platform::bus::Snapshots::DEFAULT_EVERY)]
        every: usize,
        /// PostgreSQL URL (a scratch database is created next to it).
        #[arg(long, env = "FRESHLINE_DATABASE_URL", default_value = defaults::DATABASE_URL, hide_env_values = true)]
        database_url: String,
    },
}

fn event(id: &str, seq: i64, n: usize) -> serde_json::Value {
    let (event_type, payload) = match seq {
        1 => (
            "SupplierRegistered",
            serde_json::json!({
            "supplier_id": id, "owner": format!("acct-{n}"), "legal_name": format!("Bench Farm {n}"),
            "registration_number": format!("B-{n}"), "contact_email": "a@b.example", "phone": "+31205550101",
            "address": {"line1": "Dijk 1", "city": "Naaldwijk", "postal_code": "2671 AA", "country": "NL"},
            "categories": ["fruit", "herb"]}),
        ),
        2 => (
            "SupplierDocumentSubmitted",
            serde_json::json!({"kind": "business_license", "reference": "L-1", "expires_on": "2030-01-01"}),
        ),
        3 => ("SupplierApproved", serde_json::json!({"note": "ok"})),
        _ => ("SupplierSuspended", serde_json::json!({"reason": "audit"})),
    };
    serde_json::json!({
        "event_id": uuid::Uuid::now_v7(), "aggregate_type": "Supplier", "aggregate_id": id, "sequence": seq,
        "global_position": n as i64 * 4 + seq, "event_type": event_type, "event_version": 1,
        "occurred_at": "2026-11-21T10:00:00Z",
        "metadata": {"actor_sub": "bench", "actor_role": "admin", "correlation_id": id},
        "payload": payload,
    })
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Relay {
            events,
            rate,
            seconds,
            database_url,
            brokers,
        } => crate::bench_relay::run(events, rate, seconds, &database_url, &brokers).await,
        BenchCommand::Projection {
            events,
            database_url,
            brokers,
        } => projection(events, database_url, brokers).await,
        BenchCommand::Snapshots {
            events,
            commands,
            every,
            database_url,
        } => snapshots::run(events, commands, every, &database_url).await,
    }
}

async fn projection(events: usize, database_url: String, brokers: String) -> anyhow::Result<()> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("bench{}.", &run[..8]);
    platform::kafka::ensure_topics(&brokers, &prefix, schemas::topics::ALL, 1).await?;
    let topic = schemas::topics::prefixed(&prefix, schemas::topics::SUPPLIER);
    let producer: FutureProducer =
        platform::kafka::idempotent_producer(&brokers, "freshline-bench")?;
    let suppliers = events.div_ceil(4);
    let t = Instant::now();
    stream::iter(0..suppliers)
        .for_each_concurrent(64, |n| {
            let producer = &producer;
            let topic = &topic;
            async move {
                let id = uuid::Uuid::now_v7().to_string();
                for seq in 1..=4 {
                    let value = serde_json::to_vec(&event(&id, seq, n)).unwrap_or_default();
                    if let Err((e, _)) = producer
                        .send(
                            FutureRecord::to(topic).key(&id).payload(&value),
                            Duration::from_secs(30),
                        )
                        .await
                    {
                        eprintln!("produce failed: {e}");
                    }
                }
            }
        })
        .await;
    eprintln!(
        "published {} events in {:.1}s",
        suppliers * 4,
        t.elapsed().as_secs_f64()
    );

    let admin = sqlx::PgPool::connect(&database_url)
        .await
        .context("connecting")?;
    let db = format!("bench_projection_{}", &run[..8]);
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await?;
    let (base, _) = database_url.rsplit_once('/').context("database url")?;
    let pool = platform::db::pool(&secrecy::SecretString::from(format!("{base}/{db}")), 8)?;
    let mut cfg = RunnerConfig::new(&brokers);
    cfg.topic_prefix = prefix;
    cfg.group_id = Some(format!("bench-{run}"));
    let registry = prometheus::Registry::new();
    let runner = Runner::new(
        Arc::new(projectors::suppliers::SupplierProjection),
        pool.clone(),
        cfg,
        ConsumerMetrics::new(&registry)?,
    );
    projectors::runtime::prepare_live(&pool, &projectors::suppliers::SupplierProjection, "read")
        .await?;
    let token = tokio_util::sync::CancellationToken::new();
    let t = Instant::now();
    // Like the projector binary: a failed run (a deadlock between partition batches, say) is
    // restarted from the offsets stored with the read model.
    let handle = {
        let token = token.clone();
        tokio::spawn(async move {
            while !token.is_cancelled() {
                match runner.run(token.clone()).await {
                    Ok(()) => break,
                    Err(e) => {
                        eprintln!("projection run failed, restarting: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            anyhow::Ok(())
        })
    };
    let want = i64::try_from(suppliers * 4)?;
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM read.supplier_history")
            .fetch_one(&pool)
            .await?;
        if n >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    token.cancel();
    handle.await??;
    let store = replay_from_store(&pool, &brokers, &run, suppliers).await?;
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE {db}"))
        .execute(&admin)
        .await?;
    println!("{store}");
    println!(
        "projection replay (suppliers: directory + history): {want} events in {secs:.2}s = {:.0} events/s",
        want as f64 / secs
    );
    Ok(())
}

/// Event store columns of a page of bench events: aggregate id, sequence, type, version,
/// payload (untagged), metadata.
type StoredColumns = (
    Vec<String>,
    Vec<i64>,
    Vec<String>,
    Vec<String>,
    Vec<serde_json::Value>,
    Vec<serde_json::Value>,
);

/// The same events written to the scratch database's event store, then a rebuild of the
/// supplier projection from the store (`freshline projections rebuild --from store`).
async fn replay_from_store(
    pool: &sqlx::PgPool,
    brokers: &str,
    run: &str,
    suppliers: usize,
) -> anyhow::Result<String> {
    platform::db::migrate(pool).await?;
    let t = Instant::now();
    for chunk in (0..suppliers).collect::<Vec<_>>().chunks(2500) {
        let mut columns = StoredColumns::default();
        for n in chunk {
            let id = uuid::Uuid::now_v7().to_string();
            for seq in 1..=4 {
                let mut e = event(&id, seq, *n);
                columns.0.push(id.clone());
                columns.1.push(seq);
                columns
                    .2
                    .push(e["event_type"].as_str().unwrap_or_default().to_owned());
                columns.3.push("1".into());
                columns.4.push(e["payload"].take());
                columns.5.push(e["metadata"].take());
            }
        }
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT 'Supplier', id, seq, t, v, jsonb_build_object(t, p), m
               FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[])
                    AS u(id, seq, t, v, p, m)",
        )
        .bind(columns.0)
        .bind(columns.1)
        .bind(columns.2)
        .bind(columns.3)
        .bind(columns.4)
        .bind(columns.5)
        .execute(pool)
        .await?;
    }
    // Statistics, as autovacuum keeps them on a real store (the page read plans on them).
    sqlx::query("ANALYZE events").execute(pool).await?;
    eprintln!(
        "stored {} events in {:.1}s",
        suppliers * 4,
        t.elapsed().as_secs_f64()
    );
    let mut cfg = RunnerConfig::new(brokers);
    // Topics of their own, empty: everything comes from the store.
    cfg.topic_prefix = format!("benchstore{}.", &run[..8]);
    platform::kafka::ensure_topics(brokers, &cfg.topic_prefix, schemas::topics::ALL, 1).await?;
    let rebuilt = projectors::rebuild::rebuild(
        pool,
        Arc::new(projectors::suppliers::SupplierProjection),
        &cfg,
        projectors::rebuild::Source::Store,
        |_| {},
    )
    .await?;
    let physical = projectors::runtime::physical_schema("read", "suppliers", rebuilt.to_generation);
    let dead: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {physical}.dead_events"))
        .fetch_one(pool)
        .await?;
    anyhow::ensure!(
        dead == 0,
        "{dead} events were dead in the rebuild from the store"
    );
    let secs = rebuilt.elapsed.as_secs_f64();
    Ok(format!(
        "projection rebuild from the event store (suppliers: directory + history): {} events in {secs:.2}s = {:.0} events/s",
        rebuilt.consumed,
        rebuilt.consumed as f64 / secs
    ))
}
