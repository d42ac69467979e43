//! People log in through the real Keycloak of the local stack and use the tokens it issues:
//! the realm maps roles to Freshline's `role` and `scope` claims, self-registered people are
//! customers, refresh tokens work, and sensitive operations need a second factor.

use crate::helpers::{licence, supplier_body, TestApp};
use platform::idp;
use serde_json::json;
use test_support::keycloak;

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

#[tokio::test]
async fn the_realm_file_is_what_the_roles_and_scopes_say() {
    // `freshline idp realm --check` fails when infra/keycloak/freshline-realm.json and the
    // generator (which reads the scopes every route checks) disagree.
    let status = std::process::Command::new(env!("CARGO"))
        .args([
            "run",
            "-q",
            "-p",
            "freshline-cli",
            "--bin",
            "freshline",
            "--",
        ])
        .args(["idp", "realm", "--check"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../infra/keycloak/freshline-realm.json"
        ))
        .status()
        .expect("run freshline idp realm");
    assert!(status.success(), "the realm file is stale");
}

#[tokio::test]
async fn a_new_customer_signs_up_logs_in_and_refreshes_its_token() {
    let app = TestApp::spawn_with_keycloak().await;
    let username = unique("shopper");
    let signed_up = keycloak::sign_up(
        &username,
        &format!("{username}@example.test"),
        "a-long-password-1",
    )
    .await;
    let claims = signed_up.claims();
    assert_eq!(claims["role"], "customer", "{claims}");
    assert_eq!(claims["iss"], keycloak::issuer());
    let scope = claims["scope"].as_str().expect("scope");
    for needed in ["customers:write", "carts:write", "orders:write"] {
        assert!(scope.split(' ').any(|s| s == needed), "{needed} in {scope}");
    }
    assert!(
        !scope.contains("suppliers:approve"),
        "a customer never gets staff scopes: {scope}"
    );

    // The password grant works for the new account; the refresh token gives a new token.
    let login = keycloak::password_login(&username, "a-long-password-1", None)
        .await
        .expect("login");
    assert_eq!(login.claims()["sub"], claims["sub"]);
    let refreshed = keycloak::refresh(&login).await.expect("refresh");
    assert_ne!(refreshed.access, login.access);
    assert_eq!(refreshed.claims()["sub"], claims["sub"]);

    // The services accept what Keycloak issued, and hold the customer to its role: it may not
    // register a supplier.
    let (status, body) = app
        .post("/v1/suppliers", &refreshed.access, supplier_body("KC-1"))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "insufficient_scope");

    // A wrong password is refused by Keycloak.
    let refused = keycloak::password_login(&username, "wrong-password", None)
        .await
        .expect_err("wrong password");
    assert_eq!(refused.status, 401, "{:?}", refused.body);
}

#[tokio::test]
async fn approving_a_supplier_needs_a_second_factor() {
    let app = TestApp::spawn_with_keycloak().await;
    let owner = unique("owner");
    let id = app.register(&owner, &unique("KC")).await;
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{id}/documents"),
            &app.supplier(&owner),
            licence(),
        )
        .await;
    assert_eq!(s, 202, "{b}");

    // An admin of the test's own, with a password only.
    let admin_api = keycloak::Admin::connect().await;
    let username = unique("ops");
    admin_api
        .create_user(&username, "an-admin-password-1", "admin")
        .await;
    let password_only = keycloak::password_login(&username, "an-admin-password-1", None)
        .await
        .expect("login");
    assert_eq!(password_only.claims()["role"], "admin");
    let (status, body) = app
        .post(
            &format!("/v1/suppliers/{id}/approve"),
            &password_only.access,
            json!({"note": "documents checked"}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "mfa_required", "{body}");
    // Reading and other admin work need no second factor.
    let (status, body) = app
        .post(
            &format!("/v1/suppliers/{id}/reject"),
            &password_only.access,
            json!({"reason": "no"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("mfa_required")),
        "{body}"
    );

    // The demo admin logs in with its one-time password: the token says so, and approval works.
    let demo = idp::DEMO_USERS
        .iter()
        .find(|u| u.otp)
        .expect("the demo admin has OTP");
    let without_code = keycloak::password_login(demo.username, demo.password, None).await;
    assert!(
        without_code.is_err(),
        "a user with OTP cannot log in without its code"
    );
    let with_otp =
        keycloak::login_with_totp(demo.username, demo.password, idp::DEMO_ADMIN_TOTP_SECRET).await;
    let amr = with_otp.claims()["amr"].clone();
    assert!(
        amr.as_array().is_some_and(|m| m.iter().any(|v| v == "otp")),
        "amr {amr}"
    );
    let (status, body) = app
        .post(
            &format!("/v1/suppliers/{id}/approve"),
            &with_otp.access,
            json!({"note": "documents checked"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let events = app.db.events_of(&id).await;
    let approved = events.last().expect("events");
    assert_eq!(approved.1, "SupplierApproved");
    assert_eq!(approved.3["actor_sub"], demo.id, "{}", approved.3);
}

#[tokio::test]
async fn locally_minted_tokens_show_a_second_factor_only_when_asked() {
    let app = TestApp::spawn().await;
    let id = app.register("owner-mfa", "MFA-1").await;
    let (s, _) = app
        .post(
            &format!("/v1/suppliers/{id}/documents"),
            &app.supplier("owner-mfa"),
            licence(),
        )
        .await;
    assert_eq!(s, 202);
    for path in ["approve", "suspend", "reinstate", "reject"] {
        let (status, body) = app
            .post(
                &format!("/v1/suppliers/{id}/{path}"),
                &app.admin_without_second_factor(),
                json!({"reason": "r", "note": "n"}),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("mfa_required")),
            "{path}: {body}"
        );
    }
    let (status, body) = app
        .post(
            "/v1/payments/00000000-0000-4000-8000-000000000001/refund",
            &app.admin_without_second_factor(),
            json!({"amount": {"amount_minor": 100, "currency": "EUR"}, "reason": "r"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("mfa_required")),
        "{body}"
    );
    let (status, body) = app
        .post(
            &format!("/v1/suppliers/{id}/approve"),
            &app.admin(),
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
}
