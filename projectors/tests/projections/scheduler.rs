//! The scheduler against the whole path: it expires a batch at its expiry, flags a batch
//! expiring within the horizon once, and raises `LowStock` once per shortage, then
//! `StockRecovered`.

use crate::end_to_end::Stack;
use platform::auth::Role;
use sagas::commands::{CommandClient, TokenSource};
use sagas::scheduler::{Scheduler, SchedulerConfig, SchedulerMetrics};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn event_types(s: &Stack, aggregate_id: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT event_type FROM events WHERE aggregate_id = $1 ORDER BY sequence")
        .bind(aggregate_id)
        .fetch_all(&s.pool)
        .await
        .expect("events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scheduler_expires_flags_and_alerts_once_per_condition() {
    let s = Stack::start().await;
    let owner = s.token("acct-s", Role::Supplier);
    let admin = s.token("admin-1", Role::Admin);
    let wh = s.token("wh-1", Role::Warehouse);
    let sagas_token = s.service_token("sagas");
    let supplier = s
        .post("/v1/suppliers", &owner, json!({
            "legal_name": "Dairy Farm", "registration_number": "NL-SCH-1", "contact_email": "d@dairy.example",
            "phone": "+31205550111", "categories": ["dairy"],
            "address": {"line1": "Weg 2", "city": "Gouda", "postal_code": "2801 AA", "country": "NL"}}))
        .await["id"].as_str().expect("id").to_owned();
    s.post(
        &format!("/v1/suppliers/{supplier}/documents"),
        &owner,
        json!({"kind": "business_license", "reference": "K-2", "expires_on": "2031-01-01"}),
    )
    .await;
    s.post(
        &format!("/v1/suppliers/{supplier}/approve"),
        &admin,
        json!({}),
    )
    .await;
    let list = |name: &str| {
        json!({"name": name, "category": "dairy", "tags": [], "unit": "piece",
        "price": {"amount_minor": 150, "currency": "EUR"}, "origin_country": "NL", "low_stock_threshold": 10})
    };
    let milk = s
        .post(
            &format!("/v1/suppliers/{supplier}/products"),
            &owner,
            list("Fresh milk"),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let yoghurt = s
        .post(
            &format!("/v1/suppliers/{supplier}/products"),
            &owner,
            list("Yoghurt"),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let warehouse = "0190f0e0-0000-7000-8000-0000000000bb";
    let now = chrono::Utc::now();
    let batch = |product: &str, quantity: i64, expires: chrono::DateTime<chrono::Utc>| {
        json!({
        "product_id": product, "supplier_id": supplier, "warehouse_id": warehouse, "quantity": quantity,
        "received_at": (now - chrono::Duration::hours(1)).to_rfc3339(), "expires_at": expires.to_rfc3339(),
        "cold_chain": true, "procurement_price": {"amount_minor": 80, "currency": "EUR"}})
    };
    let soon = s
        .post(
            "/v1/inventory/batches",
            &wh,
            batch(&milk, 40, now + chrono::Duration::hours(30)),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let later = s
        .post(
            "/v1/inventory/batches",
            &wh,
            batch(&milk, 20, now + chrono::Duration::days(20)),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let short_lived = s
        .post(
            "/v1/inventory/batches",
            &wh,
            batch(&yoghurt, 12, now + chrono::Duration::seconds(2)),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let scheduler_registry = prometheus::Registry::new();
    let scheduler = Scheduler::new(
        s.pool.clone(),
        CommandClient::new(&s.commands, TokenSource::Fixed(sagas_token.clone())).expect("client"),
        SchedulerConfig::default(),
    )
    .await
    .expect("scheduler")
    .with_metrics(SchedulerMetrics::new(&scheduler_registry).expect("metrics"));
    // Wait for the read model to hold the three batches.
    until("batches projected", async || {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM read.batches")
            .fetch_one(&s.pool)
            .await
            .ok()?;
        (n == 3).then_some(())
    })
    .await;

    // The short-lived batch expires (by the server's clock); the 30 h one is flagged once.
    until("the yoghurt batch to expire", async || {
        scheduler.tick(chrono::Utc::now()).await.expect("tick");
        event_types(&s, &short_lived)
            .await
            .contains(&"BatchExpired".to_owned())
            .then_some(())
    })
    .await;
    let types = event_types(&s, &soon).await;
    assert_eq!(
        types.iter().filter(|t| *t == "BatchExpiringSoon").count(),
        1,
        "{types:?}"
    );
    assert!(!event_types(&s, &later)
        .await
        .contains(&"BatchExpiringSoon".to_owned()));
    until("the flag projected", async || {
        let flagged: bool =
            sqlx::query_scalar("SELECT expiring_soon FROM read.batches WHERE id = $1::uuid")
                .bind(&soon)
                .fetch_one(&s.pool)
                .await
                .ok()?;
        flagged.then_some(())
    })
    .await;
    scheduler.tick(chrono::Utc::now()).await.expect("tick");
    let types = event_types(&s, &soon).await;
    assert_eq!(
        types.iter().filter(|t| *t == "BatchExpiringSoon").count(),
        1,
        "flagged once: {types:?}"
    );

    // Milk: 60 on hand, threshold 10. Reserve 55 -> 5 available: LowStock, once.
    let order = uuid::Uuid::new_v4();
    let r: Value = s
        .post(
            &format!("/v1/inventory/batches/{soon}/reservations"),
            &sagas_token,
            json!({"order_id": order, "quantity": 40}),
        )
        .await;
    assert_eq!(r["version"], 3);
    s.post(
        &format!("/v1/inventory/batches/{later}/reservations"),
        &sagas_token,
        json!({"order_id": order, "quantity": 15}),
    )
    .await;
    let alert = domain::stock_alert::stock_alert_id(
        domain::ProductId(uuid::Uuid::parse_str(&milk).expect("uuid")),
        domain::WarehouseId(uuid::Uuid::parse_str(warehouse).expect("uuid")),
    )
    .to_string();
    until("LowStock for milk", async || {
        scheduler.tick(chrono::Utc::now()).await.expect("tick");
        event_types(&s, &alert)
            .await
            .contains(&"LowStock".to_owned())
            .then_some(())
    })
    .await;
    for _ in 0..3 {
        scheduler.tick(chrono::Utc::now()).await.expect("tick");
    }
    assert_eq!(event_types(&s, &alert).await, ["LowStock"]);
    let payload: Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE aggregate_id = $1 AND sequence = 1")
            .bind(&alert)
            .fetch_one(&s.pool)
            .await
            .expect("payload");
    assert_eq!(payload["LowStock"]["available"], "5");
    assert_eq!(payload["LowStock"]["threshold"], "10");

    // The order is cancelled: stock recovers, and the alert re-arms.
    s.post(
        &format!("/v1/inventory/batches/{later}/reservations/{order}/release"),
        &sagas_token,
        json!({}),
    )
    .await;
    until("StockRecovered for milk", async || {
        scheduler.tick(chrono::Utc::now()).await.expect("tick");
        (event_types(&s, &alert).await == ["LowStock", "StockRecovered"]).then_some(())
    })
    .await;
    // Every kind of command it sent is counted as done.
    let exposition = prometheus::TextEncoder::new()
        .encode_to_string(&scheduler_registry.gather())
        .expect("encode");
    for command in ["expire", "expiring_soon", "assess"] {
        let series =
            format!(r#"freshline_scheduler_commands_total{{command="{command}",result="done"}} "#);
        let done: f64 = exposition
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {exposition}"));
        assert!(done >= 1.0, "{command}: {exposition}");
    }
    s.stop.cancel();
}
