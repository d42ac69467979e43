//! Operators' controls through the query API (`/v1/ops`, scopes `ops:read` / `ops:write`):
//! sagas by status, retrying a parked one, and a projection's dead events listed and skipped
//! (the skip recorded with who and why).

use crate::end_to_end::Stack;
use crate::fulfilment::until;
use crate::saga_faults::{insert_saga, offline_saga};
use platform::auth::Role;
use rdkafka::producer::FutureRecord;
use serde_json::{json, Value};
use std::time::Duration;

async fn post(s: &Stack, path: &str, token: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", s.queries))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operators_see_sagas_by_status_and_retry_a_parked_one() {
    let s = Stack::start().await;
    let admin = s.token("admin-1", Role::Admin);
    let supplier = s.token("acct-1", Role::Supplier);
    let saga = offline_saga(s.pool.clone(), Duration::from_secs(30)).await;
    let order = insert_saga(&s.pool, json!({"not": "a saga"})).await;
    assert!(saga.run_one().await.expect("claim"));

    let (code, body, _) = s
        .get(&s.queries, "/v1/ops/sagas?status=parked", &admin)
        .await;
    assert_eq!(code, 200, "{body}");
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(items[0]["order_id"], order.to_string());
    assert_eq!(items[0]["last_error"], "state unreadable");
    let (code, body, _) = s
        .get(&s.queries, "/v1/ops/sagas?status=running", &admin)
        .await;
    assert_eq!(
        (code, body["items"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );
    let (code, body, _) = s
        .get(&s.queries, &format!("/v1/ops/sagas/{order}"), &admin)
        .await;
    assert_eq!(
        (code, &body["state"]),
        (200, &json!({"not": "a saga"})),
        "{body}"
    );

    // Not for suppliers; bad filters and unknown sagas are problems.
    let (code, body, _) = s.get(&s.queries, "/v1/ops/sagas", &supplier).await;
    assert_eq!(code, 403, "{body}");
    let (code, body, _) = s
        .get(&s.queries, "/v1/ops/sagas?status=sleepy", &admin)
        .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (422, Some("validation_failed")),
        "{body}"
    );
    let (code, body) = post(
        &s,
        &format!("/v1/ops/sagas/{}/retry", uuid::Uuid::now_v7()),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (code, body) = post(
        &s,
        &format!("/v1/ops/sagas/{order}/retry"),
        &supplier,
        json!({}),
    )
    .await;
    assert_eq!(code, 403, "{body}");

    // Retried: running and due again; its state is still unreadable, so it parks again.
    let (code, body) = post(
        &s,
        &format!("/v1/ops/sagas/{order}/retry"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    let (status, attempts): (String, i32) =
        sqlx::query_as("SELECT status, attempts FROM fulfilment.sagas WHERE order_id = $1")
            .bind(order)
            .fetch_one(&s.pool)
            .await
            .expect("saga");
    assert_eq!((status.as_str(), attempts), ("running", 0));
    assert!(saga.run_one().await.expect("claim"));
    assert!(!saga.run_one().await.expect("claim"));
    s.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operators_list_and_skip_a_dead_event_and_the_skip_is_recorded() {
    let s = Stack::start().await;
    let admin = s.token("admin-1", Role::Admin);
    let producer =
        platform::kafka::idempotent_producer(&crate::brokers(), "ops-test").expect("producer");
    let topic = schemas::topics::prefixed(&s.topic_prefix, schemas::topics::SUPPLIER);
    producer
        .send(
            FutureRecord::to(&topic).key("poison").payload(b"{not json"),
            Duration::from_secs(10),
        )
        .await
        .expect("sent");
    let dead = until("the poison event to be dead", 30, async || {
        let (code, body, _) = s
            .get(
                &s.queries,
                "/v1/ops/projections/suppliers/dead-events",
                &admin,
            )
            .await;
        assert_eq!(code, 200, "{body}");
        body["items"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(dead["state"], "dead", "{dead}");
    let (code, body, _) = s
        .get(
            &s.queries,
            "/v1/ops/projections/nonesuch/dead-events",
            &admin,
        )
        .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (404, Some("projection_not_found")),
        "{body}"
    );

    let at =
        json!({"topic": dead["topic"], "partition": dead["partition"], "offset": dead["offset"]});
    let mut no_reason = at.clone();
    no_reason["reason"] = json!("  ");
    let (code, body) = post(
        &s,
        "/v1/ops/projections/suppliers/dead-events/skip",
        &admin,
        no_reason,
    )
    .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (422, Some("validation_failed")),
        "{body}"
    );
    let mut skip = at.clone();
    skip["reason"] = json!("not an event: a test producer's garbage");
    let (code, body) = post(
        &s,
        "/v1/ops/projections/suppliers/dead-events/skip",
        &admin,
        skip.clone(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    // Once only: it is no longer dead.
    let (code, body) = post(
        &s,
        "/v1/ops/projections/suppliers/dead-events/skip",
        &admin,
        skip,
    )
    .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (code, body, _) = s
        .get(
            &s.queries,
            "/v1/ops/projections/suppliers/dead-events",
            &admin,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let row = &body["items"][0];
    assert_eq!(row["state"], "skipped", "{body}");
    assert_eq!(row["skipped_by"], "admin-1", "{body}");
    assert_eq!(
        row["skip_reason"],
        "not an event: a test producer's garbage"
    );
    let (code, body) = post(
        &s,
        "/v1/ops/projections/suppliers/dead-events/retry",
        &admin,
        json!({}),
    )
    .await;
    assert_eq!((code, &body["still_dead"]), (200, &json!(0)), "{body}");
    s.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_forces_a_stuck_order_to_compensate_with_a_reason() {
    use crate::fulfilment::{lines, Options, World};
    // No rider on shift: the order waits, paid, for one.
    let w = World::start(Options {
        riders_on_shift: false,
        simulate: None,
        ..Options::default()
    })
    .await;
    let order = w
        .place("cust-1", lines(&w, 1.0, 0), "card", Some("tok_approved"))
        .await;
    w.order_shows(&order, "paid").await;
    let path = format!("/v1/ops/orders/{order}/compensate");
    let supplier = w.s.token("acct-farm", Role::Supplier);
    let (code, body) = w.send(&path, &supplier, json!({"reason": "stuck"})).await;
    assert_eq!(code, 403, "{body}");
    let (code, body) = w.send(&path, &w.admin.clone(), json!({"reason": ""})).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (422, Some("validation_failed")),
        "{body}"
    );
    let (code, body) = w
        .send(
            &path,
            &w.admin.clone(),
            json!({"reason": "no rider for hours; the customer was called"}),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(w.settled(&order, 60).await, "compensated");
    let o = w.refunded_in_full(&order).await;
    assert_eq!(o["cancel_reason"], "admin", "{o}");
    let cancelled = o["timeline"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["event_type"] == "OrderCancelled"))
        .cloned()
        .expect("the cancellation in the timeline");
    assert_eq!(
        cancelled["reason"], "no rider for hours; the customer was called",
        "{cancelled}"
    );
    assert_eq!(cancelled["actor"]["sub"], "admin-1", "{cancelled}");
    w.stop.cancel();
    w.s.stop.cancel();
}
