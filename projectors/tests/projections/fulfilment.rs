//! The fulfilment saga against the whole real path: command-api, the relay, Kafka, the
//! projections, the simulated card gateway and simulated riders — the happy path, every
//! compensation, and a chaos run with the saga process killed by SIGKILL over and over.

use crate::end_to_end::Stack;
use chrono::{Duration as Span, Utc};
use platform::auth::Role;
use sagas::commands::{CommandClient, TokenSource};
use sagas::fulfilment::{FulfilmentSaga, SagaConfig, SagaMetrics};
use sagas::payments::{HttpCardGateway, HttpCardGatewayConfig};
use serde_json::{json, Value};
use simulators::card_gateway::{self, CardGatewayConfig};
use simulators::delivery::{Simulator, SimulatorConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAREHOUSE: &str = "0190f0e0-0000-7000-8000-0000000000c1";

/// What a scenario needs around the stack.
pub(crate) struct World {
    pub(crate) s: Stack,
    pub(crate) http: reqwest::Client,
    pub(crate) gateway: String,
    pub(crate) gateway_timeout: Duration,
    pub(crate) stop: CancellationToken,
    pub(crate) admin: String,
    pub(crate) owner: String,
    pub(crate) supplier: String,
    /// Sold by the kg, plenty of stock, no cold chain.
    pub(crate) apples: String,
    /// Sold by the piece, little stock, cold chain.
    pub(crate) milk: String,
    pub(crate) slot: String,
}

pub(crate) struct Options {
    pub(crate) riders_on_shift: bool,
    pub(crate) simulate: Option<SimulatorConfig>,
    pub(crate) saga: bool,
    pub(crate) payment_timeout: Duration,
    pub(crate) rider_timeout: Duration,
    /// How long the simulated card gateway takes to answer.
    pub(crate) gateway_latency: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            riders_on_shift: true,
            simulate: Some(SimulatorConfig::new(&crate::brokers())),
            saga: true,
            payment_timeout: Duration::from_secs(60),
            rider_timeout: Duration::from_secs(60),
            gateway_latency: Duration::ZERO,
        }
    }
}

pub(crate) async fn until<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl World {
    pub(crate) async fn start(opts: Options) -> Self {
        // Warnings and the saga's own refusals show when a test fails (cargo captures them).
        platform::telemetry::init(
            platform::telemetry::LogFormat::Pretty,
            &std::env::var("FRESHLINE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        );
        let s = Stack::start().await;
        let stop = CancellationToken::new();
        let (addr, _) = card_gateway::start(
            "127.0.0.1:0",
            s.pool.clone(),
            CardGatewayConfig {
                latency: opts.gateway_latency,
                timeout_sleep: Duration::from_secs(30),
            },
            &prometheus::Registry::new(),
            stop.clone(),
        )
        .await
        .expect("card gateway");
        let gateway = format!("http://{addr}");
        let admin = s.token("admin-1", Role::Admin);
        let owner = s.token("acct-farm", Role::Supplier);
        let mut w = Self {
            http: reqwest::Client::new(),
            gateway_timeout: opts.gateway_latency + Duration::from_millis(800),
            gateway,
            stop,
            admin,
            owner,
            supplier: String::new(),
            apples: String::new(),
            milk: String::new(),
            slot: String::new(),
            s,
        };
        w.supplier = w.ok("/v1/suppliers", &w.owner.clone(), json!({
            "legal_name": "Orchard Farm", "registration_number": format!("NL-F-{}", &Uuid::new_v4().simple().to_string()[..12]),
            "contact_email": "farm@orchard.example", "phone": "+31205550199", "categories": ["fruit", "dairy"],
            "address": {"line1": "Laan 3", "city": "Utrecht", "postal_code": "3511 AA", "country": "NL"}})).await;
        let sup = w.supplier.clone();
        w.ok(
            &format!("/v1/suppliers/{sup}/documents"),
            &w.owner.clone(),
            json!({"kind": "business_license", "reference": "BL-1", "expires_on": "2031-01-01"}),
        )
        .await;
        w.ok(
            &format!("/v1/suppliers/{sup}/approve"),
            &w.admin.clone(),
            json!({}),
        )
        .await;
        let product = |name: &str, unit: &str, category: &str, price: i64| {
            json!({
            "name": name, "category": category, "tags": [], "unit": unit,
            "price": {"amount_minor": price, "currency": "EUR"}, "origin_country": "NL"})
        };
        w.apples = w
            .ok(
                &format!("/v1/suppliers/{sup}/products"),
                &w.owner.clone(),
                product("Elstar apples", "kg", "fruit", 349),
            )
            .await;
        w.milk = w
            .ok(
                &format!("/v1/suppliers/{sup}/products"),
                &w.owner.clone(),
                product("Whole milk", "piece", "dairy", 129),
            )
            .await;
        let wh = w.s.token("wh-1", Role::Warehouse);
        let now = Utc::now();
        for (product, quantity, days, cold) in [
            (w.apples.clone(), 5000, 30, false),
            (w.apples.clone(), 20, 5, false),
            (w.milk.clone(), 12, 10, true),
        ] {
            w.ok("/v1/inventory/batches", &wh, json!({
                "product_id": product, "supplier_id": sup, "warehouse_id": WAREHOUSE, "quantity": quantity,
                "received_at": (now - Span::hours(1)).to_rfc3339(), "expires_at": (now + Span::days(days)).to_rfc3339(),
                "cold_chain": cold, "procurement_price": {"amount_minor": 90, "currency": "EUR"}})).await;
        }
        w.slot = w.new_slot(1000).await;
        for (i, (lat, lon, cold)) in [
            (52.3600, 4.8800, true),
            (52.4000, 4.9500, true),
            (52.3700, 4.8900, false),
        ]
        .into_iter()
        .enumerate()
        {
            let account = format!("rider-{i}");
            let rider = w.ok("/v1/riders", &w.admin.clone(),
                json!({"name": format!("Rider {i}"), "account": account, "cold_chain_capable": cold})).await;
            if opts.riders_on_shift {
                let t = w.s.token(&account, Role::Rider);
                w.ok(
                    &format!("/v1/riders/{rider}/availability"),
                    &t,
                    json!({"available": true, "location": {"lat": lat, "lon": lon}}),
                )
                .await;
            }
        }
        // The read models the saga reads: stock and riders.
        let pool = w.s.pool.clone();
        until("batches and riders projected", 60, async || {
            let b: i64 = sqlx::query_scalar("SELECT count(*) FROM read.batches")
                .fetch_one(&pool)
                .await
                .ok()?;
            let r: i64 = sqlx::query_scalar("SELECT count(*) FROM read.riders")
                .fetch_one(&pool)
                .await
                .ok()?;
            (b == 3 && r == 3).then_some(())
        })
        .await;
        if let Some(mut sim) = opts.simulate.clone() {
            sim.topic_prefix = w.s.topic_prefix.clone();
            sim.group = format!("sim-{}", Uuid::new_v4());
            let sim = Arc::new(Simulator::new(
                w.client(&w.s.service_token("warehouse")),
                w.client(&w.s.service_token("delivery")),
                sim,
            ));
            let stop = w.stop.clone();
            tokio::spawn(async move { sim.run(stop).await.expect("simulator") });
        }
        if opts.saga {
            let mut cfg = w.saga_config(&opts);
            cfg.group = format!("saga-{}", Uuid::new_v4());
            w.spawn_saga(&w.s.service_token("sagas"), cfg).await;
        }
        w
    }

    /// Runs a saga acting with `token` until the returned token (or the world) stops; the
    /// saga's task ends with it.
    pub(crate) async fn spawn_saga(
        &self,
        token: &str,
        cfg: SagaConfig,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let saga = Arc::new(
            FulfilmentSaga::new(
                self.s.pool.clone(),
                self.client(token),
                Arc::new(HttpCardGateway::new(&self.gateway_config()).expect("gateway client")),
                cfg,
                SagaMetrics::new(&prometheus::Registry::new()).expect("metrics"),
            )
            .await
            .expect("saga"),
        );
        let stop = self.stop.child_token();
        let task = {
            let stop = stop.clone();
            tokio::spawn(async move { saga.run(stop).await.expect("saga") })
        };
        (stop, task)
    }

    fn gateway_config(&self) -> HttpCardGatewayConfig {
        HttpCardGatewayConfig {
            base_url: self.gateway.clone(),
            timeout: self.gateway_timeout,
        }
    }

    pub(crate) fn saga_config(&self, opts: &Options) -> SagaConfig {
        let mut cfg = SagaConfig::new(&crate::brokers());
        cfg.topic_prefix = self.s.topic_prefix.clone();
        cfg.group = format!("saga-{}", Uuid::new_v4());
        cfg.workers = 8;
        cfg.payment_timeout = opts.payment_timeout;
        cfg.rider_timeout = opts.rider_timeout;
        cfg.poll_interval = Duration::from_millis(50);
        cfg
    }

    fn client(&self, token: &str) -> CommandClient {
        CommandClient::new(&self.s.commands, TokenSource::Fixed(token.to_owned())).expect("client")
    }

    pub(crate) async fn send(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, token, body).await
    }

    /// `method path` to command-api with `body`: the status and the JSON answer.
    pub(crate) async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> (u16, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.s.commands))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Posts and expects success; the new aggregate's id.
    pub(crate) async fn ok(&self, path: &str, token: &str, body: Value) -> String {
        let (status, b) = self.send(path, token, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {b}");
        b["id"].as_str().unwrap_or_default().to_owned()
    }

    async fn new_slot(&self, capacity: u32) -> String {
        let now = Utc::now();
        self.ok("/v1/delivery-slots", &self.admin, json!({
            "zone": "AMS-CENTRE", "warehouse_id": WAREHOUSE, "warehouse_location": {"lat": 52.3702, "lon": 4.8952},
            "starts_at": (now + Span::hours(1)).to_rfc3339(), "ends_at": (now + Span::hours(3)).to_rfc3339(),
            "capacity": capacity})).await
    }

    fn order_body(&self, slot: &str, lines: Value, method: &str, token: Option<&str>) -> Value {
        json!({
            "lines": lines,
            "delivery": {"address": {"line1": "Prinsengracht 263", "city": "Amsterdam", "postal_code": "1016 GV",
                                     "country": "NL", "location": {"lat": 52.3752, "lon": 4.8840}},
                         "slot_id": slot, "contact_email": "jan@example.com"},
            "payment": {"method": method, "card_token": token}})
    }

    pub(crate) async fn place(
        &self,
        customer: &str,
        lines: Value,
        method: &str,
        token: Option<&str>,
    ) -> String {
        let t = self.s.token(customer, Role::Customer);
        self.ok(
            "/v1/orders",
            &t,
            self.order_body(&self.slot.clone(), lines, method, token),
        )
        .await
    }

    /// Waits until the saga of `order` has ended; its status (`delivered` or `compensated`).
    pub(crate) async fn settled(&self, order: &str, secs: u64) -> String {
        let id = Uuid::parse_str(order).expect("uuid");
        let pool = self.s.pool.clone();
        until(&format!("the saga of {order} to end"), secs, async || {
            let (status, _, _) = sagas::fulfilment::load(&pool, id).await.ok()??;
            (status == "delivered" || status == "compensated").then_some(status)
        })
        .await
    }

    /// The order's read model once it shows `status`.
    pub(crate) async fn order_shows(&self, order: &str, status: &str) -> Value {
        let t = self.admin.clone();
        until(&format!("order {order} to show {status}"), 30, async || {
            let (code, body, _) = self
                .s
                .get(&self.s.queries, &format!("/v1/orders/{order}"), &t)
                .await;
            (code == 200 && body["status"] == status).then_some(body)
        })
        .await
    }

    /// The order's read model once it is cancelled and refunded in full (the order's and the
    /// payment's streams are projected each at their own pace: both are waited for).
    pub(crate) async fn refunded_in_full(&self, order: &str) -> Value {
        until("the refund to show", 30, async || {
            let o = self.order_shows(order, "cancelled").await;
            (o["refunded_minor"] == o["total"]["amount_minor"]
                && o["payment"]["status"] == "refunded")
                .then_some(o)
        })
        .await
    }

    /// The gateway's record of a payment (authorizations, captures, refunds).
    pub(crate) async fn at_gateway(&self, payment: &str) -> Value {
        self.http
            .get(format!("{}/v1/payments/{payment}", self.gateway))
            .send()
            .await
            .expect("gateway")
            .json()
            .await
            .unwrap_or(Value::Null)
    }

    /// Per currency, the ledger's balances sum to zero (once the projection caught up with
    /// every payment event in the store).
    pub(crate) async fn ledger_balances_to_zero(&self) {
        let pool = self.s.pool.clone();
        until("the ledger to catch up with the payment streams", 30, async || {
            let pending: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM events e WHERE e.aggregate_type = 'Payment'
                   AND e.sequence > COALESCE((SELECT version FROM read_orders_g1.applied_versions v
                                              WHERE v.aggregate_type = 'Payment' AND v.aggregate_id = e.aggregate_id), 0)",
            )
            .fetch_one(&pool)
            .await
            .ok()?;
            (pending == 0).then_some(())
        })
        .await;
        let (code, body, _) = self
            .s
            .get(&self.s.queries, "/v1/ledger/balances", &self.admin)
            .await;
        assert_eq!(code, 200, "{body}");
        for t in body["totals"].as_array().expect("totals") {
            assert_eq!(t["sum_minor"], 0, "ledger does not balance: {body}");
        }
    }

    /// No batch ever shows more reserved than on hand, or less than nothing, in the store.
    async fn stock_never_negative(&self) {
        let bad: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM read.batches WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand",
        )
        .fetch_one(&self.s.pool)
        .await
        .expect("batches");
        assert_eq!(bad, 0);
    }

    pub(crate) async fn captures_of(&self, order: &str) -> usize {
        let payment = self.order_shows_any(order).await["payment"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let g = self.at_gateway(&payment).await;
        g["captures"].as_array().map_or(0, Vec::len)
    }

    pub(crate) async fn order_shows_any(&self, order: &str) -> Value {
        let t = self.admin.clone();
        until(
            &format!("order {order} in the read model"),
            30,
            async || {
                let (code, body, _) = self
                    .s
                    .get(&self.s.queries, &format!("/v1/orders/{order}"), &t)
                    .await;
                (code == 200).then_some(body)
            },
        )
        .await
    }
}

pub(crate) fn lines(w: &World, apples_kg: f64, milk: i64) -> Value {
    let mut l = vec![];
    if apples_kg > 0.0 {
        l.push(json!({"product_id": w.apples, "quantity": apples_kg}));
    }
    if milk > 0 {
        l.push(json!({"product_id": w.milk, "quantity": milk}));
    }
    Value::Array(l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_are_carried_to_the_door_or_compensated_and_the_ledger_balances() {
    let w = World::start(Options {
        payment_timeout: Duration::from_secs(4),
        ..Options::default()
    })
    .await;

    // The happy path by card: reserved (FEFO: the batch expiring in 5 days goes first),
    // captured once, packed, shipped, delivered, rider freed.
    let card = w
        .place("cust-1", lines(&w, 1.5, 2), "card", Some("tok_approved"))
        .await;
    // Cash on delivery: captured when handed over.
    let cash = w
        .place("cust-2", lines(&w, 2.0, 0), "cash_on_delivery", None)
        .await;
    // A flaky gateway fails twice, then approves: retried with the same key, charged once.
    let flaky = w
        .place("cust-3", lines(&w, 1.0, 0), "card", Some("tok_flaky"))
        .await;
    // Declined: stock released, order cancelled.
    let declined = w
        .place("cust-4", lines(&w, 3.0, 1), "card", Some("tok_declined"))
        .await;
    // The gateway never answers in time: the payment deadline compensates.
    let timeout = w
        .place("cust-5", lines(&w, 1.0, 0), "card", Some("tok_timeout"))
        .await;
    // More milk than there is: out of stock.
    let short = w
        .place("cust-6", lines(&w, 0.0, 50), "card", Some("tok_approved"))
        .await;

    assert_eq!(w.settled(&card, 60).await, "delivered");
    assert_eq!(w.settled(&cash, 60).await, "delivered");
    assert_eq!(w.settled(&flaky, 60).await, "delivered");
    assert_eq!(w.settled(&declined, 60).await, "compensated");
    assert_eq!(w.settled(&timeout, 60).await, "compensated");
    assert_eq!(w.settled(&short, 60).await, "compensated");

    let o = w.order_shows(&card, "delivered").await;
    assert_eq!(o["total"]["amount_minor"], 524 + 258, "{o}");
    let steps: Vec<&str> = o["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    for step in [
        "OrderPlaced",
        "StockReserved",
        "PaymentInitiated",
        "PaymentAuthorized",
        "PaymentCaptured",
        "OrderPaid",
        "DeliveryScheduled",
        "DeliveryRiderAssigned",
        "OrderPacked",
        "ReservationCommitted",
        "DeliveryPickedUp",
        "OrderShipped",
        "DeliveryCompleted",
        "OrderDelivered",
    ] {
        assert!(steps.contains(&step), "{step} missing from {steps:?}");
    }
    // The milk needs the cold chain: only a cold-capable rider may take it.
    let d = o["delivery"]["id"].as_str().expect("delivery").to_owned();
    let (_, delivery, _) =
        w.s.get(&w.s.queries, &format!("/v1/deliveries/{d}"), &w.admin)
            .await;
    assert_eq!(delivery["cold_chain"], true, "{delivery}");
    assert!(delivery["eta"].is_string(), "{delivery}");
    assert_eq!(w.captures_of(&card).await, 1);
    assert_eq!(w.captures_of(&flaky).await, 1);
    let c = w.order_shows(&cash, "delivered").await;
    assert_eq!(c["payment"]["status"], "captured", "{c}");

    for (order, reason) in [
        (&declined, "payment_failed"),
        (&timeout, "payment_failed"),
        (&short, "out_of_stock"),
    ] {
        let o = w.order_shows(order, "cancelled").await;
        assert_eq!(o["cancel_reason"], reason, "{o}");
        assert_eq!(w.captures_of(order).await, 0);
    }
    // Everything the cancelled orders held is available again; the delivered ones' stock left.
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM read.batches WHERE reserved > 0")
        .fetch_one(&w.s.pool)
        .await
        .expect("batches");
    assert_eq!(held, 0, "reservations left open");

    // An administrator refunds part of a delivered order: the saga pays it back through the
    // gateway; never more than was captured.
    let payment = o["payment"]["id"].as_str().expect("payment").to_owned();
    let (s1, b1) = w
        .send(
            &format!("/v1/payments/{payment}/refund"),
            &w.admin,
            json!({"amount": {"amount_minor": 300, "currency": "EUR"}, "reason": "bruised apples"}),
        )
        .await;
    assert_eq!(s1, 202, "{b1}");
    let (s2, b2) = w
        .send(
            &format!("/v1/payments/{payment}/refund"),
            &w.admin,
            json!({"amount": {"amount_minor": 600, "currency": "EUR"}, "reason": "too much"}),
        )
        .await;
    assert_eq!(
        (s2, b2["code"].as_str()),
        (409, Some("refund_exceeds_captured")),
        "{b2}"
    );
    let pool = w.s.pool.clone();
    until("the refund to be paid back and recorded", 30, async || {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = 'OrderRefundRecorded'",
        )
        .bind(&card)
        .fetch_one(&pool)
        .await
        .ok()?;
        (n == 1).then_some(())
    })
    .await;
    let g = w.at_gateway(&payment).await;
    assert!(g.to_string().contains("300"), "{g}");

    // A slot with room for one: the second order cannot be delivered, so it is refunded.
    let tiny = w.new_slot(1).await;
    let t1 = w.s.token("cust-7", Role::Customer);
    let first = w
        .ok(
            "/v1/orders",
            &t1,
            w.order_body(&tiny, lines(&w, 1.0, 0), "card", Some("tok_approved")),
        )
        .await;
    assert_eq!(w.settled(&first, 60).await, "delivered");
    let second = w
        .ok(
            "/v1/orders",
            &t1,
            w.order_body(&tiny, lines(&w, 1.0, 0), "card", Some("tok_approved")),
        )
        .await;
    assert_eq!(w.settled(&second, 60).await, "compensated");
    let o = w.order_shows(&second, "cancelled").await;
    assert_eq!(o["cancel_reason"], "no_delivery_capacity", "{o}");
    let refunded = until("the refund to show", 30, async || {
        let o = w.order_shows(&second, "cancelled").await;
        (o["refunded_minor"] == o["total"]["amount_minor"]).then_some(o)
    })
    .await;
    assert_eq!(refunded["payment"]["status"], "refunded", "{refunded}");

    w.stock_never_negative().await;
    w.ledger_balances_to_zero().await;
    w.stop.cancel();
    w.s.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_delivery_is_refunded_and_its_stock_returned_by_policy() {
    let mut sim = SimulatorConfig::new(&crate::brokers());
    sim.fail_every = 1;
    let w = World::start(Options {
        simulate: Some(sim),
        ..Options::default()
    })
    .await;
    let order = w
        .place("cust-1", lines(&w, 2.5, 1), "card", Some("tok_approved"))
        .await;
    assert_eq!(w.settled(&order, 60).await, "compensated");
    let o = w.order_shows(&order, "cancelled").await;
    assert_eq!(o["cancel_reason"], "delivery_failed", "{o}");
    let o = until("the refund to show", 30, async || {
        let o = w.order_shows(&order, "cancelled").await;
        (o["refunded_minor"] == o["total"]["amount_minor"]).then_some(o)
    })
    .await;
    assert_eq!(o["payment"]["status"], "refunded");
    // The apples (no cold chain, weeks of shelf life) come back as a new batch; the milk
    // (cold chain broken) is written off.
    let pool = w.s.pool.clone();
    let apples = w.apples.clone();
    let milk = w.milk.clone();
    until("the apples to be received back", 30, async || {
        let back: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM read.batches WHERE product_id = $1::uuid AND received = 2.5",
        )
        .bind(&apples)
        .fetch_one(&pool)
        .await
        .ok()?;
        (back == 1).then_some(())
    })
    .await;
    let milk_batches: i64 =
        sqlx::query_scalar("SELECT count(*) FROM read.batches WHERE product_id = $1::uuid")
            .bind(&milk)
            .fetch_one(&w.s.pool)
            .await
            .expect("milk");
    assert_eq!(milk_batches, 1, "cold-chain goods are not received back");
    // The rider is free again and the slot place given back.
    let busy: i64 =
        sqlx::query_scalar("SELECT count(*) FROM read.riders WHERE current_delivery IS NOT NULL")
            .fetch_one(&w.s.pool)
            .await
            .expect("riders");
    assert_eq!(busy, 0);
    w.stock_never_negative().await;
    w.ledger_balances_to_zero().await;
    w.stop.cancel();
    w.s.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_rider_in_time_and_a_customer_cancelling_are_both_undone() {
    let w = World::start(Options {
        riders_on_shift: false,
        rider_timeout: Duration::from_secs(3),
        ..Options::default()
    })
    .await;
    let nobody = w
        .place("cust-1", lines(&w, 1.0, 0), "card", Some("tok_approved"))
        .await;
    let changed_mind = w
        .place("cust-2", lines(&w, 2.0, 1), "card", Some("tok_approved"))
        .await;
    // The customer cancels once paid (while no rider can be found).
    w.order_shows(&changed_mind, "paid").await;
    let t = w.s.token("cust-2", Role::Customer);
    let other = w.s.token("cust-9", Role::Customer);
    let (s, b) = w
        .send(
            &format!("/v1/orders/{changed_mind}/cancel"),
            &other,
            json!({}),
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (403, Some("not_owner")), "{b}");
    let (s, b) = w
        .send(
            &format!("/v1/orders/{changed_mind}/cancel"),
            &t,
            json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(s, 202, "{b}");

    assert_eq!(w.settled(&nobody, 60).await, "compensated");
    assert_eq!(w.settled(&changed_mind, 60).await, "compensated");
    let o = w.order_shows(&nobody, "cancelled").await;
    assert_eq!(o["cancel_reason"], "no_delivery_capacity", "{o}");
    let o = w.order_shows(&changed_mind, "cancelled").await;
    assert_eq!(o["cancel_reason"], "customer_request", "{o}");
    for order in [&nobody, &changed_mind] {
        let o = until("the refund to show", 30, async || {
            let o = w.order_shows(order, "cancelled").await;
            (o["refunded_minor"] == o["total"]["amount_minor"]).then_some(o)
        })
        .await;
        assert_eq!(o["payment"]["status"], "refunded", "{o}");
        assert_eq!(w.captures_of(order).await, 1);
    }
    let pool = w.s.pool.clone();
    until("slot places given back", 30, async || {
        let booked: i64 = sqlx::query_scalar(
            "SELECT booked::bigint FROM read.delivery_slots WHERE id = $1::uuid",
        )
        .bind(&w.slot)
        .fetch_one(&pool)
        .await
        .ok()?;
        (booked == 0).then_some(())
    })
    .await;
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM read.batches WHERE reserved > 0")
        .fetch_one(&w.s.pool)
        .await
        .expect("batches");
    assert_eq!(held, 0);
    w.ledger_balances_to_zero().await;
    w.stop.cancel();
    w.s.stop.cancel();
}

/// The fulfilment saga as its own OS process, for the chaos test to SIGKILL: this very test
/// binary run again with only this test, which then runs the saga (the same code as
/// `freshline serve fulfilment-saga`) until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run by orders_flow_through_a_saga_killed_again_and_again as a child process"]
async fn saga_process() {
    if std::env::var("FRESHLINE_CHAOS_CHILD").as_deref() != Ok("1") {
        return;
    }
    platform::telemetry::init(platform::telemetry::LogFormat::Pretty, "warn");
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is set by the parent"));
    let pool = sqlx::PgPool::connect(&var("FRESHLINE_DATABASE_URL"))
        .await
        .expect("database");
    let mut cfg = SagaConfig::new(&var("FRESHLINE_KAFKA_BROKERS"));
    cfg.topic_prefix = var("FRESHLINE_TOPIC_PREFIX");
    cfg.group = var("FRESHLINE_SAGA_GROUP");
    // The same instance every restart, as a StatefulSet pod would be.
    cfg.instance_id = Some(format!("{}-0", cfg.group));
    cfg.workers = 8;
    cfg.poll_interval = Duration::from_millis(50);
    let api = CommandClient::new(
        &var("FRESHLINE_COMMAND_API_URL"),
        TokenSource::Fixed(var("FRESHLINE_SERVICE_TOKEN")),
    )
    .expect("client");
    let gateway = HttpCardGateway::new(&HttpCardGatewayConfig {
        base_url: var("FRESHLINE_CARD_GATEWAY_URL"),
        timeout: Duration::from_secs(2),
    })
    .expect("gateway");
    let saga = Arc::new(
        FulfilmentSaga::new(
            pool,
            api,
            Arc::new(gateway),
            cfg,
            SagaMetrics::new(&prometheus::Registry::new()).expect("metrics"),
        )
        .await
        .expect("saga"),
    );
    saga.run(CancellationToken::new()).await.expect("saga");
}

/// Deterministic pseudo-random numbers (xorshift64*), so a failing run can be repeated.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n.max(1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_flow_through_a_saga_killed_again_and_again() {
    const ORDERS: usize = 200;
    let w = World::start(Options {
        saga: false,
        ..Options::default()
    })
    .await;
    // More riders, so deliveries do not queue behind three.
    for i in 0..12 {
        let account = format!("chaos-rider-{i}");
        let rider = w
            .ok("/v1/riders", &w.admin, json!({"name": format!("Chaos {i}"), "account": account, "cold_chain_capable": true}))
            .await;
        let t = w.s.token(&account, Role::Rider);
        w.ok(&format!("/v1/riders/{rider}/availability"), &t,
            json!({"available": true, "location": {"lat": 52.36 + f64::from(i) / 1000.0, "lon": 4.89}})).await;
    }
    let pool = w.s.pool.clone();
    until("riders projected", 30, async || {
        let r: i64 = sqlx::query_scalar("SELECT count(*) FROM read.riders WHERE available")
            .fetch_one(&pool)
            .await
            .ok()?;
        (r == 15).then_some(())
    })
    .await;

    let binary = std::env::current_exe().expect("this test binary");
    let log = std::env::temp_dir().join(format!("fulfilment-saga-chaos-{}.log", Uuid::new_v4()));
    let group = format!("saga-chaos-{}", Uuid::new_v4());
    let sagas_token = w.s.service_token("sagas");
    let spawn = || {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        tokio::process::Command::new(&binary)
            .args([
                "--exact",
                "fulfilment::saga_process",
                "--ignored",
                "--nocapture",
            ])
            .env("FRESHLINE_CHAOS_CHILD", "1")
            .env("FRESHLINE_DATABASE_URL", &w.s.database_url)
            .env("FRESHLINE_KAFKA_BROKERS", crate::brokers())
            .env("FRESHLINE_TOPIC_PREFIX", &w.s.topic_prefix)
            .env("FRESHLINE_SAGA_GROUP", &group)
            .env("FRESHLINE_COMMAND_API_URL", &w.s.commands)
            .env("FRESHLINE_SERVICE_TOKEN", &sagas_token)
            .env("FRESHLINE_CARD_GATEWAY_URL", &w.gateway)
            .env("FRESHLINE_TEST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("start the saga")
    };

    // 200 orders: most by card, some declined, some cash, some flaky, some out of stock.
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut expected = Vec::with_capacity(ORDERS);
    let mut bodies = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS {
        let roll = dice.below(100);
        let (lines, method, token, outcome) = match roll {
            0..=9 => (
                lines(&w, 1.0, 0),
                "card",
                Some("tok_declined"),
                "compensated",
            ),
            10..=19 => (lines(&w, 2.0, 0), "cash_on_delivery", None, "delivered"),
            20..=24 => (lines(&w, 0.5, 0), "card", Some("tok_flaky"), "delivered"),
            25..=29 => (
                lines(&w, 0.0, 100),
                "card",
                Some("tok_approved"),
                "compensated",
            ),
            _ => (lines(&w, 1.5, 0), "card", Some("tok_approved"), "delivered"),
        };
        bodies.push((
            format!("chaos-cust-{}", i % 17),
            w.order_body(&w.slot, lines, method, token),
        ));
        expected.push(outcome);
    }

    let mut saga = spawn();
    let started = Instant::now();
    let mut orders = Vec::with_capacity(ORDERS);
    let mut kills = 0;
    for (n, (customer, body)) in bodies.iter().enumerate() {
        let t = w.s.token(customer, Role::Customer);
        orders.push(w.ok("/v1/orders", &t, body.clone()).await);
        // Killed while the orders come in, too: a saga that keeps up would otherwise settle
        // everything before the loop below kills it at all.
        if n % 40 == 39 {
            saga.kill().await.expect("SIGKILL the saga");
            kills += 1;
            saga = spawn();
        }
    }
    // Kill the saga with SIGKILL at random moments while the orders flow, restarting it each
    // time, until everything has settled (or the kills stop after a while and it finishes).
    let ids: Vec<Uuid> = orders
        .iter()
        .map(|o| Uuid::parse_str(o).expect("uuid"))
        .collect();
    let settled = async || -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM fulfilment.sagas WHERE order_id = ANY($1) AND status IN ('delivered', 'compensated')",
        )
        .bind(&ids)
        .fetch_one(&w.s.pool)
        .await
        .unwrap_or(0)
    };
    let max_kills: u32 = std::env::var("FRESHLINE_CHAOS_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(25);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done = settled().await;
        if done == ORDERS as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {ORDERS} sagas settled; log: {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(150 + dice.below(900))).await;
        if kills < max_kills && started.elapsed() < Duration::from_secs(60) {
            saga.kill().await.expect("SIGKILL the saga");
            kills += 1;
            saga = spawn();
        }
    }
    let elapsed = started.elapsed();
    saga.kill().await.ok();
    // The run's figures go in the test output (the note quotes them).
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "chaos: {ORDERS} orders settled in {:.1} s through {kills} SIGKILLs ({:.1} orders/s)",
            elapsed.as_secs_f64(),
            ORDERS as f64 / elapsed.as_secs_f64()
        );
    }
    assert!(
        kills >= max_kills.min(5),
        "the saga was killed only {kills} times"
    );

    // Every order ended as its payment and stock allowed.
    for (order, want) in orders.iter().zip(&expected) {
        let (status, _, _) =
            sagas::fulfilment::load(&w.s.pool, Uuid::parse_str(order).expect("uuid"))
                .await
                .expect("load")
                .expect("saga");
        assert_eq!(status, *want, "order {order}");
        let shown = if *want == "delivered" {
            "delivered"
        } else {
            "cancelled"
        };
        w.order_shows(order, shown).await;
    }
    // No payment captured twice: in the store, and at the gateway.
    let twice: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT aggregate_id FROM events WHERE event_type = 'PaymentCaptured'
                                GROUP BY aggregate_id HAVING count(*) > 1) t",
    )
    .fetch_one(&w.s.pool)
    .await
    .expect("captures");
    assert_eq!(twice, 0);
    for order in &orders {
        assert!(
            w.captures_of(order).await <= 1,
            "order {order} captured twice at the gateway"
        );
    }
    // No stock negative, nothing left reserved, and the ledger balances.
    w.stock_never_negative().await;
    let pool = w.s.pool.clone();
    until("every reservation committed or released", 30, async || {
        let held: i64 = sqlx::query_scalar("SELECT count(*) FROM read.batches WHERE reserved > 0")
            .fetch_one(&pool)
            .await
            .ok()?;
        (held == 0).then_some(())
    })
    .await;
    w.ledger_balances_to_zero().await;
    w.stop.cancel();
    w.s.stop.cancel();
}
