//! The invariants the chaos run holds the system to, checked once the load has drained. Each
//! gives a line of the report: held or broken, with its counts.

use super::ledger::Entry;
use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// An event by its stream: (aggregate type, aggregate id, sequence).
type StreamEvent = (String, String, i64);

/// Where the stack under test keeps its state.
pub struct Stack {
    pub pool: PgPool,
    pub brokers: String,
    pub topic_prefix: String,
    /// The read models' schema (`read`).
    pub read_schema: String,
    /// The SMTP sink's Maildir (`new/` holds one file per accepted mail).
    pub maildir: std::path::PathBuf,
}

/// One invariant's verdict.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub name: &'static str,
    pub held: bool,
    pub detail: String,
}

fn verdict(name: &'static str, held: bool, detail: String) -> Verdict {
    Verdict { name, held, detail }
}

/// The invariants' names, in report order.
pub const NAMES: [&str; 9] = [
    "acknowledged once",
    "store = Kafka",
    "read models = rebuild",
    "orders settled",
    "captured once",
    "ledger balances",
    "stock adds up",
    "mail once",
    "no bare 5xx",
];

/// Waits (up to `timeout`) until the system is quiet: everything published, no saga still
/// running, no notification waiting, every projection caught up. Answers what was still
/// moving when time ran out (empty: drained).
pub async fn drain(s: &Stack, timeout: Duration) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + timeout;
    let mut last_said = Instant::now();
    loop {
        let mut moving = Vec::new();
        let unpublished: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events e, relay_checkpoints c
              WHERE c.relay = 'default' AND (e.xid, e.global_position) > (c.last_xid, c.last_position)",
        )
        .fetch_one(&s.pool)
        .await?;
        if unpublished > 0 {
            moving.push(format!("{unpublished} events unpublished"));
        }
        let sagas: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM fulfilment.sagas WHERE status IN ('running', 'waiting')",
        )
        .fetch_one(&s.pool)
        .await
        .unwrap_or(0);
        if sagas > 0 {
            moving.push(format!("{sagas} sagas running"));
        }
        let mail: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notifier.notifications WHERE status IN ('pending', 'sending')",
        )
        .fetch_one(&s.pool)
        .await
        .unwrap_or(0);
        if mail > 0 {
            moving.push(format!("{mail} notifications waiting"));
        }
        for p in projectors::all() {
            let behind = projection_behind(s, p.as_ref()).await?;
            if behind > 0 {
                moving.push(format!("{}: {behind} streams behind", p.name()));
            }
        }
        if moving.is_empty() || Instant::now() > deadline {
            return Ok(moving);
        }
        if last_said.elapsed() >= Duration::from_secs(10) {
            eprintln!("draining: {}", moving.join(", "));
            last_said = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Streams whose last event the projection has not applied.
async fn projection_behind(
    s: &Stack,
    p: &dyn projectors::projection::Projection,
) -> anyhow::Result<i64> {
    let live = projectors::runtime::prepare_live(&s.pool, p, &s.read_schema).await?;
    let physical = projectors::runtime::physical_schema(&s.read_schema, p.name(), live);
    let types = projectors::projection::aggregate_types(p);
    Ok(sqlx::query_scalar(&format!(
        "SELECT count(*) FROM (
             SELECT aggregate_type, aggregate_id, max(sequence) AS v FROM events
              WHERE aggregate_type = ANY($1) GROUP BY 1, 2) s
           LEFT JOIN {physical}.applied_versions a USING (aggregate_type, aggregate_id)
          WHERE a.version IS DISTINCT FROM s.v"
    ))
    .bind(&types)
    .fetch_one(&s.pool)
    .await?)
}

/// Checks every invariant against the stack and the load's `ledger`.
pub async fn check(s: &Stack, ledger: &[Entry]) -> anyhow::Result<Vec<Verdict>> {
    Ok(vec![
        acknowledged_once(s, ledger).await?,
        store_equals_kafka(s).await?,
        read_models_equal_rebuild(s).await?,
        orders_settled(s).await?,
        captured_once(s).await?,
        ledger_balances(s).await?,
        stock_adds_up(s).await?,
        mail_once(s).await?,
        no_bare_server_errors(ledger),
    ])
}

/// Every acknowledged command's events are in the store, and no command (by its idempotency
/// key) was applied in two transactions.
async fn acknowledged_once(s: &Stack, ledger: &[Entry]) -> anyhow::Result<Verdict> {
    let acked: Vec<&Entry> = ledger
        .iter()
        .filter(|e| e.accepted() && e.key != "-")
        .collect();
    let (ids, versions): (Vec<String>, Vec<i64>) = acked
        .iter()
        .filter_map(|e| Some((e.id.clone()?, e.version.filter(|v| *v > 0)?)))
        .unzip();
    let lost: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unnest($1::text[], $2::bigint[]) AS a(id, v)
          WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.aggregate_id = a.id AND e.sequence = a.v)",
    )
    .bind(&ids)
    .bind(&versions)
    .fetch_one(&s.pool)
    .await?;
    let twice: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT metadata->>'idempotency_key' FROM events
              WHERE metadata ? 'idempotency_key'
              GROUP BY 1 HAVING count(DISTINCT xid) > 1) d",
    )
    .fetch_one(&s.pool)
    .await?;
    Ok(verdict(
        NAMES[0],
        lost == 0 && twice == 0,
        format!(
            "{} acknowledged, {lost} lost, {twice} keys applied twice",
            acked.len()
        ),
    ))
}

/// Every `(aggregate_id, sequence)` of the store is on its topic, nothing else is, and each
/// aggregate's events arrive in order.
async fn store_equals_kafka(s: &Stack) -> anyhow::Result<Verdict> {
    let topics: Vec<String> = schemas::topics::ALL
        .iter()
        .map(|t| schemas::topics::prefixed(&s.topic_prefix, t.name))
        .collect();
    // Right after a broker restart, partitions may still be electing their leader.
    let mut tries = 0;
    let high = loop {
        match platform::kafka::high_watermarks(&s.brokers, &topics).await {
            Ok(h) => break h,
            Err(e) if tries < 60 => {
                tracing::debug!(error = %e, "watermarks not readable yet");
                tries += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let brokers = s.brokers.clone();
    let read = tokio::task::spawn_blocking(move || -> anyhow::Result<(Vec<StreamEvent>, usize)> {
        let consumer: BaseConsumer = platform::kafka::client_config(&brokers)
            .set("group.id", format!("chaos-check-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .create()?;
        let mut tpl = TopicPartitionList::new();
        let mut left: HashMap<(String, i32), i64> = HashMap::new();
        for ((topic, partition), h) in &high {
            if *h > 0 {
                tpl.add_partition_offset(topic, *partition, Offset::Beginning)?;
                left.insert((topic.clone(), *partition), *h);
            }
        }
        consumer.assign(&tpl)?;
        let mut arrivals = Vec::new();
        let mut undecodable = 0usize;
        let deadline = Instant::now() + Duration::from_secs(120);
        while !left.is_empty() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "Kafka not read to its end within 2 minutes"
            );
            let Some(m) = consumer.poll(Duration::from_millis(500)) else {
                continue;
            };
            let m = m?;
            let k = (m.topic().to_owned(), m.partition());
            if let Some(h) = left.get(&k) {
                if m.offset() + 1 >= *h {
                    left.remove(&k);
                }
            }
            match m.payload().map(serde_json::from_slice::<schemas::Envelope>) {
                Some(Ok(e)) => arrivals.push((e.aggregate_type, e.aggregate_id, e.sequence)),
                _ => undecodable += 1,
            }
        }
        Ok((arrivals, undecodable))
    })
    .await??;
    let (arrivals, undecodable) = read;
    let in_kafka: HashSet<(String, String, i64)> = arrivals.iter().cloned().collect();
    let stored: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT aggregate_type, aggregate_id, sequence FROM events")
            .fetch_all(&s.pool)
            .await?;
    let in_store: HashSet<(String, String, i64)> = stored.into_iter().collect();
    let missing = in_store.difference(&in_kafka).count();
    let extra = in_kafka.difference(&in_store).count();
    // Per aggregate, the first arrival of each sequence comes in order.
    let mut last: HashMap<(String, String), i64> = HashMap::new();
    let mut seen: HashSet<(String, String, i64)> = HashSet::new();
    let mut out_of_order = 0usize;
    for a in &arrivals {
        if !seen.insert(a.clone()) {
            continue;
        }
        let k = (a.0.clone(), a.1.clone());
        if let Some(prev) = last.get(&k) {
            if a.2 != prev + 1 {
                out_of_order += 1;
            }
        } else if a.2 != 1 {
            out_of_order += 1;
        }
        last.insert(k, a.2);
    }
    let duplicates = arrivals.len() - seen.len();
    Ok(verdict(
        NAMES[1],
        missing == 0 && extra == 0 && out_of_order == 0 && undecodable == 0,
        format!(
            "{} events; {missing} missing from Kafka, {extra} not in the store, {out_of_order} out of order, {duplicates} redelivered (allowed)",
            in_store.len()
        ),
    ))
}

/// Every read model equals one rebuilt from the store (and no event is dead).
async fn read_models_equal_rebuild(s: &Stack) -> anyhow::Result<Verdict> {
    let mut differing = BTreeMap::new();
    let mut rows = 0i64;
    let mut dead = 0i64;
    for p in projectors::all() {
        let name = p.name();
        let live = projectors::runtime::prepare_live(&s.pool, p.as_ref(), &s.read_schema).await?;
        let old = projectors::runtime::physical_schema(&s.read_schema, name, live);
        dead += sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {old}.dead_events"))
            .fetch_one(&s.pool)
            .await?;
        let snapshot = format!("chaos_before_{name}");
        for ddl in [
            format!("DROP SCHEMA IF EXISTS {snapshot} CASCADE"),
            format!("CREATE SCHEMA {snapshot}"),
        ] {
            sqlx::query(&ddl).execute(&s.pool).await?;
        }
        for t in p.views() {
            sqlx::query(&format!(
                "CREATE TABLE {snapshot}.{t} AS SELECT * FROM {old}.{t}"
            ))
            .execute(&s.pool)
            .await?;
        }
        let mut cfg = projectors::runtime::RunnerConfig::new(&s.brokers);
        cfg.topic_prefix = s.topic_prefix.clone();
        cfg.schema = s.read_schema.clone();
        let done = projectors::rebuild::rebuild(
            &s.pool,
            p.clone(),
            &cfg,
            projectors::rebuild::Source::Store,
            |_| {},
        )
        .await
        .with_context(|| format!("rebuilding {name}"))?;
        let new = projectors::runtime::physical_schema(&s.read_schema, name, done.to_generation);
        for t in p.views() {
            let n: i64 = sqlx::query_scalar(&format!(
                "SELECT (SELECT count(*) FROM (SELECT * FROM {snapshot}.{t} EXCEPT ALL SELECT * FROM {new}.{t}) a)
                      + (SELECT count(*) FROM (SELECT * FROM {new}.{t} EXCEPT ALL SELECT * FROM {snapshot}.{t}) b)"
            ))
            .fetch_one(&s.pool)
            .await?;
            rows += sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {new}.{t}"))
                .fetch_one(&s.pool)
                .await?;
            if n > 0 {
                differing.insert(format!("{name}.{t}"), n);
            }
        }
        sqlx::query(&format!("DROP SCHEMA {snapshot} CASCADE"))
            .execute(&s.pool)
            .await?;
    }
    Ok(verdict(
        NAMES[2],
        differing.is_empty() && dead == 0,
        if differing.is_empty() {
            format!("{rows} rows equal; {dead} dead events")
        } else {
            format!("{rows} rows; differing rows by table: {differing:?}; {dead} dead events")
        },
    ))
}

/// Every order is delivered or compensated, none stuck or parked; a compensated order's
/// captured payment is refunded in full.
async fn orders_settled(s: &Stack) -> anyhow::Result<Verdict> {
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM fulfilment.sagas GROUP BY 1 ORDER BY 1")
            .fetch_all(&s.pool)
            .await?;
    let unsettled: i64 = by_status
        .iter()
        .filter(|(st, _)| !matches!(st.as_str(), "delivered" | "compensated"))
        .map(|(_, n)| n)
        .sum();
    let (cap, done) = (
        schemas::payment::CAPTURED,
        schemas::payment::REFUND_COMPLETED,
    );
    let unrefunded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM fulfilment.sagas s
           JOIN LATERAL (
             SELECT coalesce(sum((payload->$1->'amount'->>'amount_minor')::bigint) FILTER (WHERE event_type = $1), 0) AS captured,
                    coalesce(sum((payload->$2->'amount'->>'amount_minor')::bigint) FILTER (WHERE event_type = $2), 0) AS refunded
               FROM events WHERE aggregate_type = 'Payment' AND aggregate_id = s.payment_id::text) p ON true
          WHERE s.status = 'compensated' AND p.captured > 0 AND p.refunded <> p.captured",
    )
    .bind(cap)
    .bind(done)
    .fetch_one(&s.pool)
    .await?;
    let counts = by_status
        .iter()
        .map(|(st, n)| format!("{n} {st}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(verdict(
        NAMES[3],
        unsettled == 0 && unrefunded == 0,
        format!(
            "{counts}; {unsettled} unsettled; {unrefunded} compensated but not refunded in full"
        ),
    ))
}

/// No payment captured twice, at the gateway or in the store; every capture the gateway made
/// is recorded.
async fn captured_once(s: &Stack) -> anyhow::Result<Verdict> {
    let cap = schemas::payment::CAPTURED;
    let in_store: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT aggregate_id FROM events
           WHERE aggregate_type = 'Payment' AND event_type = $1 GROUP BY 1 HAVING count(*) > 1) d",
    )
    .bind(cap)
    .fetch_one(&s.pool)
    .await?;
    let at_gateway: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT a.payment_id FROM card_gateway.captures c
           JOIN card_gateway.authorizations a ON a.reference = c.authorization_ref
          GROUP BY 1 HAVING count(*) > 1) d",
    )
    .fetch_one(&s.pool)
    .await?;
    let unrecorded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM card_gateway.captures c
           JOIN card_gateway.authorizations a ON a.reference = c.authorization_ref
          WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.aggregate_type = 'Payment'
                              AND e.aggregate_id = a.payment_id::text AND e.event_type = $1)",
    )
    .bind(cap)
    .fetch_one(&s.pool)
    .await?;
    let captures: i64 = sqlx::query_scalar("SELECT count(*) FROM card_gateway.captures")
        .fetch_one(&s.pool)
        .await?;
    Ok(verdict(
        NAMES[4],
        in_store == 0 && at_gateway == 0 && unrecorded == 0,
        format!("{captures} captures; {in_store} twice in the store, {at_gateway} twice at the gateway, {unrecorded} taken but not recorded"),
    ))
}

/// The double-entry ledger sums to zero per currency.
async fn ledger_balances(s: &Stack) -> anyhow::Result<Verdict> {
    let sums: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT currency, sum(amount_minor)::bigint, count(*) FROM {}.ledger_entries GROUP BY 1 ORDER BY 1",
        s.read_schema
    ))
    .fetch_all(&s.pool)
    .await?;
    let off: Vec<String> = sums
        .iter()
        .filter(|(_, sum, _)| *sum != 0)
        .map(|(c, sum, _)| format!("{c} {sum:+}"))
        .collect();
    let postings: i64 = sums.iter().map(|(_, _, n)| n).sum();
    Ok(verdict(
        NAMES[5],
        off.is_empty(),
        if off.is_empty() {
            format!("{postings} postings, every currency sums to 0")
        } else {
            format!("{postings} postings; off: {}", off.join(", "))
        },
    ))
}

/// For every batch, on hand = received - committed - spoiled - expired, never negative, and the
/// read model says the same.
async fn stock_adds_up(s: &Stack) -> anyhow::Result<Verdict> {
    use schemas::inventory::{
        BATCH_EXPIRED, BATCH_RECEIVED, RESERVATION_COMMITTED, SPOILAGE_RECORDED,
    };
    let (batches, negative, mismatched): (i64, i64, i64) = sqlx::query_as(&format!(
        "WITH f AS (
           SELECT aggregate_id,
                  coalesce(sum((payload->$1->>'quantity')::numeric) FILTER (WHERE event_type = $1), 0)
                - coalesce(sum((payload->$2->>'quantity')::numeric) FILTER (WHERE event_type = $2), 0)
                - coalesce(sum((payload->$3->>'quantity')::numeric) FILTER (WHERE event_type = $3), 0)
                - coalesce(sum((payload->$4->>'quantity')::numeric) FILTER (WHERE event_type = $4), 0) AS on_hand
             FROM events WHERE aggregate_type = 'InventoryBatch' GROUP BY 1)
         SELECT count(*), count(*) FILTER (WHERE f.on_hand < 0),
                count(*) FILTER (WHERE b.on_hand IS DISTINCT FROM f.on_hand)
           FROM f LEFT JOIN {}.batches b ON b.id::text = f.aggregate_id",
        s.read_schema
    ))
    .bind(BATCH_RECEIVED)
    .bind(RESERVATION_COMMITTED)
    .bind(SPOILAGE_RECORDED)
    .bind(BATCH_EXPIRED)
    .fetch_one(&s.pool)
    .await?;
    Ok(verdict(
        NAMES[6],
        negative == 0 && mismatched == 0,
        format!("{batches} batches; {negative} negative, {mismatched} differ from the read model"),
    ))
}

/// Every notification sent, and each mail in the sink once.
async fn mail_once(s: &Stack) -> anyhow::Result<Verdict> {
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM notifier.notifications GROUP BY 1 ORDER BY 1")
            .fetch_all(&s.pool)
            .await
            .unwrap_or_default();
    let ours: HashSet<String> = sqlx::query_scalar::<_, uuid::Uuid>(
        "SELECT event_id FROM notifier.notifications WHERE status = 'sent' AND channel = 'email'",
    )
    .fetch_all(&s.pool)
    .await
    .unwrap_or_default()
    .into_iter()
    .map(|u| u.to_string())
    .collect();
    // Per notified event: the Message-IDs of its copies in the sink.
    let mut in_sink: HashMap<String, Vec<String>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir(s.maildir.join("new")) {
        for f in dir.flatten() {
            let Ok(text) = std::fs::read_to_string(f.path()) else {
                continue;
            };
            let header = |name: &str| {
                text.lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            if let Some(id) = header("X-Freshline-Event-Id:").filter(|id| ours.contains(id)) {
                let message_id = header("Message-ID:").unwrap_or_default();
                in_sink.entry(id).or_default().push(message_id);
            }
        }
    }
    // A copy with the same Message-ID is the same message again (the notifier died between
    // the SMTP server's acceptance and recording it): a receiver keeps one, as a consumer
    // drops a redelivered event. Two different messages for one event would be a duplicate.
    let redelivered = in_sink.values().filter(|m| m.len() > 1).count();
    let twice = in_sink
        .values()
        .filter(|m| m.iter().collect::<HashSet<_>>().len() > 1 || m.iter().any(String::is_empty))
        .count();
    let missing = ours.len() - in_sink.len().min(ours.len());
    let waiting: i64 = by_status
        .iter()
        .filter(|(st, _)| matches!(st.as_str(), "pending" | "sending"))
        .map(|(_, n)| n)
        .sum();
    let counts = by_status
        .iter()
        .map(|(st, n)| format!("{n} {st}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(verdict(
        NAMES[7],
        twice == 0 && missing == 0 && waiting == 0,
        format!("{counts}; {twice} mailed twice as different messages, {missing} sent but not in the sink, {redelivered} redelivered with the same Message-ID (allowed)"),
    ))
}

/// No client saw a 5xx other than `503` with `Retry-After` (a dependency down) or `507
/// storage_full` with `Retry-After` (the image store full); no client gave up.
fn no_bare_server_errors(ledger: &[Entry]) -> Verdict {
    let mut allowed: BTreeMap<String, usize> = BTreeMap::new();
    let mut bare: BTreeMap<String, usize> = BTreeMap::new();
    for e in ledger.iter().filter(|e| e.kind == "server_error") {
        let ok =
            e.retry_after && (e.status == 503 || (e.status == 507 && e.code == "storage_full"));
        let tally = if ok { &mut allowed } else { &mut bare };
        *tally.entry(format!("{} {}", e.status, e.code)).or_default() += 1;
    }
    let gave_up = ledger.iter().filter(|e| e.kind == "gave_up").count();
    let unreachable = ledger.iter().filter(|e| e.kind == "unreachable").count();
    Verdict {
        name: NAMES[8],
        held: bare.is_empty() && gave_up == 0,
        detail: format!(
            "{} answers; with Retry-After: {allowed:?}; bare: {bare:?}; {unreachable} attempts unreachable (retried); {gave_up} commands never answered",
            ledger.iter().filter(|e| e.kind == "answered").count()
        ),
    }
}
