//! Token verification as an identity provider would use it: JWKS over HTTP with key rotation,
//! JWKS files re-read when a key is added, RS256 keys, and tokens that must never verify.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::auth::{self, Actor, AuthError, Role, Signer, Verifier};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const AUD: &str = platform::config::defaults::AUDIENCE;

fn claims(sub: &str) -> auth::Claims {
    auth::claims(
        sub,
        &Actor::Person(Role::Admin),
        Role::Admin.default_scopes(),
        600,
        "idp",
    )
}

/// Serves whatever JWKS the test puts in the returned cell, like an identity provider.
async fn jwks_server(initial: Value) -> (String, Arc<Mutex<Value>>) {
    let cell = Arc::new(Mutex::new(initial));
    let served = cell.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let served = served.clone();
            async move { axum::Json(served.lock().expect("lock").clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (format!("http://{addr}/jwks.json"), cell)
}

#[tokio::test]
async fn keys_rotate_through_a_jwks_url_without_a_restart() {
    let k1 = auth::generate_key("k1").expect("key");
    let k2 = auth::generate_key("k2").expect("key");
    let (url, published) = jwks_server(json!({"keys": [k1.public_jwk]})).await;
    let verifier = Verifier::from_jwks_url(&url, AUD, Some("idp"))
        .await
        .expect("verifier");
    let old = Signer::from_pem("k1", &k1.private_pem)
        .expect("signer")
        .sign(&claims("a"))
        .expect("sign");
    let new = Signer::from_pem("k2", &k2.private_pem)
        .expect("signer")
        .sign(&claims("b"))
        .expect("sign");
    assert!(verifier.verify_refreshing(&old).await.is_ok());

    // The provider publishes a second key: tokens signed with it verify at once.
    *published.lock().expect("lock") = json!({"keys": [k1.public_jwk, k2.public_jwk]});
    assert_eq!(
        verifier
            .verify_refreshing(&new)
            .await
            .expect("new key")
            .subject,
        "b"
    );
    assert!(
        verifier.verify_refreshing(&old).await.is_ok(),
        "old tokens keep working"
    );

    // The old key is withdrawn: after the next fetch its tokens are refused.
    *published.lock().expect("lock") = json!({"keys": [k2.public_jwk]});
    assert_eq!(verifier.refresh().await.expect("refresh"), 1);
    assert!(matches!(
        verifier.verify_refreshing(&old).await,
        Err(AuthError::UnknownKey)
    ));
    assert!(verifier.verify_refreshing(&new).await.is_ok());
}

#[tokio::test]
async fn a_key_added_to_the_jwks_file_is_picked_up() {
    let dir = std::env::temp_dir().join(format!("freshline-jwks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("jwks.json");
    let k1 = auth::generate_key("k1").expect("key");
    let k2 = auth::generate_key("k2").expect("key");
    std::fs::write(&path, json!({"keys": [k1.public_jwk]}).to_string()).expect("write");
    let verifier =
        Verifier::from_jwks_file(path.to_str().expect("utf-8"), AUD, None).expect("verifier");
    std::fs::write(
        &path,
        json!({"keys": [k1.public_jwk, k2.public_jwk]}).to_string(),
    )
    .expect("write");
    let new = Signer::from_pem("k2", &k2.private_pem)
        .expect("signer")
        .sign(&claims("b"))
        .expect("sign");
    assert!(verifier.verify_refreshing(&new).await.is_ok());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn rs256_keys_from_an_identity_provider_are_accepted() {
    let jwk: Value =
        serde_json::from_str(include_str!("fixtures/rsa-test-key.jwk.json")).expect("jwk");
    let verifier = Verifier::from_jwks_json(&json!({"keys": [jwk]}).to_string(), AUD, Some("idp"))
        .expect("verifier");
    let key =
        EncodingKey::from_rsa_pem(include_bytes!("fixtures/rsa-test-key.pem")).expect("rsa key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("idp-rsa-1".into());
    let token = jsonwebtoken::encode(&header, &claims("keycloak-user"), &key).expect("sign");
    assert_eq!(
        verifier.verify(&token).expect("RS256 verifies").subject,
        "keycloak-user"
    );

    // The same key id with another algorithm is refused: the key decides the algorithm.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("idp-rsa-1".into());
    let public_as_secret = serde_json::to_vec(&jwk).expect("bytes");
    let forged = jsonwebtoken::encode(
        &hs,
        &claims("mallory"),
        &EncodingKey::from_secret(&public_as_secret),
    )
    .expect("sign");
    assert!(matches!(
        verifier.verify(&forged),
        Err(AuthError::Invalid(_))
    ));
}

#[test]
fn key_sets_that_cannot_be_trusted_are_refused_at_start() {
    let k = auth::generate_key("same").expect("key");
    let twice = json!({"keys": [k.public_jwk, k.public_jwk]}).to_string();
    assert!(
        Verifier::from_jwks_json(&twice, AUD, None).is_err(),
        "duplicate kid"
    );
    let no_kid =
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": k.public_jwk["x"]}]}).to_string();
    assert!(
        Verifier::from_jwks_json(&no_kid, AUD, None).is_err(),
        "missing kid"
    );
    let symmetric = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]}).to_string();
    assert!(
        Verifier::from_jwks_json(&symmetric, AUD, None).is_err(),
        "shared secrets"
    );
}

/// A verifier over one fresh Ed25519 key, and a signer of raw JSON claims with it.
fn one_key() -> (Verifier, impl Fn(&Value) -> String) {
    let k = auth::generate_key("k").expect("key");
    let verifier =
        Verifier::from_jwks_json(&json!({"keys": [k.public_jwk]}).to_string(), AUD, None)
            .expect("verifier");
    let key = EncodingKey::from_ed_pem(k.private_pem.as_bytes()).expect("key");
    let sign = move |claims: &Value| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k".into());
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    };
    (verifier, sign)
}

fn refusal(verifier: &Verifier, token: &str) -> String {
    match verifier.verify(token) {
        Err(AuthError::Invalid(why)) => why,
        other => panic!("expected an invalid token, got {other:?}"),
    }
}

#[test]
fn tokens_must_say_when_they_were_issued_and_live_at_most_a_day() {
    let (verifier, sign) = one_key();
    let now = chrono::Utc::now().timestamp();
    let base = |iat: Option<i64>, exp: i64| {
        let mut c = json!({"sub": "s", "aud": AUD, "exp": exp, "role": "admin", "scope": ""});
        if let Some(iat) = iat {
            c["iat"] = json!(iat);
        }
        c
    };
    assert!(verifier.verify(&sign(&base(Some(now), now + 600))).is_ok());
    // Exactly the longest lifetime is fine; one second more is not.
    let day = auth::DEFAULT_MAX_TOKEN_LIFETIME_SECS;
    assert!(verifier
        .verify(&sign(&base(Some(now - 10), now - 10 + day)))
        .is_ok());
    assert!(refusal(&verifier, &sign(&base(Some(now), now + day + 1))).contains("lives longer"));
    // A ten-year token, as a leaked long-lived credential would be.
    assert!(
        refusal(&verifier, &sign(&base(Some(now), now + 10 * 365 * 86400)))
            .contains("lives longer")
    );
    assert!(refusal(&verifier, &sign(&base(None, now + 600))).contains("iat"));
    assert!(refusal(&verifier, &sign(&base(Some(now + 3600), now + 4000))).contains("future"));
    // Within the clock leeway (30 s) a slightly early iat is accepted.
    assert!(verifier
        .verify(&sign(&base(Some(now + 5), now + 600)))
        .is_ok());

    let (short, sign_short) = one_key();
    let short = short.with_max_lifetime(300);
    assert!(refusal(&short, &sign_short(&base(Some(now), now + 600))).contains("300"));
}

#[test]
fn encryption_keys_of_a_key_set_never_verify_a_signature() {
    let sig = auth::generate_key("sig").expect("key");
    let enc = auth::generate_key("enc").expect("key");
    let ops = auth::generate_key("wrap").expect("key");
    let mut enc_jwk = enc.public_jwk.clone();
    enc_jwk["use"] = json!("enc");
    let mut ops_jwk = ops.public_jwk.clone();
    ops_jwk.as_object_mut().expect("object").remove("use");
    ops_jwk["key_ops"] = json!(["wrapKey"]);
    let set = json!({"keys": [sig.public_jwk, enc_jwk, ops_jwk]}).to_string();
    // Published beside signing keys (as Keycloak does), they are left out, not an error.
    let verifier = Verifier::from_jwks_json(&set, AUD, None).expect("verifier");
    let token = |kid: &str, pem: &str| {
        Signer::from_pem(kid, pem)
            .expect("signer")
            .sign(&claims("x"))
            .expect("sign")
    };
    assert!(verifier.verify(&token("sig", &sig.private_pem)).is_ok());
    for (kid, pem) in [("enc", &enc.private_pem), ("wrap", &ops.private_pem)] {
        assert!(
            matches!(
                verifier.verify(&token(kid, pem)),
                Err(AuthError::UnknownKey)
            ),
            "a token signed with the {kid} key verified"
        );
    }
}
