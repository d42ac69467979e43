//! A command through command-api, published by the relay, projected, and read back through the
//! query API with `min_version`: the whole path, real services, no sleeps.

use crate::{brokers, Stream};
use platform::auth::{self, Actor, Role, Signer, Verifier};
use platform::relay::{Relay, RelayConfig, RelayMetrics};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

pub(crate) struct Stack {
    pub(crate) commands: String,
    pub(crate) queries: String,
    impatient_queries: String,
    signer: Signer,
    client: reqwest::Client,
    pub(crate) stop: CancellationToken,
    pub(crate) pool: sqlx::PgPool,
    pub(crate) topic_prefix: String,
    pub(crate) evidence: Arc<platform::evidence::EvidenceSigner>,
    /// The test database's URL (for processes the test starts).
    pub(crate) database_url: String,
}

impl Stack {
    pub(crate) async fn start() -> Self {
        let (pool, database_url) = crate::database_with_url().await;
        platform::db::migrate(&pool).await.expect("migrations");
        let stream = Stream::new().await;
        let key = auth::generate_key("k1").expect("key");
        let jwks = json!({"keys": [key.public_jwk]}).to_string();
        // The stack's own key (any issuer) and the local stack's Keycloak, as `make up` trusts
        // them; tests that never log in through Keycloak do not need it running.
        let jwks_file =
            std::env::temp_dir().join(format!("freshline-e2e-{}.json", Uuid::new_v4().simple()));
        std::fs::write(&jwks_file, &jwks).expect("jwks file");
        let verifier = Arc::new(
            Verifier::trusting(
                vec![
                    auth::TrustedIssuer {
                        keys: auth::KeySource::File(jwks_file.display().to_string()),
                        issuer: None,
                    },
                    auth::TrustedIssuer {
                        keys: auth::KeySource::Url(test_support::keycloak::jwks_url()),
                        issuer: Some(test_support::keycloak::issuer()),
                    },
                ],
                platform::config::defaults::AUDIENCE,
            )
            .await
            .expect("verifier"),
        );
        let signer = Signer::from_pem("k1", &key.private_pem).expect("signer");
        let evidence_key = auth::generate_key("evidence-1").expect("key");
        let evidence = Arc::new(
            platform::evidence::EvidenceSigner::from_pem("evidence-1", &evidence_key.private_pem)
                .expect("evidence signer"),
        );
        let commands = serve(
            command_api::router(
                pool.clone(),
                verifier.clone(),
                prometheus::Registry::new(),
                std::sync::Arc::new(platform::blobs::LocalDirStore::new(
                    std::env::temp_dir().join("freshline-blobs-e2e"),
                )),
                command_api::Options {
                    limiter: platform::ratelimit::RateLimiter::new(1000.0, 1000.0),
                    ..command_api::Options::default()
                },
            )
            .expect("router"),
        )
        .await;
        let query = |wait| {
            projectors::query::router(
                pool.clone(),
                "read",
                verifier.clone(),
                prometheus::Registry::new(),
                wait,
                platform::ratelimit::RateLimiter::new(1000.0, 1000.0),
                Some(evidence.clone()),
            )
            .expect("router")
        };
        let queries = serve(query(Duration::from_secs(20))).await;
        let impatient_queries = serve(query(Duration::from_millis(200))).await;

        let stop = CancellationToken::new();
        let relay = Relay::new(
            pool.clone(),
            platform::kafka::idempotent_producer(&brokers(), "e2e").expect("producer"),
            RelayConfig {
                topic_prefix: stream.prefix.clone(),
                ..RelayConfig::default()
            },
            RelayMetrics::new(&prometheus::Registry::new()).expect("metrics"),
        );
        let token = stop.clone();
        tokio::spawn(async move { relay.run(token).await.expect("relay") });
        let runner = crate::runner(&pool, &stream, "read");
        projectors::runtime::prepare_live(
            &pool,
            &projectors::suppliers::SupplierProjection,
            "read",
        )
        .await
        .expect("prepare");
        let token = stop.clone();
        tokio::spawn(async move { runner.run(token).await.expect("projector") });
        let catalog = crate::runner_for(
            Arc::new(projectors::catalog::CatalogProjection),
            &pool,
            &stream,
            "read",
        );
        let token = stop.clone();
        tokio::spawn(async move { catalog.run(token).await.expect("catalog projector") });
        projectors::runtime::prepare_live(&pool, &projectors::orders::OrdersProjection, "read")
            .await
            .expect("prepare orders");
        let orders = crate::runner_for(
            Arc::new(projectors::orders::OrdersProjection),
            &pool,
            &stream,
            "read",
        );
        let token = stop.clone();
        tokio::spawn(async move { orders.run(token).await.expect("orders projector") });
        projectors::runtime::prepare_live(
            &pool,
            &projectors::customers::CustomerProjection,
            "read",
        )
        .await
        .expect("prepare customers");
        let customers = crate::runner_for(
            Arc::new(projectors::customers::CustomerProjection),
            &pool,
            &stream,
            "read",
        );
        let token = stop.clone();
        tokio::spawn(async move { customers.run(token).await.expect("customers projector") });
        Self {
            commands,
            queries,
            impatient_queries,
            signer,
            client: reqwest::Client::new(),
            stop,
            pool,
            evidence,
            topic_prefix: stream.prefix.clone(),
            database_url,
        }
    }

    pub(crate) fn token(&self, sub: &str, role: Role) -> String {
        self.signer
            // People in these tests logged in fully (with a one-time password).
            .sign(
                &auth::claims(
                    sub,
                    &Actor::Person(role),
                    role.default_scopes(),
                    600,
                    "test",
                )
                .with_second_factor(),
            )
            .expect("sign")
    }

    /// A token with these claims, signed with the stack's key.
    pub(crate) fn sign(&self, claims: &auth::Claims) -> String {
        self.signer.sign(claims).expect("sign")
    }

    pub(crate) fn service_token(&self, service: &str) -> String {
        self.signer
            .sign(&auth::claims(
                &format!("svc-{service}"),
                &Actor::Service(service.to_owned()),
                auth::service_default_scopes(service),
                600,
                "test",
            ))
            .expect("sign")
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        let r = self
            .client
            .post(format!("{}{path}", self.commands))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.expect("json")
    }

    pub(crate) async fn get(
        &self,
        base: &str,
        path: &str,
        token: &str,
    ) -> (u16, Value, Option<String>) {
        let r = self
            .client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        (status, r.json().await.unwrap_or(Value::Null), retry)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_becomes_visible_through_the_query_api() {
    let s = Stack::start().await;
    let owner = s.token("acct-1", Role::Supplier);
    let admin = s.token("admin-1", Role::Admin);
    let registered = s
        .post("/v1/suppliers", &owner, json!({
            "legal_name": "Green Acres B.V.", "registration_number": "NL-1", "contact_email": "ops@green.example",
            "phone": "+31205550101", "categories": ["herb"],
            "address": {"line1": "Dijkweg 1", "city": "Naaldwijk", "postal_code": "2671 AA", "country": "NL"}}))
        .await;
    let id = registered["id"].as_str().expect("id").to_owned();
    let (status, body, _) = s
        .get(
            &s.queries,
            &format!("/v1/suppliers/{id}?min_version=1"),
            &owner,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["legal_name"], "Green Acres B.V.");
    let pending_at = chrono::Utc::now();

    s.post(
        &format!("/v1/suppliers/{id}/documents"),
        &owner,
        json!({"kind": "business_license", "reference": "KVK-1", "expires_on": "2030-01-01"}),
    )
    .await;
    let approved = s
        .post(
            &format!("/v1/suppliers/{id}/approve"),
            &admin,
            json!({"note": "checked"}),
        )
        .await;
    let v = approved["version"].as_i64().expect("version");
    let (status, body, _) = s
        .get(
            &s.queries,
            &format!("/v1/suppliers/{id}?min_version={v}"),
            &admin,
        )
        .await;
    assert_eq!(
        (status, body["status"].clone(), body["version"].as_i64()),
        (200, json!("approved"), Some(3))
    );
    assert_eq!(body["documents"][0]["kind"], "business_license");

    // The state at an earlier instant, replayed from the history.
    let at = pending_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (status, body, _) = s
        .get(
            &s.queries,
            &format!("/v1/suppliers/{id}?as_of={}", at.replace('+', "%2B")),
            &admin,
        )
        .await;
    assert_eq!(
        (status, body["status"].clone(), body["version"].as_i64()),
        (200, json!("pending"), Some(1))
    );

    // History for auditors: who, what, when, why.
    let auditor = s.token("audit-1", Role::Auditor);
    let (status, body, _) = s
        .get(&s.queries, &format!("/v1/suppliers/{id}/history"), &auditor)
        .await;
    assert_eq!(status, 200);
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    assert_eq!(items[2]["event_type"], "SupplierApproved");
    assert_eq!(items[2]["from_status"], "pending");
    assert_eq!(items[2]["to_status"], "approved");
    assert_eq!(
        items[2]["actor"],
        json!({"sub": "admin-1", "role": "admin"})
    );
    assert_eq!(items[2]["reason"], "checked");

    // Another supplier account sees nothing of it; a customer has no read scope.
    let other = s.token("acct-2", Role::Supplier);
    assert_eq!(
        s.get(&s.queries, &format!("/v1/suppliers/{id}"), &other)
            .await
            .0,
        404
    );
    assert_eq!(
        s.get(&s.queries, &format!("/v1/suppliers/{id}/history"), &other)
            .await
            .0,
        404
    );
    let (_, page, _) = s.get(&s.queries, "/v1/suppliers", &other).await;
    assert_eq!(page["items"], json!([]));
    let customer = s.token("c-1", Role::Customer);
    assert_eq!(s.get(&s.queries, "/v1/suppliers", &customer).await.0, 403);

    // A version beyond the latest the event store holds: nothing to wait for, 404 at once.
    let (status, body, _) = s
        .get(
            &s.impatient_queries,
            &format!("/v1/suppliers/{id}?min_version=99"),
            &admin,
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (404, json!("not_found")),
        "{body}"
    );

    // Filters and bad input.
    let (_, page, _) = s
        .get(
            &s.queries,
            "/v1/suppliers?status=approved&category=herb&q=green",
            &admin,
        )
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    let (_, page, _) = s
        .get(&s.queries, "/v1/suppliers?status=pending", &admin)
        .await;
    assert_eq!(page["items"], json!([]));
    for bad in [
        "/v1/suppliers?status=sleeping",
        "/v1/suppliers?limit=0",
        "/v1/suppliers?cursor=zzz",
        "/v1/suppliers/not-a-uuid",
        "/v1/suppliers?min_version=x",
    ] {
        let (status, body, _) = s.get(&s.queries, bad, &admin).await;
        assert_eq!(
            (status, body["code"].clone()),
            (422, json!("validation_failed")),
            "{bad}: {body}"
        );
    }

    // A version the store holds but the read model has not reached (the projectors stopped):
    // 503 with Retry-After once the wait is over.
    s.stop.cancel();
    s.post(
        &format!("/v1/suppliers/{id}/suspend"),
        &admin,
        json!({"reason": "a food safety incident"}),
    )
    .await;
    let (status, body, retry) = s
        .get(
            &s.impatient_queries,
            &format!("/v1/suppliers/{id}?min_version=4"),
            &admin,
        )
        .await;
    assert_eq!(
        (status, body["code"].clone(), retry.as_deref()),
        (503, json!("version_not_reached"), Some("1")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_list_pages_through_every_supplier_once() {
    let s = Stack::start().await;
    let admin = s.token("admin-1", Role::Admin);
    let mut ids = Vec::new();
    for n in 0..7 {
        let r = s.post("/v1/suppliers", &admin, json!({
            "legal_name": format!("Farm {n}"), "registration_number": format!("NL-{n}"), "contact_email": "ops@farm.example",
            "phone": "+31205550101", "categories": ["fruit"],
            "address": {"line1": "Dijkweg 1", "city": "Naaldwijk", "postal_code": "2671 AA", "country": "NL"}})).await;
        ids.push(r["id"].as_str().expect("id").to_owned());
    }
    for id in &ids {
        let (status, _, _) = s
            .get(
                &s.queries,
                &format!("/v1/suppliers/{id}?min_version=1"),
                &admin,
            )
            .await;
        assert_eq!(status, 200);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/suppliers?limit=3&cursor={c}"),
            None => "/v1/suppliers?limit=3".to_owned(),
        };
        let (status, page, _) = s.get(&s.queries, &path, &admin).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    ids.sort();
    assert_eq!(seen, ids);
    s.stop.cancel();
}

/// Read-your-writes across aggregates and projections: every command answers the event store's
/// position; a read with `min_position` waits until the projection it reads has applied every
/// event up to it, with no `min_version` and whatever the aggregate. A position the store does
/// not hold, or no position at all, is refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn min_position_reads_your_writes_across_aggregates() {
    let s = Stack::start().await;
    let owner = s.token("acct-pos", Role::Supplier);
    let admin = s.token("admin-1", Role::Admin);
    let registered = s
        .post("/v1/suppliers", &owner, json!({
            "legal_name": "Position Farm", "registration_number": "NL-POS-1", "contact_email": "p@pos.example",
            "phone": "+31205550123", "categories": ["fruit"],
            "address": {"line1": "Weg 2", "city": "Delft", "postal_code": "2611 AA", "country": "NL"}}))
        .await;
    let supplier = registered["id"].as_str().expect("id").to_owned();
    let first = registered["position"].as_i64().expect("a position");
    s.post(
        &format!("/v1/suppliers/{supplier}/documents"),
        &owner,
        json!({"kind": "business_license", "reference": "K-P", "expires_on": "2031-01-01"}),
    )
    .await;
    let approved = s
        .post(
            &format!("/v1/suppliers/{supplier}/approve"),
            &admin,
            json!({}),
        )
        .await;
    let product = s
        .post(
            &format!("/v1/suppliers/{supplier}/products"),
            &owner,
            json!({"name": "Positional plums", "category": "fruit", "tags": [], "unit": "kg",
                   "price": {"amount_minor": 350, "currency": "EUR"}, "origin_country": "NL"}),
        )
        .await;
    let last = product["position"].as_i64().expect("a position");
    assert!(
        first < approved["position"].as_i64().expect("position")
            && approved["position"].as_i64() < Some(last),
        "positions grow: {registered} {approved} {product}"
    );
    let product_id = product["id"].as_str().expect("id");

    // The newest write's position covers the earlier ones, on other aggregates and projections.
    let (status, body, _) = s
        .get(
            &s.queries,
            &format!("/v1/products?supplier_id={supplier}&min_position={last}"),
            &owner,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["id"], product_id, "{body}");
    let (status, body, _) = s
        .get(
            &s.queries,
            &format!("/v1/suppliers/{supplier}?min_position={last}"),
            &admin,
        )
        .await;
    assert_eq!(
        (status, body["status"].clone()),
        (200, json!("approved")),
        "{body}"
    );
    let (status, body, _) = s
        .get(
            &s.queries,
            &format!("/v1/suppliers?min_position={last}&status=approved"),
            &admin,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["id"] == supplier.as_str()),
        "{body}"
    );

    // Nothing to wait for, answered at once: a position the store does not hold (404), no
    // position at all (422).
    for (bad, status_wanted, code) in [
        (
            format!("/v1/suppliers?min_position={}", last + 1_000_000),
            404,
            "position_not_found",
        ),
        (
            "/v1/suppliers?min_position=0".to_owned(),
            422,
            "validation_failed",
        ),
        (
            "/v1/suppliers?min_position=soon".to_owned(),
            422,
            "validation_failed",
        ),
    ] {
        let started = std::time::Instant::now();
        let (status, body, _) = s.get(&s.queries, &bad, &admin).await;
        assert_eq!(
            (status, body["code"].clone()),
            (status_wanted, json!(code)),
            "{bad}: {body}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{bad} waited");
    }

    // Caught up, the suppliers projection's watermark moves to the newest position it covers
    // (what keeps a `min_position` read from looking past it).
    let schema = projectors::runtime::physical_schema("read", "suppliers", 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let at: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT position FROM {schema}.projection_watermark WHERE projection = 'suppliers'"
        ))
        .fetch_optional(&s.pool)
        .await
        .expect("watermark");
        if at.is_some_and(|a| a >= approved["position"].as_i64().expect("position")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the suppliers watermark stays at {at:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
