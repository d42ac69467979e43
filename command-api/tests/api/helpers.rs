//! Spawns command-api on port 0 with its own database and keys; helpers to call it and to
//! read what it stored.
#![allow(dead_code)]

use platform::auth::{self, Actor, Role, Signer, Verifier};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

pub use test_support::brokers as kafka_brokers;

/// A fresh database with the schema applied.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    pub async fn new() -> Self {
        let (pool, url) = test_support::database_with_url().await;
        let name = url
            .rsplit_once('/')
            .expect("url has a database")
            .1
            .to_owned();
        platform::db::migrate(&pool).await.expect("migrations");
        Self { name, url, pool }
    }

    /// Events stored for an aggregate, in order: (sequence, event_type, payload, metadata).
    pub async fn events_of(&self, id: &str) -> Vec<(i64, String, Value, Value)> {
        sqlx::query_as(
            "SELECT sequence, event_type, payload, metadata FROM events
              WHERE aggregate_id = $1 ORDER BY sequence",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .expect("query events")
    }

    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }
}

/// A running command-api.
pub struct TestApp {
    /// The verifying keys (a JWKS document), for a command-api process of the test's own.
    pub jwks: String,
    pub blob_dir: std::path::PathBuf,
    pub base: String,
    pub db: TestDb,
    pub signer: Signer,
    pub client: reqwest::Client,
}

pub const MAX_BODY: usize = 64 * 1024;
/// Per-subject limits of the test app: above what any other test sends per subject.
pub const RATE_PER_SEC: f64 = 1.0;
pub const RATE_BURST: f64 = 100.0;
/// The test app's snapshot interval.
pub const SNAPSHOT_EVERY: usize = 3;

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with_rate(RATE_PER_SEC, RATE_BURST).await
    }

    pub async fn spawn_with_rate(per_second: f64, burst: f64) -> Self {
        Self::spawn_custom(
            per_second,
            burst,
            command_api::image_quota::ImageLimits::default(),
            platform::blobs::DEFAULT_MIN_FREE_BYTES,
            false,
        )
        .await
    }

    /// The app trusting the local stack's Keycloak beside its own key, as `make up` runs it.
    pub async fn spawn_with_keycloak() -> Self {
        Self::spawn_custom(
            RATE_PER_SEC,
            RATE_BURST,
            command_api::image_quota::ImageLimits::default(),
            platform::blobs::DEFAULT_MIN_FREE_BYTES,
            true,
        )
        .await
    }

    /// The app with its images limited by `limits`, and its blob store keeping `min_free`
    /// bytes free on its disk.
    pub async fn spawn_with_images(
        limits: command_api::image_quota::ImageLimits,
        min_free: u64,
    ) -> Self {
        Self::spawn_custom(RATE_PER_SEC, RATE_BURST, limits, min_free, false).await
    }

    async fn spawn_custom(
        per_second: f64,
        burst: f64,
        image_limits: command_api::image_quota::ImageLimits,
        min_free: u64,
        keycloak: bool,
    ) -> Self {
        let db = TestDb::new().await;
        let key = auth::generate_key("test-key").expect("key");
        let jwks = json!({"keys": [key.public_jwk]}).to_string();
        let verifier = if keycloak {
            let path = std::env::temp_dir().join(format!(
                "freshline-jwks-{}.json",
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::write(&path, &jwks).expect("jwks file");
            Verifier::trusting(
                vec![
                    auth::TrustedIssuer {
                        keys: auth::KeySource::File(path.display().to_string()),
                        issuer: Some(platform::config::defaults::ISSUER.to_owned()),
                    },
                    auth::TrustedIssuer {
                        keys: auth::KeySource::Url(test_support::keycloak::jwks_url()),
                        issuer: Some(test_support::keycloak::issuer()),
                    },
                ],
                platform::config::defaults::AUDIENCE,
            )
            .await
            .expect("verifier trusting Keycloak")
        } else {
            Verifier::from_jwks_json(
                &jwks,
                platform::config::defaults::AUDIENCE,
                Some(platform::config::defaults::ISSUER),
            )
            .expect("verifier")
        };
        let signer = Signer::from_pem("test-key", &key.private_pem).expect("signer");
        let blob_dir =
            std::env::temp_dir().join(format!("freshline-blobs-{}", uuid::Uuid::new_v4().simple()));
        let app = command_api::router(
            db.pool.clone(),
            Arc::new(verifier),
            prometheus::Registry::new(),
            std::sync::Arc::new(
                platform::blobs::LocalDirStore::new(blob_dir.clone()).with_min_free(min_free),
            ),
            command_api::Options {
                image_limits,
                max_body_bytes: MAX_BODY,
                limiter: platform::ratelimit::RateLimiter::new(per_second, burst),
                // Far more often than in production, so that every test's aggregates are
                // loaded from snapshots too.
                snapshots: platform::bus::Snapshots::every(SNAPSHOT_EVERY),
                ..command_api::Options::default()
            },
        )
        .expect("router");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self {
            jwks,
            base: format!("http://{addr}"),
            db,
            blob_dir,
            signer,
            client: reqwest::Client::new(),
        }
    }

    pub fn token(&self, sub: &str, actor: Actor, scopes: &[&str]) -> String {
        self.signer
            .sign(&auth::claims(
                sub,
                &actor,
                scopes,
                600,
                platform::config::defaults::ISSUER,
            ))
            .expect("sign")
    }

    /// An admin who logged in with a one-time password (sensitive operations need it).
    pub fn admin(&self) -> String {
        self.signer
            .sign(
                &auth::claims(
                    "admin-1",
                    &Actor::Person(Role::Admin),
                    Role::Admin.default_scopes(),
                    600,
                    platform::config::defaults::ISSUER,
                )
                .with_second_factor(),
            )
            .expect("sign")
    }

    /// An admin who logged in with a password only.
    pub fn admin_without_second_factor(&self) -> String {
        self.token(
            "admin-1",
            Actor::Person(Role::Admin),
            Role::Admin.default_scopes(),
        )
    }

    pub fn supplier(&self, sub: &str) -> String {
        self.token(
            sub,
            Actor::Person(Role::Supplier),
            Role::Supplier.default_scopes(),
        )
    }

    pub fn service(&self, svc: &str) -> String {
        self.token(
            &format!("svc-{svc}"),
            Actor::Service(svc.to_owned()),
            auth::service_default_scopes(svc),
        )
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.post_with(path, token, body, &[]).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        token: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .patch(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub fn customer(&self, sub: &str) -> String {
        self.token(
            sub,
            Actor::Person(Role::Customer),
            Role::Customer.default_scopes(),
        )
    }

    pub fn rider(&self, sub: &str) -> String {
        self.token(
            sub,
            Actor::Person(Role::Rider),
            Role::Rider.default_scopes(),
        )
    }

    pub fn warehouse(&self, sub: &str) -> String {
        self.token(
            sub,
            Actor::Person(Role::Warehouse),
            Role::Warehouse.default_scopes(),
        )
    }

    /// A POST with a raw body and content type; the answer with its content type and
    /// `Location`.
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.expect("request");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (content_type, location) = (header("content-type"), header("location"));
        let status = r.status().as_u16();
        let body = r.json().await.unwrap_or(Value::Null);
        Reply {
            status,
            content_type,
            location,
            body,
        }
    }

    /// A POST of a JSON body, with the answer's content type and `Location`.
    pub async fn post_json(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.post_raw(path, token, "application/json", body.to_string(), headers)
            .await
    }

    /// An approved supplier (owned by `owner`) listing one product sold by `unit` at
    /// `price_minor` EUR: (supplier id, product id).
    pub async fn listed_product(
        &self,
        owner: &str,
        number: &str,
        unit: &str,
        price_minor: i64,
    ) -> (String, String) {
        let supplier = self.approved_supplier(owner, number).await;
        let mut body = product_body("Carrots");
        body["unit"] = json!(unit);
        body["price"]["amount_minor"] = json!(price_minor);
        let (s, b) = self
            .post(
                &format!("/v1/suppliers/{supplier}/products"),
                &self.supplier(owner),
                body,
            )
            .await;
        assert_eq!(s, 201, "{b}");
        (supplier, b["id"].as_str().expect("id").to_owned())
    }

    /// A delivery slot in zone `AMS-CENTRE`, served from warehouse [`WAREHOUSE`], open from
    /// `starts_at` to `ends_at` for `capacity` orders; returns its id.
    pub async fn delivery_slot(
        &self,
        starts_at: chrono::DateTime<chrono::Utc>,
        ends_at: chrono::DateTime<chrono::Utc>,
        capacity: u32,
    ) -> String {
        let (s, b) = self
            .post(
                "/v1/delivery-slots",
                &self.admin(),
                json!({
                    "zone": "AMS-CENTRE", "warehouse_id": WAREHOUSE,
                    "warehouse_location": {"lat": 52.3676, "lon": 4.9041},
                    "starts_at": starts_at, "ends_at": ends_at, "capacity": capacity
                }),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_str().expect("id").to_owned()
    }

    /// A rider registered by an administrator for `account`; on shift near the warehouse
    /// when `on_shift`. Returns the rider's id.
    pub async fn rider_for(&self, account: &str, on_shift: bool) -> String {
        let (s, b) = self
            .post(
                "/v1/riders",
                &self.admin(),
                json!({"name": "Rosa Rider", "account": account, "cold_chain_capable": true}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        let id = b["id"].as_str().expect("id").to_owned();
        if on_shift {
            let (s, b) = self
                .post(
                    &format!("/v1/riders/{id}/availability"),
                    &self.rider(account),
                    json!({"available": true, "location": {"lat": 52.37, "lon": 4.90}}),
                )
                .await;
            assert_eq!(s, 202, "{b}");
        }
        id
    }

    /// Places `body` as customer `sub`; returns the order id.
    pub async fn place_order(&self, sub: &str, body: Value) -> String {
        let (s, b) = self.post("/v1/orders", &self.customer(sub), body).await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_str().expect("id").to_owned()
    }

    /// Registers a supplier owned by `owner` and returns its id.
    pub async fn register(&self, owner: &str, number: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/suppliers",
                &self.supplier(owner),
                supplier_body(number),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// Registers, files a licence and approves; returns the id.
    pub async fn approved_supplier(&self, owner: &str, number: &str) -> String {
        let id = self.register(owner, number).await;
        let (s, b) = self
            .post(
                &format!("/v1/suppliers/{id}/documents"),
                &self.supplier(owner),
                licence(),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        let (s, b) = self
            .post(
                &format!("/v1/suppliers/{id}/approve"),
                &self.admin(),
                json!({}),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        id
    }
}

pub fn supplier_body(number: &str) -> Value {
    json!({
        "legal_name": "Green Acres B.V.",
        "registration_number": number,
        "contact_email": "ops@greenacres.example",
        "phone": "+31 20 555 0101",
        "address": {"line1": "Dijkweg 1", "city": "Naaldwijk", "postal_code": "2671 AA", "country": "NL"},
        "categories": ["vegetable", "herb"]
    })
}

pub fn licence() -> Value {
    json!({"kind": "business_license", "reference": "KVK-998877", "expires_on": "2030-06-30"})
}

/// Polls `check` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn product_body(name: &str) -> Value {
    serde_json::json!({
        "name": name, "category": "fruit", "tags": ["organic", "local"], "unit": "kg",
        "price": {"amount_minor": 349, "currency": "EUR"}, "origin_country": "NL",
        "nutrition": {"energy_kcal": 52, "protein_g": 0.3, "carbs_g": 14, "fat_g": 0.2, "fiber_g": 2.4},
        "low_stock_threshold": 10
    })
}

/// An answer with the headers tests look at.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Value,
}

impl Reply {
    /// `(status, code)`, to compare refusals in one assertion.
    pub fn refusal(&self) -> (u16, Value) {
        (self.status, self.body["code"].clone())
    }

    /// Whether the answer is an RFC 9457 problem.
    pub fn is_problem(&self) -> bool {
        self.content_type.as_deref() == Some("application/problem+json")
    }

    /// The names of the fields a validation problem lists.
    pub fn fields(&self) -> Vec<String> {
        self.body["fields"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| f["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The warehouse the test slots are served from.
pub const WAREHOUSE: &str = "0190f0e0-0000-7000-8000-000000000001";

/// An order body: `lines` of (product id, quantity) delivered in `slot` to an address in
/// Amsterdam with a known location, paid by card.
pub fn order_body(lines: &[(&str, Value)], slot: &str) -> Value {
    json!({
        "lines": lines.iter().map(|(p, q)| json!({"product_id": p, "quantity": q})).collect::<Vec<_>>(),
        "delivery": {
            "address": {"line1": "Prinsengracht 263", "city": "Amsterdam", "postal_code": "1016 GV",
                        "country": "NL", "location": {"lat": 52.375218, "lon": 4.883977}},
            "slot_id": slot,
            "contact_email": "jo@example.com"
        },
        "payment": {"method": "card", "card_token": "tok_approved"}
    })
}

/// A batch of `quantity` of `product` from `supplier` into the test warehouse, fresh for years.
pub fn batch_body(product: &str, supplier: &str, quantity: Value) -> Value {
    json!({
        "product_id": product, "supplier_id": supplier,
        "warehouse_id": "0190f0e0-0000-7000-8000-000000000001", "quantity": quantity,
        "received_at": "2026-11-20T06:00:00Z", "expires_at": "2030-11-27T06:00:00Z",
        "cold_chain": true, "procurement_price": {"amount_minor": 120, "currency": "EUR"}
    })
}

/// The environment variable that tells a test run as a child process (see [`child_process`])
/// to serve instead of returning at once.
pub const CHILD: &str = "FRESHLINE_TEST_CHILD";

/// This test binary run again with only the ignored test `test` (which serves a service the
/// way `freshline serve` does, from the environment the parent sets), for a test to SIGKILL.
pub fn child_process(test: &str) -> std::process::Command {
    let mut c = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    c.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, "1");
    c
}

/// Whether this run is a child process started by [`child_process`].
pub fn is_child() -> bool {
    std::env::var(CHILD).as_deref() == Ok("1")
}
