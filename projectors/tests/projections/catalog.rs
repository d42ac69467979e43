//! The catalog read models through the whole path: commands, relay, catalog projection, query
//! API (search, product, stock, batches, spoilage), including a supplier's suspension making
//! its products unorderable.

use crate::end_to_end::Stack;
use platform::auth::{Actor, Role};
use serde_json::{json, Value};

async fn eventually(s: &Stack, path: &str, token: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, body, _) = s.get(&s.queries, path, token).await;
        if status == 200 && ok(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn products_stock_and_spoilage_are_searchable_and_follow_the_supplier() {
    let s = Stack::start().await;
    let owner = s.token("acct-c", Role::Supplier);
    let admin = s.token("admin-1", Role::Admin);
    let customer = s.token("cust-1", Role::Customer);
    let supplier = s
        .post("/v1/suppliers", &owner, json!({
            "legal_name": "Orchard Co", "registration_number": "NL-CAT-1", "contact_email": "o@orchard.example",
            "phone": "+31205550199", "categories": ["fruit"],
            "address": {"line1": "Laan 1", "city": "Utrecht", "postal_code": "3511 AA", "country": "NL"}}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.post(
        &format!("/v1/suppliers/{supplier}/documents"),
        &owner,
        json!({"kind": "business_license", "reference": "K-1", "expires_on": "2031-01-01"}),
    )
    .await;
    s.post(
        &format!("/v1/suppliers/{supplier}/approve"),
        &admin,
        json!({}),
    )
    .await;
    let mut ids = Vec::new();
    for (name, tags, price) in [
        ("Organic strawberries", json!(["organic", "seasonal"]), 499),
        ("Conference pears", json!(["local"]), 259),
        ("Blood oranges", json!(["imported"]), 399),
    ] {
        let r = s
            .post(
                &format!("/v1/suppliers/{supplier}/products"),
                &owner,
                json!({
                "name": name, "category": "fruit", "tags": tags, "unit": "kg",
                "price": {"amount_minor": price, "currency": "EUR"}, "origin_country": "NL"}),
            )
            .await;
        ids.push(r["id"].as_str().expect("id").to_owned());
    }
    let warehouse = s.token("wh-1", Role::Warehouse);
    let wh_id = "0190f0e0-0000-7000-8000-0000000000aa";
    let batch = s
        .post(
            "/v1/inventory/batches",
            &warehouse,
            json!({
            "product_id": ids[0], "supplier_id": supplier, "warehouse_id": wh_id, "quantity": 40,
            "received_at": "2026-11-20T06:00:00Z", "expires_at": "2030-01-01T00:00:00Z",
            "cold_chain": true, "procurement_price": {"amount_minor": 200, "currency": "EUR"}}),
        )
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.post(
        &format!("/v1/inventory/batches/{batch}/spoilage"),
        &warehouse,
        json!({"quantity": 2.5, "reason": "damaged"}),
    )
    .await;

    // Full text over name and tags, with stemming; in_stock; orderable.
    let page = eventually(&s, "/v1/products?q=strawberry", &customer, |b| {
        b["items"]
            .as_array()
            .is_some_and(|i| i.len() == 1 && i[0]["available"] == "37.5")
    })
    .await;
    assert_eq!(page["items"][0]["orderable"], true);
    assert_eq!(page["items"][0]["in_stock"], true);
    assert_eq!(page["items"][0]["supplier_name"], "Orchard Co");
    let page = eventually(&s, "/v1/products?tag=local", &customer, |b| {
        b["items"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    assert_eq!(page["items"][0]["name"], "Conference pears");
    let page = eventually(&s, "/v1/products?q=organic", &customer, |b| {
        b["items"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    assert_eq!(page["items"][0]["id"], ids[0]);
    let (_, page, _) = s
        .get(
            &s.queries,
            "/v1/products?in_stock=true&sort=price_asc",
            &customer,
        )
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    // The public catalog: no token needed (a storefront browses before login); a bad token
    // is still refused, and stock is not public.
    let anonymous = reqwest::Client::new();
    let r = anonymous
        .get(format!("{}/v1/products?q=strawberry", s.queries))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let page: serde_json::Value = r.json().await.expect("json");
    assert_eq!(page["items"][0]["id"], ids[0]);
    let r = anonymous
        .get(format!("{}/v1/products/{}", s.queries, ids[0]))
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let r = anonymous
        .get(format!(
            "{}/v1/inventory/stock?product_id={}",
            s.queries, ids[0]
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);

    // Stock that keeps a year (the batch expires in 2030); more than a year is refused.
    let (_, page, _) = s
        .get(&s.queries, "/v1/products?min_days_to_expiry=365", &customer)
        .await;
    let found: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(found, [ids[0].as_str()]);
    let (status, body, _) = s
        .get(&s.queries, "/v1/products?min_days_to_expiry=366", &customer)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let (_, page, _) = s
        .get(
            &s.queries,
            &format!("/v1/products?supplier_id={supplier}&sort=price_asc&limit=2"),
            &customer,
        )
        .await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, ["Conference pears", "Blood oranges"]);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (_, page, _) = s
        .get(
            &s.queries,
            &format!("/v1/products?supplier_id={supplier}&sort=price_asc&limit=2&cursor={cursor}"),
            &customer,
        )
        .await;
    assert_eq!(page["items"][0]["name"], "Organic strawberries");
    assert!(page["next_cursor"].is_null());
    let (_, page, _) = s
        .get(
            &s.queries,
            "/v1/products?min_price=300&max_price=450",
            &customer,
        )
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));

    // Stock, batches, spoilage.
    let (status, stock, _) = s
        .get(
            &s.queries,
            &format!("/v1/inventory/stock?product_id={}", ids[0]),
            &warehouse,
        )
        .await;
    assert_eq!(status, 200, "{stock}");
    assert_eq!(
        (stock[0]["on_hand"].clone(), stock[0]["available"].clone()),
        (json!("37.5"), json!("37.5"))
    );
    let (_, spoilage, _) = s
        .get(&s.queries, "/v1/inventory/spoilage", &warehouse)
        .await;
    assert_eq!(
        spoilage[0],
        json!({"reason": "damaged", "records": 1, "quantity": "2.5", "value_lost_minor": 500, "currency": "EUR"})
    );
    let (_, soon, _) = s
        .get(
            &s.queries,
            "/v1/inventory/batches?expiring_within=48",
            &warehouse,
        )
        .await;
    assert_eq!(soon, json!([]));
    let (_, aging, _) = s.get(&s.queries, "/v1/inventory/aging", &warehouse).await;
    assert_eq!(aging[0]["bucket"], "7d+");
    // API.md's analytics routes answer the same.
    let (status, report, _) = s
        .get(
            &s.queries,
            "/v1/analytics/spoilage?from=2026-01-01&to=2030-12-31",
            &warehouse,
        )
        .await;
    assert_eq!((status, report), (200, spoilage.clone()));
    let (status, report, _) = s
        .get(&s.queries, "/v1/analytics/inventory-aging", &warehouse)
        .await;
    assert_eq!((status, report), (200, aging.clone()));
    let (status, report, _) = s
        .get(
            &s.queries,
            "/v1/analytics/spoilage?from=2026-12-02&to=2026-12-01",
            &warehouse,
        )
        .await;
    assert_eq!(
        (status, report["code"].clone()),
        (422, json!("validation_failed"))
    );
    // A supplier account reads its own batches, stock, spoilage and procurement prices, and
    // nothing of another supplier's.
    // (Which batches are its own comes from the supplier directory, another projection than
    // the catalog waited for above: wait for it too.)
    let mine = eventually(&s, "/v1/inventory/batches", &owner, |b| {
        b.as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    assert_eq!(mine[0]["procurement_price_minor"], 200);
    let competitor = s.token("acct-other", Role::Supplier);
    for path in [
        "/v1/inventory/batches".to_owned(),
        format!("/v1/inventory/stock?product_id={}", ids[0]),
        "/v1/inventory/aging".to_owned(),
        "/v1/inventory/spoilage".to_owned(),
        "/v1/analytics/spoilage".to_owned(),
        "/v1/analytics/inventory-aging".to_owned(),
    ] {
        let (status, body, _) = s.get(&s.queries, &path, &competitor).await;
        assert_eq!((status, body.clone()), (200, json!([])), "{path}: {body}");
    }
    let (_, theirs, _) = s.get(&s.queries, "/v1/analytics/spoilage", &owner).await;
    assert_eq!(theirs, spoilage);
    // A customer does not read inventory.
    assert_eq!(
        s.get(&s.queries, "/v1/inventory/stock?product_id=x", &customer)
            .await
            .0,
        403
    );

    // An image: 202 at once, processed by the worker (from Kafka), visible at its status URL
    // and on the product.
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    })
    .write_to(&mut png, image::ImageFormat::Png)
    .expect("png");
    let upload = reqwest::Client::new()
        .post(format!("{}/v1/products/{}/images", s.commands, ids[0]))
        .bearer_auth(&owner)
        .header("content-type", "image/png")
        .body(png.into_inner())
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status().as_u16(), 202);
    let accepted: Value = upload.json().await.expect("json");
    let worker = sagas::image_worker::ImageWorker::new(
        &crate::brokers(),
        &s.topic_prefix,
        &format!("images-{}", uuid::Uuid::new_v4()),
        std::sync::Arc::new(platform::blobs::LocalDirStore::new(
            std::env::temp_dir().join("freshline-blobs-e2e"),
        )),
        sagas::commands::CommandClient::new(
            &s.commands,
            sagas::commands::TokenSource::Fixed(s.service_token("sagas")),
        )
        .expect("client"),
    )
    .expect("worker");
    let stop_worker = s.stop.clone();
    tokio::spawn(async move { worker.run(stop_worker).await.expect("worker") });
    let status_url = accepted["status_url"]
        .as_str()
        .expect("status url")
        .to_owned();
    let image = eventually(&s, &status_url, &customer, |b| b["status"] == "ready").await;
    assert_eq!(
        (
            image["medium"]["width"].clone(),
            image["thumbnail"]["height"].clone()
        ),
        (json!(640), json!(120))
    );
    let view = eventually(&s, &format!("/v1/products/{}", ids[0]), &customer, |b| {
        b["images"].as_array().is_some_and(|i| !i.is_empty())
    })
    .await;
    assert_eq!(view["images"][0]["status"], "ready");

    // The supplier is suspended: its products stay listed but are not orderable.
    s.post(
        &format!("/v1/suppliers/{supplier}/suspend"),
        &admin,
        json!({"reason": "audit", "reason_code": "compliance"}),
    )
    .await;
    let view = eventually(&s, &format!("/v1/products/{}", ids[1]), &customer, |b| {
        b["supplier_status"] == "suspended"
    })
    .await;
    assert_eq!(view["orderable"], false);
    assert_eq!(view["images"], json!([]));

    // Bad queries are named.
    for bad in [
        "/v1/products?sort=cheapest",
        "/v1/products?tag=cheap",
        "/v1/products?limit=0",
        "/v1/products?min_price=-1",
        "/v1/products?cursor=zz",
        "/v1/products?origin=nl",
        "/v1/inventory/batches?expiring_within=0",
        "/v1/inventory/stock",
    ] {
        let token = if bad.contains("inventory") {
            &warehouse
        } else {
            &customer
        };
        let (status, body, _) = s.get(&s.queries, bad, token).await;
        assert_eq!(
            (status, body["code"].clone()),
            (422, json!("validation_failed")),
            "{bad}: {body}"
        );
    }
    let _ = Actor::Person(Role::Admin);
    s.stop.cancel();
}

fn event(aggregate_type: &str, id: &str, seq: i64, event_type: &str, payload: Value) -> Value {
    json!({
        "event_id": uuid::Uuid::now_v7(), "aggregate_type": aggregate_type, "aggregate_id": id,
        "sequence": seq, "global_position": seq, "event_type": event_type, "event_version": 1,
        "occurred_at": "2026-11-21T10:00:00Z", "metadata": {"actor_sub": "wh-1"}, "payload": payload,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_is_counted_once_whatever_the_order_and_redelivery() {
    let pool = crate::database().await;
    let stream = crate::Stream::new().await;
    let product = uuid::Uuid::now_v7().to_string();
    let supplier = uuid::Uuid::now_v7().to_string();
    let warehouse = uuid::Uuid::now_v7().to_string();
    let batch = |n: i64| uuid::Uuid::from_u128(u128::try_from(n).unwrap_or(0) + 7).to_string();
    let received = |n: i64, q: &str| {
        event(
            "InventoryBatch",
            &batch(n),
            1,
            "BatchReceived",
            json!({
        "batch_id": batch(n), "product_id": product, "supplier_id": supplier, "warehouse_id": warehouse,
        "quantity": q, "received_at": "2026-11-20T06:00:00Z", "expires_at": "2030-01-01T00:00:00Z",
        "cold_chain": false, "procurement_price": {"amount_minor": 100, "currency": "EUR"}}),
        )
    };
    let listed = event(
        "Product",
        &product,
        1,
        "ProductListed",
        json!({
        "product_id": product, "supplier_id": supplier, "owner": "acct-1", "name": "Quince", "category": "fruit",
        "tags": ["local"], "unit": "kg", "price": {"amount_minor": 399, "currency": "EUR"}, "origin_country": "NL",
        "nutrition": null, "low_stock_threshold": "10"}),
    );
    let reserved = event(
        "InventoryBatch",
        &batch(1),
        2,
        "StockReserved",
        json!({"order_id": uuid::Uuid::now_v7(), "quantity": "2.5"}),
    );
    // Stock arrives (another topic) before the listing; then everything is delivered again.
    let all = [
        received(1, "10"),
        received(2, "4.25"),
        reserved,
        listed,
        received(3, "1"),
    ];
    for e in all.iter().chain(all.iter()) {
        stream.send_to_its_topic(e).await;
    }
    let runner = crate::runner_for(
        std::sync::Arc::new(projectors::catalog::CatalogProjection),
        &pool,
        &stream,
        "read",
    );
    let (stop, handle) = crate::start(runner);
    crate::until_count(
        &pool,
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM read_catalog_g1.projection_offsets",
        10,
    )
    .await;
    let (available, batches): (String, i64) = sqlx::query_as(
        "SELECT trim_scale(available)::text, (SELECT count(*) FROM read.batches) FROM read.products",
    )
    .fetch_one(&pool)
    .await
    .expect("product");
    assert_eq!((available.as_str(), batches), ("12.75", 3));
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM read_catalog_g1.dead_events")
        .fetch_one(&pool)
        .await
        .expect("dead");
    assert_eq!(dead, 0);
    stop.cancel();
    handle.await.expect("stopped");
}
