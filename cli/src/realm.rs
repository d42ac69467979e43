//! `freshline idp realm`: the Keycloak realm the local stack imports
//! (`infra/keycloak/freshline-realm.json`), generated from the roles and scopes the services
//! check, so the identity provider and the services never disagree about who may do what.
//!
//! How Freshline's claims come out of Keycloak:
//! - every Freshline scope is a client scope of the same name that appears in the token's
//!   `scope` claim, with a role scope mapping to the realm roles that hold it: Keycloak applies
//!   a client scope only when the user has one of its roles (composites included), so a
//!   customer's token never lists `suppliers:approve`;
//! - each realm role has a client scope `role-<name>`, applied the same way, whose hard-coded
//!   claim mapper writes `role: <name>`;
//! - `freshline-api` adds the services' audience; `basic` the subject; `acr` the
//!   authentication context and methods (`amr: ["pwd", "otp"]` after a one-time password,
//!   from the reference values of the login flows' executions).

use anyhow::Context;
use clap::Subcommand;
use platform::auth::{scopes, Role};
use platform::idp::{DEMO_ADMIN_TOTP_SECRET, DEMO_USERS, REALM, TEST_CLIENT, TEST_CLIENT_SECRET};
use serde_json::{json, Value};
use std::path::PathBuf;

const ROLES: &[Role] = &[
    Role::Admin,
    Role::Supplier,
    Role::Customer,
    Role::Rider,
    Role::Auditor,
    Role::Warehouse,
];

#[derive(Debug, Subcommand)]
pub enum IdpCommand {
    /// Print the Keycloak realm (or write it to `--out`; `--check` fails when the file
    /// differs from what the roles and scopes say).
    Realm {
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Compare with this file instead of writing.
        #[arg(long, conflicts_with = "out")]
        check: Option<PathBuf>,
        /// Where the storefront and ops console are served (redirect URIs, web origins);
        /// repeatable (default: `platform::idp::FRONTENDS`).
        #[arg(long)]
        frontend: Vec<String>,
    },
    /// Print the demo users of the realm, their passwords and the admin's TOTP secret (local
    /// runs only).
    Users,
}

/// RFC 4648 base32 (what authenticator apps take a TOTP secret in).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

pub fn run(cmd: IdpCommand) -> anyhow::Result<()> {
    match cmd {
        IdpCommand::Realm {
            out,
            check,
            frontend,
        } => {
            let frontends: Vec<String> = if frontend.is_empty() {
                platform::idp::FRONTENDS
                    .iter()
                    .map(|f| (*f).to_owned())
                    .collect()
            } else {
                frontend
            };
            let text = format!("{}\n", serde_json::to_string_pretty(&realm(&frontends))?);
            if let Some(path) = check {
                let on_disk = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                anyhow::ensure!(
                    on_disk == text,
                    "{} is not what `freshline idp realm` generates; run `freshline idp realm --out {}`",
                    path.display(),
                    path.display()
                );
            } else if let Some(path) = out {
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            } else {
                print!("{text}");
            }
            Ok(())
        }
        IdpCommand::Users => {
            for u in DEMO_USERS {
                let otp = if u.otp {
                    format!(
                        "  + one-time password (TOTP secret {})",
                        base32(DEMO_ADMIN_TOTP_SECRET.as_bytes())
                    )
                } else {
                    String::new()
                };
                println!(
                    "  {:<10} password {:<15} role {:<9}{otp}",
                    u.username,
                    u.password,
                    u.role.as_str()
                );
            }
            Ok(())
        }
    }
}

fn mapper(name: &str, kind: &str, config: Value) -> Value {
    json!({
        "name": name,
        "protocol": "openid-connect",
        "protocolMapper": kind,
        "consentRequired": false,
        "config": config,
    })
}

fn client_scope(name: &str, in_scope_claim: bool, mappers: Vec<Value>) -> Value {
    json!({
        "name": name,
        "protocol": "openid-connect",
        "attributes": {
            "include.in.token.scope": in_scope_claim.to_string(),
            "display.on.consent.screen": "false",
        },
        "protocolMappers": mappers,
    })
}

fn token_claim(extra: Value) -> Value {
    let mut config = json!({
        "access.token.claim": "true",
        "id.token.claim": "true",
        "userinfo.token.claim": "true",
        "introspection.token.claim": "true",
    });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    config
}

/// The realm roles that hold `scope`.
fn holders(scope: &str) -> Vec<&'static str> {
    ROLES
        .iter()
        .filter(|r| r.default_scopes().contains(&scope))
        .map(|r| r.as_str())
        .collect()
}

/// The Freshline scopes some person's role holds (service-only scopes stay out of the realm).
fn person_scopes() -> Vec<&'static str> {
    scopes::ALL
        .iter()
        .copied()
        .filter(|s| !holders(s).is_empty())
        .collect()
}

fn client_scopes() -> Vec<Value> {
    let mut all = vec![
        client_scope(
            "basic",
            false,
            vec![
                mapper("sub", "oidc-sub-mapper", token_claim(json!({}))),
                mapper(
                    "auth_time",
                    "oidc-usersessionmodel-note-mapper",
                    token_claim(json!({
                        "user.session.note": "AUTH_TIME",
                        "claim.name": "auth_time",
                        "jsonType.label": "long",
                    })),
                ),
            ],
        ),
        client_scope(
            "profile",
            true,
            vec![
                mapper(
                    "username",
                    "oidc-usermodel-attribute-mapper",
                    token_claim(json!({
                        "user.attribute": "username",
                        "claim.name": "preferred_username",
                        "jsonType.label": "String",
                    })),
                ),
                mapper("full name", "oidc-full-name-mapper", token_claim(json!({}))),
            ],
        ),
        client_scope(
            "email",
            true,
            vec![
                mapper(
                    "email",
                    "oidc-usermodel-attribute-mapper",
                    token_claim(json!({
                        "user.attribute": "email",
                        "claim.name": "email",
                        "jsonType.label": "String",
                    })),
                ),
                mapper(
                    "email verified",
                    "oidc-usermodel-property-mapper",
                    token_claim(json!({
                        "user.attribute": "emailVerified",
                        "claim.name": "email_verified",
                        "jsonType.label": "boolean",
                    })),
                ),
            ],
        ),
        client_scope(
            "acr",
            false,
            vec![
                mapper("acr loa level", "oidc-acr-mapper", token_claim(json!({}))),
                mapper(
                    "authentication methods",
                    "oidc-amr-mapper",
                    token_claim(json!({})),
                ),
            ],
        ),
        client_scope(
            "web-origins",
            false,
            vec![mapper(
                "allowed web origins",
                "oidc-allowed-origins-mapper",
                json!({"access.token.claim": "true", "introspection.token.claim": "true"}),
            )],
        ),
        client_scope(
            "freshline-api",
            false,
            vec![mapper(
                "freshline audience",
                "oidc-audience-mapper",
                json!({
                    "included.custom.audience": platform::config::defaults::AUDIENCE,
                    "access.token.claim": "true",
                    "introspection.token.claim": "true",
                }),
            )],
        ),
    ];
    for role in ROLES {
        all.push(client_scope(
            &format!("role-{}", role.as_str()),
            false,
            vec![mapper(
                "role",
                "oidc-hardcoded-claim-mapper",
                token_claim(json!({
                    "claim.name": "role",
                    "claim.value": role.as_str(),
                    "jsonType.label": "String",
                })),
            )],
        ));
    }
    for scope in person_scopes() {
        all.push(client_scope(scope, true, vec![]));
    }
    all
}

fn default_client_scopes() -> Vec<String> {
    let mut names: Vec<String> = [
        "basic",
        "profile",
        "email",
        "acr",
        "web-origins",
        "freshline-api",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    names.extend(ROLES.iter().map(|r| format!("role-{}", r.as_str())));
    names.extend(person_scopes().iter().map(|s| (*s).to_owned()));
    names
}

fn browser_client(client_id: &str, name: &str, frontends: &[String], path: &str) -> Value {
    let origins: Vec<String> = frontends
        .iter()
        .flat_map(|f| [f.clone(), f.replace("127.0.0.1", "localhost")])
        .collect();
    let redirects: Vec<String> = origins.iter().map(|o| format!("{o}{path}*")).collect();
    json!({
        "clientId": client_id,
        "name": name,
        "enabled": true,
        "publicClient": true,
        "standardFlowEnabled": true,
        "directAccessGrantsEnabled": false,
        "implicitFlowEnabled": false,
        "serviceAccountsEnabled": false,
        "frontchannelLogout": true,
        "fullScopeAllowed": true,
        "protocol": "openid-connect",
        "rootUrl": frontends.first(),
        "redirectUris": redirects,
        "webOrigins": origins,
        "attributes": {
            "pkce.code.challenge.method": "S256",
            "post.logout.redirect.uris": "+",
        },
        "defaultClientScopes": default_client_scopes(),
        "optionalClientScopes": [],
    })
}

fn users() -> Vec<Value> {
    let mut users: Vec<Value> = DEMO_USERS
        .iter()
        .map(|u| {
            let mut credentials = vec![json!({
                "type": "password",
                "value": u.password,
                "temporary": false,
            })];
            if u.otp {
                credentials.push(json!({
                    "type": "otp",
                    "userLabel": "demo authenticator",
                    "secretData": json!({"value": DEMO_ADMIN_TOTP_SECRET}).to_string(),
                    "credentialData": json!({
                        "subType": "totp", "digits": 6, "counter": 0, "period": 30,
                        "algorithm": "HmacSHA1",
                    }).to_string(),
                }));
            }
            let mut first = u.username.to_owned();
            first[..1].make_ascii_uppercase();
            json!({
                "id": u.id,
                "username": u.username,
                "enabled": true,
                "email": format!("{}@freshline.local", u.username),
                "emailVerified": true,
                "firstName": first,
                "lastName": "Demo",
                "credentials": credentials,
                "realmRoles": [u.role.as_str()],
                "requiredActions": [],
            })
        })
        .collect();
    // The tests' client manages users of the realm (tests create their own, isolated).
    users.push(json!({
        "username": format!("service-account-{TEST_CLIENT}"),
        "enabled": true,
        "serviceAccountClientId": TEST_CLIENT,
        "clientRoles": {"realm-management": ["manage-users", "view-users", "query-users", "view-realm"]},
    }));
    users
}

/// Binds password and OTP executions to the `amr` values `pwd` and `otp`.
fn reference(alias: &str, value: &str) -> Value {
    json!({"alias": alias, "config": {"default.reference.value": value, "default.reference.maxAge": "36000"}})
}

fn execution(authenticator: &str, requirement: &str, config: Option<&str>, priority: u32) -> Value {
    let mut e = json!({
        "authenticator": authenticator,
        "authenticatorFlow": false,
        "requirement": requirement,
        "priority": priority,
        "userSetupAllowed": false,
    });
    if let Some(c) = config {
        e["authenticatorConfig"] = json!(c);
    }
    e
}

fn subflow(alias: &str, requirement: &str, priority: u32) -> Value {
    json!({
        "flowAlias": alias,
        "authenticatorFlow": true,
        "requirement": requirement,
        "priority": priority,
        "userSetupAllowed": false,
    })
}

fn flow(alias: &str, description: &str, executions: Vec<Value>) -> Value {
    json!({
        "alias": alias,
        "description": description,
        "providerId": "basic-flow",
        "topLevel": true,
        "builtIn": false,
        "authenticationExecutions": executions,
    })
}

fn inner_flow(alias: &str, description: &str, provider: &str, executions: Vec<Value>) -> Value {
    json!({
        "alias": alias,
        "description": description,
        "providerId": provider,
        "topLevel": false,
        "builtIn": false,
        "authenticationExecutions": executions,
    })
}

/// The login flows: the browser flow (cookie, or username + password then a one-time
/// password for users who have one), the direct grant flow (the same over the token
/// endpoint, `totp` as a parameter) and registration; every password and OTP step names its
/// `amr` reference.
fn flows() -> Vec<Value> {
    vec![
        flow(
            "freshline browser",
            "Cookie, or username and password, then OTP for users who set one up",
            vec![
                execution("auth-cookie", "ALTERNATIVE", None, 10),
                subflow("freshline browser forms", "ALTERNATIVE", 20),
            ],
        ),
        inner_flow(
            "freshline browser forms",
            "Username and password, then OTP",
            "basic-flow",
            vec![
                execution(
                    "auth-username-password-form",
                    "REQUIRED",
                    Some("pwd reference"),
                    10,
                ),
                subflow("freshline browser otp", "CONDITIONAL", 20),
            ],
        ),
        inner_flow(
            "freshline browser otp",
            "OTP for users who set one up",
            "basic-flow",
            vec![
                execution("conditional-user-configured", "REQUIRED", None, 10),
                execution("auth-otp-form", "REQUIRED", Some("otp reference"), 20),
            ],
        ),
        flow(
            "freshline direct grant",
            "Username, password and (for users who set one up) totp at the token endpoint",
            vec![
                execution("direct-grant-validate-username", "REQUIRED", None, 10),
                execution(
                    "direct-grant-validate-password",
                    "REQUIRED",
                    Some("pwd reference direct"),
                    20,
                ),
                subflow("freshline direct grant otp", "CONDITIONAL", 30),
            ],
        ),
        inner_flow(
            "freshline direct grant otp",
            "OTP for users who set one up",
            "basic-flow",
            vec![
                execution("conditional-user-configured", "REQUIRED", None, 10),
                execution(
                    "direct-grant-validate-otp",
                    "REQUIRED",
                    Some("otp reference direct"),
                    20,
                ),
            ],
        ),
    ]
}

/// The confidential client of tests and scripts: password grant, code flow, and a service
/// account that manages the realm's users.
fn test_client() -> Value {
    json!({
        "clientId": TEST_CLIENT,
        "name": "Freshline tests and scripts (local runs only)",
        "enabled": true,
        "publicClient": false,
        "clientAuthenticatorType": "client-secret",
        "secret": TEST_CLIENT_SECRET,
        "standardFlowEnabled": true,
        "directAccessGrantsEnabled": true,
        "serviceAccountsEnabled": true,
        "fullScopeAllowed": true,
        "protocol": "openid-connect",
        "redirectUris": ["http://127.0.0.1/callback"],
        "attributes": {"pkce.code.challenge.method": "S256"},
        "defaultClientScopes": default_client_scopes(),
        "optionalClientScopes": [],
    })
}

/// Sessions, tokens and one-time passwords.
fn policies() -> Value {
    json!({
        "accessTokenLifespan": 300,
        "ssoSessionIdleTimeout": 1800,
        "ssoSessionMaxLifespan": 36000,
        "offlineSessionIdleTimeout": 2_592_000,
        "revokeRefreshToken": true,
        "refreshTokenMaxReuse": 0,
        "otpPolicyType": "totp",
        "otpPolicyAlgorithm": "HmacSHA1",
        "otpPolicyDigits": 6,
        "otpPolicyPeriod": 30,
        "otpPolicyLookAheadWindow": 1,
        "otpPolicyCodeReusable": false,
        "passwordPolicy": "length(8)",
    })
}

/// The realm, as Keycloak's import reads it.
pub fn realm(frontends: &[String]) -> Value {
    let mut role_reps: Vec<Value> = ROLES
        .iter()
        .map(|r| json!({"name": r.as_str(), "description": format!("Freshline {}", r.as_str())}))
        .collect();
    // Every new user (self-registration included) gets the default role: people who sign up
    // are customers. Staff accounts are made without it (a person has exactly one role).
    role_reps.push(json!({
        "name": format!("default-roles-{REALM}"),
        "description": "Self-registered users are customers",
        "composite": true,
        "composites": {"realm": ["customer", "offline_access"]},
    }));
    role_reps.push(json!({"name": "offline_access", "description": "Offline tokens"}));
    let mut scope_mappings: Vec<Value> = ROLES
        .iter()
        .map(|r| json!({"clientScope": format!("role-{}", r.as_str()), "roles": [r.as_str()]}))
        .collect();
    scope_mappings.extend(
        person_scopes()
            .into_iter()
            .map(|s| json!({"clientScope": s, "roles": holders(s)})),
    );
    let mut realm = json!({
        "realm": REALM,
        "displayName": "Freshline",
        "enabled": true,
        "sslRequired": "external",
        "registrationAllowed": true,
        "registrationEmailAsUsername": false,
        "loginWithEmailAllowed": true,
        "duplicateEmailsAllowed": false,
        "resetPasswordAllowed": false,
        "rememberMe": false,
        "verifyEmail": false,
        "bruteForceProtected": true,
        "failureFactor": 10,
        "defaultRole": {"name": format!("default-roles-{REALM}"), "composite": true},
        "roles": {"realm": role_reps},
        "clientScopes": client_scopes(),
        "defaultDefaultClientScopes": default_client_scopes(),
        "scopeMappings": scope_mappings,
        "clients": [
            browser_client("storefront", "Freshline storefront", frontends, "/"),
            browser_client("ops-console", "Freshline operations console", frontends, "/ops/"),
            test_client(),
        ],
        "users": users(),
        "authenticationFlows": flows(),
        "authenticatorConfig": [
            reference("pwd reference", "pwd"),
            reference("otp reference", "otp"),
            reference("pwd reference direct", "pwd"),
            reference("otp reference direct", "otp"),
        ],
        "browserFlow": "freshline browser",
        "directGrantFlow": "freshline direct grant",
    });
    if let (Some(r), Value::Object(p)) = (realm.as_object_mut(), policies()) {
        r.extend(p);
    }
    realm
}
