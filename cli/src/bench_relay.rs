//! `freshline bench relay`: the outbox relay's throughput on a backlog and its publish lag at a
//! steady rate, on a scratch database and a scratch topic prefix, on the broker the stack
//! runs. Kafka's own ProducerPerformance with the same record size is the anchor
//! (`infra/local/bench.sh` runs it beside this, and divides).

use anyhow::Context;
use platform::relay::{Relay, RelayConfig, RelayMetrics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use std::time::{Duration, Instant};

/// Runs the two measurements; one markdown-ish line each, and the record size for the anchor.
///
/// # Errors
/// When the database or Kafka fail.
pub async fn run(
    events: usize,
    rate: u32,
    seconds: u64,
    database_url: &str,
    brokers: &str,
) -> anyhow::Result<()> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("benchrelay{}.", &run[..8]);
    platform::kafka::ensure_topics(brokers, &prefix, schemas::topics::ALL, 1).await?;
    let admin = sqlx::PgPool::connect(database_url)
        .await
        .context("connecting")?;
    let db = format!("bench_relay_{}", &run[..8]);
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await?;
    let (base, _) = database_url.rsplit_once('/').context("database url")?;
    let pool = platform::db::pool(&secrecy::SecretString::from(format!("{base}/{db}")), 8)?;
    platform::db::migrate(&pool).await?;

    // A backlog of supplier events shaped like real ones (a document submission each).
    let insert = |from: i64, to: i64| {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT 'Supplier', md5(g::text), 1, 'SupplierDocumentSubmitted', '1',
                    jsonb_build_object('SupplierDocumentSubmitted', jsonb_build_object(
                        'kind', 'business_license', 'reference', 'LIC-' || g, 'expires_on', '2030-12-31')),
                    jsonb_build_object('actor_sub', 'bench', 'actor_role', 'admin',
                        'correlation_id', md5(g::text), 'causation_id', md5(g::text),
                        'recorded_at', now()::text)
               FROM generate_series($1::bigint, $2::bigint) g",
        )
        .bind(from)
        .bind(to)
    };
    let total = i64::try_from(events)?;
    let mut at = 1;
    while at <= total {
        let to = (at + 49_999).min(total);
        insert(at, to).execute(&pool).await?;
        at = to + 1;
    }
    let producer = platform::kafka::idempotent_producer(brokers, "freshline-bench-relay")?;
    let relay = Relay::new(
        pool.clone(),
        producer,
        RelayConfig {
            name: "bench".into(),
            topic_prefix: prefix.clone(),
            ..RelayConfig::default()
        },
        RelayMetrics::new(&prometheus::Registry::new())?,
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let started = Instant::now();
    let handle = {
        let stop = stop.clone();
        tokio::spawn(async move { relay.run(stop).await })
    };
    let last: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&pool)
        .await?;
    loop {
        let done: Option<i64> =
            sqlx::query_scalar("SELECT last_position FROM relay_checkpoints WHERE relay = 'bench'")
                .fetch_optional(&pool)
                .await?;
        if done.is_some_and(|d| d >= last) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let backlog_secs = started.elapsed().as_secs_f64();

    // The size of what the relay published, for the anchor.
    let topic = schemas::topics::prefixed(&prefix, schemas::topics::SUPPLIER);
    let consumer: StreamConsumer = platform::kafka::client_config(brokers)
        .set("group.id", format!("bench-relay-{run}"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest")
        .create()?;
    consumer.subscribe(&[&topic])?;
    // Let the group settle before the steady phase starts producing.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Steady phase: `rate` events/s appended one by one; lag = consumed at - appended at.
    let steady = tokio::spawn({
        let pool = pool.clone();
        // As a writer does: a notification after each commit wakes the relay.
        let appended = platform::relay::AppendSignal::start(pool.clone());
        async move {
            let mut tick =
                tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
            let n = u64::from(rate) * seconds;
            for i in 0..n {
                tick.tick().await;
                let g = total + 1 + i64::try_from(i).unwrap_or(0);
                insert(g, g).execute(&pool).await?;
                appended.raise();
            }
            anyhow::Ok(n)
        }
    });
    let mut lags = Vec::new();
    let mut sizes = Vec::new();
    let want = u64::from(rate) * seconds;
    let deadline = Instant::now() + Duration::from_secs(seconds + 30);
    while (lags.len() as u64) < want && Instant::now() < deadline {
        let Ok(Ok(msg)) = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await
        else {
            continue;
        };
        let Some(payload) = msg.payload() else {
            continue;
        };
        sizes.push(payload.len());
        if let Ok(e) = serde_json::from_slice::<schemas::Envelope>(payload) {
            let lag = chrono::Utc::now() - e.occurred_at;
            lags.push(lag.num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
    }
    steady.await??;
    stop.cancel();
    handle.await??;
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    lags.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lags.get(((lags.len() as f64 * p) as usize).min(lags.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let size = if sizes.is_empty() {
        0
    } else {
        sizes.iter().sum::<usize>() / sizes.len()
    };
    println!(
        "relay backlog: {events} events in {backlog_secs:.1} s = {:.0}/s; record size {size} B",
        events as f64 / backlog_secs.max(1e-9)
    );
    println!(
        "relay lag at {rate}/s: p50 {:.1} ms, p99 {:.1} ms (append -> consumed, {} events)",
        pct(0.5),
        pct(0.99),
        lags.len()
    );
    Ok(())
}
