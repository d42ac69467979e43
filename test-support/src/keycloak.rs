//! Logging in against the real Keycloak of the local stack (`infra/local/keycloak-up.sh`), as
//! its users would: the password grant (with a TOTP code computed from the user's secret),
//! self-registration through Keycloak's own HTML forms followed by the authorization code
//! flow with PKCE, refresh tokens; and users of a test's own, made through the admin API with
//! the tests' client's service account, so tests never share an account.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use platform::idp;
use serde_json::{json, Value};

/// The realm's issuer (`FRESHLINE_TEST_KEYCLOAK_URL`, default `http://127.0.0.1:8180`).
pub fn issuer() -> String {
    let base = crate::env_or("FRESHLINE_TEST_KEYCLOAK_URL", "http://127.0.0.1:8180");
    format!("{}/realms/{}", base.trim_end_matches('/'), idp::REALM)
}

fn base_url() -> String {
    crate::env_or("FRESHLINE_TEST_KEYCLOAK_URL", "http://127.0.0.1:8180")
        .trim_end_matches('/')
        .to_owned()
}

/// The issuer's JWKS URL.
pub fn jwks_url() -> String {
    format!("{}/protocol/openid-connect/certs", issuer())
}

fn token_url() -> String {
    format!("{}/protocol/openid-connect/token", issuer())
}

/// The current TOTP code (RFC 6238: HMAC-SHA1, 30 s, 6 digits) for a secret as Keycloak keeps
/// it (its bytes are the key), `offset` periods from now.
pub fn totp(secret: &str, offset: i64) -> String {
    use hmac::{Hmac, Mac};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let counter = u64::try_from(i64::try_from(now / 30).expect("time") + offset).expect("time");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]);
    format!("{:06}", bin % 1_000_000)
}

/// What the token endpoint answered.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The access token (a JWT the services verify).
    pub access: String,
    /// The refresh token.
    pub refresh: String,
}

impl Tokens {
    /// The access token's claims (not verified: for assertions).
    pub fn claims(&self) -> Value {
        let payload = self.access.split('.').nth(1).expect("a JWT");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
    }
}

/// Why a login was refused: the token endpoint's status and body.
#[derive(Debug, Clone)]
pub struct Refused {
    /// HTTP status.
    pub status: u16,
    /// Body (`error`, `error_description`).
    pub body: Value,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn token_request(form: &[(&str, &str)]) -> Result<Tokens, Refused> {
    let mut all = vec![
        ("client_id", idp::TEST_CLIENT),
        ("client_secret", idp::TEST_CLIENT_SECRET),
    ];
    all.extend_from_slice(form);
    let response = client()
        .post(token_url())
        .form(&all)
        .send()
        .await
        .expect("Keycloak reachable (infra/local/keycloak-up.sh)");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match (
        body["access_token"].as_str(),
        body["refresh_token"].as_str(),
    ) {
        (Some(a), Some(r)) if status == 200 => Ok(Tokens {
            access: a.to_owned(),
            refresh: r.to_owned(),
        }),
        _ => Err(Refused { status, body }),
    }
}

/// The password grant (direct access), with a TOTP code for users who have one.
///
/// # Errors
/// What the token endpoint answered when it refused.
pub async fn password_login(
    username: &str,
    password: &str,
    totp_code: Option<&str>,
) -> Result<Tokens, Refused> {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
        ("scope", "openid"),
    ];
    if let Some(code) = totp_code {
        form.push(("totp", code));
    }
    token_request(&form).await
}

/// Logs in a user with a TOTP secret. A code is accepted once (Keycloak refuses a code used
/// before), so when the current period's code was taken the next period's is tried.
pub async fn login_with_totp(username: &str, password: &str, secret: &str) -> Tokens {
    for attempt in 0..3 {
        match password_login(username, password, Some(&totp(secret, 0))).await {
            Ok(t) => return t,
            Err(e) if attempt < 2 => {
                let _ = e; // the code of this period was used; the next one is fresh
                tokio::time::sleep(std::time::Duration::from_secs(31)).await;
            }
            Err(e) => panic!("TOTP login refused: {e:?}"),
        }
    }
    unreachable!()
}

/// A new access token from a refresh token.
///
/// # Errors
/// What the token endpoint answered when it refused.
pub async fn refresh(tokens: &Tokens) -> Result<Tokens, Refused> {
    token_request(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &tokens.refresh),
    ])
    .await
}

const CALLBACK: &str = "http://127.0.0.1/callback";

fn html_unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// The `action` of the form with `id` in an HTML page.
fn form_action(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let form_start = html[..at].rfind("<form")?;
    let tag = &html[form_start..form_start + html[form_start..].find('>')?];
    let a = tag.find("action=\"")? + "action=\"".len();
    let end = tag[a..].find('"')?;
    Some(html_unescape(&tag[a..a + end]))
}

/// A new person signs up on Keycloak's registration page (as a browser would: the
/// authorization request with PKCE, the form posted with the page's cookies), and the
/// authorization code that comes back is exchanged for tokens. Self-registered users are
/// customers.
pub async fn sign_up(username: &str, email: &str, password: &str) -> Tokens {
    use rand::RngCore as _;
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let verifier = URL_SAFE_NO_PAD.encode(raw);
    let challenge = {
        use sha2::Digest as _;
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    // Follow redirects inside Keycloak, never to the callback (nobody listens there).
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(std::time::Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.url().as_str().starts_with(CALLBACK) {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .expect("client");
    let page = browser
        .get(format!(
            "{}/protocol/openid-connect/registrations",
            issuer()
        ))
        .query(&[
            ("client_id", idp::TEST_CLIENT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", CALLBACK),
            ("state", "signup"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("registration page")
        .text()
        .await
        .expect("page");
    let action = form_action(&page, "kc-register-form")
        .unwrap_or_else(|| panic!("no registration form in: {}", &page[..page.len().min(2000)]));
    let answer = browser
        .post(action)
        .form(&[
            ("username", username),
            ("email", email),
            ("firstName", "Test"),
            ("lastName", "Customer"),
            ("password", password),
            ("password-confirm", password),
        ])
        .send()
        .await
        .expect("registration");
    let location = answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("registration did not redirect: {}", answer.status()));
    let url = reqwest::Url::parse(&location).expect("callback url");
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {location}"));
    token_request(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", &verifier),
    ])
    .await
    .expect("code exchange")
}

/// The admin API, as the tests' client's service account (it manages the realm's users).
#[derive(Debug)]
pub struct Admin {
    token: String,
    http: reqwest::Client,
}

impl Admin {
    /// Logs the service account in (client credentials).
    pub async fn connect() -> Self {
        let response = client()
            .post(token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", idp::TEST_CLIENT),
                ("client_secret", idp::TEST_CLIENT_SECRET),
            ])
            .send()
            .await
            .expect("Keycloak reachable");
        let body: Value = response.json().await.expect("token");
        Self {
            token: body["access_token"]
                .as_str()
                .unwrap_or_else(|| panic!("service account login: {body}"))
                .to_owned(),
            http: client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/admin/realms/{}{path}", base_url(), idp::REALM)
    }

    /// A new user with a password and exactly one realm role (the default customer role is
    /// taken away from staff); returns its id (the `sub` of its tokens).
    pub async fn create_user(&self, username: &str, password: &str, role: &str) -> String {
        let created = self
            .http
            .post(self.url("/users"))
            .bearer_auth(&self.token)
            .json(&json!({
                "username": username,
                "enabled": true,
                "email": format!("{username}@test.freshline.local"),
                "emailVerified": true,
                "firstName": "Test",
                "lastName": "User",
                "credentials": [{"type": "password", "value": password, "temporary": false}],
            }))
            .send()
            .await
            .expect("create user");
        assert_eq!(created.status().as_u16(), 201, "create user {username}");
        let id = created
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.rsplit('/').next())
            .expect("user location")
            .to_owned();
        let roles = |name: String| {
            let me = &self;
            async move {
                me.http
                    .get(me.url(&format!("/roles/{name}")))
                    .bearer_auth(&me.token)
                    .send()
                    .await
                    .expect("role")
                    .json::<Value>()
                    .await
                    .expect("role json")
            }
        };
        let mappings = self.url(&format!("/users/{id}/role-mappings/realm"));
        if role != "customer" {
            let default = roles(format!("default-roles-{}", idp::REALM)).await;
            let r = self
                .http
                .delete(&mappings)
                .bearer_auth(&self.token)
                .json(&json!([default]))
                .send()
                .await
                .expect("unmap default role");
            assert!(
                r.status().is_success(),
                "unmap default role: {}",
                r.status()
            );
            let wanted = roles(role.to_owned()).await;
            let r = self
                .http
                .post(&mappings)
                .bearer_auth(&self.token)
                .json(&json!([wanted]))
                .send()
                .await
                .expect("map role");
            assert!(r.status().is_success(), "map role {role}: {}", r.status());
        }
        id
    }
}
