//! Inventory batches on the write side: receipt checks the product, reservations are
//! idempotent per order, and no interleaving of reservations takes more than a batch holds.

use crate::helpers::{batch_body, product_body, TestApp};
use platform::auth::{Actor, Role};
use serde_json::{json, Value};
use std::sync::Arc;

async fn listed_product(app: &TestApp, owner: &str, number: &str, unit: &str) -> (String, String) {
    let supplier = app.approved_supplier(owner, number).await;
    let mut body = product_body("Carrots");
    body["unit"] = json!(unit);
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{supplier}/products"),
            &app.supplier(owner),
            body,
        )
        .await;
    assert_eq!(s, 201, "{b}");
    (supplier, b["id"].as_str().expect("id").to_owned())
}

fn warehouse(app: &TestApp) -> String {
    app.token(
        "wh-1",
        Actor::Person(Role::Warehouse),
        Role::Warehouse.default_scopes(),
    )
}

#[tokio::test]
async fn receiving_a_batch_checks_the_product_and_its_unit() {
    let app = TestApp::spawn().await;
    let (supplier, kg) = listed_product(&app, "acct-1", "NL-I-1", "kg").await;
    let wh = warehouse(&app);
    let (s, b) = app
        .post(
            "/v1/inventory/batches",
            &wh,
            batch_body(&kg, &supplier, json!(12.5)),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_str().expect("id");
    let events = app.db.events_of(id).await;
    assert_eq!(events[0].2["BatchReceived"]["quantity"], "12.5");

    let (_, pieces) = listed_product(&app, "acct-2", "NL-I-2", "piece").await;
    let pieces_supplier = app.db.events_of(&pieces).await[0].2["ProductListed"]["supplier_id"]
        .as_str()
        .expect("supplier")
        .to_owned();
    let before = app.db.event_count().await;
    let mut early = batch_body(&kg, &supplier, json!(3));
    early["expires_at"] = json!("2026-11-19T06:00:00Z");
    for (body, field) in [
        (
            batch_body(&pieces, &pieces_supplier, json!(2.5)),
            "quantity",
        ),
        (batch_body(&kg, &supplier, json!(0)), "quantity"),
        (batch_body(&kg, &supplier, json!(1.0001)), "quantity"),
        (batch_body(&kg, &pieces_supplier, json!(3)), "supplier_id"),
        (
            batch_body(&uuid::Uuid::new_v4().to_string(), &supplier, json!(3)),
            "product_id",
        ),
        (early, "expires_at"),
    ] {
        let (s, b) = app.post("/v1/inventory/batches", &wh, body.clone()).await;
        assert_eq!(
            (s, b["fields"][0]["field"].clone()),
            (422, json!(field)),
            "{body}: {b}"
        );
    }
    let customer = app.token(
        "c-1",
        Actor::Person(Role::Customer),
        Role::Customer.default_scopes(),
    );
    let (s, _) = app
        .post(
            "/v1/inventory/batches",
            &customer,
            batch_body(&kg, &supplier, json!(3)),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(app.db.event_count().await, before);
}

#[tokio::test]
async fn reservations_are_idempotent_per_order_and_never_overdraw() {
    let app = TestApp::spawn().await;
    let (supplier, product) = listed_product(&app, "acct-1", "NL-I-3", "kg").await;
    let (_, b) = app
        .post(
            "/v1/inventory/batches",
            &warehouse(&app),
            batch_body(&product, &supplier, json!(10)),
        )
        .await;
    let batch = b["id"].as_str().expect("id").to_owned();
    let sagas = app.service("sagas");
    let path = format!("/v1/inventory/batches/{batch}/reservations");
    let order_a = uuid::Uuid::new_v4();
    let (s, b) = app
        .post(&path, &sagas, json!({"order_id": order_a, "quantity": 4}))
        .await;
    assert_eq!((s, b["version"].clone()), (202, json!(2)), "{b}");
    let (s, b) = app
        .post(&path, &sagas, json!({"order_id": order_a, "quantity": 4}))
        .await;
    assert_eq!(
        (s, b["version"].clone()),
        (202, json!(2)),
        "the same reservation again: {b}"
    );
    let (s, b) = app
        .post(&path, &sagas, json!({"order_id": order_a, "quantity": 5}))
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (409, json!("reservation_mismatch")),
        "{b}"
    );
    let (s, b) = app
        .post(
            &path,
            &sagas,
            json!({"order_id": uuid::Uuid::new_v4(), "quantity": 6.5}),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone(), b["available"].clone()),
        (409, json!("insufficient_stock"), json!("6")),
        "{b}"
    );
    // A person cannot reserve, whatever their scopes.
    let (s, _) = app
        .post(
            &path,
            &app.admin(),
            json!({"order_id": order_a, "quantity": 1}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .post(&format!("{path}/{order_a}/commit"), &sagas, json!({}))
        .await;
    assert_eq!(s, 202);
    let (s, b) = app
        .post(
            &format!("/v1/inventory/batches/{batch}/spoilage"),
            &warehouse(&app),
            json!({"quantity": 7, "reason": "damaged"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (409, json!("insufficient_stock")),
        "{b}"
    );
    let (s, b) = app
        .post(
            &format!("/v1/inventory/batches/{batch}/spoilage"),
            &warehouse(&app),
            json!({"quantity": 1.5, "reason": "mould"}),
        )
        .await;
    assert_eq!(
        (s, b["fields"][0]["field"].clone()),
        (422, json!("reason")),
        "{b}"
    );
    let (s, b) = app
        .post(
            &format!("/v1/inventory/batches/{batch}/expire"),
            &warehouse(&app),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (409, json!("not_yet_expired")),
        "{b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_hammering_one_batch_never_take_more_than_it_holds() {
    let app = Arc::new(TestApp::spawn_with_rate(10_000.0, 10_000.0).await);
    let (supplier, product) = listed_product(&app, "acct-1", "NL-I-4", "kg").await;
    let (_, b) = app
        .post(
            "/v1/inventory/batches",
            &warehouse(&app),
            batch_body(&product, &supplier, json!(100)),
        )
        .await;
    let batch = b["id"].as_str().expect("id").to_owned();
    let sagas = app.service("sagas");
    // 60 orders of 2.5 kg each (150 kg asked of 100 kg), 60 tasks at once, each retrying on
    // a concurrent modification as a client would.
    let tasks: Vec<_> = (0..60)
        .map(|_| {
            let (app, sagas, batch) = (app.clone(), sagas.clone(), batch.clone());
            tokio::spawn(async move {
                let order = uuid::Uuid::new_v4();
                loop {
                    let (s, b) = app
                        .post(
                            &format!("/v1/inventory/batches/{batch}/reservations"),
                            &sagas,
                            json!({"order_id": order, "quantity": 2.5}),
                        )
                        .await;
                    match (s, b["code"].as_str()) {
                        (202, _) => return true,
                        (409, Some("concurrent_modification")) => continue,
                        (409, Some("insufficient_stock")) => return false,
                        other => panic!("unexpected {other:?}: {b}"),
                    }
                }
            })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        if t.await.expect("task") {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 40, "exactly 100 kg / 2.5 kg reservations fit");
    let events = app.db.events_of(&batch).await;
    let reserved = events.iter().filter(|e| e.1 == "StockReserved").count();
    assert_eq!(reserved, 40);
    // The stream replays to the same state: nothing available, nothing negative.
    let sequences: Vec<i64> = events.iter().map(|e| e.0).collect();
    assert_eq!(sequences, (1..=41).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_bulk_receipt_checks_every_batch_and_appends_all_or_nothing() {
    let app = TestApp::spawn().await;
    let (supplier, kg) = listed_product(&app, "acct-1", "NL-I-B1", "kg").await;
    let (_, pieces) = listed_product(&app, "acct-2", "NL-I-B2", "piece").await;
    let wh = warehouse(&app);
    let before = app.db.event_count().await;
    let (s, b) = app
        .post(
            "/v1/inventory/batches/bulk",
            &wh,
            json!({"batches": [batch_body(&kg, &supplier, json!(5)), batch_body(&pieces, &supplier, json!(3)),
                               batch_body(&kg, &supplier, json!(2.0005))]}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let fields: Vec<&str> = b["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["batches[1].supplier_id", "batches[2].quantity"],
        "{b}"
    );
    assert_eq!(app.db.event_count().await, before);
    let batches: Vec<Value> = (1..=40)
        .map(|q| batch_body(&kg, &supplier, json!(q)))
        .collect();
    let (s, b) = app
        .post(
            "/v1/inventory/batches/bulk",
            &wh,
            json!({"batches": batches}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["items"].as_array().map(Vec::len), Some(40));
    assert_eq!(app.db.event_count().await, before + 40);
    let too_many: Vec<Value> = (0..101)
        .map(|_| batch_body(&kg, &supplier, json!(1)))
        .collect();
    let (s, _) = app
        .post(
            "/v1/inventory/batches/bulk",
            &wh,
            json!({"batches": too_many}),
        )
        .await;
    assert!(s == 422 || s == 413, "{s}");
}
