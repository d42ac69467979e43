//! The order fulfilment read models: envelopes published straight to Kafka (as the relay
//! would), projected by the `orders` projection, read back through the real query API.

use crate::{database, runner_for, start, Stream};
use chrono::{DateTime, Duration as Minutes, Utc};
use platform::auth::{self, Actor, Role, Signer, Verifier};
use projectors::orders::OrdersProjection;
use projectors::suppliers::SupplierProjection;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The `orders` and `suppliers` projections on a topic prefix of their own, and the query API
/// over them (one patient, one that gives up on `min_version` after 200 ms).
struct Harness {
    pool: PgPool,
    stream: Stream,
    queries: String,
    impatient: String,
    signer: Signer,
    client: reqwest::Client,
    stops: Vec<CancellationToken>,
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

impl Harness {
    async fn start() -> Self {
        Self::start_with(None).await
    }

    /// With the projectors' statements cancelled after `statement_timeout` (production: 30 s).
    async fn start_with(statement_timeout: Option<Duration>) -> Self {
        let (pool, url) = crate::database_with_url().await;
        // The query API reads the event store beside the read models (stream heads).
        platform::db::migrate(&pool).await.expect("migrations");
        let stream = Stream::new().await;
        let key = auth::generate_key("k1").expect("key");
        let jwks = json!({"keys": [key.public_jwk]}).to_string();
        let verifier = Arc::new(
            Verifier::from_jwks_json(&jwks, platform::config::defaults::AUDIENCE, None)
                .expect("verifier"),
        );
        let signer = Signer::from_pem("k1", &key.private_pem).expect("signer");
        // The views exist before the first query, as in a deployment where projectors start first.
        for p in [
            &OrdersProjection as &dyn projectors::runtime::Projection,
            &SupplierProjection,
        ] {
            projectors::runtime::prepare_live(&pool, p, "read")
                .await
                .expect("prepare");
        }
        let query = |wait| {
            projectors::query::router(
                pool.clone(),
                "read",
                verifier.clone(),
                prometheus::Registry::new(),
                wait,
                platform::ratelimit::RateLimiter::new(1000.0, 1000.0),
                None,
            )
            .expect("router")
        };
        let queries = serve(query(Duration::from_secs(10))).await;
        let impatient = serve(query(Duration::from_millis(200))).await;
        let mut stops = Vec::new();
        let projector_pool = match statement_timeout {
            None => pool.clone(),
            Some(t) => {
                let set = format!("SET statement_timeout = {}", t.as_millis());
                sqlx::postgres::PgPoolOptions::new()
                    .after_connect(move |conn, _| {
                        let set = set.clone();
                        Box::pin(async move {
                            sqlx::Executor::execute(conn, set.as_str())
                                .await
                                .map(|_| ())
                        })
                    })
                    .connect(&url)
                    .await
                    .expect("projector pool")
            }
        };
        for p in [
            Arc::new(OrdersProjection) as Arc<dyn projectors::runtime::Projection>,
            Arc::new(SupplierProjection),
        ] {
            let (stop, _) = start(runner_for(p, &projector_pool, &stream, "read"));
            stops.push(stop);
        }
        Self {
            pool,
            stream,
            queries,
            impatient,
            signer,
            client: reqwest::Client::new(),
            stops,
        }
    }

    fn token(&self, sub: &str, role: Role) -> String {
        self.signer
            // People in these tests logged in fully (with a one-time password).
            .sign(
                &auth::claims(
                    sub,
                    &Actor::Person(role),
                    role.default_scopes(),
                    600,
                    "test",
                )
                .with_second_factor(),
            )
            .expect("sign")
    }

    fn service_token(&self, service: &str) -> String {
        self.signer
            .sign(&auth::claims(
                &format!("svc-{service}"),
                &Actor::Service(service.to_owned()),
                auth::service_default_scopes(service),
                600,
                "test",
            ))
            .expect("sign")
    }

    async fn send(&self, events: &[Value]) {
        for e in events {
            // Stored first, as command-api appends before the relay publishes: the query API
            // reads stream heads from the store.
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                     event_version, payload, metadata, event_id, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, jsonb_build_object($4::text, $6::jsonb), $7, $8,
                         $9::text::timestamptz)
                 ON CONFLICT DO NOTHING",
            )
            .bind(e["aggregate_type"].as_str())
            .bind(e["aggregate_id"].as_str())
            .bind(e["sequence"].as_i64())
            .bind(e["event_type"].as_str())
            .bind(e["event_version"].to_string())
            .bind(&e["payload"])
            .bind(&e["metadata"])
            .bind(
                e["event_id"]
                    .as_str()
                    .and_then(|id| Uuid::parse_str(id).ok()),
            )
            .bind(e["occurred_at"].as_str())
            .execute(&self.pool)
            .await
            .expect("stored");
            self.stream.send_to_its_topic(e).await;
        }
    }

    async fn get_from(&self, base: &str, path: &str, token: &str) -> (u16, Value, Response) {
        let r = self
            .client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let meta = Response {
            content_type: header(&r, "content-type"),
            retry_after: header(&r, "retry-after"),
        };
        (status, r.json().await.unwrap_or(Value::Null), meta)
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let (status, body, _) = self.get_from(&self.queries, path, token).await;
        (status, body)
    }

    /// Polls `path` until it answers 200 with a body `ok` accepts.
    async fn eventually(&self, path: &str, token: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.get(path, token).await;
            if status == 200 && ok(&body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the orders projection has consumed `n` messages in all.
    async fn consumed(&self, n: i64) {
        crate::until_count(
            &self.pool,
            "SELECT coalesce(sum(next_offset), 0)::int8 FROM read_orders_g1.projection_offsets",
            n,
        )
        .await;
    }

    /// Every row of every table of the projection, as JSON, in a stable order. The timeline's
    /// `global_position` is left out: these tests publish hand-written envelopes whose positions
    /// are not the ones the store gives the same events (in a deployment they are the same).
    async fn snapshot(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for table in projectors::runtime::Projection::views(&OrdersProjection) {
            let rows: Value = sqlx::query_scalar(&format!(
                "SELECT coalesce(jsonb_agg(r ORDER BY r::text), '[]')
                   FROM (SELECT to_jsonb(t) - 'global_position' AS r FROM read.{table} t) rows"
            ))
            .fetch_one(&self.pool)
            .await
            .expect("snapshot");
            out.push(((*table).to_owned(), rows));
        }
        out
    }

    async fn dead_events(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT error FROM read_orders_g1.dead_events")
            .fetch_all(&self.pool)
            .await
            .expect("dead")
    }

    /// The ledger sums to zero in every currency.
    async fn ledger_balances(&self) -> Value {
        let admin = self.token("admin-1", Role::Admin);
        let (status, body) = self.get("/v1/ledger/balances", &admin).await;
        assert_eq!(status, 200, "{body}");
        for t in body["totals"].as_array().expect("totals") {
            assert_eq!(t["sum_minor"], 0, "the ledger does not balance: {body}");
        }
        let mut sums: HashMap<String, i64> = HashMap::new();
        for a in body["accounts"].as_array().expect("accounts") {
            *sums
                .entry(a["currency"].as_str().expect("currency").to_owned())
                .or_default() += a["balance_minor"].as_i64().expect("balance");
        }
        assert!(sums.values().all(|s| *s == 0), "{body}");
        body
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for s in &self.stops {
            s.cancel();
        }
    }
}

struct Response {
    content_type: Option<String>,
    retry_after: Option<String>,
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Writes envelopes as the event store would: a sequence per stream, a clock moving a minute
/// per event.
struct Events {
    seqs: HashMap<Uuid, i64>,
    at: DateTime<Utc>,
}

impl Events {
    fn new(start: &str) -> Self {
        Self {
            seqs: HashMap::new(),
            at: start.parse().expect("time"),
        }
    }

    fn jump_to(&mut self, at: &str) {
        self.at = at.parse().expect("time");
    }

    fn ev(&mut self, aggregate_type: &str, id: Uuid, event_type: &str, payload: Value) -> Value {
        self.by(
            aggregate_type,
            id,
            event_type,
            payload,
            json!({"actor_service": "sagas"}),
        )
    }

    fn by(
        &mut self,
        aggregate_type: &str,
        id: Uuid,
        event_type: &str,
        payload: Value,
        mut metadata: Value,
    ) -> Value {
        let seq = self.seqs.entry(id).or_insert(0);
        *seq += 1;
        self.at += Minutes::minutes(1);
        metadata["correlation_id"] = json!(format!("c-{event_type}"));
        json!({
            "event_id": Uuid::now_v7(), "aggregate_type": aggregate_type,
            "aggregate_id": id.to_string(), "sequence": *seq, "global_position": *seq,
            "event_type": event_type, "event_version": 1,
            "occurred_at": self.at.to_rfc3339(), "metadata": metadata, "payload": payload,
        })
    }
}

const WAREHOUSE: &str = "0190f0e0-0000-7000-8000-0000000000aa";
const WAREHOUSE_AT: (i32, i32) = (52_370_216, 4_895_168);

#[derive(Clone)]
struct Line {
    product: Uuid,
    supplier: Uuid,
    name: &'static str,
    category: &'static str,
    unit: &'static str,
    quantity: &'static str,
    unit_price: i64,
    total: i64,
}

#[derive(Clone)]
struct Order {
    id: Uuid,
    payment: Uuid,
    delivery: Uuid,
    batch: Uuid,
    customer: String,
    slot: Uuid,
    lines: Vec<Line>,
}

impl Order {
    fn new(customer: &str, slot: Uuid, lines: Vec<Line>) -> Self {
        Self {
            id: Uuid::now_v7(),
            payment: Uuid::now_v7(),
            delivery: Uuid::now_v7(),
            batch: Uuid::now_v7(),
            customer: customer.to_owned(),
            slot,
            lines,
        }
    }

    fn total(&self) -> i64 {
        self.lines.iter().map(|l| l.total).sum()
    }
}

fn tomatoes(supplier: Uuid) -> Line {
    Line {
        product: Uuid::now_v7(),
        supplier,
        name: "Tomatoes on the vine",
        category: "vegetable",
        unit: "kg",
        quantity: "1.5",
        unit_price: 349,
        total: 524,
    }
}

fn strawberries(supplier: Uuid) -> Line {
    Line {
        product: Uuid::now_v7(),
        supplier,
        name: "Strawberries",
        category: "fruit",
        unit: "box",
        quantity: "2",
        unit_price: 499,
        total: 998,
    }
}

fn money(amount: i64) -> Value {
    json!({"amount_minor": amount, "currency": "EUR"})
}

fn slot_created(ev: &mut Events, slot: Uuid, zone: &str, starts: &str, capacity: u32) -> Value {
    let starts: DateTime<Utc> = starts.parse().expect("time");
    ev.ev(
        "DeliverySlot",
        slot,
        "DeliverySlotCreated",
        json!({
            "zone": zone, "warehouse_id": WAREHOUSE,
            "warehouse_location": {"lat_e6": WAREHOUSE_AT.0, "lon_e6": WAREHOUSE_AT.1},
            "starts_at": starts, "ends_at": starts + Minutes::hours(2), "capacity": capacity}),
    )
}

fn rider_on_shift(ev: &mut Events, rider: Uuid) -> Vec<Value> {
    vec![
        ev.ev(
            "Rider",
            rider,
            "RiderRegistered",
            json!({"name": "Sam", "account": "rider-sam", "cold_chain_capable": true}),
        ),
        ev.ev(
            "Rider",
            rider,
            "RiderAvailabilityChanged",
            json!({"available": true, "location": {"lat_e6": 52_371_000, "lon_e6": 4_896_000}}),
        ),
    ]
}

fn supplier_registered(ev: &mut Events, supplier: Uuid, owner: &str) -> Value {
    let mut e = ev.ev(
        "Supplier",
        supplier,
        "SupplierRegistered",
        json!({
            "supplier_id": supplier, "owner": owner, "legal_name": format!("Farm {owner}"),
            "registration_number": format!("NL-{supplier}"), "contact_email": "a@b.example",
            "phone": "+31205550101",
            "address": {"line1": "Dijk 1", "city": "Naaldwijk", "postal_code": "2671 AA", "country": "NL"},
            "categories": ["fruit"]}),
    );
    e["metadata"] = json!({"actor_sub": owner, "actor_role": "supplier"});
    e
}

/// Booked, placed, payment opened, stock reserved.
fn placed(ev: &mut Events, o: &Order) -> Vec<Value> {
    let lines: Vec<Value> = o
        .lines
        .iter()
        .map(|l| {
            json!({
                "product_id": l.product, "supplier_id": l.supplier, "name": l.name,
                "category": l.category, "unit": l.unit, "quantity": l.quantity,
                "unit_price": money(l.unit_price), "line_total": money(l.total)})
        })
        .collect();
    let mut shares: Vec<(Uuid, i64)> = Vec::new();
    for l in &o.lines {
        match shares.iter_mut().find(|s| s.0 == l.supplier) {
            Some(s) => s.1 += l.total,
            None => shares.push((l.supplier, l.total)),
        }
    }
    let payees: Vec<Value> = shares
        .iter()
        .map(|(s, a)| json!({"supplier_id": s, "amount": money(*a)}))
        .collect();
    let customer = json!({"actor_sub": o.customer, "actor_role": "customer"});
    vec![
        ev.by(
            "Order",
            o.id,
            "OrderPlaced",
            json!({
                "customer": o.customer, "lines": lines, "total": money(o.total()),
                "delivery": {
                    "address": {"line1": "Prinsengracht 263", "city": "Amsterdam", "postal_code": "1016 GV",
                                "country": "NL", "location": {"lat_e6": 52_375_218, "lon_e6": 4_883_977}},
                    "slot_id": o.slot, "warehouse_id": WAREHOUSE,
                    "warehouse_location": {"lat_e6": WAREHOUSE_AT.0, "lon_e6": WAREHOUSE_AT.1},
                    "zone": "AMS-CENTRE", "slot_starts_at": "2026-12-01T10:00:00Z",
                    "slot_ends_at": "2026-12-01T12:00:00Z", "contact_email": "jan@example.com"},
                "payment": {"payment_id": o.payment, "method": "card", "card_token": "tok_approved"}}),
            customer,
        ),
        ev.ev(
            "DeliverySlot",
            o.slot,
            "DeliverySlotBooked",
            json!({"order_id": o.id}),
        ),
        ev.ev(
            "Payment",
            o.payment,
            "PaymentInitiated",
            json!({"order_id": o.id, "customer": o.customer, "method": "card",
                   "amount": money(o.total()), "payees": payees, "commission_bps": 1000}),
        ),
        ev.ev(
            "InventoryBatch",
            o.batch,
            "StockReserved",
            json!({"order_id": o.id, "quantity": o.lines[0].quantity}),
        ),
    ]
}

/// Authorised, captured, paid.
fn paid(ev: &mut Events, o: &Order) -> Vec<Value> {
    vec![
        ev.ev(
            "Payment",
            o.payment,
            "PaymentAuthorized",
            json!({"gateway_ref": "auth-1", "amount": money(o.total())}),
        ),
        ev.ev(
            "Payment",
            o.payment,
            "PaymentCaptured",
            json!({"gateway_ref": "cap-1", "amount": money(o.total())}),
        ),
        ev.ev(
            "Order",
            o.id,
            "OrderPaid",
            json!({"payment_id": o.payment, "amount": money(o.total())}),
        ),
    ]
}

/// Scheduled, packed (stock committed), assigned, picked up, shipped, two positions, delivered.
fn carried(ev: &mut Events, o: &Order, rider: Uuid) -> Vec<Value> {
    let warehouse = json!({"actor_sub": "wh-1", "actor_role": "warehouse"});
    let by_rider = json!({"actor_sub": "rider-sam", "actor_role": "rider"});
    vec![
        ev.ev(
            "Delivery",
            o.delivery,
            "DeliveryScheduled",
            json!({
                "order_id": o.id, "slot_id": o.slot, "warehouse_id": WAREHOUSE,
                "pickup": {"lat_e6": WAREHOUSE_AT.0, "lon_e6": WAREHOUSE_AT.1},
                "destination": {"line1": "Prinsengracht 263", "city": "Amsterdam", "postal_code": "1016 GV",
                                "country": "NL", "location": {"lat_e6": 52_375_218, "lon_e6": 4_883_977}},
                "cold_chain": true, "window_starts_at": "2026-12-01T10:00:00Z",
                "window_ends_at": "2026-12-01T12:00:00Z"}),
        ),
        ev.ev(
            "InventoryBatch",
            o.batch,
            "ReservationCommitted",
            json!({"order_id": o.id, "quantity": o.lines[0].quantity}),
        ),
        ev.by("Order", o.id, "OrderPacked", json!({}), warehouse),
        ev.ev(
            "Delivery",
            o.delivery,
            "DeliveryRiderAssigned",
            json!({"rider_id": rider, "distance_m": 130}),
        ),
        ev.ev(
            "Rider",
            rider,
            "RiderAssigned",
            json!({"delivery_id": o.delivery, "order_id": o.id}),
        ),
        ev.by(
            "Delivery",
            o.delivery,
            "DeliveryPickedUp",
            json!({}),
            by_rider.clone(),
        ),
        ev.ev(
            "Order",
            o.id,
            "OrderShipped",
            json!({"delivery_id": o.delivery, "rider_id": rider}),
        ),
        ev.by(
            "Delivery",
            o.delivery,
            "DeliveryLocationUpdated",
            json!({"location": {"lat_e6": 52_372_000, "lon_e6": 4_890_000}, "eta": "2026-12-01T10:40:00Z"}),
            by_rider.clone(),
        ),
        ev.by(
            "Delivery",
            o.delivery,
            "DeliveryLocationUpdated",
            json!({"location": {"lat_e6": 52_374_500, "lon_e6": 4_885_000}, "eta": "2026-12-01T10:35:00Z"}),
            by_rider.clone(),
        ),
        ev.by(
            "Delivery",
            o.delivery,
            "DeliveryCompleted",
            json!({}),
            by_rider,
        ),
        ev.ev(
            "Order",
            o.id,
            "OrderDelivered",
            json!({"delivery_id": o.delivery}),
        ),
        ev.ev(
            "Rider",
            rider,
            "RiderReleased",
            json!({"delivery_id": o.delivery, "order_id": o.id}),
        ),
    ]
}

/// One order from placement to the door, with its slot, rider and suppliers.
struct Delivered {
    order: Order,
    rider: Uuid,
    events: Vec<Value>,
}

fn delivered_order(customer: &str) -> Delivered {
    let mut ev = Events::new("2026-11-21T08:00:00Z");
    let slot = Uuid::now_v7();
    let rider = Uuid::now_v7();
    let order = Order::new(
        customer,
        slot,
        vec![tomatoes(Uuid::now_v7()), strawberries(Uuid::now_v7())],
    );
    let mut events = vec![slot_created(
        &mut ev,
        slot,
        "AMS-CENTRE",
        "2026-12-01T10:00:00Z",
        20,
    )];
    events.extend(rider_on_shift(&mut ev, rider));
    events.extend(placed(&mut ev, &order));
    events.extend(paid(&mut ev, &order));
    events.extend(carried(&mut ev, &order, rider));
    Delivered {
        order,
        rider,
        events,
    }
}

fn event_types(timeline: &Value) -> Vec<String> {
    timeline
        .as_array()
        .expect("timeline")
        .iter()
        .map(|t| t["event_type"].as_str().expect("type").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_carried_to_the_door_shows_every_step_across_streams() {
    let h = Harness::start().await;
    let d = delivered_order("cust-1");
    let o = &d.order;
    h.send(&d.events).await;
    let customer = h.token("cust-1", Role::Customer);

    // Read-your-writes: the order stream reaches version 5 with OrderDelivered.
    let (status, order, _) = h
        .get_from(
            &h.queries,
            &format!("/v1/orders/{}?min_version=5", o.id),
            &customer,
        )
        .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "delivered");
    assert_eq!(order["version"], 5);
    // Every stream's last event is applied once the timeline has all of them.
    let order = h
        .eventually(&format!("/v1/orders/{}", o.id), &customer, |b| {
            b["timeline"].as_array().map(Vec::len) == Some(17)
        })
        .await;
    assert_eq!(
        event_types(&order["timeline"]),
        [
            "OrderPlaced",
            "DeliverySlotBooked",
            "PaymentInitiated",
            "StockReserved",
            "PaymentAuthorized",
            "PaymentCaptured",
            "OrderPaid",
            "DeliveryScheduled",
            "ReservationCommitted",
            "OrderPacked",
            "DeliveryRiderAssigned",
            "DeliveryPickedUp",
            "OrderShipped",
            "DeliveryLocationUpdated",
            "DeliveryLocationUpdated",
            "DeliveryCompleted",
            "OrderDelivered",
        ]
    );
    let timeline = order["timeline"].as_array().expect("timeline");
    let packed = timeline
        .iter()
        .find(|t| t["event_type"] == "OrderPacked")
        .expect("packed");
    assert_eq!(packed["actor"], json!({"sub": "wh-1", "role": "warehouse"}));
    assert_eq!(packed["correlation_id"], "c-OrderPacked");
    let reserved = timeline
        .iter()
        .find(|t| t["event_type"] == "StockReserved")
        .expect("reserved");
    assert_eq!(reserved["aggregate_type"], "InventoryBatch");
    assert_eq!(reserved["detail"]["batch_id"], o.batch.to_string());
    assert_eq!(reserved["detail"]["quantity"], "1.5");

    assert_eq!(order["total"], money(1522));
    assert_eq!(order["paid_minor"], 1522);
    assert_eq!(order["refunded_minor"], 0);
    assert_eq!(order["lines"].as_array().map(Vec::len), Some(2));
    assert_eq!(order["lines"][0]["quantity"], "1.5");
    assert_eq!(order["payment"]["id"], o.payment.to_string());
    assert_eq!(order["payment"]["status"], "captured");
    assert_eq!(order["payment"]["captured_minor"], 1522);
    assert_eq!(order["delivery"]["id"], o.delivery.to_string());
    assert_eq!(order["delivery"]["status"], "delivered");
    assert_eq!(order["delivery"]["rider_id"], d.rider.to_string());
    assert_eq!(order["delivery"]["cold_chain"], true);
    assert_eq!(order["cancel_reason"], Value::Null);

    // The rider is free again, on shift, where it last said it was.
    let admin = h.token("admin-1", Role::Admin);
    let riders = h
        .eventually("/v1/riders?available=true", &admin, |b| {
            b["items"][0]["version"] == 4
        })
        .await;
    assert_eq!(riders["items"][0]["current_delivery"], Value::Null);
    assert_eq!(
        riders["items"][0]["location"],
        json!({"lat_e6": 52_371_000, "lon_e6": 4_896_000})
    );
    // The delivery: rider, every position in order, the last ETA.
    let delivery = h
        .eventually(&format!("/v1/deliveries/{}", o.delivery), &customer, |b| {
            b["status"] == "delivered"
        })
        .await;
    assert_eq!(delivery["rider"]["id"], d.rider.to_string());
    assert_eq!(delivery["rider"]["name"], "Sam");
    assert_eq!(delivery["rider"]["distance_m"], 130);
    assert_eq!(delivery["cold_chain"], true);
    let positions = delivery["positions"].as_array().expect("positions");
    assert_eq!(positions.len(), 2);
    assert_eq!(positions[0]["lat_e6"], 52_372_000);
    assert_eq!(positions[1]["lon_e6"], 4_885_000);
    assert_eq!(
        delivery["last_position"],
        json!({"lat_e6": 52_374_500, "lon_e6": 4_885_000})
    );
    assert_eq!(
        delivery["eta"].as_str().map(|s| s.parse::<DateTime<Utc>>()),
        Some(Ok("2026-12-01T10:35:00Z".parse().expect("time")))
    );
    assert!(delivery["finished_at"].is_string());

    let (_, off) = h.get("/v1/riders?available=false", &admin).await;
    assert_eq!(off["items"], json!([]));

    // The capture split between the suppliers, less commission, and the platform.
    let ledger = h.ledger_balances().await;
    let balance = |account: String| {
        ledger["accounts"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["account"] == account.as_str()))
            .map(|x| x["balance_minor"].clone())
    };
    assert_eq!(balance("customers".into()), Some(json!(-1522)));
    assert_eq!(
        balance(format!("supplier_payable:{}", o.lines[0].supplier)),
        Some(json!(524 - 52))
    );
    assert_eq!(
        balance(format!("supplier_payable:{}", o.lines[1].supplier)),
        Some(json!(998 - 100))
    );
    assert_eq!(balance("platform_revenue".into()), Some(json!(152)));
    let (_, payable) = h
        .get(
            "/v1/ledger/balances?account_prefix=supplier_payable:",
            &admin,
        )
        .await;
    assert_eq!(payable["accounts"].as_array().map(Vec::len), Some(2));

    // A version beyond the latest the event store holds: nothing to wait for, 404 at once.
    let (status, problem, _) = h
        .get_from(
            &h.impatient,
            &format!("/v1/orders/{}?min_version=99", o.id),
            &customer,
        )
        .await;
    assert_eq!((status, problem["code"].clone()), (404, json!("not_found")));

    // A version the store holds that the read model has not reached (stored, never sent to
    // Kafka): 503 with Retry-After once the wait is over.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT aggregate_type, aggregate_id, sequence + 1, event_type, event_version, payload,
                metadata
           FROM events WHERE aggregate_type = 'Order' AND aggregate_id = $1
          ORDER BY sequence DESC LIMIT 1",
    )
    .bind(o.id.to_string())
    .execute(&h.pool)
    .await
    .expect("stored only");
    let (status, problem, meta) = h
        .get_from(
            &h.impatient,
            &format!("/v1/orders/{}?min_version=6", o.id),
            &customer,
        )
        .await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["code"], "version_not_reached");
    assert_eq!(meta.retry_after.as_deref(), Some("1"));
    assert!(h.dead_events().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_order_shows_its_reason_and_gives_back_its_slot_place_and_stock() {
    let h = Harness::start().await;
    let mut ev = Events::new("2026-11-21T08:00:00Z");
    let slot = Uuid::now_v7();
    let o = Order::new("cust-2", slot, vec![tomatoes(Uuid::now_v7())]);
    let mut events = vec![slot_created(
        &mut ev,
        slot,
        "AMS-CENTRE",
        "2026-12-01T10:00:00Z",
        1,
    )];
    events.extend(placed(&mut ev, &o));
    events.push(ev.ev(
        "Payment",
        o.payment,
        "PaymentDeclined",
        json!({"code": "card_declined", "reason": "Do not honour"}),
    ));
    events.push(ev.ev(
        "InventoryBatch",
        o.batch,
        "ReservationReleased",
        json!({"order_id": o.id, "quantity": "1.5"}),
    ));
    events.push(ev.ev(
        "DeliverySlot",
        slot,
        "DeliverySlotReleased",
        json!({"order_id": o.id}),
    ));
    events.push(ev.by(
        "Order",
        o.id,
        "OrderCancelled",
        json!({"reason": "payment_failed", "detail": "card declined"}),
        json!({"actor_service": "sagas", "reason": "payment_failed"}),
    ));
    h.send(&events).await;
    let customer = h.token("cust-2", Role::Customer);
    let order = h
        .eventually(&format!("/v1/orders/{}", o.id), &customer, |b| {
            b["timeline"].as_array().map(Vec::len) == Some(8)
        })
        .await;
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["cancel_reason"], "payment_failed");
    assert_eq!(order["cancel_detail"], "card declined");
    assert_eq!(order["paid_minor"], 0);
    assert_eq!(order["payment"]["status"], "declined");
    assert_eq!(order["delivery"], Value::Null);
    let cancelled = order["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .cloned()
        .expect("last");
    assert_eq!(cancelled["event_type"], "OrderCancelled");
    assert_eq!(cancelled["reason"], "payment_failed");
    assert_eq!(cancelled["actor"], json!({"service": "sagas"}));

    let payment = h
        .get(&format!("/v1/payments/{}", o.payment), &customer)
        .await
        .1;
    assert_eq!(payment["status"], "declined");
    assert_eq!(payment["decline_code"], "card_declined");
    assert_eq!(payment["decline_reason"], "Do not honour");
    assert_eq!(payment["captured_minor"], 0);

    let slots = h
        .get(
            "/v1/delivery-slots?zone=AMS-CENTRE&date=2026-12-01",
            &customer,
        )
        .await
        .1;
    assert_eq!(slots["items"][0]["booked"], 0);
    assert_eq!(slots["items"][0]["remaining"], 1);
    // No money moved: nothing in the ledger, and no sale.
    let ledger = h.ledger_balances().await;
    assert_eq!(ledger["accounts"], json!([]));
    let admin = h.token("admin-1", Role::Admin);
    let sales = h.get("/v1/analytics/sales?group_by=day", &admin).await.1;
    assert_eq!(sales["groups"], json!([]));
    let (_, cancelled) = h.get("/v1/orders?status=cancelled", &admin).await;
    assert_eq!(cancelled["items"][0]["id"], o.id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partial_then_full_refunds_show_on_the_payment_the_order_and_the_ledger() {
    let h = Harness::start().await;
    let mut ev = Events::new("2026-11-21T08:00:00Z");
    let slot = Uuid::now_v7();
    let o = Order::new(
        "cust-3",
        slot,
        vec![tomatoes(Uuid::now_v7()), strawberries(Uuid::now_v7())],
    );
    let mut events = vec![slot_created(
        &mut ev,
        slot,
        "AMS-CENTRE",
        "2026-12-01T10:00:00Z",
        5,
    )];
    events.extend(placed(&mut ev, &o));
    events.extend(paid(&mut ev, &o));
    h.send(&events).await;
    let admin = h.token("admin-1", Role::Admin);
    let path = format!("/v1/payments/{}", o.payment);
    h.eventually(&path, &admin, |b| b["status"] == "captured")
        .await;
    h.ledger_balances().await;

    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let refund = |ev: &mut Events, id: Uuid, amount: i64| {
        let by_admin = json!({"actor_sub": "admin-1", "actor_role": "admin", "reason": "bruised"});
        vec![
            ev.by(
                "Payment",
                o.payment,
                "RefundRequested",
                json!({"refund_id": id, "amount": money(amount), "reason": "bruised"}),
                by_admin,
            ),
            ev.ev(
                "Payment",
                o.payment,
                "RefundCompleted",
                json!({"refund_id": id, "amount": money(amount), "gateway_ref": format!("ref-{id}")}),
            ),
            ev.ev(
                "Order",
                o.id,
                "OrderRefundRecorded",
                json!({"payment_id": o.payment, "refund_id": id, "amount": money(amount), "reason": "bruised"}),
            ),
        ]
    };
    h.send(&refund(&mut ev, first, 300)).await;
    let payment = h
        .eventually(&path, &admin, |b| b["status"] == "partially_refunded")
        .await;
    assert_eq!(payment["refunded_minor"], 300);
    assert_eq!(payment["refund_requested_minor"], 300);
    assert_eq!(payment["refunds"][0]["refund_id"], first.to_string());
    assert_eq!(payment["refunds"][0]["status"], "completed");
    assert_eq!(payment["refunds"][0]["reason"], "bruised");
    let ledger = h.ledger_balances().await;
    assert!(ledger["accounts"]
        .as_array()
        .expect("accounts")
        .contains(&json!({"account": "refunds", "currency": "EUR", "balance_minor": -300})));

    h.send(&refund(&mut ev, second, 1222)).await;
    let payment = h
        .eventually(&path, &admin, |b| b["status"] == "refunded")
        .await;
    assert_eq!(payment["refunded_minor"], 1522);
    assert_eq!(payment["captured_minor"], 1522);
    assert_eq!(payment["refunds"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        payment["refunds"][1]["gateway_ref"],
        format!("ref-{second}")
    );
    let order = h
        .eventually(&format!("/v1/orders/{}", o.id), &admin, |b| {
            b["version"] == 4
        })
        .await;
    assert_eq!(order["refunded_minor"], 1522);
    assert_eq!(order["paid_minor"], 1522);
    assert_eq!(
        order["payment"]["refunds"].as_array().map(Vec::len),
        Some(2)
    );
    let ledger = h.ledger_balances().await;
    let accounts = ledger["accounts"].as_array().expect("accounts");
    assert!(
        accounts.contains(&json!({"account": "customers", "currency": "EUR", "balance_minor": 0}))
    );
    assert!(accounts
        .contains(&json!({"account": "refunds", "currency": "EUR", "balance_minor": -1522})));
    assert!(h.dead_events().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slot_capacity_counts_a_redelivered_booking_once() {
    let h = Harness::start().await;
    let mut ev = Events::new("2026-11-21T08:00:00Z");
    let (slot, other_day) = (Uuid::now_v7(), Uuid::now_v7());
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let created = slot_created(&mut ev, slot, "AMS-EAST", "2026-12-04T10:00:00Z", 3);
    let later = slot_created(&mut ev, other_day, "AMS-EAST", "2026-12-05T10:00:00Z", 3);
    let booked_a = ev.ev(
        "DeliverySlot",
        slot,
        "DeliverySlotBooked",
        json!({"order_id": a}),
    );
    let booked_b = ev.ev(
        "DeliverySlot",
        slot,
        "DeliverySlotBooked",
        json!({"order_id": b}),
    );
    // The relay publishing a booking again.
    h.send(&[created, later, booked_a.clone(), booked_b, booked_a])
        .await;
    h.consumed(5).await;
    let customer = h.token("cust-4", Role::Customer);
    let slots = h
        .get(
            "/v1/delivery-slots?zone=AMS-EAST&date=2026-12-04",
            &customer,
        )
        .await
        .1;
    let items = slots["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{slots}");
    assert_eq!(items[0]["id"], slot.to_string());
    assert_eq!(items[0]["capacity"], 3);
    assert_eq!(items[0]["booked"], 2);
    assert_eq!(items[0]["remaining"], 1);
    assert_eq!(items[0]["version"], 3);
    assert_eq!(
        items[0]["warehouse_location"],
        json!({"lat_e6": WAREHOUSE_AT.0, "lon_e6": WAREHOUSE_AT.1})
    );
    let one = h
        .get(
            &format!("/v1/delivery-slots/{slot}?min_version=3"),
            &customer,
        )
        .await
        .1;
    assert_eq!(
        (one["booked"].clone(), one["remaining"].clone()),
        (json!(2), json!(1))
    );
    // A release gives the place back.
    h.send(&[ev.ev(
        "DeliverySlot",
        slot,
        "DeliverySlotReleased",
        json!({"order_id": a}),
    )])
    .await;
    h.eventually(
        "/v1/delivery-slots?zone=AMS-EAST&date=2026-12-04",
        &customer,
        |b| b["items"][0]["remaining"] == 2,
    )
    .await;
    let all = h.get("/v1/delivery-slots?zone=AMS-EAST", &customer).await.1;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2));
    assert!(h.dead_events().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customer_sees_only_their_own_orders_payments_and_deliveries() {
    let h = Harness::start().await;
    let mine = delivered_order("cust-a");
    let theirs = delivered_order("cust-b");
    h.send(&mine.events).await;
    h.send(&theirs.events).await;
    let a = h.token("cust-a", Role::Customer);
    let b = h.token("cust-b", Role::Customer);
    let admin = h.token("admin-1", Role::Admin);
    h.eventually(
        &format!("/v1/orders/{}?min_version=5", theirs.order.id),
        &b,
        |_| true,
    )
    .await;
    h.eventually(
        &format!("/v1/orders/{}?min_version=5", mine.order.id),
        &a,
        |_| true,
    )
    .await;
    h.eventually(
        &format!("/v1/deliveries/{}", theirs.order.delivery),
        &b,
        |_| true,
    )
    .await;
    h.eventually(
        &format!("/v1/riders/{}?min_version=4", mine.rider),
        &admin,
        |_| true,
    )
    .await;
    h.eventually(
        &format!("/v1/payments/{}", theirs.order.payment),
        &b,
        |_| true,
    )
    .await;

    // Another customer's order, payment and delivery do not exist for them.
    for path in [
        format!("/v1/orders/{}", theirs.order.id),
        format!("/v1/payments/{}", theirs.order.payment),
        format!("/v1/deliveries/{}", theirs.order.delivery),
    ] {
        let (status, problem) = h.get(&path, &a).await;
        assert_eq!(
            (status, problem["code"].clone()),
            (404, json!("not_found")),
            "{path}"
        );
    }
    assert_eq!(
        h.get(&format!("/v1/payments/{}", mine.order.payment), &a)
            .await
            .0,
        200
    );
    // The list is always the caller's own, whatever customer_id says.
    let page = h.get("/v1/orders?customer_id=cust-b", &a).await.1;
    let ids: Vec<&Value> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(ids, [&json!(mine.order.id.to_string())]);
    assert!(page["items"][0].get("timeline").is_none());
    // An admin sees both, newest first, a page at a time.
    let first = h.get("/v1/orders?limit=1", &admin).await.1;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(1));
    let cursor = first["next_cursor"].as_str().expect("cursor").to_owned();
    let second = h
        .get(&format!("/v1/orders?limit=1&cursor={cursor}"), &admin)
        .await
        .1;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    assert_eq!(second["next_cursor"], Value::Null);
    let only_b = h.get("/v1/orders?customer_id=cust-b", &admin).await.1;
    assert_eq!(only_b["items"][0]["id"], theirs.order.id.to_string());
    assert_eq!(only_b["items"].as_array().map(Vec::len), Some(1));
    // The back office is not for customers; order details are not for suppliers or riders.
    for path in ["/v1/ledger/balances", "/v1/analytics/sales", "/v1/riders"] {
        assert_eq!(h.get(path, &a).await.0, 403, "{path}");
    }
    let supplier = h.token("acct-x", Role::Supplier);
    assert_eq!(
        h.get(&format!("/v1/orders/{}", mine.order.id), &supplier)
            .await
            .0,
        403
    );
    let rider = h.token("rider-sam", Role::Rider);
    assert_eq!(
        h.get(&format!("/v1/orders/{}", mine.order.id), &rider)
            .await
            .0,
        403
    );
    // A rider sees the deliveries assigned to them, and no other.
    let path = format!("/v1/deliveries/{}", mine.order.delivery);
    assert_eq!(h.get(&path, &rider).await.0, 200);
    let other_rider = h.token("rider-kim", Role::Rider);
    assert_eq!(h.get(&path, &other_rider).await.0, 404);
    let path = format!("/v1/riders/{}", mine.rider);
    assert_eq!(h.get(&path, &rider).await.1["account"], "rider-sam");
    assert_eq!(h.get(&path, &other_rider).await.0, 404);
    assert_eq!(h.get(&path, &a).await.0, 403);
    assert_eq!(h.get("/v1/orders", "not-a-token").await.0, 401);
    // Services go by their scopes.
    let notifier = h.service_token("notifier");
    assert_eq!(
        h.get(&format!("/v1/orders/{}", mine.order.id), &notifier)
            .await
            .0,
        200
    );
    assert_eq!(h.get("/v1/ledger/balances", &notifier).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_supplier_sees_its_incoming_orders_with_only_its_own_lines() {
    let h = Harness::start().await;
    let mut ev = Events::new("2026-11-21T08:00:00Z");
    let (s1, s2) = (Uuid::now_v7(), Uuid::now_v7());
    let slot = Uuid::now_v7();
    let mut events = vec![
        supplier_registered(&mut ev, s1, "acct-s1"),
        supplier_registered(&mut ev, s2, "acct-s2"),
        slot_created(&mut ev, slot, "AMS-CENTRE", "2026-12-01T10:00:00Z", 10),
    ];
    let both = Order::new("cust-5", slot, vec![tomatoes(s1), strawberries(s2)]);
    let only_s2 = Order::new("cust-6", slot, vec![strawberries(s2)]);
    let later = Order::new("cust-7", slot, vec![tomatoes(s1)]);
    events.extend(placed(&mut ev, &both));
    events.extend(paid(&mut ev, &both));
    events.extend(placed(&mut ev, &only_s2));
    events.extend(placed(&mut ev, &later));
    h.send(&events).await;
    let owner = h.token("acct-s1", Role::Supplier);
    let page = h
        .eventually(&format!("/v1/suppliers/{s1}/orders"), &owner, |b| {
            b["items"].as_array().map(Vec::len) == Some(2) && b["items"][1]["status"] == "paid"
        })
        .await;
    // Newest first, only s1's lines, s1's total.
    assert_eq!(page["items"][0]["order_id"], later.id.to_string());
    assert_eq!(page["items"][0]["status"], "created");
    let mine = &page["items"][1];
    assert_eq!(mine["order_id"], both.id.to_string());
    assert_eq!(mine["status"], "paid");
    assert_eq!(mine["lines"].as_array().map(Vec::len), Some(1));
    assert_eq!(mine["lines"][0]["name"], "Tomatoes on the vine");
    assert_eq!(mine["lines"][0]["quantity"], "1.5");
    assert_eq!(mine["total_minor"], 524);
    assert_eq!(mine["zone"], "AMS-CENTRE");
    assert!(mine.get("customer").is_none());
    // Filtered by status, and paged.
    let paid_only = h
        .get(&format!("/v1/suppliers/{s1}/orders?status=paid"), &owner)
        .await
        .1;
    assert_eq!(paid_only["items"].as_array().map(Vec::len), Some(1));
    let first = h
        .get(&format!("/v1/suppliers/{s1}/orders?limit=1"), &owner)
        .await
        .1;
    let cursor = first["next_cursor"].as_str().expect("cursor").to_owned();
    let second = h
        .get(
            &format!("/v1/suppliers/{s1}/orders?limit=1&cursor={cursor}"),
            &owner,
        )
        .await
        .1;
    assert_eq!(second["items"][0]["order_id"], both.id.to_string());
    // Another supplier's orders are not there for it; an admin sees them.
    let (status, _) = h.get(&format!("/v1/suppliers/{s2}/orders"), &owner).await;
    assert_eq!(status, 404);
    let admin = h.token("admin-1", Role::Admin);
    let s2_page = h
        .eventually(&format!("/v1/suppliers/{s2}/orders"), &admin, |b| {
            b["items"].as_array().map(Vec::len) == Some(2)
        })
        .await;
    assert_eq!(s2_page["items"][1]["lines"][0]["name"], "Strawberries");
    // A customer cannot read a supplier's incoming orders.
    let customer = h.token("cust-5", Role::Customer);
    assert_eq!(
        h.get(&format!("/v1/suppliers/{s1}/orders"), &customer)
            .await
            .0,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sales_are_grouped_by_day_category_and_supplier_over_paid_orders_only() {
    let h = Harness::start().await;
    let mut ev = Events::new("2026-11-20T08:00:00Z");
    let (s1, s2) = (Uuid::now_v7(), Uuid::now_v7());
    let slot = Uuid::now_v7();
    let mut events = vec![slot_created(
        &mut ev,
        slot,
        "AMS-CENTRE",
        "2026-12-01T10:00:00Z",
        10,
    )];
    // Day 1: one order with both suppliers' lines, paid.
    let day1 = Order::new("cust-8", slot, vec![tomatoes(s1), strawberries(s2)]);
    events.extend(placed(&mut ev, &day1));
    events.extend(paid(&mut ev, &day1));
    // Day 2: one paid order of s1, one never paid, one paid and then cancelled.
    ev.jump_to("2026-11-21T09:00:00Z");
    let day2 = Order::new("cust-9", slot, vec![tomatoes(s1)]);
    let unpaid = Order::new("cust-9", slot, vec![strawberries(s2)]);
    let cancelled = Order::new("cust-9", slot, vec![strawberries(s2)]);
    for o in [&day2, &unpaid, &cancelled] {
        events.extend(placed(&mut ev, o));
    }
    events.extend(paid(&mut ev, &day2));
    events.extend(paid(&mut ev, &cancelled));
    events.push(ev.ev(
        "Order",
        cancelled.id,
        "OrderCancelled",
        json!({"reason": "out_of_stock", "detail": null}),
    ));
    h.send(&events).await;
    let admin = h.token("admin-1", Role::Admin);
    h.eventually(
        &format!("/v1/orders/{}?min_version=3", cancelled.id),
        &admin,
        |_| true,
    )
    .await;
    for paid in [day1.id, day2.id] {
        h.eventually(&format!("/v1/orders/{paid}?min_version=2"), &admin, |_| {
            true
        })
        .await;
    }

    let by_day = h.get("/v1/analytics/sales?group_by=day", &admin).await.1;
    assert_eq!(
        by_day["groups"],
        json!([
            {"key": "2026-11-20", "currency": "EUR", "orders": 1, "quantity": "3.5", "revenue_minor": 1522},
            {"key": "2026-11-21", "currency": "EUR", "orders": 1, "quantity": "1.5", "revenue_minor": 524},
        ])
    );
    let by_category = h
        .get(
            "/v1/analytics/sales?group_by=category&from=2026-11-20&to=2026-11-21",
            &admin,
        )
        .await
        .1;
    assert_eq!(
        by_category["groups"],
        json!([
            {"key": "fruit", "currency": "EUR", "orders": 1, "quantity": "2", "revenue_minor": 998},
            {"key": "vegetable", "currency": "EUR", "orders": 2, "quantity": "3", "revenue_minor": 1048},
        ])
    );
    let by_supplier = h
        .get(
            "/v1/analytics/sales?group_by=supplier&from=2026-11-21&to=2026-11-21",
            &admin,
        )
        .await
        .1;
    assert_eq!(
        by_supplier["groups"],
        json!([{"key": s1.to_string(), "currency": "EUR", "orders": 1, "quantity": "1.5", "revenue_minor": 524}])
    );
    assert_eq!(by_supplier["from"], "2026-11-21");
    h.ledger_balances().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_query_parameters_are_named_in_422_problems() {
    let h = Harness::start().await;
    let admin = h.token("admin-1", Role::Admin);
    let id = Uuid::now_v7();
    for (path, field) in [
        ("/v1/analytics/sales?group_by=week".to_owned(), "group_by"),
        (
            "/v1/analytics/sales?from=2026-11-22&to=2026-11-21".to_owned(),
            "to",
        ),
        ("/v1/analytics/sales?from=2026-13-01".to_owned(), "from"),
        ("/v1/analytics/sales?to=yesterday".to_owned(), "to"),
        ("/v1/analytics/sales?colour=red".to_owned(), "colour"),
        ("/v1/delivery-slots?date=01-12-2026".to_owned(), "date"),
        ("/v1/orders?status=lost".to_owned(), "status"),
        ("/v1/orders?limit=0".to_owned(), "limit"),
        ("/v1/orders?cursor=garbage".to_owned(), "cursor"),
        (format!("/v1/orders/{id}?min_version=-1"), "min_version"),
        ("/v1/orders/not-a-uuid".to_owned(), "id"),
        ("/v1/riders?available=maybe".to_owned(), "available"),
        (format!("/v1/suppliers/{id}/orders?status=lost"), "status"),
    ] {
        let (status, problem, meta) = h.get_from(&h.queries, &path, &admin).await;
        assert_eq!(status, 422, "{path}: {problem}");
        assert_eq!(
            meta.content_type.as_deref(),
            Some("application/problem+json"),
            "{path}"
        );
        assert_eq!(problem["code"], "validation_failed", "{path}");
        let fields: Vec<&str> = problem["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(|f| f["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{path}: {problem}");
    }
    // The document describes the new routes.
    let doc: Value = h
        .client
        .get(format!("{}/openapi.json", h.queries))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    for path in [
        "/v1/orders/{id}",
        "/v1/orders",
        "/v1/suppliers/{id}/orders",
        "/v1/deliveries/{id}",
        "/v1/delivery-slots",
        "/v1/delivery-slots/{id}",
        "/v1/riders",
        "/v1/riders/{id}",
        "/v1/payments/{id}",
        "/v1/ledger/balances",
        "/v1/analytics/sales",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redelivering_every_stream_changes_nothing() {
    let h = Harness::start().await;
    let d = delivered_order("cust-r");
    h.send(&d.events).await;
    let n = i64::try_from(d.events.len()).expect("count");
    h.consumed(n).await;
    let before = h.snapshot().await;
    let ledger = h.ledger_balances().await;
    h.send(&d.events).await;
    h.consumed(2 * n).await;
    assert_eq!(h.snapshot().await, before);
    assert_eq!(h.ledger_balances().await, ledger);
    assert!(
        h.dead_events().await.is_empty(),
        "duplicates are skipped, not dead"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_order_arriving_stream_by_stream_in_any_order_gives_the_same_rows() {
    let d = delivered_order("cust-o");
    let mut refunds = Events::new("2026-11-21T12:00:00Z");
    let mut events = d.events.clone();
    let refund = Uuid::now_v7();
    // Continue the payment and order streams past what `delivered_order` wrote.
    refunds.seqs.insert(d.order.payment, 3);
    refunds.seqs.insert(d.order.id, 5);
    events.push(refunds.ev(
        "Payment",
        d.order.payment,
        "RefundRequested",
        json!({"refund_id": refund, "amount": money(100), "reason": "late"}),
    ));
    events.push(refunds.ev(
        "Payment",
        d.order.payment,
        "RefundCompleted",
        json!({"refund_id": refund, "amount": money(100), "gateway_ref": "r-1"}),
    ));
    events.push(refunds.ev(
        "Order",
        d.order.id,
        "OrderRefundRecorded",
        json!({"payment_id": d.order.payment, "refund_id": refund, "amount": money(100), "reason": "late"}),
    ));
    let n = i64::try_from(events.len()).expect("count");

    // In the order they happened.
    let in_order = Harness::start().await;
    in_order.send(&events).await;
    in_order.consumed(n).await;

    // Every other stream first, each all applied before the next starts; the order last.
    let shuffled = Harness::start().await;
    let mut sent = 0;
    for aggregate_type in [
        "Payment",
        "Delivery",
        "InventoryBatch",
        "Rider",
        "DeliverySlot",
        "Order",
    ] {
        let part: Vec<Value> = events
            .iter()
            .filter(|e| e["aggregate_type"] == aggregate_type)
            .cloned()
            .collect();
        sent += i64::try_from(part.len()).expect("count");
        shuffled.send(&part).await;
        shuffled.consumed(sent).await;
    }
    assert_eq!(sent, n);
    assert_eq!(shuffled.snapshot().await, in_order.snapshot().await);

    let admin = shuffled.token("admin-1", Role::Admin);
    let order = shuffled
        .get(&format!("/v1/orders/{}", d.order.id), &admin)
        .await
        .1;
    assert_eq!(order["status"], "delivered");
    assert_eq!(order["paid_minor"], 1522);
    assert_eq!(order["refunded_minor"], 100);
    assert_eq!(order["delivery"]["id"], d.order.delivery.to_string());
    assert_eq!(order["payment"]["status"], "partially_refunded");
    assert_eq!(order["timeline"].as_array().map(Vec::len), Some(20));
    shuffled.ledger_balances().await;
    assert!(shuffled.dead_events().await.is_empty());
    assert!(in_order.dead_events().await.is_empty());
}

/// The read model is locked for longer than the projector's statements may wait (the issue's
/// 100 s against 30 s, scaled down to 2 s against 300 ms) while an order moves: every lock wait
/// that times out rolls its batch back to be tried again; nothing is dead-lettered, and the
/// order is whole once the lock goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_held_past_the_statement_timeout_delays_the_read_model_and_kills_nothing() {
    let h = Harness::start_with(Some(Duration::from_millis(300))).await;
    let d = delivered_order("cust-lock");
    let n = i64::try_from(d.events.len()).expect("count");
    // The projector is running (its first event applied) before the lock is taken.
    h.send(&d.events[..1]).await;
    h.consumed(1).await;
    let mut lock = h.pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE read_orders_g1.orders IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("lock");
    h.send(&d.events[1..]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    lock.commit().await.expect("unlock");
    h.consumed(n).await;
    assert!(
        h.dead_events().await.is_empty(),
        "{:?}",
        h.dead_events().await
    );
    let admin = h.token("admin-1", Role::Admin);
    let (status, order) = h
        .get(&format!("/v1/orders/{}?min_version=5", d.order.id), &admin)
        .await;
    assert_eq!(
        (status, order["status"].clone()),
        (200, json!("delivered")),
        "{order}"
    );
}

#[tokio::test]
async fn the_riders_table_has_exactly_the_columns_the_fulfilment_saga_reads() {
    let pool = database().await;
    projectors::runtime::prepare_live(&pool, &OrdersProjection, "read")
        .await
        .expect("prepare");
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns
          WHERE table_schema = 'read_orders_g1' AND table_name = 'riders' ORDER BY ordinal_position",
    )
    .fetch_all(&pool)
    .await
    .expect("columns");
    let want = [
        ("id", "uuid", "NO"),
        ("name", "text", "NO"),
        ("account", "text", "NO"),
        ("available", "boolean", "NO"),
        ("lat_e6", "integer", "YES"),
        ("lon_e6", "integer", "YES"),
        ("cold_chain_capable", "boolean", "NO"),
        ("current_delivery", "uuid", "YES"),
        ("version", "bigint", "NO"),
        ("updated_at", "timestamp with time zone", "NO"),
    ];
    let got: Vec<(&str, &str, &str)> = columns
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gap_in_a_stream_is_refused_as_poison_and_other_streams_go_on() {
    let h = Harness::start().await;
    let mut ev = Events::new("2026-11-21T08:00:00Z");
    let o = Order::new("cust-g", Uuid::now_v7(), vec![tomatoes(Uuid::now_v7())]);
    let events = placed(&mut ev, &o);
    let initiated = events[2].clone();
    let mut captured = paid(&mut ev, &o)[1].clone();
    captured["sequence"] = json!(3);
    // The order arrives whole; its payment misses its authorisation.
    h.send(&[events[0].clone(), initiated, captured]).await;
    h.consumed(3).await;
    let dead = h.dead_events().await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].contains("sequence gap"), "{dead:?}");
    let admin = h.token("admin-1", Role::Admin);
    let payment = h
        .get(&format!("/v1/payments/{}", o.payment), &admin)
        .await
        .1;
    assert_eq!(
        (payment["status"].clone(), payment["version"].clone()),
        (json!("pending"), json!(1))
    );
    assert_eq!(
        h.get(&format!("/v1/orders/{}", o.id), &admin).await.1["status"],
        "created"
    );
    assert_eq!(h.ledger_balances().await["accounts"], json!([]));
}

/// Replaying the event store builds the same read model as replaying Kafka, which is the live
/// one: the orders projection (six aggregate types, every table) rebuilt both ways while the
/// live projector runs, and the live projector follows each swap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_from_the_event_store_equals_one_from_kafka_and_the_live_model() {
    let h = Harness::start().await;
    let mut events = delivered_order("cust-rebuild-1").events;
    events.extend(delivered_order("cust-rebuild-2").events);
    let n = i64::try_from(events.len()).expect("count");
    h.send(&events).await;
    h.consumed(n).await;
    assert!(h.dead_events().await.is_empty());
    let live = h.snapshot().await;
    let mut cfg = projectors::runtime::RunnerConfig::new(&crate::brokers());
    cfg.topic_prefix = h.stream.prefix.clone();
    let from_store = projectors::rebuild::rebuild(
        &h.pool,
        Arc::new(OrdersProjection),
        &cfg,
        projectors::rebuild::Source::Store,
        |_| {},
    )
    .await
    .expect("rebuild from the store");
    assert_eq!(
        (from_store.to_generation, from_store.consumed),
        (2, n),
        "every stored event replayed, nothing more read from Kafka"
    );
    assert_eq!(h.snapshot().await, live, "from the store == live");
    let from_kafka = projectors::rebuild::rebuild(
        &h.pool,
        Arc::new(OrdersProjection),
        &cfg,
        projectors::rebuild::Source::Kafka,
        |_| {},
    )
    .await
    .expect("rebuild from Kafka");
    assert_eq!((from_kafka.to_generation, from_kafka.consumed), (3, n));
    assert_eq!(h.snapshot().await, live, "from Kafka == from the store");
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM read_orders_g3.dead_events")
        .fetch_one(&h.pool)
        .await
        .expect("dead");
    assert_eq!(dead, 0);
}
