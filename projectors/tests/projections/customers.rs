//! A customer's life against the real path and the real Keycloak: sign up through Keycloak's
//! own registration form, log in, refresh; a profile with two addresses, preferences and
//! consent; a cart priced from the catalog, a price change shown as a warning, checkout with a
//! saved address (`409 price_changed` when the total moved); and nobody else sees any of it.

use crate::fulfilment::{until, Options, World};
use sagas::notifier::{Notifier, NotifierConfig, NotifierMetrics};
use serde_json::{json, Value};
use std::time::Duration;
use test_support::keycloak;
use tokio_util::sync::CancellationToken;

/// The notifier on the stack's topics, mailing to the local SMTP sink and sending SMS and
/// push through the simulated providers (served here); answers the providers' base URL.
async fn notifier(w: &World, stop: &CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let providers =
        simulators::messaging::router(simulators::messaging::Messaging::new().expect("providers"));
    tokio::spawn(async move { axum::serve(listener, providers).await.expect("providers") });
    let mut cfg = NotifierConfig::local(&crate::brokers());
    cfg.topic_prefix.clone_from(&w.s.topic_prefix);
    cfg.group_id = format!("notifier-{}", uuid::Uuid::new_v4());
    cfg.smtp.port = test_support::smtp_port();
    cfg.poll_interval = Duration::from_millis(100);
    cfg.providers.sms_url = Some(format!("{base}/sms"));
    cfg.providers.push_url = Some(format!("{base}/push"));
    let notifier = Notifier::new(
        w.s.pool.clone(),
        cfg,
        NotifierMetrics::new(&prometheus::Registry::new()).expect("metrics"),
    )
    .await
    .expect("notifier");
    let token = stop.clone();
    tokio::spawn(async move { notifier.run(token).await.expect("notifier runs") });
    base
}

/// The messages a simulated provider accepted: `GET {base}/sms/v1/messages?to=` or
/// `GET {base}/push/v1/sent?token=`.
async fn provider_inbox(w: &World, url: &str) -> Vec<Value> {
    w.http
        .get(url)
        .send()
        .await
        .expect("provider")
        .json()
        .await
        .expect("json")
}

/// Mails the local SMTP sink accepted for `address`.
fn mails_to(address: &str) -> usize {
    ["new", "cur"]
        .iter()
        .filter_map(|d| std::fs::read_dir(test_support::maildir().join(d)).ok())
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path())
                .is_ok_and(|t| t.contains(&format!("X-RcptTo: {address}")))
        })
        .count()
}

impl World {
    async fn put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::PUT, path, token, body).await
    }

    async fn read(&self, path: &str, token: &str) -> (u16, Value) {
        let (status, body, _) = self.s.get(&self.s.queries, path, token).await;
        (status, body)
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn address(line1: &str, lat: f64, lon: f64) -> Value {
    json!({"line1": line1, "city": "Amsterdam", "postal_code": "1016 GV", "country": "NL",
           "location": {"lat": lat, "lon": lon}})
}

#[tokio::test]
async fn a_customer_signs_up_fills_a_cart_sees_a_price_change_and_checks_out() {
    let w = World::start(Options {
        saga: false,
        simulate: None,
        ..Options::default()
    })
    .await;
    let stop = CancellationToken::new();
    let providers = notifier(&w, &stop).await;

    // Sign up through Keycloak, log in again, refresh: the refreshed token is the one used.
    let username = unique("noor");
    let signed_up = keycloak::sign_up(
        &username,
        &format!("{username}@example.test"),
        "pw-long-enough-1",
    )
    .await;
    let login = keycloak::password_login(&username, "pw-long-enough-1", None)
        .await
        .expect("login");
    let me = keycloak::refresh(&login).await.expect("refresh").access;
    let sub = signed_up.claims()["sub"].as_str().expect("sub").to_owned();

    // Before the profile exists, reading it says how to make it.
    let (status, body) = w.read("/v1/customers/me", &me).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("customer_not_found")),
        "{body}"
    );

    let (status, body) = w
        .send("/v1/customers/me", &me, json!({"display_name": "Noor", "email": format!("{username}@example.test"), "phone": "+31612345678"}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["id"],
        sub.as_str(),
        "the customer id is the Keycloak subject"
    );
    let (status, again) = w
        .send("/v1/customers/me", &me, json!({"display_name": "Noor", "email": format!("{username}@example.test"), "phone": "+31612345678"}))
        .await;
    assert_eq!(
        (status, &again["id"]),
        (201, &body["id"]),
        "again: the same answer"
    );

    let (status, home) = w
        .send(
            "/v1/customers/me/addresses",
            &me,
            json!({"label": "Home", "address": address("Prinsengracht 263", 52.3752, 4.8840)}),
        )
        .await;
    assert_eq!(status, 201, "{home}");
    let (status, work) = w
        .send("/v1/customers/me/addresses", &me, json!({"label": "Work", "address": address("Keizersgracht 1", 52.3790, 4.8900), "default": false}))
        .await;
    assert_eq!(status, 201, "{work}");
    let work_id = work["address_id"].as_str().expect("address_id").to_owned();
    let (status, body) = w
        .put(
            "/v1/customers/me/preferences",
            &me,
            json!({"tags": ["organic", "local"], "dietary": "vegetarian", "language": "nl"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = w
        .put(
            "/v1/customers/me/consent",
            &me,
            json!({"marketing": false, "channels": {"email": true, "sms": true, "push": false}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = w
        .put(
            "/v1/customers/me/preferences",
            &me,
            json!({"tags": ["spicy"], "language": "xx"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    // A device for push, which the customer did not consent to.
    let device = format!("push-{username}");
    let (status, body) = w
        .send(
            "/v1/customers/me/devices",
            &me,
            json!({"push_token": device, "platform": "android"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");

    let profile = until("the profile with both addresses", 20, async || {
        let (status, body) = w.read("/v1/customers/me", &me).await;
        (status == 200
            && body["addresses"].as_array().is_some_and(|a| a.len() == 2)
            && body["consent"]["channels"]["sms"] == true
            && body["preferences"]["language"] == "nl")
            .then_some(body)
    })
    .await;
    assert_eq!(profile["addresses"][0]["label"], "Home");
    assert_eq!(
        profile["addresses"][0]["default"], true,
        "the first address is the default"
    );
    assert_eq!(
        profile["addresses"][1]["address"]["location"]["lat"],
        52.379
    );
    assert_eq!(profile["preferences"]["tags"], json!(["organic", "local"]));

    // A cart: 2 kg of apples at 3.49.
    let (status, body) = w
        .put(
            &format!("/v1/carts/current/lines/{}", w.apples),
            &me,
            json!({"quantity": 2}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = w
        .put(
            &format!("/v1/carts/current/lines/{}", w.milk),
            &me,
            json!({"quantity": 1.5}),
        )
        .await;
    assert_eq!(status, 422, "no half bottles: {body}");
    let cart = until("the cart", 20, async || {
        let (status, body) = w
            .read(&format!("/v1/carts/current?slot_id={}", w.slot), &me)
            .await;
        (status == 200 && body["lines"].as_array().is_some_and(|l| l.len() == 1)).then_some(body)
    })
    .await;
    assert_eq!(
        cart["subtotal"],
        json!({"amount_minor": 698, "currency": "EUR"}),
        "{cart}"
    );
    assert_eq!(cart["warnings"], json!([]), "{cart}");

    // The supplier raises the price: the cart shows it, with both figures.
    let (status, body) = w
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/products/{}", w.apples),
            &w.owner,
            json!({"price": {"amount_minor": 399, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let cart = until("the price change in the cart", 20, async || {
        let (_, body) = w.read("/v1/carts/current", &me).await;
        (body["subtotal"]["amount_minor"] == 798).then_some(body)
    })
    .await;
    let warning = &cart["warnings"][0];
    assert_eq!(warning["code"], "price_changed", "{cart}");
    assert_eq!(warning["details"]["unit_price_seen"]["amount_minor"], 349);
    assert_eq!(warning["details"]["unit_price"]["amount_minor"], 399);

    // Checking out against the old total is refused with the new figures; nothing is placed.
    let checkout = |expected: i64| {
        json!({"address_id": work_id, "slot_id": w.slot,
               "payment": {"method": "card", "card_token": "tok_approved"},
               "expected_total": {"amount_minor": expected, "currency": "EUR"}})
    };
    let (status, body) = w
        .send("/v1/carts/current/checkout", &me, checkout(698))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("price_changed")),
        "{body}"
    );
    assert_eq!(body["total"]["amount_minor"], 798, "{body}");
    assert_eq!(
        body["lines"][0]["unit_price"]["amount_minor"], 399,
        "{body}"
    );

    let (status, placed) = w
        .send("/v1/carts/current/checkout", &me, checkout(798))
        .await;
    assert_eq!(status, 201, "{placed}");
    let order_id = placed["id"].as_str().expect("order id").to_owned();
    let order = until("the order", 20, async || {
        let (status, body) = w.read(&format!("/v1/orders/{order_id}"), &me).await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(
        order["total"]["amount_minor"], 798,
        "prices from the catalog: {order}"
    );
    assert_eq!(
        order["timeline"][0]["detail"]["cart_id"], cart["cart_id"],
        "the order records the cart it came from: {order}"
    );
    assert_eq!(
        order["delivery_address"]["line1"], "Keizersgracht 1",
        "{order}"
    );
    let cart = until("the closed cart", 20, async || {
        let (_, body) = w.read("/v1/carts/current", &me).await;
        (body["status"] == "empty").then_some(body)
    })
    .await;
    assert_eq!(cart["last_order_id"], order_id.as_str());
    // The order's messages arrive on the channels the customer chose (e-mail and SMS, in
    // Dutch), and on no other (no push although a device is registered).
    let email = format!("{username}@example.test");
    until("the order's e-mail", 60, async || {
        (mails_to(&email) >= 1).then_some(())
    })
    .await;
    let sms = until("the order's SMS", 60, async || {
        let got = provider_inbox(
            &w,
            &format!("{providers}/sms/v1/messages?to=%2B31612345678"),
        )
        .await;
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(
        sms[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("bestelling")),
        "in Dutch: {sms:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pushed = provider_inbox(&w, &format!("{providers}/push/v1/sent?token={device}")).await;
    assert!(pushed.is_empty(), "no push without consent: {pushed:?}");
    assert_eq!(mails_to(&email), 1, "one e-mail");
    let channels: Vec<(String, String)> = sqlx::query_as(
        "SELECT channel, status FROM notifier.notifications WHERE kind = 'order_placed' ORDER BY channel",
    )
    .fetch_all(&w.s.pool)
    .await
    .expect("notifications");
    assert_eq!(
        channels,
        [("email", "sent"), ("push", "skipped"), ("sms", "sent")]
            .map(|(c, s)| (c.to_owned(), s.to_owned()))
    );

    // The same checkout again finds no open cart and places nothing more.
    let (status, body) = w
        .send("/v1/carts/current/checkout", &me, checkout(798))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("no_open_cart")),
        "{body}"
    );

    // Another customer sees none of it and cannot reach it.
    let other_name = unique("other");
    let other = keycloak::sign_up(
        &other_name,
        &format!("{other_name}@example.test"),
        "pw-long-enough-2",
    )
    .await
    .access;
    let (status, _) = w.read("/v1/customers/me", &other).await;
    assert_eq!(
        status, 404,
        "the other customer has no profile, and never sees Noor's"
    );
    let (status, body) = w.read("/v1/carts/current", &other).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("empty")),
        "{body}"
    );
    let (status, _) = w.read(&format!("/v1/customers/{sub}"), &other).await;
    assert_eq!(status, 403, "customers do not read the customer directory");
    let (status, _) = w.read(&format!("/v1/orders/{order_id}"), &other).await;
    assert!(status == 404 || status == 403, "another's order: {status}");
    let (status, body) = w
        .send(
            &format!("/v1/customers/me/addresses/{work_id}/remove"),
            &other,
            json!({}),
        )
        .await;
    assert_eq!(
        status, 404,
        "another's address is not in one's own book: {body}"
    );

    // Staff read the customer.
    let (status, body) = w.read(&format!("/v1/customers/{sub}"), &w.admin).await;
    assert_eq!(
        (status, body["display_name"].as_str()),
        (200, Some("Noor")),
        "{body}"
    );
}
