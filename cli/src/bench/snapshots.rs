//! `freshline bench snapshots`: command latency on long streams with snapshots off and on.
//!
//! In a scratch database it builds two streams of `events` events each, decided by the domain's
//! own rules and appended through the hash-chained store: an inventory batch that took and gave
//! back thousands of reservations (its state keeps every order, so its snapshot is large: the
//! worst case), and a rider who carried thousands of deliveries (a small state over a long
//! history: the common case). Then it times `commands` commands on each through the command
//! bus, one at a time, with snapshots off (every load replays the whole stream) and on, and
//! prints a markdown row per case.

use anyhow::Context;
use chrono::{DateTime, Utc};
use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};
use domain::catalog_values::{Money, PositiveQuantity};
use domain::fulfilment_values::{DeliveryId, GeoPoint};
use domain::inventory::{ReceiveBatch, ReleaseReservation, ReserveStock};
use domain::rider::{Rider, RiderCaller, RiderCommand};
use domain::WarehouseId;
use domain::{BatchId, InventoryBatch, InventoryCommand, OrderId, ProductId, SupplierId};
use platform::bus::{CommandBus, CommandMetrics, Snapshots};
use platform::store::ChainedEventRepository;
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Commands run before timing (with snapshots on, the first load replays everything and
/// writes the first snapshot).
const WARMUP: usize = 5;

pub async fn run(
    events: usize,
    commands: usize,
    every: usize,
    database_url: &str,
) -> anyhow::Result<()> {
    anyhow::ensure!(events >= 10 && commands >= 2, "too few events or commands");
    anyhow::ensure!(every > 0, "--every 0 would time snapshots off twice");
    let admin = PgPool::connect(database_url).await.context("connecting")?;
    let run = Uuid::new_v4().simple().to_string();
    let db = format!("bench_snapshots_{}", &run[..8]);
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await?;
    let (base, _) = database_url.rsplit_once('/').context("database url")?;
    let pool = platform::db::pool(&secrecy::SecretString::from(format!("{base}/{db}")), 4)?;
    let result = measure(&pool, events, commands, every).await;
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    result
}

async fn measure(
    pool: &PgPool,
    events: usize,
    commands: usize,
    every: usize,
) -> anyhow::Result<()> {
    platform::db::migrate(pool).await?;
    let metrics = CommandMetrics::new(&prometheus::Registry::new())?;
    let now = Utc::now();

    let t = Instant::now();
    let batch = Uuid::new_v4().to_string();
    let (history, orders) = batch_history(events, now)?;
    append::<InventoryBatch>(pool, &batch, &history).await?;
    let rider = Uuid::new_v4().to_string();
    let (history, deliveries) = rider_history(events)?;
    append::<Rider>(pool, &rider, &history).await?;
    eprintln!(
        "built a batch and a rider of {events} events each in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    println!("| {commands} commands, one at a time | snapshots | p50 | p99 | events replayed per load | snapshot |");
    println!("|---|---|---|---|---|---|");
    let what = format!(
        "inventory batch of {events} events ({orders} reservations so far): reserve, release"
    );
    for snapshots in [Snapshots::off(), Snapshots::every(every)] {
        let bus = CommandBus::<InventoryBatch>::new(pool.clone(), (), metrics.clone(), vec![])
            .with_snapshots(snapshots);
        let row = time(pool, &bus, &batch, commands, |n| {
            let order_id = OrderId(Uuid::from_u128(1_000_000 + n as u128 / 2));
            if n.is_multiple_of(2) {
                InventoryCommand::Reserve(ReserveStock {
                    order_id,
                    quantity: PositiveQuantity::try_from("1.5").unwrap_or_else(|_| unreachable!()),
                    now,
                })
            } else {
                InventoryCommand::Release(ReleaseReservation { order_id })
            }
        })
        .await?;
        row.print(&what, snapshots, every);
    }
    let what =
        format!("rider of {events} events ({deliveries} deliveries so far): assign, release");
    for snapshots in [Snapshots::off(), Snapshots::every(every)] {
        let bus = CommandBus::<Rider>::new(pool.clone(), (), metrics.clone(), vec![])
            .with_snapshots(snapshots);
        let row = time(pool, &bus, &rider, commands, |n| {
            let delivery_id = DeliveryId(Uuid::from_u128(2_000_000 + n as u128 / 2));
            if n.is_multiple_of(2) {
                RiderCommand::Assign {
                    delivery_id,
                    order_id: OrderId(delivery_id.0),
                    cold_chain: false,
                }
            } else {
                RiderCommand::Release { delivery_id }
            }
        })
        .await?;
        row.print(&what, snapshots, every);
    }
    // What the snapshot-aware load costs where there is nothing to gain: new streams.
    for snapshots in [Snapshots::off(), Snapshots::every(every)] {
        let bus = CommandBus::<Rider>::new(pool.clone(), (), metrics.clone(), vec![])
            .with_snapshots(snapshots);
        let mut latencies = Vec::with_capacity(commands);
        for n in 0..WARMUP + commands {
            let register = RiderCommand::Register {
                name: format!("Rider {n}"),
                account: format!("rider-{n}"),
                cold_chain_capable: false,
            };
            let t = Instant::now();
            bus.execute(
                &Uuid::new_v4().to_string(),
                "bench",
                register,
                HashMap::new(),
                &platform::bus::Reply::created(String::new()),
            )
            .await
            .map_err(|e| anyhow::anyhow!("register {n}: {e}"))?;
            if n >= WARMUP {
                latencies.push(t.elapsed());
            }
        }
        let row = Row {
            latencies,
            replayed_max: 0,
            snapshot_bytes: None,
        };
        row.print("new rider (an empty stream): register", snapshots, every);
    }
    Ok(())
}

/// A batch received with plenty of stock, then orders reserving from it and giving it back,
/// until it has `n` events; with how many orders reserved.
fn batch_history(
    n: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<domain::InventoryEvent>, usize)> {
    let mut batch = InventoryBatch::default();
    let mut out = Vec::with_capacity(n);
    let mut orders = 0;
    while out.len() < n {
        let command = if batch.state().is_none() {
            InventoryCommand::Receive(ReceiveBatch {
                batch_id: BatchId(Uuid::new_v4()),
                product_id: ProductId(Uuid::new_v4()),
                supplier_id: SupplierId(Uuid::new_v4()),
                warehouse_id: WarehouseId(Uuid::new_v4()),
                quantity: PositiveQuantity::try_from("5000")?,
                received_at: now - chrono::Duration::hours(1),
                expires_at: now + chrono::Duration::days(7),
                cold_chain: false,
                procurement_price: Money::try_from((180, "EUR"))?,
            })
        } else if !out.len().is_multiple_of(2) {
            orders += 1;
            InventoryCommand::Reserve(ReserveStock {
                order_id: OrderId(Uuid::from_u128(orders as u128)),
                quantity: PositiveQuantity::try_from("1.5")?,
                now,
            })
        } else {
            InventoryCommand::Release(ReleaseReservation {
                order_id: OrderId(Uuid::from_u128(orders as u128)),
            })
        };
        for e in batch.decide(command)? {
            batch.apply(e.clone());
            out.push(e);
        }
    }
    Ok((out, orders))
}

/// A rider registered, then again and again on shift at a new position, taking a delivery
/// and finishing it, until it has at least `n` events and is free; with how many deliveries.
fn rider_history(n: usize) -> anyhow::Result<(Vec<domain::rider::RiderEvent>, usize)> {
    let mut rider = Rider::default();
    let mut out = Vec::with_capacity(n + 2);
    let mut deliveries = 0;
    let mut step: usize = 0;
    while out.len() < n || rider.state().is_some_and(|s| s.current.is_some()) {
        let command = match rider.state() {
            None => RiderCommand::Register {
                name: "Bench Rider".into(),
                account: "rider-bench".into(),
                cold_chain_capable: true,
            },
            Some(s) if s.current.is_some() => RiderCommand::Release {
                delivery_id: DeliveryId(Uuid::from_u128(deliveries as u128)),
            },
            Some(s) if !s.available || step.is_multiple_of(3) => RiderCommand::SetAvailability {
                available: true,
                location: Some(GeoPoint::from_e6(
                    52_300_000 + i32::try_from(step % 1000)?,
                    4_880_000,
                )?),
                by: RiderCaller::Operator,
            },
            Some(_) => {
                deliveries += 1;
                RiderCommand::Assign {
                    delivery_id: DeliveryId(Uuid::from_u128(deliveries as u128)),
                    order_id: OrderId(Uuid::from_u128(deliveries as u128)),
                    cold_chain: false,
                }
            }
        };
        step += 1;
        for e in rider.decide(command)? {
            rider.apply(e.clone());
            out.push(e);
        }
    }
    Ok((out, deliveries))
}

/// Appends `events` as stream `id` through the hash-chained store, 1,000 per transaction.
async fn append<A: Aggregate>(pool: &PgPool, id: &str, events: &[A::Event]) -> anyhow::Result<()> {
    let repo = ChainedEventRepository::new(pool.clone());
    let metadata = serde_json::json!({"actor_sub": "bench", "actor_role": "admin"});
    let serialized = events
        .iter()
        .enumerate()
        .map(|(n, e)| {
            Ok(SerializedEvent::new(
                id.to_owned(),
                n + 1,
                A::TYPE.to_owned(),
                e.event_type(),
                e.event_version(),
                serde_json::to_value(e)?,
                metadata.clone(),
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for chunk in serialized.chunks(1_000) {
        repo.persist::<A>(chunk, None).await?;
    }
    Ok(())
}

/// What one case measured.
struct Row {
    latencies: Vec<Duration>,
    replayed_max: usize,
    snapshot_bytes: Option<i32>,
}

impl Row {
    fn print(&self, what: &str, snapshots: Snapshots, every: usize) {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let at = |p: usize| sorted[(sorted.len() * p).div_ceil(100).saturating_sub(1)];
        let mode = if snapshots.is_on() {
            format!("every {every} events")
        } else {
            "off".to_owned()
        };
        let replayed = if snapshots.is_on() {
            format!("at most {}", self.replayed_max)
        } else {
            format!("all ({})", self.replayed_max)
        };
        let snapshot = self.snapshot_bytes.map_or_else(
            || "none".to_owned(),
            |b| format!("{:.1} kB", f64::from(b) / 1000.0),
        );
        println!(
            "| {what} | {mode} | {} | {} | {replayed} | {snapshot} |",
            ms(at(50)),
            ms(at(99)),
        );
    }
}

/// Runs `WARMUP` + `commands` commands (and one more to make the count even) on aggregate
/// `id`, one at a time, timing `commands` of them, each a full `execute` (load, decide, append,
/// snapshot when due).
async fn time<A>(
    pool: &PgPool,
    bus: &CommandBus<A>,
    id: &str,
    commands: usize,
    command: impl Fn(usize) -> A::Command,
) -> anyhow::Result<Row>
where
    A: Aggregate,
    A::Command: Clone,
{
    let mut latencies = Vec::with_capacity(commands);
    let mut replayed_max = 0;
    // Each case starts its own orders or deliveries, after the previous case's.
    let start: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?;
    let start = usize::try_from(start)? * 2;
    // Commands come in pairs (take, give back): an even number leaves the aggregate free.
    for n in 0..(WARMUP + commands).next_multiple_of(2) {
        let t = Instant::now();
        let committed = bus
            .execute(
                id,
                "bench",
                command(start + n),
                HashMap::new(),
                &platform::bus::Reply::default(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("command {n}: {e}"))?;
        let elapsed = t.elapsed();
        anyhow::ensure!(
            committed.appended == 1,
            "command {n} appended {}",
            committed.appended
        );
        if (WARMUP..WARMUP + commands).contains(&n) {
            latencies.push(elapsed);
            // What the next command's load replays (not timed; without snapshots, everything).
            let replayed = if bus.snapshots().is_on() {
                bus.load_traced(id)
                    .await
                    .map_err(|e| anyhow::anyhow!("load: {e}"))?
                    .replayed
            } else {
                committed.version
            };
            replayed_max = replayed_max.max(replayed);
        }
    }
    let snapshot_bytes = sqlx::query_scalar(
        "SELECT octet_length(payload::text) FROM snapshots WHERE aggregate_id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(Row {
        latencies,
        replayed_max,
        snapshot_bytes,
    })
}
