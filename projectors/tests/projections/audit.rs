//! The tamper-evident history end to end: hashes in the history, the signed export checked
//! offline, tampering caught, an old event version read as the current one everywhere, and
//! `as_of` answers cross-checked against an independent replay of the store.

use crate::end_to_end::Stack;
use platform::auth::Role;
use platform::store::StreamFilter;
use serde_json::{json, Value};

pub(crate) async fn register(s: &Stack, token: &str, number: &str) -> String {
    let r = s
        .post("/v1/suppliers", token, json!({
            "legal_name": "Polder Greens B.V.", "registration_number": number,
            "contact_email": "ops@polder.example", "phone": "+31205550102", "categories": ["vegetable"],
            "address": {"line1": "Polderweg 2", "city": "Delft", "postal_code": "2611 AA", "country": "NL"}}))
        .await;
    r["id"].as_str().expect("id").to_owned()
}

pub(crate) async fn approve(s: &Stack, owner: &str, admin: &str, id: &str) {
    s.post(
        &format!("/v1/suppliers/{id}/documents"),
        owner,
        json!({"kind": "business_license", "reference": "KVK-9", "expires_on": "2031-01-01"}),
    )
    .await;
    s.post(&format!("/v1/suppliers/{id}/approve"), admin, json!({}))
        .await;
}

async fn wait_for(s: &Stack, id: &str, version: i64, token: &str) -> Value {
    let (status, body, _) = s
        .get(
            &s.queries,
            &format!("/v1/suppliers/{id}?min_version={version}"),
            token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn supplier_stream(id: &str) -> StreamFilter {
    StreamFilter {
        aggregate_type: Some("Supplier".into()),
        aggregate_id: Some(id.to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_history_carries_the_chain_and_its_signed_export_checks_out_offline() {
    let s = Stack::start().await;
    let owner = s.token("acct-9", Role::Supplier);
    let admin = s.token("admin-1", Role::Admin);
    let auditor = s.token("audit-1", Role::Auditor);
    let id = register(&s, &owner, "NL-AUD-1").await;
    approve(&s, &owner, &admin, &id).await;
    s.post(
        &format!("/v1/suppliers/{id}/suspend"),
        &admin,
        json!({"reason": "cold chain broken twice", "reason_code": "food_safety"}),
    )
    .await;
    wait_for(&s, &id, 4, &admin).await;

    let (status, history, _) = s
        .get(&s.queries, &format!("/v1/suppliers/{id}/history"), &auditor)
        .await;
    assert_eq!(status, 200);
    let items = history["items"].as_array().expect("items");
    assert_eq!(items.len(), 4);
    for item in items {
        let hash = item["hash"].as_str().expect("every event has its hash");
        assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_eq!(items[3]["event_version"], 2);
    assert_eq!(
        items[3]["payload"],
        json!({"reason": "cold chain broken twice", "reason_code": "food_safety"})
    );

    // The export, checked with nothing but the public keys.
    let (status, keys, _) = s.get(&s.queries, "/v1/audit/keys", "").await;
    assert_eq!((status, &keys), (200, &s.evidence.jwks()));
    let (status, document, _) = s
        .get(
            &s.queries,
            &format!("/v1/suppliers/{id}/history/export"),
            &auditor,
        )
        .await;
    assert_eq!(status, 200, "{document}");
    let checked = platform::evidence::check(&document, &keys).expect("the export checks out");
    assert_eq!(checked.events, 4);
    assert_eq!(checked.head.as_deref(), items[3]["hash"].as_str());
    assert_eq!(document["exported_by"], "audit-1");

    // Only auditors and admins take evidence away.
    assert_eq!(
        s.get(
            &s.queries,
            &format!("/v1/suppliers/{id}/history/export"),
            &owner
        )
        .await
        .0,
        403
    );
    assert_eq!(
        s.get(
            &s.queries,
            &format!("/v1/suppliers/{id}/history/export"),
            &admin
        )
        .await
        .0,
        200
    );
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(
        s.get(
            &s.queries,
            &format!("/v1/suppliers/{unknown}/history/export"),
            &auditor
        )
        .await
        .0,
        404
    );

    // Someone with database access rewrites who approved: the chain names the event, and the
    // service refuses to sign the altered history.
    sqlx::query(
        "UPDATE events SET metadata = jsonb_set(metadata, '{actor_sub}', '\"someone-else\"')
          WHERE aggregate_type = 'Supplier' AND aggregate_id = $1 AND sequence = 3",
    )
    .bind(&id)
    .execute(&s.pool)
    .await
    .expect("tamper");
    let report = platform::store::verify_chains(&s.pool, &supplier_stream(&id), |_| {})
        .await
        .expect("verify");
    assert_eq!(report.broken.len(), 1);
    assert!(
        matches!(
            report.broken[0].link,
            schemas::chain::BrokenLink::Mismatch { sequence: 3, .. }
        ),
        "{:?}",
        report.broken
    );
    let (status, problem, _) = s
        .get(
            &s.queries,
            &format!("/v1/suppliers/{id}/history/export"),
            &auditor,
        )
        .await;
    assert_eq!(
        (status, problem["code"].clone()),
        (409, json!("chain_broken"))
    );
    // The document signed before the tampering still checks out: it is the evidence.
    assert!(platform::evidence::check(&document, &keys).is_ok());
    s.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_suspension_stored_as_v1_is_read_as_v2_everywhere() {
    let s = Stack::start().await;
    let owner = s.token("acct-7", Role::Supplier);
    let admin = s.token("admin-1", Role::Admin);
    let id = register(&s, &owner, "NL-V1-1").await;
    approve(&s, &owner, &admin, &id).await;
    // An event written by the previous release: SupplierSuspended v1, no reason code, no hash.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Supplier', $1, 4, 'SupplierSuspended', '1',
                 '{\"SupplierSuspended\": {\"reason\": \"late deliveries twice\"}}',
                 '{\"actor_sub\": \"admin-0\", \"actor_role\": \"admin\", \"reason\": \"late deliveries twice\"}')",
    )
    .bind(&id)
    .execute(&s.pool)
    .await
    .expect("legacy insert");
    assert_eq!(
        platform::store::seal_unsealed(&s.pool).await.expect("seal"),
        1
    );

    // The projection reads it as v2.
    let view = wait_for(&s, &id, 4, &admin).await;
    assert_eq!(view["status"], "suspended");
    let (_, history, _) = s
        .get(&s.queries, &format!("/v1/suppliers/{id}/history"), &admin)
        .await;
    assert_eq!(history["items"][3]["event_version"], 2);
    assert_eq!(
        history["items"][3]["payload"],
        json!({"reason": "late deliveries twice", "reason_code": "other"})
    );

    // The write side loads it through the upcaster and decides on it.
    let reinstated = s
        .post(
            &format!("/v1/suppliers/{id}/reinstate"),
            &admin,
            json!({"note": "deliveries on time again"}),
        )
        .await;
    assert_eq!(reinstated["version"], 5);
    wait_for(&s, &id, 5, &admin).await;

    // Evidence keeps the stored form, which is what the chain covers.
    let (status, document, _) = s
        .get(
            &s.queries,
            &format!("/v1/suppliers/{id}/history/export"),
            &admin,
        )
        .await;
    assert_eq!(status, 200, "{document}");
    assert_eq!(document["events"][3]["event_version"], 1);
    assert_eq!(
        document["events"][3]["payload"],
        json!({"reason": "late deliveries twice"})
    );
    platform::evidence::check(&document, &s.evidence.jwks()).expect("checks out");
    let report = platform::store::verify_chains(&s.pool, &supplier_stream(&id), |_| {})
        .await
        .expect("verify");
    assert!(report.broken.is_empty(), "{:?}", report.broken);
    assert_eq!(report.events, 5);
    s.stop.cancel();
}

/// The state the write side's own rules give after the stored events recorded at or before
/// `at`: an independent replay (domain aggregate, store rows), not the projection's.
fn replay_until(
    events: &[schemas::Envelope],
    at: chrono::DateTime<chrono::Utc>,
) -> Option<(String, i64)> {
    let mut supplier = domain::Supplier::default();
    let mut version = 0;
    for e in events.iter().filter(|e| e.occurred_at <= at) {
        let (_, payload) =
            schemas::supplier::upcast_payload(&e.event_type, e.event_version, e.payload.clone())
                .expect("upcast");
        let event: domain::SupplierEvent =
            serde_json::from_value(json!({ e.event_type.clone(): payload })).expect("domain event");
        supplier.evolve(event);
        version = e.sequence;
    }
    supplier.status().map(|s| (s.as_str().to_owned(), version))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn as_of_answers_match_a_replay_of_the_store_up_to_that_instant() {
    let s = Stack::start().await;
    let owner = s.token("acct-5", Role::Supplier);
    let admin = s.token("admin-1", Role::Admin);
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let id = register(&s, &owner, "NL-ASOF-1").await;
    approve(&s, &owner, &admin, &id).await;
    s.post(
        &format!("/v1/suppliers/{id}/suspend"),
        &admin,
        json!({"reason": "payment dispute", "reason_code": "payment"}),
    )
    .await;
    s.post(&format!("/v1/suppliers/{id}/reinstate"), &admin, json!({}))
        .await;
    wait_for(&s, &id, 5, &admin).await;

    let events = platform::store::load_stream(&s.pool, "Supplier", &id)
        .await
        .expect("stream");
    assert_eq!(events.len(), 5);
    let micro = chrono::Duration::microseconds(1);
    let mut instants = vec![before, chrono::Utc::now()];
    for e in &events {
        instants.extend([e.occurred_at - micro, e.occurred_at, e.occurred_at + micro]);
    }
    let mut compared = 0;
    for at in instants {
        let text = schemas::chain::timestamp(at);
        let (status, body, _) = s
            .get(
                &s.queries,
                &format!("/v1/suppliers/{id}?as_of={text}"),
                &admin,
            )
            .await;
        match replay_until(&events, at) {
            None => assert_eq!(status, 404, "as_of {text}: {body}"),
            Some((expected_status, expected_version)) => {
                assert_eq!(status, 200, "as_of {text}: {body}");
                assert_eq!(
                    (body["status"].as_str(), body["version"].as_i64()),
                    (Some(expected_status.as_str()), Some(expected_version)),
                    "as_of {text}"
                );
            }
        }
        compared += 1;
    }
    assert_eq!(compared, 17);
    s.stop.cancel();
}
