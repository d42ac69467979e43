//! `freshline load fulfilment`: card orders placed as fast as `concurrency` allows or at a
//! fixed rate, each timed from its placement until the query API shows it delivered.
//!
//! An order's end is seen on Kafka (its `OrderDelivered` or `OrderCancelled` on the orders
//! topic), then confirmed with one read of the order at that event's version: the figure is
//! what a customer would see, and the measurement costs the stack one read per order instead
//! of polling every pending order (which, at 1,000 orders in flight, was a load of its own).

use crate::api::{geo, open_slot, quantity, rider_on_shift, Api};
use crate::fulfilment_demo::{products_in_stock, token, LOCATIONS};
use anyhow::{bail, Context};
use chrono::{Duration as Span, Utc};
use futures::stream::{self, FuturesUnordered, StreamExt};
use platform::auth::{self, Role};
use platform::consumer::{
    ConsumerConfig, ConsumerMetrics, Delivery, Failure, Handler, StartAt, Tally,
};
use schemas::api::{
    calls, DeliveryAddressBody, DeliveryBody, LineBody, MethodBody, PaymentBody, PlaceOrderBody,
    RiderBody,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Where the load runs.
pub struct Target<'a> {
    /// HTTP client.
    pub client: &'a reqwest::Client,
    /// command-api base URL.
    pub api: &'a str,
    /// query-api base URL.
    pub query: &'a str,
    /// Kafka brokers.
    pub brokers: &'a str,
    /// Topic prefix of the stack.
    pub topic_prefix: &'a str,
    /// Signs the load's tokens.
    pub signer: &'a auth::Signer,
}

/// How much load.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Orders placed.
    pub count: usize,
    /// Placements in flight at most.
    pub concurrency: usize,
    /// Orders placed per second (0: as fast as `concurrency` allows).
    pub rate: u32,
    /// Riders put on shift first.
    pub riders: usize,
}

/// An order's final event, as seen on the orders topic.
struct Ended {
    order_id: String,
    sequence: i64,
    delivered: bool,
}

/// Passes on each order's final event, as the orders topic carries it.
struct Endings(tokio::sync::mpsc::UnboundedSender<Ended>);

#[async_trait::async_trait]
impl Handler for Endings {
    type Error = std::convert::Infallible;

    async fn handle(&self, batch: &[Delivery]) -> Result<Tally, Failure<Self::Error>> {
        let mut tally = Tally::default();
        for envelope in batch.iter().filter_map(|m| m.envelope().ok()) {
            let delivered = match envelope.event_type.as_str() {
                schemas::order::DELIVERED => true,
                schemas::order::CANCELLED => false,
                _ => {
                    tally.skipped += 1;
                    continue;
                }
            };
            // The receiver is gone once the run has its answer: nothing left to tell.
            let _ = self.0.send(Ended {
                order_id: envelope.aggregate_id,
                sequence: envelope.sequence,
                delivered,
            });
            tally.applied += 1;
        }
        Ok(tally)
    }
}

/// Reads the orders topic from its current end (every partition's high watermark, taken
/// before the first order is placed, so nothing is missed while the group settles) on the
/// consumer runtime, until `stop`, and passes on each order's final event.
async fn watch_endings(
    brokers: &str,
    topic: &str,
    stop: CancellationToken,
) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<Ended>> {
    let topics = vec![topic.to_owned()];
    let from = platform::kafka::high_watermarks(brokers, &topics)
        .await
        .context("reading the orders topic's end (is the stack up?)")?;
    if from.is_empty() {
        bail!("topic {topic} has no partitions (is the stack up?)");
    }
    let group = format!("load-fulfilment-{}", uuid::Uuid::new_v4().simple());
    let cfg = ConsumerConfig::new("load-fulfilment", brokers, &group, topics);
    let metrics = ConsumerMetrics::new(&prometheus::Registry::new())?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let endings = Endings(tx);
        if let Err(e) =
            platform::consumer::run(&cfg, &endings, StartAt::Stored(from), &metrics, &stop).await
        {
            tracing::error!(error = %e, "the orders topic could not be read");
        }
    });
    Ok(rx)
}

/// Places the orders and waits for each to end; a one-line report.
///
/// # Errors
/// When the API refuses the setup, or the orders do not end within ten minutes.
pub async fn load(t: &Target<'_>, shape: Shape) -> anyhow::Result<String> {
    let c = Api {
        client: t.client,
        base: t.api,
    };
    let admin = token(t.signer, "load-admin-fulfilment", Role::Admin)?;
    let (slot, products) = set_up(&c, t, &admin, shape.riders).await?;
    let customers: Vec<String> = (0..32)
        .map(|k| token(t.signer, &format!("load-customer-{k}"), Role::Customer))
        .collect::<anyhow::Result<_>>()?;
    let stop = CancellationToken::new();
    let _stop_watching = stop.clone().drop_guard();
    let mut endings = watch_endings(
        t.brokers,
        &schemas::topics::prefixed(t.topic_prefix, schemas::topics::ORDER),
        stop,
    )
    .await?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let count = shape.count;

    // Placements, paced when a rate is given; each answers (order id, placed at).
    let (placed_tx, mut placed_rx) = tokio::sync::mpsc::unbounded_channel();
    let placing = {
        let (client, api) = (t.client.clone(), t.api.to_owned());
        let run = run.clone();
        tokio::spawn(async move {
            let c = Api {
                client: &client,
                base: &api,
            };
            let pace = (shape.rate > 0).then(|| {
                tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(shape.rate)))
            });
            let pace = tokio::sync::Mutex::new(pace);
            let started = Instant::now();
            let results: Vec<anyhow::Result<()>> = stream::iter(0..count)
                .map(|i| {
                    let (c, slot, products, customers, run, pace, tx) =
                        (&c, &slot, &products, &customers, &run, &pace, &placed_tx);
                    async move {
                        if let Some(tick) = pace.lock().await.as_mut() {
                            tick.tick().await;
                        }
                        let body = PlaceOrderBody {
                            lines: vec![LineBody {
                                product_id: products[i % products.len()],
                                quantity: quantity("1"),
                            }],
                            payment: PaymentBody {
                                method: MethodBody::Card,
                                card_token: Some("tok_approved".to_owned()),
                            },
                            delivery: DeliveryBody {
                                slot_id: *slot,
                                contact_email: None,
                                address: DeliveryAddressBody {
                                    line1: "Dam 1".to_owned(),
                                    city: "Amsterdam".to_owned(),
                                    postal_code: "1012 JS".to_owned(),
                                    country: "NL".to_owned(),
                                    location: Some(geo(52.373, 4.893)),
                                },
                            },
                        };
                        let at = Instant::now();
                        let (status, answer) = c
                            .send(
                                &calls::place_order(body),
                                &customers[i % customers.len()],
                                Some(&format!("load-order:{run}:{i}")),
                            )
                            .await?;
                        if status != 201 {
                            bail!("placing a load order: {status} {answer}");
                        }
                        let id = answer["id"].as_str().context("order id")?.to_owned();
                        let _ = tx.send((id, at));
                        Ok(())
                    }
                })
                .buffer_unordered(shape.concurrency.max(1))
                .collect()
                .await;
            results.into_iter().collect::<anyhow::Result<()>>()?;
            anyhow::Ok(started.elapsed())
        })
    };

    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    let mut placed: HashMap<String, Instant> = HashMap::with_capacity(count);
    // Final events seen before their placement's answer came back.
    let mut early: HashMap<String, Ended> = HashMap::new();
    let mut confirming = FuturesUnordered::new();
    let mut took: Vec<Duration> = Vec::with_capacity(count);
    let (mut delivered, mut cancelled) = (0usize, 0usize);
    let confirm = |id: String, sequence: i64, at: Instant| {
        let (c, admin, query) = (&c, &admin, t.query);
        async move {
            // The query API holds the read until the order's projection has the event.
            let o = c
                .get(
                    query,
                    &format!("/v1/orders/{id}?min_version={sequence}"),
                    admin,
                )
                .await?;
            if o["status"] != "delivered" {
                bail!("order {id} delivered on Kafka but reads {}", o["status"]);
            }
            anyhow::Ok(at.elapsed())
        }
    };
    while delivered + cancelled < count {
        let ended = tokio::select! {
            Some((id, at)) = placed_rx.recv() => match early.remove(&id) {
                Some(e) => { placed.insert(id, at); e }
                None => { placed.insert(id, at); continue; }
            },
            Some(e) = endings.recv() => e,
            Some(done) = confirming.next(), if !confirming.is_empty() => {
                took.push(done?);
                delivered += 1;
                continue;
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                bail!("{} of {count} orders had not ended after ten minutes", count - delivered - cancelled)
            }
        };
        let Some(at) = placed.remove(&ended.order_id) else {
            early.insert(ended.order_id.clone(), ended);
            continue;
        };
        if ended.delivered {
            confirming.push(confirm(ended.order_id, ended.sequence, at));
        } else {
            cancelled += 1;
        }
    }
    let placing = placing.await??;
    let secs = started.elapsed().as_secs_f64();
    took.sort();
    let pct = |p: f64| {
        took.get(((took.len() as f64 * p) as usize).min(took.len().saturating_sub(1)))
            .map_or(0.0, Duration::as_secs_f64)
    };
    let paced = if shape.rate > 0 {
        format!(" at {}/s", shape.rate)
    } else {
        String::new()
    };
    Ok(format!(
        "fulfilment: {count} orders placed{paced} in {:.1} s, all ended in {secs:.1} s: {delivered} delivered, {cancelled} cancelled; \
         {:.1} orders/s placed -> delivered; placed -> delivered p50 {:.2} s, p99 {:.2} s",
        placing.as_secs_f64(),
        delivered as f64 / secs.max(1e-9),
        pct(0.50),
        pct(0.99)
    ))
}

/// Riders on shift at the first demo warehouse, a slot there with room for every order, and
/// the products with stock to order.
async fn set_up(
    c: &Api<'_>,
    t: &Target<'_>,
    admin: &str,
    riders: usize,
) -> anyhow::Result<(Uuid, Vec<Uuid>)> {
    let warehouse = crate::catalog_demo::WAREHOUSES[0];
    let (lat, lon) = LOCATIONS[0];
    let starts = Utc::now() + Span::hours(2);
    let run = uuid::Uuid::new_v4().simple().to_string();
    for k in 0..riders {
        let account = format!("load-rider-{}-{k}", &run[..8]);
        let rider = RiderBody {
            name: format!("Load rider {k}"),
            account: account.clone(),
            cold_chain_capable: true,
        };
        let rider_token = token(t.signer, &account, Role::Rider)?;
        let offset = (k as f64) * 0.0005;
        rider_on_shift(
            c,
            admin,
            &rider_token,
            rider,
            (lat + offset, lon),
            &format!("load-rider:{run}:{k}"),
        )
        .await?;
    }
    let slot = open_slot(
        c,
        admin,
        "LOAD".to_owned(),
        (warehouse.parse()?, (lat, lon)),
        (starts, 10_000),
        &format!("load-slot:{run}"),
    )
    .await?;
    let products = products_in_stock(c, t.query, admin, warehouse, 50.0, usize::MAX).await?;
    if products.is_empty() {
        bail!("no product with stock at the demo warehouse (run `make up`)");
    }
    let products = products
        .iter()
        .map(|p| p.parse::<Uuid>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok((slot, products))
}
