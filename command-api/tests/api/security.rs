//! Authentication, scopes, owners, and bad input: every refusal is a 4xx problem and appends
//! nothing.

use crate::helpers::*;
use base64::Engine as _;
use platform::auth::{Actor, Role};
use serde_json::json;

/// What is sent, what comes back: (what, path, content type, body, status, code, field).
type Case = (
    &'static str,
    String,
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
    Option<&'static str>,
);

/// Every write route with a plausible body.
fn write_routes(id: &str) -> Vec<(String, serde_json::Value)> {
    vec![
        ("/v1/suppliers".to_owned(), supplier_body("NL-900")),
        (format!("/v1/suppliers/{id}/documents"), licence()),
        (format!("/v1/suppliers/{id}/approve"), json!({})),
        (
            format!("/v1/suppliers/{id}/reject"),
            json!({"reason": "because I can"}),
        ),
        (
            format!("/v1/suppliers/{id}/suspend"),
            json!({"reason": "because I can"}),
        ),
        (format!("/v1/suppliers/{id}/reinstate"), json!({})),
        (
            format!("/v1/suppliers/{id}/products"),
            crate::helpers::product_body("Apples"),
        ),
        (
            format!("/v1/products/{id}/discontinue"),
            json!({"reason": "because I can"}),
        ),
        (
            format!("/v1/products/{id}/images/{id}/processed"),
            json!({"thumbnail": {"key": "a", "width": 1, "height": 1}, "medium": {"key": "b", "width": 1, "height": 1}}),
        ),
        (
            format!("/v1/products/{id}/images/{id}/failed"),
            json!({"reason": "because I can"}),
        ),
        (
            "/v1/inventory/batches".to_owned(),
            json!({"product_id": id, "supplier_id": id, "warehouse_id": id, "quantity": 1,
                   "received_at": "2026-01-01T00:00:00Z", "expires_at": "2027-01-01T00:00:00Z",
                   "procurement_price": {"amount_minor": 1, "currency": "EUR"}}),
        ),
        (
            format!("/v1/inventory/batches/{id}/reservations"),
            json!({"order_id": id, "quantity": 1}),
        ),
        (
            format!("/v1/inventory/batches/{id}/reservations/{id}/release"),
            json!({}),
        ),
        (
            format!("/v1/inventory/batches/{id}/reservations/{id}/commit"),
            json!({}),
        ),
        (
            format!("/v1/inventory/batches/{id}/spoilage"),
            json!({"quantity": 1, "reason": "damaged"}),
        ),
        (format!("/v1/inventory/batches/{id}/expire"), json!({})),
        (
            format!("/v1/suppliers/{id}/products/bulk"),
            json!({"products": [crate::helpers::product_body("Apples")]}),
        ),
        (
            "/v1/inventory/batches/bulk".to_owned(),
            json!({"batches": []}),
        ),
        (
            "/v1/inventory/stock-alerts".to_owned(),
            json!({"product_id": id, "warehouse_id": id, "available": 1, "threshold": 2}),
        ),
        (
            format!("/v1/inventory/batches/{id}/expiring-soon"),
            json!({"horizon_hours": 48}),
        ),
    ]
}

#[tokio::test]
async fn a_delivery_service_token_cannot_change_any_supplier_data() {
    let app = TestApp::spawn().await;
    let id = app.register("acct-1", "NL-200").await;
    let before = app.db.event_count().await;
    // Its default scopes, and even a token that also claims a role-like scope set.
    let tokens = [
        app.service("delivery"),
        app.token(
            "svc-delivery",
            Actor::Service("delivery".into()),
            &["deliveries:update", "orders:read", "suppliers:read"],
        ),
    ];
    for token in &tokens {
        for (route, body) in write_routes(&id) {
            let (s, b) = app.post(&route, token, body).await;
            assert_eq!(s, 403, "{route}: {b}");
            assert_eq!(b["code"], "insufficient_scope", "{route}");
            assert!(b["required_scope"].as_str().is_some_and(|s| {
                s.starts_with("suppliers:")
                    || s.starts_with("catalog:")
                    || s.starts_with("inventory:")
            }));
        }
    }
    // The scope is checked before the body is read: garbage still gets 403, not 415 or 422.
    for (route, _) in write_routes(&id) {
        let r = app
            .client
            .post(format!("{}{route}", app.base))
            .bearer_auth(&tokens[0])
            .header("content-type", "text/plain")
            .body("garbage")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 403, "{route}");
    }
    let (s, b) = app
        .patch(
            &format!("/v1/products/{id}"),
            &tokens[0],
            json!({"name": "Mine"}),
        )
        .await;
    assert_eq!(
        (s, b["code"].clone()),
        (403, json!("insufficient_scope")),
        "{b}"
    );
    assert_eq!(app.db.event_count().await, before);
}

#[tokio::test]
async fn people_without_the_role_are_refused_even_with_the_scope() {
    let app = TestApp::spawn().await;
    let id = app.register("acct-1", "NL-201").await;
    let supplier_with_approve = app.token(
        "acct-1",
        Actor::Person(Role::Supplier),
        &["suppliers:approve"],
    );
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{id}/approve"),
            &supplier_with_approve,
            json!({}),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (403, json!("insufficient_scope")));
    let rider = app.token("r-1", Actor::Person(Role::Rider), &["suppliers:write"]);
    let (s, _) = app
        .post(&format!("/v1/suppliers/{id}/documents"), &rider, licence())
        .await;
    assert_eq!(s, 403);
    assert_eq!(app.db.event_count().await, 1);
}

#[tokio::test]
async fn the_ops_service_may_approve_with_its_scope() {
    let app = TestApp::spawn().await;
    let id = app.register("acct-1", "NL-202").await;
    app.post(
        &format!("/v1/suppliers/{id}/documents"),
        &app.supplier("acct-1"),
        licence(),
    )
    .await;
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{id}/approve"),
            &app.service("ops"),
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let events = app.db.events_of(&id).await;
    assert_eq!(events.last().expect("event").3["actor_service"], "ops");
}

#[tokio::test]
async fn a_supplier_acts_only_on_its_own_record() {
    let app = TestApp::spawn().await;
    let id = app.register("acct-1", "NL-203").await;
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{id}/documents"),
            &app.supplier("acct-2"),
            licence(),
        )
        .await;
    assert_eq!((s, b["code"].clone()), (403, json!("not_owner")));
    assert_eq!(app.db.event_count().await, 1);
}

#[tokio::test]
async fn only_admins_choose_an_owner() {
    let app = TestApp::spawn().await;
    let mut body = supplier_body("NL-204");
    body["owner_subject"] = json!("someone-else");
    let (s, b) = app
        .post("/v1/suppliers", &app.supplier("acct-1"), body.clone())
        .await;
    assert_eq!(
        (s, b["fields"][0]["field"].clone()),
        (422, json!("owner_subject"))
    );
    let (s, b) = app.post("/v1/suppliers", &app.admin(), body).await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_str().expect("id");
    let (s, _) = app
        .post(
            &format!("/v1/suppliers/{id}/documents"),
            &app.supplier("someone-else"),
            licence(),
        )
        .await;
    assert_eq!(s, 202);
}

#[tokio::test]
async fn bad_tokens_are_401_problems() {
    let app = TestApp::spawn().await;
    let valid = app.admin();
    let (header, rest) = valid.split_once('.').expect("jwt");
    let (payload, _sig) = rest.split_once('.').expect("jwt");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none_header = b64.encode(br#"{"alg":"none","typ":"JWT","kid":"test-key"}"#);
    let hs_header = b64.encode(br#"{"alg":"HS256","typ":"JWT","kid":"test-key"}"#);
    let mut claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(payload).expect("b64")).expect("json");
    claims["role"] = json!("admin");
    let other_key = platform::auth::generate_key("test-key").expect("key");
    let forged = platform::auth::Signer::from_pem("test-key", &other_key.private_pem)
        .expect("signer")
        .sign(&platform::auth::claims(
            "admin-1",
            &Actor::Person(Role::Admin),
            Role::Admin.default_scopes(),
            600,
            platform::config::defaults::ISSUER,
        ))
        .expect("sign");
    let mut expired_claims = platform::auth::claims(
        "admin-1",
        &Actor::Person(Role::Admin),
        Role::Admin.default_scopes(),
        600,
        platform::config::defaults::ISSUER,
    );
    expired_claims.exp -= 3600;
    expired_claims.iat = expired_claims.iat.map(|t| t - 3600);
    expired_claims.nbf = expired_claims.iat;
    let expired = app.signer.sign(&expired_claims).expect("sign");
    let mut wrong_aud = platform::auth::claims(
        "admin-1",
        &Actor::Person(Role::Admin),
        Role::Admin.default_scopes(),
        600,
        platform::config::defaults::ISSUER,
    );
    wrong_aud.aud = platform::auth::Audience::One("someone-else".into());
    let wrong_aud = app.signer.sign(&wrong_aud).expect("sign");
    let bad = [
        ("garbage", "not.a.jwt".to_owned()),
        ("alg none", format!("{none_header}.{payload}.")),
        (
            "HS256 with the public key",
            format!("{hs_header}.{payload}.{}", b64.encode(b"sig")),
        ),
        ("signed by another key", forged),
        ("expired", expired),
        ("wrong audience", wrong_aud),
        ("tampered header", format!("{header}x.{rest}")),
    ];
    for (what, token) in bad {
        let (s, b) = app
            .post("/v1/suppliers", &token, supplier_body("NL-205"))
            .await;
        assert_eq!(s, 401, "{what}: {b}");
        assert_eq!(b["code"], "unauthenticated", "{what}");
    }
    let r = app
        .client
        .post(format!("{}/v1/suppliers", app.base))
        .json(&supplier_body("NL-205"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(app.db.event_count().await, 0);
}

#[tokio::test]
async fn bad_bodies_are_4xx_problems_naming_the_fields_and_append_nothing() {
    let app = TestApp::spawn().await;
    let id = app.register("acct-1", "NL-206").await;
    let token = app.supplier("acct-1");
    let admin = app.admin();
    let send_raw = |path: String, content_type: &'static str, body: Vec<u8>, token: String| {
        let client = app.client.clone();
        let url = format!("{}{path}", app.base);
        async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("send");
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, ct, body)
        }
    };
    let docs = format!("/v1/suppliers/{id}/documents");
    let cases: Vec<Case> = vec![
        (
            "wrong content type",
            docs.clone(),
            "text/plain",
            b"kind=x".to_vec(),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "too large",
            docs.clone(),
            "application/json",
            vec![b' '; MAX_BODY + 10],
            413,
            "payload_too_large",
            None,
        ),
        (
            "malformed",
            docs.clone(),
            "application/json",
            b"{\"kind\": ".to_vec(),
            400,
            "malformed_json",
            None,
        ),
        (
            "not an object",
            docs.clone(),
            "application/json",
            b"[1,2]".to_vec(),
            422,
            "validation_failed",
            Some("body"),
        ),
        (
            "unknown enum value",
            docs.clone(),
            "application/json",
            br#"{"kind":"passport","reference":"x","expires_on":"2030-01-01"}"#.to_vec(),
            422,
            "validation_failed",
            Some("kind"),
        ),
        (
            "wrong type",
            docs.clone(),
            "application/json",
            br#"{"kind":"tax_certificate","reference":7,"expires_on":"2030-01-01"}"#.to_vec(),
            422,
            "validation_failed",
            Some("reference"),
        ),
        (
            "bad date",
            docs.clone(),
            "application/json",
            br#"{"kind":"tax_certificate","reference":"x","expires_on":"2030-02-30"}"#.to_vec(),
            422,
            "validation_failed",
            Some("expires_on"),
        ),
        (
            "expired document",
            docs.clone(),
            "application/json",
            br#"{"kind":"tax_certificate","reference":"x","expires_on":"2001-01-01"}"#.to_vec(),
            422,
            "validation_failed",
            Some("expires_on"),
        ),
        (
            "missing field",
            docs.clone(),
            "application/json",
            br#"{"kind":"tax_certificate"}"#.to_vec(),
            422,
            "validation_failed",
            Some("reference"),
        ),
        (
            "unknown field",
            docs.clone(),
            "application/json",
            br#"{"kind":"tax_certificate","reference":"x","expires_on":"2030-01-01","x":1}"#
                .to_vec(),
            422,
            "validation_failed",
            Some("x"),
        ),
        (
            "over-long string",
            docs.clone(),
            "application/json",
            format!(
                r#"{{"kind":"tax_certificate","reference":"{}","expires_on":"2030-01-01"}}"#,
                "x".repeat(101)
            )
            .into_bytes(),
            422,
            "validation_failed",
            Some("reference"),
        ),
        (
            "invalid uuid",
            "/v1/suppliers/not-a-uuid/documents".into(),
            "application/json",
            serde_json::to_vec(&licence()).expect("json"),
            422,
            "validation_failed",
            Some("id"),
        ),
        (
            "unknown supplier",
            format!("/v1/suppliers/{}/documents", uuid::Uuid::now_v7()),
            "application/json",
            serde_json::to_vec(&licence()).expect("json"),
            404,
            "not_found",
            None,
        ),
    ];
    for (what, path, ct, body, status, code, field) in cases {
        let tok = if path.ends_with("approve") {
            admin.clone()
        } else {
            token.clone()
        };
        let (s, content_type, b) = send_raw(path, ct, body, tok).await;
        assert_eq!(s, status, "{what}: {b}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{what}"
        );
        assert_eq!(b["code"], code, "{what}: {b}");
        if let Some(field) = field {
            assert_eq!(b["fields"][0]["field"], field, "{what}: {b}");
        }
    }
    let mut bad_register = supplier_body("x");
    bad_register["address"]["country"] = json!("XX");
    bad_register["phone"] = json!("call me");
    bad_register["categories"] = json!(["fruit", "meat"]);
    let (s, b) = app.post("/v1/suppliers", &token, bad_register).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["fields"][0]["field"], "categories[1]", "{b}");
    let mut bad_register = supplier_body("x");
    bad_register["address"]["country"] = json!("XX");
    bad_register["phone"] = json!("call me");
    let (s, b) = app.post("/v1/suppliers", &token, bad_register).await;
    assert_eq!(s, 422);
    let fields: Vec<&str> = b["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(fields, ["registration_number", "phone", "address.country"]);
    assert_eq!(
        app.db.event_count().await,
        1,
        "only the registration of the setup"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(format!("{}/v1/nothing", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = app
        .client
        .delete(format!("{}/v1/suppliers", app.base))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 405);
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let app = TestApp::spawn().await;
    app.register("acct-1", "NL-207").await;
    let get = |p: &str| app.client.get(format!("{}{p}", app.base)).send();
    assert_eq!(get("/healthz").await.expect("send").status().as_u16(), 200);
    let ready: serde_json::Value = get("/readyz")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["checks"]["postgres"], "ok");
    let metrics = get("/metrics")
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains(r#"freshline_commands_total{aggregate="Supplier",command="register",result="accepted"} 1"#), "{metrics}");
    assert!(metrics.contains("freshline_http_requests_total"));
    let openapi: serde_json::Value = get("/openapi.json")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    for path in [
        "/v1/suppliers",
        "/v1/suppliers/{id}/approve",
        "/v1/suppliers/{id}/reinstate",
    ] {
        assert!(
            openapi["paths"][path]["post"].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    // Every route the other services and the CLI call (schemas::api::calls) is one this
    // document describes, with its method.
    for (method, template) in schemas::api::calls::ROUTES {
        let method = method.openapi_key();
        assert!(
            openapi["paths"][*template][method].is_object(),
            "{method} {template} is called but not served"
        );
    }
}

#[tokio::test]
async fn a_token_over_its_rate_limit_gets_429_with_retry_after() {
    let app = TestApp::spawn().await;
    let token = app.token("greedy", Actor::Person(Role::Customer), &[]);
    let url = format!("{}/v1/suppliers", app.base);
    let mut limited = None;
    for _ in 0..(RATE_BURST as usize + 50) {
        let r = app
            .client
            .post(&url)
            .bearer_auth(&token)
            .json(&supplier_body("NL-999"))
            .send()
            .await
            .expect("send");
        if r.status().as_u16() == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status().as_u16(), 403);
    }
    let r = limited.expect("the limit is reached within burst + 50 requests");
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["code"], "rate_limited");
    // Another subject is not affected.
    let (s, _) = app
        .post(
            "/v1/suppliers",
            &app.supplier("acct-1"),
            supplier_body("NL-998"),
        )
        .await;
    assert_eq!(s, 201);
}
