//! Orders, payments and deliveries on the write side: placement prices from the catalog and
//! refuses what cannot be sold, people and services reach only their own routes, the
//! fulfilment saga's path driven by hand, refunds bounded by the capture, slots bounded by
//! their capacity, and generated bodies never get a 5xx.

use crate::helpers::*;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

/// Tomorrow at `hour`:00 UTC.
fn tomorrow_at(hour: u32) -> DateTime<Utc> {
    let day = (Utc::now() + TimeDelta::days(1)).date_naive();
    Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).expect("hour"))
}

fn at(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not an RFC 3339 time: {value}"))
}

fn id_of(b: &Value) -> String {
    b["id"].as_str().expect("id").to_owned()
}

/// A marketplace with one approved supplier (`acct-a`) selling carrots by the kg at 349, one
/// (`acct-b`) selling melons by the piece at 120, and a slot tomorrow.
struct Shop {
    app: TestApp,
    supplier_a: String,
    kg: String,
    supplier_b: String,
    pieces: String,
    slot: String,
}

impl Shop {
    async fn open() -> Self {
        Self::open_on(TestApp::spawn().await).await
    }

    async fn open_on(app: TestApp) -> Self {
        let (supplier_a, kg) = app.listed_product("acct-a", "NL-O-1", "kg", 349).await;
        let (supplier_b, pieces) = app.listed_product("acct-b", "NL-O-2", "piece", 120).await;
        let slot = app
            .delivery_slot(tomorrow_at(8), tomorrow_at(10), 100)
            .await;
        Self {
            app,
            supplier_a,
            kg,
            supplier_b,
            pieces,
            slot,
        }
    }

    /// 1.5 kg of carrots and 3 melons: 524 + 360 = 884.
    fn basket(&self) -> Value {
        order_body(
            &[(&self.kg, json!(1.5)), (&self.pieces, json!(3))],
            &self.slot,
        )
    }

    async fn place(&self, customer: &str, body: Value) -> String {
        self.app.place_order(customer, body).await
    }

    /// The stored `OrderPlaced` of `order`.
    async fn placed(&self, order: &str) -> Value {
        let events = self.app.db.events_of(order).await;
        assert_eq!(events[0].1, "OrderPlaced");
        events[0].2["OrderPlaced"].clone()
    }

    /// Records the order's payment as captured in full, as the saga does.
    async fn mark_paid(&self, order: &str) {
        let placed = self.placed(order).await;
        let (s, b) = self
            .app
            .post(
                &format!("/v1/orders/{order}/paid"),
                &self.app.service("sagas"),
                json!({"payment_id": placed["payment"]["payment_id"], "amount": placed["total"]}),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }

    /// Pays, packs and ships the order (the saga and the warehouse's part).
    async fn ship(&self, order: &str) {
        self.mark_paid(order).await;
        let (s, b) = self
            .app
            .post(
                &format!("/v1/orders/{order}/pack"),
                &self.app.service("warehouse"),
                json!({}),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        let (s, b) = self
            .app
            .post(
                &format!("/v1/orders/{order}/ship"),
                &self.app.service("sagas"),
                json!({"delivery_id": uuid::Uuid::new_v4(), "rider_id": uuid::Uuid::new_v4()}),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }

    /// Schedules the order's delivery (as the saga does); returns its id.
    async fn schedule(&self, order: &str) -> String {
        let (s, b) = self
            .app
            .post(
                "/v1/deliveries",
                &self.app.service("sagas"),
                json!({"order_id": order}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        id_of(&b)
    }

    /// Gives the delivery to the rider, on the rider's side and the delivery's.
    async fn assign(&self, rider: &str, delivery: &str, order: &str) {
        let sagas = self.app.service("sagas");
        let (s, b) = self
            .app
            .post(
                &format!("/v1/riders/{rider}/assignments"),
                &sagas,
                json!({"delivery_id": delivery, "order_id": order}),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        let (s, b) = self
            .app
            .post(
                &format!("/v1/deliveries/{delivery}/assign"),
                &sagas,
                json!({"rider_id": rider, "distance_m": 250}),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }
}

// --- placement ----------------------------------------------------------------------------

#[tokio::test]
async fn a_customer_places_an_order_priced_from_the_catalog_in_the_chosen_slot() {
    let shop = Shop::open().await;
    let app = &shop.app;
    let customer = app.customer("cust-1");
    let before = app.db.event_count().await;
    let key = [("idempotency-key", "basket-1")];
    let placed = app
        .post_json("/v1/orders", &customer, &shop.basket(), &key)
        .await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let id = id_of(&placed.body);
    assert_eq!(placed.body["version"], 1);
    assert_eq!(
        placed.location.as_deref(),
        Some(format!("/v1/orders/{id}").as_str())
    );

    let events = app.db.events_of(&id).await;
    assert_eq!(events.len(), 1);
    let (_, event_type, payload, metadata) = &events[0];
    assert_eq!(event_type, "OrderPlaced");
    let p = &payload["OrderPlaced"];
    assert_eq!(p["customer"], "cust-1");
    let eur = |minor: i64| json!({"amount_minor": minor, "currency": "EUR"});
    let lines = p["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["product_id"], json!(shop.kg));
    assert_eq!(lines[0]["supplier_id"], json!(shop.supplier_a));
    assert_eq!(lines[0]["unit"], "kg");
    assert_eq!(lines[0]["quantity"], "1.5");
    assert_eq!(lines[0]["unit_price"], eur(349));
    // 1.5 × 349 = 523.5, rounded half away from zero.
    assert_eq!(lines[0]["line_total"], eur(524));
    assert_eq!(lines[1]["supplier_id"], json!(shop.supplier_b));
    assert_eq!(lines[1]["unit"], "piece");
    assert_eq!(lines[1]["line_total"], eur(360));
    assert_eq!(p["total"], eur(884));
    let d = &p["delivery"];
    assert_eq!(d["slot_id"], json!(shop.slot));
    assert_eq!(d["warehouse_id"], WAREHOUSE);
    assert_eq!(
        d["warehouse_location"],
        json!({"lat_e6": 52_367_600, "lon_e6": 4_904_100})
    );
    assert_eq!(d["zone"], "AMS-CENTRE");
    assert_eq!(at(&d["slot_starts_at"]), tomorrow_at(8));
    assert_eq!(at(&d["slot_ends_at"]), tomorrow_at(10));
    assert_eq!(d["address"]["country"], "NL");
    assert_eq!(
        d["address"]["location"],
        json!({"lat_e6": 52_375_218, "lon_e6": 4_883_977})
    );
    assert_eq!(d["contact_email"], "jo@example.com");
    assert_eq!(p["payment"]["method"], "card");
    assert_eq!(p["payment"]["card_token"], "tok_approved");
    assert!(p["payment"]["payment_id"].is_string());
    assert_eq!(metadata["actor_sub"], "cust-1");
    assert_eq!(metadata["actor_role"], "customer");
    assert_eq!(metadata["idempotency_key"], "basket-1");
    assert!(metadata["correlation_id"].is_string());

    // The same key and body: the same answer, no second order.
    let again = app
        .post_json("/v1/orders", &customer, &shop.basket(), &key)
        .await;
    assert_eq!((again.status, &again.body), (201, &placed.body));
    assert_eq!(again.location, placed.location);
    assert_eq!(app.db.event_count().await, before + 1);
    // The same key with another body is refused.
    let mut other = shop.basket();
    other["lines"][0]["quantity"] = json!(2);
    let reused = app.post_json("/v1/orders", &customer, &other, &key).await;
    assert_eq!(reused.refusal(), (422, json!("idempotency_key_reused")));

    // The client cannot price a line.
    let mut priced = shop.basket();
    priced["lines"][0]["price"] = eur(1);
    let r = app.post_json("/v1/orders", &customer, &priced, &[]).await;
    assert_eq!(r.refusal(), (422, json!("validation_failed")), "{}", r.body);
    assert_eq!(r.fields(), ["lines[0].price"]);
    assert_eq!(app.db.event_count().await, before + 1);

    // Cash on delivery keeps no card token.
    let mut cash = shop.basket();
    cash["payment"] = json!({"method": "cash_on_delivery", "card_token": "tok_approved"});
    let cash = shop.place("cust-1", cash).await;
    let p = shop.placed(&cash).await;
    assert_eq!(p["payment"]["method"], "cash_on_delivery");
    assert_eq!(p["payment"]["card_token"], Value::Null);
}

#[tokio::test]
async fn what_cannot_be_sold_or_delivered_is_a_conflict_naming_why_and_appends_nothing() {
    let shop = Shop::open().await;
    let app = &shop.app;
    let (suspended, of_suspended) = app.listed_product("acct-s", "NL-O-3", "kg", 200).await;
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{suspended}/suspend"),
            &app.admin(),
            json!({"reason": "food safety inspection"}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let (_, discontinued) = app.listed_product("acct-d", "NL-O-4", "kg", 200).await;
    let (s, b) = app
        .post(
            &format!("/v1/products/{discontinued}/discontinue"),
            &app.supplier("acct-d"),
            json!({"reason": "out of season"}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let ended = app
        .delivery_slot(
            Utc::now() - TimeDelta::hours(3),
            Utc::now() - TimeDelta::hours(1),
            10,
        )
        .await;

    let customer = app.customer("cust-1");
    let before = app.db.event_count().await;
    let r = app
        .post_json(
            "/v1/orders",
            &customer,
            &order_body(
                &[(&shop.kg, json!(1)), (&of_suspended, json!(1))],
                &shop.slot,
            ),
            &[],
        )
        .await;
    assert_eq!(
        r.refusal(),
        (409, json!("supplier_not_active")),
        "{}",
        r.body
    );
    assert_eq!(r.body["supplier_status"], "suspended");
    assert_eq!(r.body["index"], 1);
    assert!(r.is_problem());

    let r = app
        .post_json(
            "/v1/orders",
            &customer,
            &order_body(&[(&discontinued, json!(1))], &shop.slot),
            &[],
        )
        .await;
    assert_eq!(
        r.refusal(),
        (409, json!("product_discontinued")),
        "{}",
        r.body
    );
    assert_eq!(r.body["index"], 0);
    assert!(r.is_problem());

    let r = app
        .post_json(
            "/v1/orders",
            &customer,
            &order_body(&[(&shop.kg, json!(1))], &ended),
            &[],
        )
        .await;
    assert_eq!(r.refusal(), (409, json!("slot_closed")), "{}", r.body);
    assert!(r.is_problem());
    assert_eq!(app.db.event_count().await, before);
}

#[tokio::test]
async fn invalid_placements_are_problems_naming_the_field_and_append_nothing() {
    let shop = Shop::open().await;
    let app = &shop.app;
    let customer = app.customer("cust-1");
    let one_kg = |slot: &str| order_body(&[(&shop.kg, json!(1))], slot);
    let with = |pointer: &str, value: Value| {
        let mut body = one_kg(&shop.slot);
        *body.pointer_mut(pointer).expect("pointer") = value;
        body
    };
    let unknown = uuid::Uuid::new_v4().to_string();
    let many: Vec<(String, Value)> = (0..51)
        .map(|_| (uuid::Uuid::new_v4().to_string(), json!(1)))
        .collect();
    let many: Vec<(&str, Value)> = many.iter().map(|(p, q)| (p.as_str(), q.clone())).collect();
    let mut no_delivery = one_kg(&shop.slot);
    no_delivery
        .as_object_mut()
        .expect("object")
        .remove("delivery");
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "an unknown product",
            order_body(&[(&unknown, json!(1))], &shop.slot),
            "lines[0].product_id",
        ),
        (
            "half a melon",
            order_body(&[(&shop.pieces, json!(1.5))], &shop.slot),
            "lines[0].quantity",
        ),
        (
            "no carrots",
            with("/lines/0/quantity", json!(0)),
            "lines[0].quantity",
        ),
        (
            "a negative quantity",
            with("/lines/0/quantity", json!(-1)),
            "lines[0].quantity",
        ),
        (
            "four decimals",
            with("/lines/0/quantity", json!(1.0001)),
            "lines[0].quantity",
        ),
        (
            "the same product twice",
            order_body(&[(&shop.kg, json!(1)), (&shop.kg, json!(2))], &shop.slot),
            "lines[1].product_id",
        ),
        ("no lines", order_body(&[], &shop.slot), "lines"),
        ("51 lines", order_body(&many, &shop.slot), "lines"),
        ("an unknown slot", one_kg(&unknown), "delivery.slot_id"),
        (
            "a card without its token",
            with("/payment", json!({"method": "card"})),
            "payment.card_token",
        ),
        (
            "an empty card token",
            with("/payment/card_token", json!("")),
            "payment.card_token",
        ),
        (
            "an unknown country",
            with("/delivery/address/country", json!("ZZ")),
            "delivery.address.country",
        ),
        (
            "an empty city",
            with("/delivery/address/city", json!(" ")),
            "delivery.address.city",
        ),
        (
            "a bad e-mail",
            with("/delivery/contact_email", json!("not an e-mail")),
            "delivery.contact_email",
        ),
        (
            "latitude 91",
            with("/delivery/address/location/lat", json!(91)),
            "delivery.address.location.lat",
        ),
        (
            "longitude -180.5",
            with("/delivery/address/location/lon", json!(-180.5)),
            "delivery.address.location.lon",
        ),
        (
            "an unknown payment method",
            with("/payment/method", json!("bitcoin")),
            "payment.method",
        ),
        (
            "a product id that is no UUID",
            with("/lines/0/product_id", json!("carrots")),
            "lines[0].product_id",
        ),
        ("no delivery", no_delivery, "delivery"),
    ];
    let before = app.db.event_count().await;
    for (what, body, field) in cases {
        let r = app.post_json("/v1/orders", &customer, &body, &[]).await;
        assert_eq!(
            r.refusal(),
            (422, json!("validation_failed")),
            "{what}: {}",
            r.body
        );
        assert!(r.is_problem(), "{what}");
        assert!(
            r.fields().iter().any(|f| f == field),
            "{what}: expected {field} in {}",
            r.body
        );
    }
    let r = app
        .post_raw(
            "/v1/orders",
            &customer,
            "application/json",
            r#"{"lines": [{"product_id": "#,
            &[],
        )
        .await;
    assert_eq!(r.refusal(), (400, json!("malformed_json")), "{}", r.body);
    assert!(r.is_problem());
    let r = app
        .post_raw(
            "/v1/orders",
            &customer,
            "text/plain",
            one_kg(&shop.slot).to_string(),
            &[],
        )
        .await;
    assert_eq!(
        r.refusal(),
        (415, json!("unsupported_media_type")),
        "{}",
        r.body
    );
    assert!(r.is_problem());
    assert_eq!(app.db.event_count().await, before);
}

// --- who may do what ----------------------------------------------------------------------

#[tokio::test]
async fn only_customers_place_orders() {
    let shop = Shop::open().await;
    let app = &shop.app;
    let before = app.db.event_count().await;
    for (who, token) in [
        ("a supplier", app.supplier("acct-a")),
        ("an admin", app.admin()),
        ("a rider", app.rider("rider-1")),
        ("warehouse staff", app.warehouse("wh-1")),
        ("the sagas", app.service("sagas")),
        ("the delivery service", app.service("delivery")),
    ] {
        let r = app
            .post_json("/v1/orders", &token, &shop.basket(), &[])
            .await;
        assert_eq!(r.refusal(), (403, json!("insufficient_scope")), "{who}");
        assert!(r.is_problem(), "{who}");
    }
    assert_eq!(app.db.event_count().await, before);
}

#[tokio::test]
async fn a_customer_cancels_only_their_own_order_and_only_before_it_ships() {
    let shop = Shop::open().await;
    let app = &shop.app;
    let order = shop.place("cust-1", shop.basket()).await;
    let path = format!("/v1/orders/{order}/cancel");
    let before = app.db.event_count().await;
    let (s, b) = app
        .post(
            &path,
            &app.customer("cust-2"),
            json!({"reason": "mine now"}),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (403, json!("not_owner")), "{b}");
    assert_eq!(app.db.event_count().await, before);

    let (s, b) = app
        .post(
            &path,
            &app.customer("cust-1"),
            json!({"reason": "ordered twice"}),
        )
        .await;
    assert_eq!((s, b["version"].clone()), (202, json!(2)), "{b}");
    let events = app.db.events_of(&order).await;
    let (_, event_type, payload, metadata) = &events[1];
    assert_eq!(event_type, "OrderCancelled");
    assert_eq!(
        payload["OrderCancelled"],
        json!({"reason": "customer_request", "detail": "ordered twice"})
    );
    assert_eq!(metadata["reason"], "ordered twice");
    assert_eq!(metadata["actor_sub"], "cust-1");
    // Cancelling again changes nothing.
    let (s, b) = app.post(&path, &app.customer("cust-1"), json!({})).await;
    assert_eq!((s, b["version"].clone()), (202, json!(2)), "{b}");

    // An administrator may cancel anyone's order.
    let other = shop.place("cust-1", shop.basket()).await;
    let (s, b) = app
        .post(
            &format!("/v1/orders/{other}/cancel"),
            &app.admin(),
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(
        app.db.events_of(&other).await[1].2["OrderCancelled"]["reason"],
        "admin"
    );

    let shipped = shop.place("cust-1", shop.basket()).await;
    shop.ship(&shipped).await;
    let before = app.db.event_count().await;
    for token in [app.customer("cust-1"), app.admin()] {
        let (s, b) = app
            .post(
                &format!("/v1/orders/{shipped}/cancel"),
                &token,
                json!({"reason": "too late"}),
            )
            .await;
        assert_eq!(
            (s, b["code"].clone()),
            (409, json!("invalid_transition")),
            "{b}"
        );
        assert_eq!(b["current_status"], "shipped");
    }
    let (s, b) = app
        .post(
            &format!("/v1/orders/{}/cancel", uuid::Uuid::new_v4()),
            &app.customer("cust-1"),
            json!({}),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (404, json!("not_found")), "{b}");
    assert_eq!(app.db.event_count().await, before);
}

#[tokio::test]
async fn a_paid_order_is_packed_by_its_supplier_or_the_warehouse() {
    let shop = Shop::open().await;
    let app = &shop.app;
    let carrots = shop
        .place("cust-1", order_body(&[(&shop.kg, json!(2))], &shop.slot))
        .await;
    let pack = |order: &str| format!("/v1/orders/{order}/pack");
    let before = app.db.event_count().await;
    let (s, b) = app
        .post(&pack(&carrots), &app.warehouse("wh-1"), json!({}))
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (409, json!("invalid_transition")),
        "{b}"
    );
    assert_eq!(b["current_status"], "created");
    let (s, b) = app
        .post(&pack(&carrots), &app.customer("cust-1"), json!({}))
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (403, json!("insufficient_scope")),
        "{b}"
    );
    assert_eq!(app.db.event_count().await, before);

    shop.mark_paid(&carrots).await;
    let before = app.db.event_count().await;
    // The melon supplier has nothing in this order.
    let (s, b) = app
        .post(&pack(&carrots), &app.supplier("acct-b"), json!({}))
        .await;
    assert_eq!((s, b["code"].clone()), (403, json!("not_owner")), "{b}");
    let (s, b) = app
        .post(
            &pack(&uuid::Uuid::new_v4().to_string()),
            &app.supplier("acct-b"),
            json!({}),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (404, json!("not_found")), "{b}");
    assert_eq!(app.db.event_count().await, before);
    let (s, b) = app
        .post(&pack(&carrots), &app.supplier("acct-a"), json!({}))
        .await;
    assert_eq!((s, b["version"].clone()), (202, json!(3)), "{b}");
    let events = app.db.events_of(&carrots).await;
    assert_eq!(events[2].1, "OrderPacked");
    assert_eq!(events[2].3["actor_sub"], "acct-a");
    assert_eq!(events[2].3["actor_role"], "supplier");

    for (who, token) in [
        ("warehouse staff", app.warehouse("wh-1")),
        ("the warehouse service", app.service("warehouse")),
    ] {
        let order = shop.place("cust-1", shop.basket()).await;
        shop.mark_paid(&order).await;
        let (s, b) = app.post(&pack(&order), &token, json!({})).await;
        assert_eq!((s, b["version"].clone()), (202, json!(3)), "{who}: {b}");
        let packed = &app.db.events_of(&order).await[2];
        assert_eq!(packed.1, "OrderPacked", "{who}");
        assert!(
            packed.3["actor_role"] == "warehouse" || packed.3["actor_service"] == "warehouse",
            "{who}: {}",
            packed.3
        );
    }
}

/// Every route only the fulfilment saga may use, with a plausible body.
fn saga_routes() -> Vec<(String, Value)> {
    let id = uuid::Uuid::new_v4();
    let other = uuid::Uuid::new_v4();
    let eur = json!({"amount_minor": 100, "currency": "EUR"});
    vec![
        (
            format!("/v1/orders/{id}/paid"),
            json!({"payment_id": other, "amount": eur}),
        ),
        (
            format!("/v1/orders/{id}/ship"),
            json!({"delivery_id": other, "rider_id": other}),
        ),
        (
            format!("/v1/orders/{id}/deliver"),
            json!({"delivery_id": other}),
        ),
        (
            format!("/v1/orders/{id}/compensate"),
            json!({"reason": "out_of_stock"}),
        ),
        (
            format!("/v1/orders/{id}/refunds"),
            json!({"payment_id": other, "refund_id": other, "amount": eur, "reason": "sorry"}),
        ),
        ("/v1/payments".to_owned(), json!({"order_id": id})),
        (
            format!("/v1/payments/{id}/authorized"),
            json!({"gateway_ref": "auth-1", "amount": eur}),
        ),
        (
            format!("/v1/payments/{id}/captured"),
            json!({"gateway_ref": "cap-1", "amount": eur}),
        ),
        (
            format!("/v1/payments/{id}/declined"),
            json!({"code": "card_declined", "reason": "no"}),
        ),
        (
            format!("/v1/payments/{id}/cancel"),
            json!({"reason": "given up"}),
        ),
        (
            format!("/v1/payments/{id}/refunds"),
            json!({"refund_id": other, "amount": eur, "reason": "sorry"}),
        ),
        (
            format!("/v1/payments/{id}/refunds/{other}/completed"),
            json!({"gateway_ref": "ref-1"}),
        ),
        (
            format!("/v1/delivery-slots/{id}/bookings"),
            json!({"order_id": other}),
        ),
        (
            format!("/v1/delivery-slots/{id}/bookings/{other}/release"),
            json!({}),
        ),
        (
            format!("/v1/riders/{id}/assignments"),
            json!({"delivery_id": other, "order_id": other}),
        ),
        (
            format!("/v1/riders/{id}/assignments/{other}/release"),
            json!({}),
        ),
        ("/v1/deliveries".to_owned(), json!({"order_id": other})),
        (
            format!("/v1/deliveries/{id}/assign"),
            json!({"rider_id": other, "distance_m": 10}),
        ),
        (
            format!("/v1/deliveries/{id}/cancel"),
            json!({"reason": "order cancelled"}),
        ),
    ]
}

#[tokio::test]
async fn saga_only_routes_refuse_people_and_other_services_before_reading_the_body() {
    let shop = Shop::open().await;
    let app = &shop.app;
    shop.place("cust-1", shop.basket()).await;
    let before = app.db.event_count().await;
    let tokens = [
        ("a customer", app.customer("cust-1")),
        ("a rider", app.rider("rider-1")),
        ("an admin", app.admin()),
        ("the delivery service", app.service("delivery")),
    ];
    for (route, body) in saga_routes() {
        for (who, token) in &tokens {
            let r = app.post_json(&route, token, &body, &[]).await;
            assert_eq!(
                r.refusal(),
                (403, json!("insufficient_scope")),
                "{who} on {route}: {}",
                r.body
            );
            assert!(r.is_problem(), "{who} on {route}");
            let r = app
                .post_raw(&route, token, "text/plain", "garbage", &[])
                .await;
            assert_eq!(
                r.refusal(),
                (403, json!("insufficient_scope")),
                "{who} on {route} with garbage"
            );
        }
        // The route is there: with the sagas' token the garbage gets past the scope.
        let r = app
            .post_raw(&route, &app.service("sagas"), "text/plain", "garbage", &[])
            .await;
        assert_ne!(r.status, 403, "sagas on {route}: {}", r.body);
        assert!(r.status < 500 && r.is_problem(), "sagas on {route}");
    }
    assert_eq!(app.db.event_count().await, before);
}

#[tokio::test]
async fn the_delivery_service_updates_deliveries_but_cannot_place_pack_refund_or_touch_suppliers() {
    let shop = Shop::open().await;
    let app = &shop.app;
    let delivery_service = app.service("delivery");
    let order = shop.place("cust-1", shop.basket()).await;
    shop.mark_paid(&order).await;
    let delivery = shop.schedule(&order).await;
    let rider = app.rider_for("rider-acct-1", true).await;
    shop.assign(&rider, &delivery, &order).await;
    for (step, body) in [
        ("pickup", json!({})),
        ("location", json!({"lat": 52.372, "lon": 4.89})),
        ("deliver", json!({})),
    ] {
        let (s, b) = app
            .post(
                &format!("/v1/deliveries/{delivery}/{step}"),
                &delivery_service,
                body,
            )
            .await;
        assert_eq!(s, 202, "{step}: {b}");
    }
    let events = app.db.events_of(&delivery).await;
    let types: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        types,
        [
            "DeliveryScheduled",
            "DeliveryRiderAssigned",
            "DeliveryPickedUp",
            "DeliveryLocationUpdated",
            "DeliveryCompleted"
        ]
    );
    assert!(events[2..]
        .iter()
        .all(|e| e.3["actor_service"] == "delivery"));

    let other = shop.place("cust-1", shop.basket()).await;
    let failing = shop.schedule(&other).await;
    let (s, b) = app
        .post(
            &format!("/v1/deliveries/{failing}/fail"),
            &delivery_service,
            json!({"reason": "nobody home"}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(
        app.db.events_of(&failing).await[1].2["DeliveryFailed"]["reason"],
        "nobody home"
    );

    let before = app.db.event_count().await;
    let payment = shop.placed(&order).await["payment"]["payment_id"].clone();
    let payment = payment.as_str().expect("payment id");
    for (route, body) in [
        ("/v1/orders".to_owned(), shop.basket()),
        (format!("/v1/orders/{other}/pack"), json!({})),
        (format!("/v1/orders/{other}/cancel"), json!({})),
        (
            format!("/v1/payments/{payment}/refund"),
            json!({"amount": {"amount_minor": 1, "currency": "EUR"}, "reason": "mine"}),
        ),
        (
            format!("/v1/suppliers/{}/suspend", shop.supplier_a),
            json!({"reason": "because I can"}),
        ),
        (
            format!("/v1/suppliers/{}/products", shop.supplier_a),
            product_body("Mine"),
        ),
        (
            "/v1/delivery-slots".to_owned(),
            json!({"zone": "X", "warehouse_id": WAREHOUSE, "warehouse_location": {"lat": 1, "lon": 1},
                   "starts_at": tomorrow_at(8), "ends_at": tomorrow_at(9), "capacity": 1}),
        ),
        (
            "/v1/riders".to_owned(),
            json!({"name": "Me", "account": "me"}),
        ),
    ] {
        let r = app.post_json(&route, &delivery_service, &body, &[]).await;
        assert_eq!(
            r.refusal(),
            (403, json!("insufficient_scope")),
            "{route}: {}",
            r.body
        );
    }
    assert_eq!(app.db.event_count().await, before);
}

#[tokio::test]
async fn only_admins_open_slots_and_register_riders_and_bad_ones_name_the_field() {
    let app = TestApp::spawn().await;
    let slot = |pointer: &str, value: Value| {
        let mut body = json!({
            "zone": "AMS-WEST", "warehouse_id": WAREHOUSE,
            "warehouse_location": {"lat": 52.3676, "lon": 4.9041},
            "starts_at": tomorrow_at(8), "ends_at": tomorrow_at(10), "capacity": 20
        });
        if let Some(v) = body.pointer_mut(pointer) {
            *v = value;
        }
        body
    };
    let admin = app.admin();
    for (body, field) in [
        (slot("/ends_at", json!(tomorrow_at(8))), "ends_at"),
        (slot("/capacity", json!(0)), "capacity"),
        (slot("/capacity", json!(10_001)), "capacity"),
        (slot("/zone", json!(" ")), "zone"),
        (
            slot("/warehouse_location/lat", json!(-90.000001)),
            "warehouse_location.lat",
        ),
        (
            slot("/warehouse_location/lon", json!(200)),
            "warehouse_location.lon",
        ),
        (slot("/starts_at", json!("tomorrow")), "starts_at"),
    ] {
        let r = app
            .post_json("/v1/delivery-slots", &admin, &body, &[])
            .await;
        assert_eq!(
            (r.status, r.fields()),
            (422, vec![field.to_owned()]),
            "{body}: {}",
            r.body
        );
    }
    for (body, field) in [
        (json!({"name": "", "account": "r-1"}), "name"),
        (json!({"name": "Rosa", "account": " "}), "account"),
    ] {
        let r = app.post_json("/v1/riders", &admin, &body, &[]).await;
        assert_eq!(
            (r.status, r.fields()),
            (422, vec![field.to_owned()]),
            "{}",
            r.body
        );
    }
    for token in [
        app.supplier("acct-1"),
        app.customer("cust-1"),
        app.rider("r-1"),
        app.service("sagas"),
        app.service("delivery"),
    ] {
        let r = app
            .post_json(
                "/v1/delivery-slots",
                &token,
                &slot("/capacity", json!(20)),
                &[],
            )
            .await;
        assert_eq!(r.refusal(), (403, json!("insufficient_scope")));
        let r = app
            .post_json(
                "/v1/riders",
                &token,
                &json!({"name": "Rosa", "account": "r-1"}),
                &[],
            )
            .await;
        assert_eq!(r.refusal(), (403, json!("insufficient_scope")));
    }
    assert_eq!(app.db.event_count().await, 0);
    let (s, b) = app
        .post("/v1/delivery-slots", &admin, slot("/capacity", json!(1)))
        .await;
    assert_eq!((s, b["version"].clone()), (201, json!(1)), "{b}");
}

// --- the saga's path, by hand -------------------------------------------------------------

/// Checks an accepted answer and returns its version.
fn accepted(what: &str, (s, b): (u16, Value), status: u16) -> u64 {
    assert_eq!(s, status, "{what}: {b}");
    b["version"].as_u64().expect("version")
}

#[tokio::test]
async fn the_saga_carries_a_paid_order_through_slot_rider_pickup_and_delivery() {
    let shop = Shop::open().await;
    let app = &shop.app;
    let sagas = app.service("sagas");
    let order = shop.place("cust-1", shop.basket()).await;
    let placed = shop.placed(&order).await;
    let eur = |minor: i64| json!({"amount_minor": minor, "currency": "EUR"});
    let mut versions: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    let mut step = |aggregate: &'static str, v: u64| versions.entry(aggregate).or_default().push(v);
    step("order", 1);
    step("slot", 1);

    // Payment: opened with each supplier's share, authorised, captured; the order is paid.
    let (s, b) = app
        .post("/v1/payments", &sagas, json!({"order_id": order}))
        .await;
    step("payment", accepted("initiate", (s, b.clone()), 201));
    let payment = id_of(&b);
    assert_eq!(json!(payment), placed["payment"]["payment_id"]);
    let initiated = &app.db.events_of(&payment).await[0].2["PaymentInitiated"];
    assert_eq!(initiated["amount"], eur(884));
    assert_eq!(initiated["method"], "card");
    let mut payees: Vec<(String, i64)> = initiated["payees"]
        .as_array()
        .expect("payees")
        .iter()
        .map(|p| {
            (
                p["supplier_id"].as_str().expect("supplier").to_owned(),
                p["amount"]["amount_minor"].as_i64().expect("minor"),
            )
        })
        .collect();
    payees.sort();
    let mut expected = vec![
        (shop.supplier_a.clone(), 524),
        (shop.supplier_b.clone(), 360),
    ];
    expected.sort();
    assert_eq!(payees, expected);
    assert_eq!(payees.iter().map(|p| p.1).sum::<i64>(), 884);
    for (route, gateway_ref) in [("authorized", "auth-1"), ("captured", "cap-1")] {
        let r = app
            .post(
                &format!("/v1/payments/{payment}/{route}"),
                &sagas,
                json!({"gateway_ref": gateway_ref, "amount": eur(884)}),
            )
            .await;
        step("payment", accepted(route, r, 202));
    }
    let r = app
        .post(
            &format!("/v1/orders/{order}/paid"),
            &sagas,
            json!({"payment_id": payment, "amount": eur(884)}),
        )
        .await;
    step("order", accepted("paid", r, 202));

    // Slot and delivery.
    let r = app
        .post(
            &format!("/v1/delivery-slots/{}/bookings", shop.slot),
            &sagas,
            json!({"order_id": order}),
        )
        .await;
    step("slot", accepted("book", r, 202));
    let (s, b) = app
        .post("/v1/deliveries", &sagas, json!({"order_id": order}))
        .await;
    step("delivery", accepted("schedule", (s, b.clone()), 201));
    let delivery = id_of(&b);
    let scheduled = &app.db.events_of(&delivery).await[0].2["DeliveryScheduled"];
    assert_eq!(scheduled["order_id"], json!(order));
    assert_eq!(scheduled["slot_id"], json!(shop.slot));

    // Riders: registered by an administrator, on shift by their own hand only.
    let admin = app.admin();
    let (s, b) = app
        .post(
            "/v1/riders",
            &admin,
            json!({"name": "Rosa", "account": "rider-acct-1"}),
        )
        .await;
    step("rider", accepted("register", (s, b.clone()), 201));
    let rider = id_of(&b);
    let off_shift = app.rider_for("rider-acct-2", false).await;
    let on_shift = json!({"available": true, "location": {"lat": 52.37, "lon": 4.90}});
    let (s, b) = app
        .post(
            &format!("/v1/riders/{rider}/availability"),
            &app.rider("rider-acct-1"),
            json!({"available": true, "location": {"lat": 52.37, "lon": 190}}),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["field"].clone()),
        (422, json!("location.lon")),
        "{b}"
    );
    let (s, b) = app
        .post(
            &format!("/v1/riders/{rider}/availability"),
            &app.rider("rider-acct-2"),
            on_shift.clone(),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (403, json!("not_owner")), "{b}");
    let r = app
        .post(
            &format!("/v1/riders/{rider}/availability"),
            &app.rider("rider-acct-1"),
            on_shift,
        )
        .await;
    step("rider", accepted("availability", r, 202));

    // Assignment: an off-shift rider cannot take it; a rider carrying it takes no other.
    let assignment = json!({"delivery_id": delivery, "order_id": order});
    let (s, b) = app
        .post(
            &format!("/v1/riders/{off_shift}/assignments"),
            &sagas,
            assignment.clone(),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (409, json!("rider_unavailable")),
        "{b}"
    );
    let r = app
        .post(
            &format!("/v1/riders/{rider}/assignments"),
            &sagas,
            assignment.clone(),
        )
        .await;
    step("rider", accepted("assign", r, 202));
    let (s, b) = app
        .post(
            &format!("/v1/riders/{rider}/assignments"),
            &sagas,
            json!({"delivery_id": uuid::Uuid::new_v4(), "order_id": uuid::Uuid::new_v4()}),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (409, json!("rider_busy")), "{b}");
    let r = app
        .post(
            &format!("/v1/deliveries/{delivery}/assign"),
            &sagas,
            json!({"rider_id": rider, "distance_m": 320}),
        )
        .await;
    step("delivery", accepted("record rider", r, 202));

    // Packed at the warehouse, picked up by the assigned rider only.
    let r = app
        .post(
            &format!("/v1/orders/{order}/pack"),
            &app.warehouse("wh-1"),
            json!({}),
        )
        .await;
    step("order", accepted("pack", r, 202));
    let (s, b) = app
        .post(
            &format!("/v1/deliveries/{delivery}/pickup"),
            &app.rider("rider-acct-2"),
            json!({}),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (403, json!("not_owner")), "{b}");
    let rosa = app.rider("rider-acct-1");
    let r = app
        .post(
            &format!("/v1/deliveries/{delivery}/pickup"),
            &rosa,
            json!({}),
        )
        .await;
    step("delivery", accepted("pickup", r, 202));
    let r = app
        .post(
            &format!("/v1/orders/{order}/ship"),
            &sagas,
            json!({"delivery_id": delivery, "rider_id": rider}),
        )
        .await;
    step("order", accepted("ship", r, 202));

    // On the way: a position off the map names the coordinate; a real one gives an ETA,
    // since the address has a location.
    for (body, field) in [
        (json!({"lat": 91, "lon": 4.9}), "lat"),
        (json!({"lat": 52.37, "lon": 181}), "lon"),
    ] {
        let (s, b) = app
            .post(&format!("/v1/deliveries/{delivery}/location"), &rosa, body)
            .await;
        assert_eq!(
            (s, b["fields"][0]["field"].clone()),
            (422, json!(field)),
            "{b}"
        );
    }
    let r = app
        .post(
            &format!("/v1/deliveries/{delivery}/location"),
            &rosa,
            json!({"lat": 52.3731, "lon": 4.8926}),
        )
        .await;
    step("delivery", accepted("location", r, 202));
    let events = app.db.events_of(&delivery).await;
    let moved = &events.last().expect("event").2["DeliveryLocationUpdated"];
    assert_eq!(
        moved["location"],
        json!({"lat_e6": 52_373_100, "lon_e6": 4_892_600})
    );
    let eta = at(&moved["eta"]);
    let recorded = at(&events.last().expect("event").3["recorded_at"]);
    assert!(
        eta > recorded && eta < recorded + TimeDelta::hours(1),
        "{eta} vs {recorded}"
    );

    let r = app
        .post(
            &format!("/v1/deliveries/{delivery}/deliver"),
            &rosa,
            json!({}),
        )
        .await;
    step("delivery", accepted("deliver", r, 202));
    let r = app
        .post(
            &format!("/v1/orders/{order}/deliver"),
            &sagas,
            json!({"delivery_id": delivery}),
        )
        .await;
    step("order", accepted("order deliver", r, 202));

    for (aggregate, seen) in &versions {
        let expected: Vec<u64> = (1..=seen.len() as u64).collect();
        assert_eq!(seen, &expected, "{aggregate} versions");
    }
    let types: Vec<String> = app
        .db
        .events_of(&order)
        .await
        .into_iter()
        .map(|e| e.1)
        .collect();
    assert_eq!(
        types,
        [
            "OrderPlaced",
            "OrderPaid",
            "OrderPacked",
            "OrderShipped",
            "OrderDelivered"
        ]
    );
    let metadata: Vec<Value> = sqlx::query_scalar("SELECT metadata FROM events")
        .fetch_all(&app.db.pool)
        .await
        .expect("metadata");
    for m in &metadata {
        assert!(m["actor_sub"].is_string(), "{m}");
        assert!(
            m["actor_role"].is_string() ^ m["actor_service"].is_string(),
            "{m}"
        );
        assert!(m["correlation_id"].is_string(), "{m}");
    }
    let by_sagas: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE metadata->>'actor_service' = 'sagas'",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("count");
    // initiate, authorized, captured, paid, book, schedule, assign ×2, ship, order deliver.
    assert_eq!(by_sagas, 10);
}

// --- payments and slots -------------------------------------------------------------------

#[tokio::test]
async fn refunds_never_exceed_what_was_captured() {
    let shop = Shop::open().await;
    let app = &shop.app;
    let sagas = app.service("sagas");
    let order = shop.place("cust-1", shop.basket()).await;
    let (s, b) = app
        .post("/v1/payments", &sagas, json!({"order_id": order}))
        .await;
    assert_eq!(s, 201, "{b}");
    let payment = id_of(&b);
    let eur = |minor: i64| json!({"amount_minor": minor, "currency": "EUR"});
    let gateway = |r: &str, minor: i64| json!({"gateway_ref": r, "amount": eur(minor)});
    let before = app.db.event_count().await;
    let (s, b) = app
        .post(
            &format!("/v1/payments/{payment}/captured"),
            &sagas,
            gateway("cap-1", 884),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (409, json!("invalid_transition")),
        "{b}"
    );
    assert_eq!(b["current_status"], "pending");
    let admin = app.admin();
    let refund = |minor: i64, currency: &str| json!({"amount": {"amount_minor": minor, "currency": currency}, "reason": "bruised melons"});
    let (s, b) = app
        .post(
            &format!("/v1/payments/{payment}/refund"),
            &admin,
            refund(100, "EUR"),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (409, json!("invalid_transition")),
        "nothing captured yet: {b}"
    );
    assert_eq!(app.db.event_count().await, before);

    for (route, r) in [("authorized", "auth-1"), ("captured", "cap-1")] {
        let (s, b) = app
            .post(
                &format!("/v1/payments/{payment}/{route}"),
                &sagas,
                gateway(r, 884),
            )
            .await;
        assert_eq!(s, 202, "{route}: {b}");
    }
    let before = app.db.event_count().await;
    let path = format!("/v1/payments/{payment}/refund");
    let (s, b) = app.post(&path, &admin, refund(885, "EUR")).await;
    assert_eq!(
        (s, b["code"].clone()),
        (409, json!("refund_exceeds_captured")),
        "{b}"
    );
    assert_eq!(b["refundable_minor"], 884);
    let (s, b) = app.post(&path, &admin, refund(300, "USD")).await;
    assert_eq!(
        (s, b["code"].clone()),
        (422, json!("validation_failed")),
        "{b}"
    );
    assert_eq!(b["fields"][0]["field"], "amount");
    for (minor, what) in [(0, "nothing"), (-5, "a negative amount")] {
        let (s, b) = app.post(&path, &admin, refund(minor, "EUR")).await;
        assert_eq!(s, 422, "{what}: {b}");
    }
    let (s, b) = app
        .post(&path, &app.customer("cust-1"), refund(1, "EUR"))
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (403, json!("insufficient_scope")),
        "{b}"
    );
    assert_eq!(app.db.event_count().await, before);

    let (s, b) = app.post(&path, &admin, refund(300, "EUR")).await;
    assert_eq!((s, b["version"].clone()), (202, json!(4)), "{b}");
    let (s, b) = app.post(&path, &admin, refund(584, "EUR")).await;
    assert_eq!((s, b["version"].clone()), (202, json!(5)), "{b}");
    let (s, b) = app.post(&path, &admin, refund(1, "EUR")).await;
    assert_eq!(
        (s, b["code"].clone()),
        (409, json!("refund_exceeds_captured")),
        "{b}"
    );
    assert_eq!(b["refundable_minor"], 0);

    let events = app.db.events_of(&payment).await;
    let refunds: Vec<&Value> = events
        .iter()
        .filter(|e| e.1 == "RefundRequested")
        .map(|e| &e.2["RefundRequested"]["amount"])
        .collect();
    assert_eq!(refunds, [&eur(300), &eur(584)]);
    assert!(events[3..]
        .iter()
        .all(|e| e.3["actor_sub"] == "admin-1" && e.3["reason"] == "bruised melons"));
}

#[tokio::test]
async fn a_delivered_cash_on_delivery_order_records_its_refund() {
    let shop = Shop::open().await;
    let app = &shop.app;
    let sagas = app.service("sagas");
    let mut cash = shop.basket();
    cash["payment"] = json!({"method": "cash_on_delivery"});
    let order = shop.place("cust-1", cash).await;
    let (s, b) = app
        .post("/v1/payments", &sagas, json!({"order_id": order}))
        .await;
    assert_eq!(s, 201, "{b}");
    let payment = id_of(&b);
    let eur = |minor: i64| json!({"amount_minor": minor, "currency": "EUR"});
    // The saga accepts cash on delivery with nothing captured yet...
    let delivery = uuid::Uuid::new_v4();
    for (route, body) in [
        ("paid", json!({"payment_id": payment, "amount": eur(0)})),
        ("pack", json!({})),
        (
            "ship",
            json!({"delivery_id": delivery, "rider_id": uuid::Uuid::new_v4()}),
        ),
    ] {
        let token = if route == "pack" {
            app.service("warehouse")
        } else {
            sagas.clone()
        };
        let (s, b) = app
            .post(&format!("/v1/orders/{order}/{route}"), &token, body)
            .await;
        assert_eq!(s, 202, "{route}: {b}");
    }
    // ...and records the cash the rider collected at the door.
    let (s, b) = app
        .post(
            &format!("/v1/payments/{payment}/captured"),
            &sagas,
            json!({"gateway_ref": format!("cod:{delivery}"), "amount": eur(884)}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let (s, b) = app
        .post(
            &format!("/v1/orders/{order}/deliver"),
            &sagas,
            json!({"delivery_id": delivery}),
        )
        .await;
    assert_eq!(s, 202, "{b}");

    let (s, b) = app
        .post(
            &format!("/v1/payments/{payment}/refund"),
            &app.admin(),
            json!({"amount": eur(120), "reason": "one melon was bruised"}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let refund = app.db.events_of(&payment).await.last().expect("event").2["RefundRequested"]
        ["refund_id"]
        .clone();
    let (s, b) = app
        .post(
            &format!(
                "/v1/payments/{payment}/refunds/{}/completed",
                refund.as_str().expect("id")
            ),
            &sagas,
            json!({"gateway_ref": format!("cash:{}", refund.as_str().expect("id"))}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    // The saga's last step: the order shows the refund.
    let record = |minor: i64| json!({"payment_id": payment, "refund_id": refund, "amount": eur(minor), "reason": "one melon was bruised"});
    let (s, b) = app
        .post(&format!("/v1/orders/{order}/refunds"), &sagas, record(120))
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(
        app.db.events_of(&order).await.last().expect("event").2["OrderRefundRecorded"]["amount"],
        eur(120)
    );
    // Still never more than the order came to.
    let (s, b) = app
        .post(
            &format!("/v1/orders/{order}/refunds"),
            &sagas,
            json!({"payment_id": payment, "refund_id": uuid::Uuid::new_v4(), "amount": eur(765), "reason": "all of it"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (409, json!("refund_exceeds_paid")),
        "{b}"
    );
}

#[tokio::test]
async fn a_slot_takes_no_more_orders_than_its_capacity() {
    let shop = Shop::open().await;
    let app = &shop.app;
    let small = app.delivery_slot(tomorrow_at(12), tomorrow_at(14), 2).await;
    let mut orders = Vec::new();
    for _ in 0..3 {
        let body = order_body(&[(&shop.kg, json!(1))], &small);
        orders.push(shop.place("cust-1", body).await);
    }
    let sagas = app.service("sagas");
    let book = |order: &str| {
        let path = format!("/v1/delivery-slots/{small}/bookings");
        let body = json!({"order_id": order});
        let sagas = sagas.clone();
        async move { app.post(&path, &sagas, body).await }
    };
    let (s, b) = book(&orders[0]).await;
    assert_eq!((s, b["version"].clone()), (202, json!(2)), "{b}");
    // A repeated booking (a redelivered saga step) holds the same place.
    let (s, b) = book(&orders[0]).await;
    assert_eq!((s, b["version"].clone()), (202, json!(2)), "{b}");
    let (s, b) = book(&orders[1]).await;
    assert_eq!((s, b["version"].clone()), (202, json!(3)), "{b}");
    let (s, b) = book(&orders[2]).await;
    assert_eq!((s, b["code"].clone()), (409, json!("slot_full")), "{b}");
    let (s, b) = book(&orders[1]).await;
    assert_eq!((s, b["version"].clone()), (202, json!(3)), "{b}");

    // A released place can be taken again.
    let (s, b) = app
        .post(
            &format!("/v1/delivery-slots/{small}/bookings/{}/release", orders[0]),
            &sagas,
            json!({}),
        )
        .await;
    assert_eq!((s, b["version"].clone()), (202, json!(4)), "{b}");
    let (s, b) = book(&orders[2]).await;
    assert_eq!((s, b["version"].clone()), (202, json!(5)), "{b}");
    let types: Vec<String> = app
        .db
        .events_of(&small)
        .await
        .into_iter()
        .map(|e| e.1)
        .collect();
    assert_eq!(
        types,
        [
            "DeliverySlotCreated",
            "DeliverySlotBooked",
            "DeliverySlotBooked",
            "DeliverySlotReleased",
            "DeliverySlotBooked"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_bookings_never_overbook_a_slot_and_racing_assignments_never_share_a_rider() {
    let app = TestApp::spawn_with_rate(1_000_000.0, 1_000_000.0).await;
    let slot = app.delivery_slot(tomorrow_at(12), tomorrow_at(14), 3).await;
    let rider = app.rider_for("rider-acct-1", true).await;
    let sagas = app.service("sagas");
    let orders: Vec<uuid::Uuid> = (0..10).map(|_| uuid::Uuid::new_v4()).collect();
    let (book, assign) = (
        format!("/v1/delivery-slots/{slot}/bookings"),
        format!("/v1/riders/{rider}/assignments"),
    );
    let bookings = futures::future::join_all(
        orders
            .iter()
            .map(|o| app.post(&book, &sagas, json!({"order_id": o}))),
    )
    .await;
    let assignments = futures::future::join_all(orders.iter().map(|o| {
        app.post(
            &assign,
            &sagas,
            json!({"delivery_id": uuid::Uuid::new_v4(), "order_id": o}),
        )
    }))
    .await;
    for (what, answers, id, event, most, refusal) in [
        (
            "bookings",
            bookings,
            &slot,
            "DeliverySlotBooked",
            3,
            "slot_full",
        ),
        (
            "assignments",
            assignments,
            &rider,
            "RiderAssigned",
            1,
            "rider_busy",
        ),
    ] {
        let taken = answers.iter().filter(|(s, _)| *s == 202).count();
        for (s, b) in &answers {
            assert!(
                *s == 202
                    || (*s == 409
                        && (b["code"] == refusal || b["code"] == "concurrent_modification")),
                "{what}: {s} {b}"
            );
        }
        let stored = app
            .db
            .events_of(id)
            .await
            .iter()
            .filter(|e| e.1 == event)
            .count();
        assert!((1..=most).contains(&taken), "{what}: {taken} accepted");
        assert_eq!(stored, taken, "{what}: every accepted one stored, no other");
    }
}

// --- generated bodies ---------------------------------------------------------------------

const ORDER_FIELDS: &[&str] = &[
    "lines",
    "product_id",
    "quantity",
    "price",
    "delivery",
    "address",
    "line1",
    "city",
    "postal_code",
    "country",
    "location",
    "lat",
    "lon",
    "slot_id",
    "contact_email",
    "payment",
    "method",
    "card_token",
];

fn order_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (-200.0..200.0f64).prop_map(Value::from),
        (0u32..100_000).prop_map(|n| Value::from(f64::from(n) / 1000.0)),
        ".{0,40}".prop_map(Value::from),
        "\\PC{200,600}".prop_map(Value::from),
        proptest::sample::select(
            &[
                "card",
                "cash_on_delivery",
                "tok_approved",
                "NL",
                "a@b.example",
                "1.5",
                "1e3",
                "0190f0e0-0000-7000-8000-000000000001",
                "",
                " "
            ][..]
        )
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    3 => proptest::sample::select(ORDER_FIELDS).prop_map(str::to_owned),
                    1 => "[a-z_]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer into `v` (objects' members and arrays' elements), `v` itself first.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(o) => o
            .iter()
            .for_each(|(k, c)| pointers(c, format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| pointers(c, format!("{at}/{i}"), out)),
        _ => {}
    }
}

/// Replaces the value at one place in `body`, removes it, or adds an unknown member next to
/// it.
fn mutate(mut body: Value, pick: usize, op: u8, value: Value) -> Value {
    let mut all = Vec::new();
    pointers(&body, String::new(), &mut all);
    let target = &all[pick % all.len()];
    match op % 3 {
        0 => {
            if let Some(slot) = body.pointer_mut(target) {
                *slot = value;
            }
        }
        1 => {
            if let Some((parent, key)) = target.rsplit_once('/') {
                match body.pointer_mut(parent) {
                    Some(Value::Object(o)) => {
                        o.remove(key);
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(i) = key.parse::<usize>() {
                            a.remove(i);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {
            let parent = target.rsplit_once('/').map_or("", |(p, _)| p);
            if let Some(Value::Object(o)) = body.pointer_mut(parent) {
                o.insert("extra".to_owned(), value);
            }
        }
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_order_bodies_never_get_a_5xx_and_refusals_append_nothing() {
    let shop = Shop::open_on(TestApp::spawn_with_rate(1_000_000.0, 1_000_000.0).await).await;
    let app = &shop.app;
    let customer = app.customer("cust-1");
    let tokens = [
        customer.clone(),
        app.admin(),
        app.service("sagas"),
        "garbage.token.here".to_owned(),
    ];
    let valid = [
        shop.basket(),
        order_body(&[(&shop.pieces, json!(2))], &shop.slot),
    ];
    let cases = std::env::var("FRESHLINE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_usize);
    let mut runner = TestRunner::new(Config {
        cases: 1,
        ..Config::default()
    });
    let strategy = (any::<usize>(), any::<u8>(), 0..10u8, 0..6u8, order_json());
    let (mut by_status, mut accepted) = (std::collections::BTreeMap::<u16, usize>::new(), 0);
    for n in 0..cases {
        let (pick, op, token, content_type, value) =
            strategy.new_tree(&mut runner).expect("case").current();
        // Mostly near-valid bodies, so the checks past parsing are reached.
        let body = if n % 5 == 0 {
            value
        } else {
            let mut body = mutate(valid[n % 2].clone(), pick, op, value);
            if n % 7 == 0 {
                body = mutate(body, pick / 7, op / 3, json!(null));
            }
            body
        };
        let token = match token {
            0..=6 => &tokens[0],
            t => &tokens[usize::from(t - 6)],
        };
        let content_type = match content_type {
            0..=4 => "application/json",
            _ => "text/plain",
        };
        let before = app.db.event_count().await;
        let r = app
            .post_raw("/v1/orders", token, content_type, body.to_string(), &[])
            .await;
        let after = app.db.event_count().await;
        *by_status.entry(r.status).or_default() += 1;
        assert!(
            r.status < 500,
            "case {n}: {} for {body}: {}",
            r.status,
            r.body
        );
        if r.status >= 400 {
            assert!(r.is_problem(), "case {n}: {} {body}", r.status);
            assert_eq!(after, before, "case {n}: refused but appended: {body}");
        } else {
            assert_eq!(r.status, 201, "case {n}: {body}");
            assert_eq!(after, before + 1, "case {n}: {body}");
            accepted += 1;
        }
    }
    eprintln!(
        "orders fuzz: {cases} generated requests, {accepted} accepted, statuses {by_status:?}"
    );
}
