//! The notifier against the real Kafka, PostgreSQL and the local SMTP sink (`infra/local`
//! starts it; mails land in its Maildir). Every test has its own database, topic prefix,
//! consumer group and addresses, since the sink is shared.

use rdkafka::producer::{FutureProducer, FutureRecord};
use sagas::notifier::{Kind, Notifier, NotifierConfig, NotifierMetrics};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::time::Duration;
use test_support::{brokers, closed_port, database_with_url, maildir, smtp_port, until};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A mail the sink kept.
#[derive(Debug, Clone)]
struct Mail {
    rcpt: String,
    to: String,
    from: String,
    subject: String,
    text: String,
    html: String,
    message_id: String,
    event_id: String,
}

/// Every mail in the sink's Maildir whose envelope recipient is `address`.
fn mails_to(address: &str) -> Vec<Mail> {
    let parser = mail_parser::MessageParser::default();
    let mut found = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir().join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            if !bytes
                .windows(address.len())
                .any(|w| w == address.as_bytes())
            {
                continue;
            }
            let Some(m) = parser.parse(&bytes[..]) else {
                continue;
            };
            let rcpt = m
                .header_raw("X-RcptTo")
                .unwrap_or_default()
                .trim()
                .to_owned();
            if rcpt != address {
                continue;
            }
            let first = |a: Option<&mail_parser::Address<'_>>| {
                a.and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_owned()
            };
            found.push(Mail {
                rcpt,
                to: first(m.to()),
                from: first(m.from()),
                subject: m.subject().unwrap_or_default().to_owned(),
                text: m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
                html: m.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
                message_id: m.message_id().unwrap_or_default().to_owned(),
                event_id: m
                    .header_raw("X-Freshline-Event-Id")
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            });
        }
    }
    found
}

/// Waits for `n` mails to `address`, then a little longer to see that no more come.
async fn exactly(address: &str, n: usize) -> Vec<Mail> {
    until(&format!("{n} mail(s) to {address}"), 60, || async {
        let got = mails_to(address);
        (got.len() >= n).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = mails_to(address);
    assert_eq!(got.len(), n, "mails to {address}: {got:#?}");
    got
}

fn address(who: &str) -> String {
    format!("{who}-{}@example.test", Uuid::new_v4().simple())
}

struct Bench {
    pool: PgPool,
    url: String,
    prefix: String,
    group: String,
    producer: FutureProducer,
    ops: String,
}

struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    metrics: NotifierMetrics,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("notifier stopped cleanly");
    }
}

impl Bench {
    async fn new() -> Self {
        let (pool, url) = database_with_url().await;
        let prefix = format!("n{}.", &Uuid::new_v4().simple().to_string()[..10]);
        let specs: Vec<_> = schemas::topics::ALL
            .iter()
            .copied()
            .filter(|t| sagas::notifier::TOPICS.contains(&t.name))
            .collect();
        platform::kafka::ensure_topics(&brokers(), &prefix, &specs, 1)
            .await
            .expect("Kafka is up");
        Self {
            pool,
            url,
            prefix,
            group: format!("notifier-test-{}", Uuid::new_v4()),
            producer: platform::kafka::idempotent_producer(&brokers(), "notifier-test")
                .expect("producer"),
            ops: address("ops"),
        }
    }

    fn config(&self, smtp_port: u16) -> NotifierConfig {
        let mut cfg = NotifierConfig::local(&brokers());
        cfg.topic_prefix = self.prefix.clone();
        cfg.group_id = self.group.clone();
        cfg.smtp.port = smtp_port;
        cfg.smtp.timeout = Duration::from_secs(5);
        cfg.ops_email = self.ops.clone();
        cfg.min_backoff = Duration::from_millis(200);
        cfg.max_backoff = Duration::from_secs(1);
        cfg.poll_interval = Duration::from_millis(100);
        cfg
    }

    async fn start(&self, cfg: NotifierConfig) -> Running {
        // A process of its own would have its own pool: connect again.
        let pool = PgPool::connect(&self.url).await.expect("connect");
        let metrics = NotifierMetrics::new(&prometheus::Registry::new()).expect("metrics");
        let notifier = Notifier::new(pool, cfg, metrics.clone())
            .await
            .expect("notifier starts");
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move { notifier.run(token).await.expect("notifier runs") });
        Running {
            shutdown,
            task,
            metrics,
        }
    }

    async fn publish(&self, e: &Value) {
        self.publish_keyed(e, e["aggregate_id"].as_str().expect("id"))
            .await;
    }

    async fn publish_keyed(&self, e: &Value, key: &str) {
        let spec = schemas::topics::for_aggregate(e["aggregate_type"].as_str().expect("type"))
            .expect("a topic");
        let topic = schemas::topics::prefixed(&self.prefix, spec.name);
        let value = serde_json::to_vec(e).expect("json");
        self.producer
            .send(
                FutureRecord::to(&topic).key(key).payload(&value),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }

    async fn status(&self, event: &Value) -> Option<String> {
        let id = Uuid::parse_str(event["event_id"].as_str().expect("id")).expect("uuid");
        sqlx::query_scalar(
            "SELECT status FROM notifier.notifications WHERE event_id = $1 AND channel = 'email'",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .ok()
        .flatten()
    }

    async fn until_status(&self, event: &Value, want: &str) {
        until(&format!("status {want}"), 60, || async {
            (self.status(event).await.as_deref() == Some(want)).then_some(())
        })
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// Events, built like the relay publishes them
// ---------------------------------------------------------------------------------------------

fn envelope(aggregate_type: &str, id: Uuid, seq: i64, event_type: &str, payload: Value) -> Value {
    json!({
        "event_id": Uuid::now_v7(), "aggregate_type": aggregate_type, "aggregate_id": id.to_string(),
        "sequence": seq, "global_position": seq, "event_type": event_type, "event_version": 1,
        "occurred_at": "2026-11-21T10:00:00Z", "metadata": {}, "payload": payload,
    })
}

fn eur(amount_minor: i64) -> Value {
    json!({"amount_minor": amount_minor, "currency": "EUR"})
}

fn address_json() -> Value {
    json!({"line1": "Prinsengracht 263", "city": "Amsterdam", "postal_code": "1016 GV", "country": "NL", "location": null})
}

fn order_placed(order_id: Uuid, payment_id: Uuid, contact_email: Option<&str>) -> Value {
    envelope(
        "Order",
        order_id,
        1,
        "OrderPlaced",
        json!({
            "customer": "cust-1",
            "lines": [
                {"product_id": Uuid::now_v7(), "supplier_id": Uuid::now_v7(), "name": "Heirloom tomatoes",
                 "category": "vegetable", "unit": "kg", "quantity": "1.5", "unit_price": eur(420), "line_total": eur(630)},
                {"product_id": Uuid::now_v7(), "supplier_id": Uuid::now_v7(), "name": "Basil",
                 "category": "herb", "unit": "bunch", "quantity": "2", "unit_price": eur(199), "line_total": eur(398)},
            ],
            "total": eur(1028),
            "delivery": {
                "address": address_json(), "slot_id": Uuid::now_v7(), "warehouse_id": Uuid::now_v7(),
                "warehouse_location": {"lat_e6": 52_370_216, "lon_e6": 4_895_168}, "zone": "ams-centre",
                "slot_starts_at": "2026-11-22T16:00:00Z", "slot_ends_at": "2026-11-22T18:00:00Z",
                "contact_email": contact_email,
            },
            "payment": {"payment_id": payment_id, "method": "card", "card_token": "tok_approved"},
        }),
    )
}

fn payment_initiated(payment_id: Uuid, order_id: Uuid) -> Value {
    envelope(
        "Payment",
        payment_id,
        1,
        "PaymentInitiated",
        json!({"order_id": order_id, "customer": "cust-1", "method": "card", "amount": eur(1028),
               "payees": [{"supplier_id": Uuid::now_v7(), "amount": eur(1028)}], "commission_bps": 1000}),
    )
}

fn payment_captured(payment_id: Uuid, amount_minor: i64) -> Value {
    envelope(
        "Payment",
        payment_id,
        3,
        "PaymentCaptured",
        json!({"gateway_ref": "cap_1", "amount": eur(amount_minor)}),
    )
}

fn supplier_registered(supplier_id: Uuid, email: &str, name: &str) -> Value {
    envelope(
        "Supplier",
        supplier_id,
        1,
        "SupplierRegistered",
        json!({"supplier_id": supplier_id, "owner": null, "legal_name": name, "registration_number": "NL-1",
               "contact_email": email, "phone": "+31205550101",
               "address": {"line1": "Dijkweg 1", "city": "Naaldwijk", "postal_code": "2671 AA", "country": "NL"},
               "categories": ["vegetable"]}),
    )
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn each_kind_of_mail_goes_to_the_right_address_with_its_content() {
    let bench = Bench::new().await;
    let running = bench.start(bench.config(smtp_port())).await;
    let customer = address("customer");
    let declined_customer = address("declined");
    let (approved_supplier, rejected_supplier) = (address("green"), address("shady"));
    let (order, payment, delivery) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (order2, payment2) = (Uuid::now_v7(), Uuid::now_v7());
    let (supplier1, supplier2) = (Uuid::now_v7(), Uuid::now_v7());
    let product = Uuid::now_v7();

    let placed = order_placed(order, payment, Some(&customer));
    let captured = payment_captured(payment, 1028);
    let refunded = envelope(
        "Payment",
        payment,
        5,
        "RefundCompleted",
        json!({"refund_id": Uuid::now_v7(), "amount": eur(398), "gateway_ref": "rfd_1"}),
    );
    let scheduled = envelope(
        "Delivery",
        delivery,
        1,
        "DeliveryScheduled",
        json!({"order_id": order, "slot_id": Uuid::now_v7(), "warehouse_id": Uuid::now_v7(),
               "pickup": {"lat_e6": 52_370_216, "lon_e6": 4_895_168}, "destination": address_json(),
               "cold_chain": false, "window_starts_at": "2026-11-22T16:00:00Z", "window_ends_at": "2026-11-22T18:00:00Z"}),
    );
    let delivered = envelope("Delivery", delivery, 5, "DeliveryCompleted", json!({}));
    let declined = envelope(
        "Payment",
        payment2,
        2,
        "PaymentDeclined",
        json!({"code": "card_declined", "reason": "the issuer declined the card"}),
    );
    let low = envelope(
        "StockAlert",
        Uuid::now_v7(),
        1,
        "LowStock",
        json!({"product_id": product, "warehouse_id": Uuid::now_v7(), "available": "2.5", "threshold": "10"}),
    );
    let approved = envelope(
        "Supplier",
        supplier1,
        3,
        "SupplierApproved",
        json!({"note": "Welcome aboard"}),
    );
    let rejected = envelope(
        "Supplier",
        supplier2,
        2,
        "SupplierRejected",
        json!({"reason": "licence <expired>"}),
    );
    for e in [
        &placed,
        &payment_initiated(payment, order),
        &captured,
        &refunded,
        &scheduled,
        &delivered,
        &order_placed(order2, payment2, Some(&declined_customer)),
        &declined,
        &low,
        &supplier_registered(supplier1, &approved_supplier, "Green Acres B.V."),
        &approved,
        &supplier_registered(supplier2, &rejected_supplier, "Shady Farms"),
        &rejected,
    ] {
        bench.publish(e).await;
    }

    let to_customer = exactly(&customer, 4).await;
    let by_event = |e: &Value| {
        let id = e["event_id"].as_str().expect("id");
        to_customer
            .iter()
            .find(|m| m.event_id == id)
            .unwrap_or_else(|| panic!("no mail for {id}: {to_customer:#?}"))
            .clone()
    };
    let m = by_event(&placed);
    assert_eq!(m.to, customer);
    assert_eq!(m.from, "no-reply@freshline.local");
    assert_eq!(m.subject, "Your Freshline order is placed");
    assert!(m.text.contains(&order.to_string()), "{}", m.text);
    assert!(m.text.contains("1.5 kg Heirloom tomatoes") && m.text.contains("EUR 6.30"));
    assert!(
        m.text.contains("Total") && m.text.contains("EUR 10.28"),
        "{}",
        m.text
    );
    assert!(m.text.contains("Prinsengracht 263"));
    assert!(m.html.contains("<table>") && m.html.contains("EUR 10.28"));
    assert!(m
        .message_id
        .contains(placed["event_id"].as_str().expect("id")));
    let m = by_event(&captured);
    assert_eq!(m.subject, "Payment received for your Freshline order");
    assert!(m.text.contains("EUR 10.28") && m.text.contains(&order.to_string()));
    let m = by_event(&refunded);
    assert!(m.subject.contains("refund"), "{}", m.subject);
    assert!(m.text.contains("EUR 3.98"));
    let m = by_event(&delivered);
    assert_eq!(m.subject, "Your Freshline order was delivered");
    assert!(m.text.contains(&order.to_string()));

    let to_declined = exactly(&declined_customer, 2).await;
    let m = to_declined
        .iter()
        .find(|m| m.event_id == declined["event_id"].as_str().expect("id"))
        .expect("declined mail");
    assert!(m.subject.contains("declined"));
    assert!(m.text.contains("card_declined") && m.text.contains(&order2.to_string()));

    let m = &exactly(&bench.ops, 1).await[0];
    assert!(m.subject.contains(&product.to_string()));
    assert!(m.text.contains("2.5") && m.text.contains("10"));

    let m = &exactly(&approved_supplier, 1).await[0];
    assert_eq!(m.subject, "Green Acres B.V. is approved on Freshline");
    assert!(m.text.contains("Welcome aboard"));
    let m = &exactly(&rejected_supplier, 1).await[0];
    assert!(m.subject.contains("Shady Farms"));
    assert!(m.text.contains("licence <expired>"));
    assert!(m.html.contains("licence &lt;expired&gt;"));
    assert_eq!(m.rcpt, rejected_supplier);

    for kind in Kind::ALL {
        assert_eq!(running.metrics.failed(kind), 0, "{kind:?}");
    }
    assert_eq!(running.metrics.sent(Kind::PaymentCaptured), 1);
    running.stop().await;
}

#[tokio::test]
async fn a_redelivered_event_sends_nothing_more() {
    let bench = Bench::new().await;
    let running = bench.start(bench.config(smtp_port())).await;
    let customer = address("again");
    let placed = order_placed(Uuid::now_v7(), Uuid::now_v7(), Some(&customer));
    bench.publish(&placed).await;
    exactly(&customer, 1).await;

    // The same event published again, then everything read again by a fresh consumer group
    // (as after an offset reset): still one mail.
    bench.publish(&placed).await;
    running.stop().await;
    let mut cfg = bench.config(smtp_port());
    cfg.group_id = format!("notifier-test-{}", Uuid::new_v4());
    let replay = bench.start(cfg).await;
    // A marker behind both copies in their partition: once it is mailed, they were read.
    let marker_customer = address("marker");
    let marker = order_placed(Uuid::now_v7(), Uuid::now_v7(), Some(&marker_customer));
    bench
        .publish_keyed(&marker, placed["aggregate_id"].as_str().expect("id"))
        .await;
    exactly(&marker_customer, 1).await;

    let mails = exactly(&customer, 1).await;
    assert_eq!(mails[0].event_id, placed["event_id"].as_str().expect("id"));
    assert_eq!(replay.metrics.sent(Kind::OrderPlaced), 1, "only the marker");
    replay.stop().await;
}

#[tokio::test]
async fn a_mail_that_could_not_be_sent_while_smtp_was_down_arrives_later_exactly_once() {
    let bench = Bench::new().await;
    let down = bench.start(bench.config(closed_port())).await;
    let customer = address("patient");
    let placed = order_placed(Uuid::now_v7(), Uuid::now_v7(), Some(&customer));
    bench.publish(&placed).await;

    until("two failed attempts", 60, || async {
        (down.metrics.failed(Kind::OrderPlaced) >= 2).then_some(())
    })
    .await;
    assert!(mails_to(&customer).is_empty());
    let id = Uuid::parse_str(placed["event_id"].as_str().expect("id")).expect("uuid");
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM notifier.notifications WHERE event_id = $1 AND channel = 'email'")
            .bind(id)
            .fetch_one(&bench.pool)
            .await
            .expect("recorded");
    assert!(status == "pending" || status == "sending", "{status}");
    assert!(error.is_some_and(|e| !e.is_empty()));
    down.stop().await;

    // SMTP is back (the same group, the same database: a restarted notifier).
    let up = bench.start(bench.config(smtp_port())).await;
    let mails = exactly(&customer, 1).await;

    assert_eq!(mails[0].event_id, id.to_string());
    bench.until_status(&placed, "sent").await;
    assert_eq!(up.metrics.sent(Kind::OrderPlaced), 1);
    up.stop().await;
}

#[tokio::test]
async fn a_payment_event_before_its_order_is_mailed_once_the_order_arrives() {
    let bench = Bench::new().await;
    let running = bench.start(bench.config(smtp_port())).await;
    let customer = address("early");
    let (order, payment) = (Uuid::now_v7(), Uuid::now_v7());
    let captured = payment_captured(payment, 1028);
    bench.publish(&captured).await;

    bench.until_status(&captured, "pending").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(mails_to(&customer).is_empty());
    let waiting = bench.status(&captured).await;
    assert!(
        matches!(waiting.as_deref(), Some("pending" | "sending")),
        "{waiting:?}"
    );
    bench
        .publish(&order_placed(order, payment, Some(&customer)))
        .await;

    let mails = exactly(&customer, 2).await;
    let m = mails
        .iter()
        .find(|m| m.event_id == captured["event_id"].as_str().expect("id"))
        .expect("the payment mail");
    assert!(m.text.contains(&order.to_string()) && m.text.contains("EUR 10.28"));
    running.stop().await;
}

#[tokio::test]
async fn an_order_without_a_contact_email_gets_no_customer_mail() {
    let bench = Bench::new().await;
    let running = bench.start(bench.config(smtp_port())).await;
    let (order, payment) = (Uuid::now_v7(), Uuid::now_v7());
    let placed = order_placed(order, payment, None);
    let captured = payment_captured(payment, 1028);

    bench.publish(&placed).await;
    bench.publish(&captured).await;

    bench.until_status(&placed, "skipped").await;
    bench.until_status(&captured, "skipped").await;
    for kind in [Kind::OrderPlaced, Kind::PaymentCaptured] {
        assert_eq!(running.metrics.sent(kind), 0);
        assert_eq!(running.metrics.failed(kind), 0);
    }
    running.stop().await;
}

#[tokio::test]
async fn a_notification_whose_recipient_never_becomes_known_is_given_up() {
    let bench = Bench::new().await;
    let mut cfg = bench.config(smtp_port());
    cfg.give_up_after = Duration::from_secs(2);
    let running = bench.start(cfg).await;
    let orphan = payment_captured(Uuid::now_v7(), 500);

    bench.publish(&orphan).await;

    bench.until_status(&orphan, "gave_up").await;
    // One notification per channel it could go out on, each given up.
    until("every channel given up", 30, || async {
        (running.metrics.gave_up(Kind::PaymentCaptured)
            == Kind::PaymentCaptured.channels().len() as u64)
            .then_some(())
    })
    .await;
    running.stop().await;
}

#[tokio::test]
async fn an_undecodable_message_is_skipped_and_the_next_one_is_mailed() {
    let bench = Bench::new().await;
    let running = bench.start(bench.config(smtp_port())).await;
    let customer = address("after-junk");
    let order = Uuid::now_v7();
    let topic = schemas::topics::prefixed(&bench.prefix, schemas::topics::ORDER);
    // Same key, so the same partition, ahead of the good event.
    for junk in [
        b"not json".to_vec(),
        serde_json::to_vec(&envelope(
            "Order",
            order,
            1,
            "OrderPlaced",
            json!({"customer": 1}),
        ))
        .expect("json"),
    ] {
        bench
            .producer
            .send(
                FutureRecord::to(&topic)
                    .key(&order.to_string())
                    .payload(&junk),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }
    bench
        .publish(&order_placed(order, Uuid::now_v7(), Some(&customer)))
        .await;

    exactly(&customer, 1).await;
    running.stop().await;
}

fn delivery_event(delivery: Uuid, seq: i64, event_type: &str, payload: Value, at: &str) -> Value {
    let mut e = envelope("Delivery", delivery, seq, event_type, payload);
    e["occurred_at"] = json!(at);
    e
}

#[tokio::test]
async fn shipping_and_eta_messages_come_when_the_rider_leaves_moves_late_or_is_near() {
    let bench = Bench::new().await;
    let running = bench.start(bench.config(smtp_port())).await;
    let customer = address("eta");
    let (order, payment, delivery) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    bench
        .publish(&order_placed(order, payment, Some(&customer)))
        .await;
    bench
        .publish(&envelope(
            "Delivery",
            delivery,
            1,
            "DeliveryScheduled",
            json!({"order_id": order, "slot_id": Uuid::now_v7(), "warehouse_id": Uuid::now_v7(),
                   "pickup": {"lat_e6": 52_370_216, "lon_e6": 4_895_168}, "destination": address_json(),
                   "cold_chain": false, "window_starts_at": "2026-11-22T16:00:00Z", "window_ends_at": "2026-11-22T18:00:00Z"}),
        ))
        .await;
    exactly(&customer, 1).await;
    bench
        .publish(&delivery_event(
            delivery,
            3,
            "DeliveryPickedUp",
            json!({}),
            "2026-11-22T16:00:00Z",
        ))
        .await;
    let location = |seq: i64, at: &str, eta: &str| {
        delivery_event(
            delivery,
            seq,
            "DeliveryLocationUpdated",
            json!({"location": {"lat_e6": 52_370_000, "lon_e6": 4_890_000}, "eta": eta}),
            at,
        )
    };
    // The first ETA is the baseline; 5 minutes later is no news; 20 minutes later is; then the
    // rider is near (once).
    for e in [
        location(4, "2026-11-22T16:01:00Z", "2026-11-22T16:40:00Z"),
        location(5, "2026-11-22T16:02:00Z", "2026-11-22T16:45:00Z"),
        location(6, "2026-11-22T16:03:00Z", "2026-11-22T17:00:00Z"),
        location(7, "2026-11-22T16:56:00Z", "2026-11-22T17:00:00Z"),
        location(8, "2026-11-22T16:57:00Z", "2026-11-22T17:00:00Z"),
    ] {
        bench.publish(&e).await;
    }
    let mails = exactly(&customer, 4).await;
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    assert!(
        subjects.contains(&"Your Freshline order is on its way"),
        "{subjects:?}"
    );
    let eta: Vec<&&str> = subjects
        .iter()
        .filter(|s| s.starts_with("Your Freshline rider arrives"))
        .collect();
    assert_eq!(eta.len(), 2, "moved by 20 minutes, then near: {subjects:?}");
    assert!(eta.iter().all(|s| s.contains("17:00")), "{subjects:?}");
    running.stop().await;
}

#[tokio::test]
async fn an_abandoned_cart_is_mailed_only_with_marketing_consent_and_in_the_customers_language() {
    let bench = Bench::new().await;
    let running = bench.start(bench.config(smtp_port())).await;
    let (keen, shy) = (address("keen"), address("shy"));
    for (who, marketing) in [(&keen, true), (&shy, false)] {
        let customer = Uuid::now_v7();
        let stream = Uuid::now_v7();
        let profile = json!({"account": customer.to_string(), "display_name": "C", "email": who, "phone": null});
        bench
            .publish(&envelope(
                "Customer",
                customer,
                1,
                "CustomerRegistered",
                profile,
            ))
            .await;
        bench
            .publish(&envelope(
                "Customer",
                customer,
                2,
                "CustomerPreferencesSet",
                json!({"tags": [], "dietary": null, "language": "nl"}),
            ))
            .await;
        bench
            .publish(&envelope(
                "Customer",
                customer,
                3,
                "CustomerConsentSet",
                json!({"marketing": marketing, "email": true, "sms": false, "push": false}),
            ))
            .await;
        bench
            .publish(&envelope(
                "Cart",
                stream,
                1,
                "CartOpened",
                json!({"cart_id": Uuid::now_v7(), "opened_at": "2026-11-20T09:00:00Z",
                       "customer_id": customer, "account": customer.to_string()}),
            ))
            .await;
        bench
            .publish(&envelope(
                "Cart",
                stream,
                3,
                "CartAbandoned",
                json!({"cart_id": Uuid::now_v7(), "idle_since": "2026-11-20T09:05:00Z"}),
            ))
            .await;
    }
    let m = &exactly(&keen, 1).await[0];
    assert_eq!(m.subject, "Je Freshline-winkelmandje wacht op je");
    assert!(m.text.starts_with("Hallo,"), "{}", m.text);
    exactly(&shy, 0).await;
    running.stop().await;
}

#[tokio::test]
async fn a_supplier_hears_that_its_batch_expires_soon() {
    let bench = Bench::new().await;
    let running = bench.start(bench.config(smtp_port())).await;
    let supplier_mail = address("batches");
    let (supplier, batch) = (Uuid::now_v7(), Uuid::now_v7());
    bench
        .publish(&supplier_registered(
            supplier,
            &supplier_mail,
            "Green Acres B.V.",
        ))
        .await;
    bench
        .publish(&envelope("InventoryBatch", batch, 1, "BatchReceived",
            json!({"batch_id": batch, "product_id": Uuid::now_v7(), "supplier_id": supplier,
                   "warehouse_id": Uuid::now_v7(), "quantity": "40", "received_at": "2026-11-20T08:00:00Z",
                   "expires_at": "2026-11-23T08:00:00Z", "cold_chain": false,
                   "procurement_price": eur(90)})))
        .await;
    bench
        .publish(&envelope(
            "InventoryBatch",
            batch,
            2,
            "BatchExpiringSoon",
            json!({"expires_at": "2026-11-23T08:00:00Z", "available": "12.5"}),
        ))
        .await;
    let m = &exactly(&supplier_mail, 1).await[0];
    assert_eq!(m.subject, "Stock of Green Acres B.V. expires soon");
    assert!(
        m.text.contains("12.5") && m.text.contains("2026-11-23 08:00 UTC"),
        "{}",
        m.text
    );
    running.stop().await;
}
