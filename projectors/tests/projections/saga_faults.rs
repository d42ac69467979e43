//! The fulfilment saga when things around it are wrong: a token that has expired or lacks its
//! scopes (faults, never a "no"), a saga state that cannot be read (parked, not spinning), and
//! a worker that stalls past its lease (taken over, its late write refused).

use crate::fulfilment::{lines, until, Options, World};
use platform::auth::{self, Actor, Role};
use sagas::commands::{CommandClient, TokenSource};
use sagas::fulfilment::{FulfilmentSaga, SagaConfig, SagaMetrics};
use sagas::payments::{HttpCardGateway, HttpCardGatewayConfig};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The saga's stored status and last error.
async fn saga_row(pool: &sqlx::PgPool, order: &str) -> Option<(String, Option<String>)> {
    sqlx::query_as("SELECT status, last_error FROM fulfilment.sagas WHERE order_id = $1::uuid")
        .bind(order)
        .fetch_optional(pool)
        .await
        .ok()?
}

/// The gateway's refunds of the order's payment.
async fn gateway_refunds(w: &World, order: &str) -> usize {
    let o = w.order_shows_any(order).await;
    let payment = o["payment"]["id"].as_str().unwrap_or_default().to_owned();
    w.at_gateway(&payment).await["refunds"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_service_token_is_a_fault_and_the_refund_comes_once_the_token_is_good() {
    let opts = Options {
        saga: false,
        // No rider: the order waits, paid, until the customer cancels.
        riders_on_shift: false,
        simulate: None,
        ..Options::default()
    };
    let w = World::start(opts).await;
    let mut cfg = w.saga_config(&Options::default());
    cfg.group = format!("saga-{}", Uuid::new_v4());
    let (good, task) = w.spawn_saga(&w.s.service_token("sagas"), cfg.clone()).await;
    let order = w
        .place("cust-1", lines(&w, 1.0, 0), "card", Some("tok_approved"))
        .await;
    w.order_shows(&order, "paid").await;
    good.cancel();
    task.await.expect("saga stopped");

    // The saga comes back with a token that expired a minute ago.
    let expired = w.s.sign(&auth::claims(
        "svc-sagas",
        &Actor::Service("sagas".into()),
        auth::service_default_scopes("sagas"),
        -60,
        "test",
    ));
    let (bad, task) = w.spawn_saga(&expired, cfg.clone()).await;
    let t = w.s.token("cust-1", Role::Customer);
    let (s, b) = w
        .send(
            &format!("/v1/orders/{order}/cancel"),
            &t,
            json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let pool = w.s.pool.clone();
    let why = until("the saga to meet the expired token", 30, async || {
        let (status, error) = saga_row(&pool, &order).await?;
        assert_eq!(status, "running", "nothing is decided on a fault");
        error.filter(|e| e.contains("expired"))
    })
    .await;
    assert!(why.contains("service token expired"), "{why}");
    bad.cancel();
    task.await.expect("saga stopped");

    // Then with a token that command-api refuses: no scopes at all (403).
    let scopeless = w.s.sign(&auth::claims(
        "svc-sagas",
        &Actor::Service("sagas".into()),
        &[],
        600,
        "test",
    ));
    let (bad, task) = w.spawn_saga(&scopeless, cfg.clone()).await;
    let why = until("the saga to meet the 403", 30, async || {
        let (status, error) = saga_row(&pool, &order).await?;
        assert_eq!(status, "running", "nothing is decided on a fault");
        // Not `contains("403")`: the previous error's exp timestamp can hold those digits.
        error.filter(|e| e.contains("insufficient_scope"))
    })
    .await;
    assert!(why.contains("insufficient_scope"), "{why}");
    bad.cancel();
    task.await.expect("saga stopped");
    // Nothing was given back, and nothing was given up: the refund is still to do.
    assert_eq!(gateway_refunds(&w, &order).await, 0);
    let state: serde_json::Value =
        sqlx::query_scalar("SELECT state FROM fulfilment.sagas WHERE order_id = $1::uuid")
            .bind(&order)
            .fetch_one(&pool)
            .await
            .expect("saga");
    assert!(
        state["refunds"]
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["requested"] == false)),
        "no refund requested, none dropped: {state}"
    );

    // A good token again: the order is refunded, once.
    let (_good, _task) = w.spawn_saga(&w.s.service_token("sagas"), cfg).await;
    assert_eq!(w.settled(&order, 60).await, "compensated");
    let o = w.refunded_in_full(&order).await;
    assert_eq!(o["cancel_reason"], "customer_request", "{o}");
    assert_eq!(gateway_refunds(&w, &order).await, 1);
    assert_eq!(w.captures_of(&order).await, 1);
    // Every command the saga sent names the event that caused it.
    let timeline = o["timeline"].as_array().expect("timeline");
    let refund = timeline
        .iter()
        .find(|e| e["event_type"] == "RefundRequested")
        .expect("refund requested in the timeline");
    let cause = refund["causation_id"].as_str().expect("causation id");
    let cancelled = timeline
        .iter()
        .find(|e| e["event_type"] == "OrderCancelled")
        .expect("cancellation in the timeline");
    assert_ne!(cause, refund["correlation_id"].as_str().unwrap_or_default());
    assert!(Uuid::parse_str(cause).is_ok(), "{cause}");
    assert_eq!(
        cancelled["causation_id"], cancelled["correlation_id"],
        "a person's command is caused by its request"
    );
    w.ledger_balances_to_zero().await;
    w.stop.cancel();
    w.s.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_card_gateway_holds_back_nothing_but_its_own_orders() {
    let w = World::start(Options {
        gateway_latency: Duration::from_secs(3),
        simulate: None,
        ..Options::default()
    })
    .await;
    for i in 0..20 {
        w.place(
            &format!("cust-{i}"),
            lines(&w, 1.0, 0),
            "card",
            Some("tok_approved"),
        )
        .await;
    }
    // The sagas are waiting on the gateway now: every worker in a 3 s call.
    let pool = w.s.pool.clone();
    until("the sagas to call the gateway", 30, async || {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM fulfilment.sagas WHERE lease_owner IS NOT NULL",
        )
        .fetch_one(&pool)
        .await
        .ok()?;
        (n > 0).then_some(())
    })
    .await;
    for round in 0..3 {
        let started = std::time::Instant::now();
        let id = w
            .ok(
                "/v1/suppliers",
                &w.owner.clone(),
                json!({
                "legal_name": format!("Quick Farm {round}"),
                "registration_number": format!("NL-Q-{}", &Uuid::new_v4().simple().to_string()[..12]),
                "contact_email": "q@farm.example", "phone": "+31205550100", "categories": ["fruit"],
                "address": {"line1": "Dijk 2", "city": "Delft", "postal_code": "2611 AA", "country": "NL"}}),
            )
            .await;
        let (code, body, _) =
            w.s.get(
                &w.s.queries,
                &format!("/v1/suppliers/{id}?min_version=1"),
                &w.admin,
            )
            .await;
        let took = started.elapsed();
        assert_eq!(code, 200, "{body}");
        assert!(
            took < Duration::from_secs(1),
            "registered and readable in {took:?} while the gateway is slow"
        );
    }
    w.stop.cancel();
    w.s.stop.cancel();
}

/// A saga over `pool` that acts through nothing reachable (its steps fail transiently).
pub(crate) async fn offline_saga(pool: sqlx::PgPool, lease: Duration) -> FulfilmentSaga {
    let mut cfg = SagaConfig::new(&crate::brokers());
    cfg.lease = lease;
    let api = CommandClient::new("http://127.0.0.1:9", TokenSource::Fixed("x.y.z".into()))
        .expect("client");
    let gateway = HttpCardGateway::new(&HttpCardGatewayConfig {
        base_url: "http://127.0.0.1:9".into(),
        timeout: Duration::from_millis(200),
    })
    .expect("gateway");
    FulfilmentSaga::new(
        pool,
        api,
        Arc::new(gateway),
        cfg,
        SagaMetrics::new(&prometheus::Registry::new()).expect("metrics"),
    )
    .await
    .expect("saga")
}

/// A stored saga with `state`, due now, with one unapplied inbox event.
pub(crate) async fn insert_saga(pool: &sqlx::PgPool, state: serde_json::Value) -> Uuid {
    let order = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO fulfilment.sagas (order_id, payment_id, delivery_id, status, state, next_at)
         VALUES ($1, $2, $3, 'running', $4, now())",
    )
    .bind(order)
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind(state)
    .execute(pool)
    .await
    .expect("saga");
    sqlx::query("INSERT INTO fulfilment.inbox (event_id, order_id, event) VALUES ($1, $2, $3)")
        .bind(Uuid::now_v7())
        .bind(order)
        .bind(json!("packed"))
        .execute(pool)
        .await
        .expect("inbox");
    order
}

#[tokio::test]
async fn a_saga_whose_state_cannot_be_read_is_parked_and_not_claimed_again() {
    let pool = crate::database().await;
    let saga = offline_saga(pool.clone(), Duration::from_secs(30)).await;
    let order = insert_saga(&pool, json!({"not": "a saga"})).await;
    assert!(
        saga.run_one().await.expect("claim"),
        "the saga is claimed once"
    );
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM fulfilment.sagas WHERE order_id = $1")
            .bind(order)
            .fetch_one(&pool)
            .await
            .expect("saga");
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("parked", Some("state unreadable"))
    );
    // Its unapplied event does not bring it back: nothing to claim, again and again.
    for _ in 0..20 {
        assert!(!saga.run_one().await.expect("claim"));
    }
}

#[tokio::test]
async fn a_worker_stalled_past_its_lease_is_taken_over_and_its_late_write_refused() {
    let pool = crate::database().await;
    let lease = Duration::from_millis(500);
    let stalled = offline_saga(pool.clone(), lease).await;
    let other = offline_saga(pool.clone(), lease).await;
    let fixture: schemas::order::OrderPlacedV1 = serde_json::from_str(include_str!(
        "../../../schemas/fixtures/OrderPlaced.v1.json"
    ))
    .expect("fixture");
    let state = serde_json::to_value(sagas::fulfilment::Saga::start(
        Uuid::now_v7(),
        &fixture,
        chrono::Utc::now(),
    ))
    .expect("state");
    let order = insert_saga(&pool, state).await;

    let first = stalled
        .claim()
        .await
        .expect("claim")
        .expect("the saga is due");
    assert_eq!(first.order_id, order);
    // Leased: nobody else takes it...
    assert!(other.claim().await.expect("claim").is_none());
    // ...until the lease runs out (the worker is stalled, say SIGSTOPped).
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let second = other
        .claim()
        .await
        .expect("claim")
        .expect("the lease ran out: taken over");
    assert_eq!(second.order_id, order);
    assert_ne!(second.lease, first.lease);
    let lease_now: Option<Uuid> =
        sqlx::query_scalar("SELECT lease_owner FROM fulfilment.sagas WHERE order_id = $1")
            .bind(order)
            .fetch_one(&pool)
            .await
            .expect("saga");
    assert_eq!(lease_now, Some(second.lease));
    // The stalled worker wakes up and tries to store what it did: refused.
    assert!(!stalled.advance(first).await.expect("advance"));
    // The new holder's write goes through (its step failed transiently: command-api is
    // unreachable here), and gives the lease back.
    assert!(other.advance(second).await.expect("advance"));
    let (owner, applied): (Option<Uuid>, i64) = sqlx::query_as(
        "SELECT s.lease_owner,
                (SELECT count(*) FROM fulfilment.inbox i WHERE i.order_id = s.order_id AND i.applied_at IS NOT NULL)
           FROM fulfilment.sagas s WHERE s.order_id = $1",
    )
    .bind(order)
    .fetch_one(&pool)
    .await
    .expect("saga");
    assert_eq!((owner, applied), (None, 1));
}
