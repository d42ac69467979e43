//! The catalog's write side: listing needs an approved supplier; owners change their own
//! products; bad input is named; image outcomes come only from the image worker.

use crate::helpers::{product_body, TestApp};
use platform::auth::{Actor, Role};
use serde_json::json;

#[tokio::test]
async fn an_approved_supplier_lists_updates_and_discontinues_a_product() {
    let app = TestApp::spawn().await;
    let supplier = app.approved_supplier("acct-1", "NL-P-1").await;
    let owner = app.supplier("acct-1");
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{supplier}/products"),
            &owner,
            product_body("Elstar apples"),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_str().expect("id").to_owned();
    assert_eq!(b["version"], 1);
    let events = app.db.events_of(&id).await;
    let listed = &events[0].2["ProductListed"];
    assert_eq!(
        listed["price"],
        json!({"amount_minor": 349, "currency": "EUR"})
    );
    assert_eq!(listed["nutrition"]["protein_g"], "0.3");
    assert_eq!(listed["low_stock_threshold"], "10");
    assert_eq!(listed["tags"], json!(["local", "organic"]));

    let (s, b) = app
        .patch(
            &format!("/v1/products/{id}"),
            &owner,
            json!({"price": {"amount_minor": 299, "currency": "EUR"}}),
        )
        .await;
    assert_eq!((s, b["version"].clone()), (202, json!(2)), "{b}");
    // The same values again change nothing.
    let (s, b) = app
        .patch(
            &format!("/v1/products/{id}"),
            &owner,
            json!({"price": {"amount_minor": 299, "currency": "EUR"}}),
        )
        .await;
    assert_eq!((s, b["version"].clone()), (202, json!(2)), "{b}");

    // Another supplier account may not touch it.
    let (s, b) = app
        .patch(
            &format!("/v1/products/{id}"),
            &app.supplier("acct-2"),
            json!({"name": "Mine now"}),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (403, json!("not_owner")), "{b}");

    let (s, _) = app
        .post(
            &format!("/v1/products/{id}/discontinue"),
            &owner,
            json!({"reason": "end of season"}),
        )
        .await;
    assert_eq!(s, 202);
    let (s, b) = app
        .patch(
            &format!("/v1/products/{id}"),
            &owner,
            json!({"name": "Elstar"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (409, json!("product_discontinued")),
        "{b}"
    );
}

#[tokio::test]
async fn only_an_approved_supplier_lists_products() {
    let app = TestApp::spawn().await;
    let pending = app.register("acct-1", "NL-P-2").await;
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{pending}/products"),
            &app.supplier("acct-1"),
            product_body("Pears"),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone(), b["supplier_status"].clone()),
        (409, json!("supplier_not_active"), json!("pending")),
        "{b}"
    );
    let approved = app.approved_supplier("acct-3", "NL-P-3").await;
    let (s, _) = app
        .post(
            &format!("/v1/suppliers/{approved}/suspend"),
            &app.admin(),
            json!({"reason": "audit pending", "reason_code": "compliance"}),
        )
        .await;
    assert_eq!(s, 202);
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{approved}/products"),
            &app.supplier("acct-3"),
            product_body("Pears"),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (409, json!("supplier_not_active")),
        "{b}"
    );
    let unknown = uuid::Uuid::new_v4();
    let (s, _) = app
        .post(
            &format!("/v1/suppliers/{unknown}/products"),
            &app.admin(),
            product_body("Pears"),
        )
        .await;
    assert_eq!(s, 404);
    // Someone else's supplier.
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{approved}/products"),
            &app.supplier("acct-9"),
            product_body("Pears"),
        )
        .await;
    assert!(s == 403 || s == 409, "{s} {b}");
    assert_eq!(app.db.event_count().await, 5);
}

#[tokio::test]
async fn bad_product_input_is_named_and_appends_nothing() {
    let app = TestApp::spawn().await;
    let supplier = app.approved_supplier("acct-1", "NL-P-4").await;
    let owner = app.supplier("acct-1");
    let before = app.db.event_count().await;
    let path = format!("/v1/suppliers/{supplier}/products");
    for (patch, field) in [
        (
            json!({"low_stock_threshold": 1.2345}),
            "low_stock_threshold",
        ),
        (json!({"tags": ["organic", "cheap"]}), "tags[1]"),
        (json!({"unit": "litre"}), "unit"),
        (
            json!({"price": {"amount_minor": -5, "currency": "EUR"}}),
            "price",
        ),
        (
            json!({"price": {"amount_minor": 5, "currency": "euro"}}),
            "price",
        ),
        (json!({"origin_country": "XX"}), "origin_country"),
        (json!({"name": "x"}), "name"),
        (
            json!({"nutrition": {"energy_kcal": 5000, "protein_g": 1, "carbs_g": 1, "fat_g": 1, "fiber_g": 1}}),
            "nutrition.energy_kcal",
        ),
        (json!({"category": "meat"}), "category"),
    ] {
        let mut body = product_body("Plums");
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        let (s, b) = app.post(&path, &owner, body).await;
        assert_eq!(s, 422, "{patch}: {b}");
        assert_eq!(b["fields"][0]["field"], field, "{patch}: {b}");
    }
    let (s, b) = app
        .patch(
            &format!("/v1/products/{}", uuid::Uuid::new_v4()),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (422, json!("validation_failed")),
        "{b}"
    );
    assert_eq!(app.db.event_count().await, before);
}

#[tokio::test]
async fn image_outcomes_are_recorded_only_by_the_image_worker() {
    let app = TestApp::spawn().await;
    let supplier = app.approved_supplier("acct-1", "NL-P-5").await;
    let (_, b) = app
        .post(
            &format!("/v1/suppliers/{supplier}/products"),
            &app.supplier("acct-1"),
            product_body("Kale"),
        )
        .await;
    let id = b["id"].as_str().expect("id").to_owned();
    let image = uuid::Uuid::new_v4();
    let body = json!({"reason": "not an image"});
    let path = format!("/v1/products/{id}/images/{image}/failed");
    for token in [
        app.admin(),
        app.supplier("acct-1"),
        app.token(
            "d",
            Actor::Service("delivery".into()),
            &["deliveries:update"],
        ),
        app.token("r", Actor::Person(Role::Rider), &["catalog:images"]),
    ] {
        let (s, b) = app.post(&path, &token, body.clone()).await;
        assert_eq!(
            (s, b["code"].clone()),
            (403, json!("insufficient_scope")),
            "{b}"
        );
    }
    // The worker itself, for an image that was never uploaded: 404.
    let (s, b) = app.post(&path, &app.service("sagas"), body).await;
    assert_eq!(s, 404, "{b}");
}

#[tokio::test]
async fn a_bulk_listing_is_all_or_nothing_and_names_the_bad_item() {
    let app = TestApp::spawn().await;
    let supplier = app.approved_supplier("acct-1", "NL-P-B1").await;
    let owner = app.supplier("acct-1");
    let path = format!("/v1/suppliers/{supplier}/products/bulk");
    let before = app.db.event_count().await;
    let mut bad = product_body("Broken");
    bad["unit"] = json!("litre");
    let (s, b) = app
        .post(
            &path,
            &owner,
            json!({"products": [product_body("A1"), bad, product_body("A3")]}),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["field"].clone()),
        (422, json!("products[1].unit")),
        "{b}"
    );
    let (s, b) = app.post(&path, &owner, json!({"products": []})).await;
    assert_eq!(
        (s, b["fields"][0]["field"].clone()),
        (422, json!("products")),
        "{b}"
    );
    let (s, b) = app
        .post(
            &path,
            &app.supplier("acct-2"),
            json!({"products": [product_body("A1")]}),
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(app.db.event_count().await, before);

    let items: Vec<serde_json::Value> = (0..30)
        .map(|i| product_body(&format!("Apple {i}")))
        .collect();
    let (s, b) = app.post(&path, &owner, json!({"products": items})).await;
    assert_eq!(s, 201, "{b}");
    let ids = b["items"].as_array().expect("items");
    assert_eq!(ids.len(), 30);
    assert!(ids.iter().all(|i| i["version"] == 1));
    let events = app.db.events_of(ids[7]["id"].as_str().expect("id")).await;
    assert_eq!(events[0].2["ProductListed"]["name"], "Apple 7");
    assert_eq!(app.db.event_count().await, before + 30);
    // Every appended product is chained like a single append.
    let report = platform::store::verify_chains(&app.db.pool, &Default::default(), |_| {})
        .await
        .expect("verify");
    assert!(report.broken.is_empty(), "{:?}", report.broken);
}
