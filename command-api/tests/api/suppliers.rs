//! The supplier routes: lifecycle, refusals, idempotency, concurrency, metadata.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn a_supplier_goes_through_its_whole_lifecycle() {
    let app = TestApp::spawn().await;
    let owner = app.supplier("acct-1");
    let admin = app.admin();
    let (s, b) = app
        .post("/v1/suppliers", &owner, supplier_body("NL-100"))
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["version"], 1);
    let id = b["id"].as_str().expect("id");

    let steps = [
        ("documents", &owner, licence(), 2),
        ("approve", &admin, json!({"note": "checked"}), 3),
        ("suspend", &admin, json!({"reason": "cold chain broken"}), 4),
        ("reinstate", &admin, json!({}), 5),
    ];
    for (step, token, body, version) in steps {
        let (s, b) = app
            .post(&format!("/v1/suppliers/{id}/{step}"), token, body)
            .await;
        assert_eq!(s, 202, "{step}: {b}");
        assert_eq!(b["version"], version, "{step}");
        assert_eq!(b["id"], id);
    }
    let types: Vec<String> = app
        .db
        .events_of(id)
        .await
        .into_iter()
        .map(|e| e.1)
        .collect();
    assert_eq!(
        types,
        [
            "SupplierRegistered",
            "SupplierDocumentSubmitted",
            "SupplierApproved",
            "SupplierSuspended",
            "SupplierReinstated"
        ]
    );
}

#[tokio::test]
async fn creation_answers_201_with_a_location_to_read_it() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(format!("{}/v1/suppliers", app.base))
        .bearer_auth(app.supplier("acct-1"))
        .json(&supplier_body("NL-101"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 201);
    let location = r.headers()["location"].to_str().expect("ascii").to_owned();
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        location,
        format!("/v1/suppliers/{}", body["id"].as_str().expect("id"))
    );
}

#[tokio::test]
async fn an_invalid_transition_names_the_current_status() {
    let app = TestApp::spawn().await;
    let id = app.register("acct-1", "NL-102").await;
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{id}/suspend"),
            &app.admin(),
            json!({"reason": "testing it"}),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(b["code"], "invalid_transition");
    assert_eq!(b["current_status"], "pending");
    assert_eq!(b["status"], 409);
    assert_eq!(app.db.events_of(&id).await.len(), 1);
}

#[tokio::test]
async fn approval_without_a_licence_is_verification_incomplete() {
    let app = TestApp::spawn().await;
    let id = app.register("acct-1", "NL-103").await;
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{id}/approve"),
            &app.admin(),
            json!({}),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(b["code"], "verification_incomplete");
    assert_eq!(b["missing_documents"], json!(["business_license"]));
}

#[tokio::test]
async fn rejection_needs_a_reason_and_is_final() {
    let app = TestApp::spawn().await;
    let id = app.register("acct-1", "NL-104").await;
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{id}/reject"),
            &app.admin(),
            json!({}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["fields"][0]["field"], "reason");
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{id}/reject"),
            &app.admin(),
            json!({"reason": "  "}),
        )
        .await;
    assert_eq!((s, b["fields"][0]["field"].clone()), (422, json!("reason")));
    let (s, _) = app
        .post(
            &format!("/v1/suppliers/{id}/reject"),
            &app.admin(),
            json!({"reason": "forged licence"}),
        )
        .await;
    assert_eq!(s, 202);
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{id}/approve"),
            &app.admin(),
            json!({}),
        )
        .await;
    assert_eq!((s, b["current_status"].clone()), (409, json!("rejected")));
}

#[tokio::test]
async fn a_registration_number_in_use_is_a_duplicate_whatever_its_spelling() {
    let app = TestApp::spawn().await;
    app.register("acct-1", "NL-105").await;
    for spelling in [" nl-105 ", "NL105", "nl.105", "NL/105"] {
        let (s, b) = app
            .post(
                "/v1/suppliers",
                &app.supplier("acct-2"),
                supplier_body(spelling),
            )
            .await;
        assert_eq!(s, 409, "{spelling}");
        assert_eq!(b["code"], "duplicate_registration", "{spelling}");
    }
}

#[tokio::test]
async fn rejected_supplier_cannot_reapply_with_same_registration() {
    let app = TestApp::spawn().await;
    let id = app.register("acct-1", "NL-106").await;
    let (s, _) = app
        .post(
            &format!("/v1/suppliers/{id}/reject"),
            &app.admin(),
            json!({"reason": "forged licence"}),
        )
        .await;
    assert_eq!(s, 202);
    for attempt in ["NL-106", "NL.106"] {
        let (s, b) = app
            .post(
                "/v1/suppliers",
                &app.supplier("acct-1"),
                supplier_body(attempt),
            )
            .await;
        assert_eq!(s, 409, "attempt {attempt}");
        assert_eq!(b["code"], "credentials_blocked");
    }
    // The number stays claimed by the rejected supplier: nobody else can take it either.
    let holder: String = sqlx::query_scalar(
        "SELECT aggregate_id FROM unique_claims
          WHERE kind = 'supplier.registration_number' AND value = 'NL106'",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("claim");
    assert_eq!(holder, id);
    let (s, b) = app
        .post(
            "/v1/suppliers",
            &app.supplier("acct-2"),
            supplier_body("NL 106"),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (409, json!("credentials_blocked")));
}

#[tokio::test]
async fn registrations_racing_for_one_number_register_exactly_one_supplier() {
    let app = TestApp::spawn().await;
    let attempts = (0..8).map(|n| {
        let app = &app;
        async move {
            app.post(
                "/v1/suppliers",
                &app.supplier(&format!("acct-{n}")),
                supplier_body("NL-107"),
            )
            .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s != 201).collect();
    assert_eq!(created, 1, "{answers:?}");
    assert!(
        refused
            .iter()
            .all(|(s, b)| *s == 409 && b["code"] == "duplicate_registration"),
        "{refused:?}"
    );
    let suppliers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'SupplierRegistered'")
            .fetch_one(&app.db.pool)
            .await
            .expect("count");
    assert_eq!(suppliers, 1);
}

#[tokio::test]
async fn refused_registrations_leave_no_reservation_behind() {
    let app = TestApp::spawn().await;
    let mut bad = supplier_body("NL-108");
    bad["contact_email"] = json!("not-an-email");
    let (s, _) = app
        .post("/v1/suppliers", &app.supplier("acct-1"), bad)
        .await;
    assert_eq!(s, 422);
    // A customer may not register: refused before anything is reserved.
    let customer = app.token(
        "c-1",
        platform::auth::Actor::Person(platform::auth::Role::Customer),
        &["suppliers:register"],
    );
    let (s, _) = app
        .post("/v1/suppliers", &customer, supplier_body("NL-108"))
        .await;
    assert_eq!(s, 403);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM unique_claims")
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    assert_eq!(rows, 0);
    // And the number is still free.
    app.register("acct-1", "NL-108").await;
}

#[tokio::test]
async fn every_event_records_actor_reason_correlation_and_time() {
    let app = TestApp::spawn().await;
    let id = app.approved_supplier("acct-1", "NL-111").await;
    let (s, _) = app
        .post_with(
            &format!("/v1/suppliers/{id}/suspend"),
            &app.admin(),
            json!({"reason": "cold chain broken twice"}),
            &[("x-correlation-id", "corr-123"), ("idempotency-key", "k-1")],
        )
        .await;
    assert_eq!(s, 202);
    let events = app.db.events_of(&id).await;
    let (_, event_type, payload, metadata) = events.last().expect("event").clone();
    assert_eq!(event_type, "SupplierSuspended");
    assert_eq!(
        payload,
        json!({"SupplierSuspended": {"reason": "cold chain broken twice", "reason_code": "other"}})
    );
    assert_eq!(metadata["actor_sub"], "admin-1");
    assert_eq!(metadata["actor_role"], "admin");
    assert_eq!(metadata["reason"], "cold chain broken twice");
    assert_eq!(metadata["correlation_id"], "corr-123");
    assert_eq!(metadata["idempotency_key"], "k-1");
    assert!(metadata["recorded_at"]
        .as_str()
        .expect("time")
        .ends_with('Z'));
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_gives_the_same_answer_once() {
    let app = TestApp::spawn().await;
    let token = app.supplier("acct-1");
    let key = [("idempotency-key", "register-nl-112")];
    let first = app
        .post_with("/v1/suppliers", &token, supplier_body("NL-112"), &key)
        .await;
    let second = app
        .post_with("/v1/suppliers", &token, supplier_body("NL-112"), &key)
        .await;
    assert_eq!(first.0, 201);
    assert_eq!(first, second);
    assert_eq!(app.db.event_count().await, 1);

    let other = app
        .post_with("/v1/suppliers", &token, supplier_body("NL-113"), &key)
        .await;
    assert_eq!(
        (other.0, other.1["code"].clone()),
        (422, json!("idempotency_key_reused"))
    );
    // Keys belong to their subject: another account's same key is its own request.
    let theirs = app
        .post_with(
            "/v1/suppliers",
            &app.supplier("acct-2"),
            supplier_body("NL-114"),
            &key,
        )
        .await;
    assert_eq!(theirs.0, 201);
    assert_eq!(app.db.event_count().await, 2);
}

#[tokio::test]
async fn a_refusal_is_remembered_under_its_idempotency_key() {
    let app = TestApp::spawn().await;
    let id = app.register("acct-1", "NL-115").await;
    let key = [("idempotency-key", "approve-1")];
    let a = app
        .post_with(
            &format!("/v1/suppliers/{id}/approve"),
            &app.admin(),
            json!({}),
            &key,
        )
        .await;
    let b = app
        .post_with(
            &format!("/v1/suppliers/{id}/approve"),
            &app.admin(),
            json!({}),
            &key,
        )
        .await;
    assert_eq!(a.0, 409);
    assert_eq!(a, b);
}

#[tokio::test]
async fn concurrent_approvals_of_one_supplier_approve_it_once() {
    let app = TestApp::spawn().await;
    let id = app.register("acct-1", "NL-116").await;
    app.post(
        &format!("/v1/suppliers/{id}/documents"),
        &app.supplier("acct-1"),
        licence(),
    )
    .await;
    let admin = app.admin();
    let path = format!("/v1/suppliers/{id}/approve");
    let answers =
        futures::future::join_all((0..12).map(|_| app.post(&path, &admin, json!({})))).await;
    let accepted = answers.iter().filter(|(s, _)| *s == 202).count();
    assert_eq!(accepted, 1, "{answers:?}");
    for (s, b) in answers.iter().filter(|(s, _)| *s != 202) {
        assert_eq!(*s, 409);
        assert!(
            b["code"] == "invalid_transition" || b["code"] == "concurrent_modification",
            "{b}"
        );
    }
    let events = app.db.events_of(&id).await;
    let sequences: Vec<i64> = events.iter().map(|e| e.0).collect();
    assert_eq!(sequences, [1, 2, 3]);
}

#[tokio::test]
async fn concurrent_document_filings_keep_the_stream_gapless() {
    let app = TestApp::spawn().await;
    let id = app.register("acct-1", "NL-117").await;
    let owner = app.supplier("acct-1");
    let path = format!("/v1/suppliers/{id}/documents");
    let answers =
        futures::future::join_all((0..16).map(|_| app.post(&path, &owner, licence()))).await;
    let accepted = answers.iter().filter(|(s, _)| *s == 202).count();
    for (s, b) in &answers {
        assert!(
            *s == 202 || (*s == 409 && b["code"] == "concurrent_modification"),
            "{s} {b}"
        );
    }
    let sequences: Vec<i64> = app.db.events_of(&id).await.iter().map(|e| e.0).collect();
    assert_eq!(sequences, (1..=(accepted as i64 + 1)).collect::<Vec<_>>());
    assert!(
        accepted >= 2,
        "the retry lets most racing writers through: {accepted}"
    );
}

#[tokio::test]
async fn a_retry_that_outlives_its_stored_answer_still_gets_the_first_answer() {
    let app = TestApp::spawn().await;
    let token = app.supplier("acct-1");
    let key = [("idempotency-key", "register-once")];
    let first = app
        .post_with("/v1/suppliers", &token, supplier_body("NL-120"), &key)
        .await;
    assert_eq!(first.0, 201, "{}", first.1);
    // The stored answer is lost (e.g. the process died before recording it).
    sqlx::query("DELETE FROM idempotency_keys")
        .execute(&app.db.pool)
        .await
        .expect("forget");
    let again = app
        .post_with("/v1/suppliers", &token, supplier_body("NL-120"), &key)
        .await;
    assert_eq!(again, first);
    assert_eq!(app.db.event_count().await, 1);
}

#[tokio::test]
async fn a_suspension_records_its_reason_code_and_refuses_an_unknown_one() {
    let app = TestApp::spawn().await;
    let id = app.approved_supplier("acct-1", "NL-112").await;
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{id}/suspend"),
            &app.admin(),
            json!({"reason": "mould in two deliveries", "reason_code": "hygiene"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (422, json!("validation_failed")),
        "{b}"
    );
    assert_eq!(b["fields"][0]["field"], "reason_code", "{b}");
    let (s, _) = app
        .post(
            &format!("/v1/suppliers/{id}/suspend"),
            &app.admin(),
            json!({"reason": "mould in two deliveries", "reason_code": "food_safety"}),
        )
        .await;
    assert_eq!(s, 202);
    let events = app.db.events_of(&id).await;
    let (_, _, payload, _) = events.last().expect("event").clone();
    assert_eq!(
        payload,
        json!({"SupplierSuspended": {"reason": "mould in two deliveries", "reason_code": "food_safety"}})
    );
}
