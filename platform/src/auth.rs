//! Bearer tokens: Ed25519 (EdDSA) JWTs with a `kid`, verified against public keys from a JWKS
//! document; no shared secret on the verifying side. People carry a `role`, services a `svc`
//! identity; both carry space-separated `scope`s, and every route names the scope it needs.
//!
//! Minting (for the CLI and tests) signs with a PKCS#8 Ed25519 private key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePrivateKey};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

/// Scope names, defined once.
pub mod scopes {
    /// Register a supplier.
    pub const SUPPLIERS_REGISTER: &str = "suppliers:register";
    /// Change a supplier's data (documents).
    pub const SUPPLIERS_WRITE: &str = "suppliers:write";
    /// Approve, reject, suspend, reinstate suppliers.
    pub const SUPPLIERS_APPROVE: &str = "suppliers:approve";
    /// Read suppliers.
    pub const SUPPLIERS_READ: &str = "suppliers:read";
    /// Manage one's catalog.
    pub const CATALOG_WRITE: &str = "catalog:write";
    /// Place orders.
    pub const ORDERS_WRITE: &str = "orders:write";
    /// Read orders.
    pub const ORDERS_READ: &str = "orders:read";
    /// Update deliveries.
    pub const DELIVERIES_UPDATE: &str = "deliveries:update";
    /// Take signed evidence (history exports) away.
    pub const AUDIT_EXPORT: &str = "audit:export";
    /// Read the catalog (products, their images and availability).
    pub const CATALOG_READ: &str = "catalog:read";
    /// Record the outcome of background image processing.
    pub const CATALOG_IMAGES: &str = "catalog:images";
    /// Receive stock, record spoilage, expire batches, assess stock levels.
    pub const INVENTORY_WRITE: &str = "inventory:write";
    /// Reserve, release and commit stock for orders.
    pub const INVENTORY_RESERVE: &str = "inventory:reserve";
    /// Read stock, batches, aging and spoilage.
    pub const INVENTORY_READ: &str = "inventory:read";
    /// Pack paid orders (suppliers, warehouse staff).
    pub const ORDERS_FULFIL: &str = "orders:fulfil";
    /// Carry orders through fulfilment: record payment, shipping, delivery, compensation.
    pub const ORDERS_MANAGE: &str = "orders:manage";
    /// Record what the payment gateway said (authorisations, captures, declines, refunds).
    pub const PAYMENTS_WRITE: &str = "payments:write";
    /// Refund a captured payment.
    pub const PAYMENTS_REFUND: &str = "payments:refund";
    /// Open delivery slots and register riders.
    pub const DELIVERIES_PLAN: &str = "deliveries:plan";
    /// Book slots, schedule deliveries, assign and release riders.
    pub const DELIVERIES_MANAGE: &str = "deliveries:manage";
    /// See the runtime's state: sagas by status, projections' dead events.
    pub const OPS_READ: &str = "ops:read";
    /// Act on it: retry a saga, retry or skip dead events.
    pub const OPS_WRITE: &str = "ops:write";
    /// Read customers' profiles (one's own, or any for staff).
    pub const CUSTOMERS_READ: &str = "customers:read";
    /// Change one's own customer profile, addresses, preferences, consent, devices.
    pub const CUSTOMERS_WRITE: &str = "customers:write";
    /// Fill one's own cart and check it out.
    pub const CARTS_WRITE: &str = "carts:write";
    /// Close idle carts (the scheduler).
    pub const CARTS_MANAGE: &str = "carts:manage";

    /// Every scope, for the identity provider's configuration.
    pub const ALL: &[&str] = &[
        SUPPLIERS_REGISTER,
        SUPPLIERS_WRITE,
        SUPPLIERS_APPROVE,
        SUPPLIERS_READ,
        CATALOG_WRITE,
        ORDERS_WRITE,
        ORDERS_READ,
        DELIVERIES_UPDATE,
        AUDIT_EXPORT,
        CATALOG_READ,
        CATALOG_IMAGES,
        INVENTORY_WRITE,
        INVENTORY_RESERVE,
        INVENTORY_READ,
        ORDERS_FULFIL,
        ORDERS_MANAGE,
        PAYMENTS_WRITE,
        PAYMENTS_REFUND,
        DELIVERIES_PLAN,
        DELIVERIES_MANAGE,
        OPS_READ,
        OPS_WRITE,
        CUSTOMERS_READ,
        CUSTOMERS_WRITE,
        CARTS_WRITE,
        CARTS_MANAGE,
    ];
}

/// The role of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Platform administrator.
    Admin,
    /// A supplier's account.
    Supplier,
    /// A customer.
    Customer,
    /// A delivery rider.
    Rider,
    /// An auditor: reads everything, changes nothing.
    Auditor,
    /// Warehouse staff: receives stock, records spoilage.
    Warehouse,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Supplier => "supplier",
            Self::Customer => "customer",
            Self::Rider => "rider",
            Self::Auditor => "auditor",
            Self::Warehouse => "warehouse",
        }
    }

    /// The scopes a token for this role gets when none are asked for.
    pub fn default_scopes(self) -> &'static [&'static str] {
        use scopes::*;
        match self {
            Self::Admin => &[
                SUPPLIERS_REGISTER,
                SUPPLIERS_WRITE,
                SUPPLIERS_APPROVE,
                SUPPLIERS_READ,
                ORDERS_READ,
                ORDERS_WRITE,
                ORDERS_FULFIL,
                PAYMENTS_REFUND,
                DELIVERIES_PLAN,
                DELIVERIES_UPDATE,
                AUDIT_EXPORT,
                CATALOG_WRITE,
                CATALOG_READ,
                INVENTORY_WRITE,
                INVENTORY_READ,
                OPS_READ,
                OPS_WRITE,
                CUSTOMERS_READ,
            ],
            Self::Supplier => &[
                SUPPLIERS_REGISTER,
                SUPPLIERS_WRITE,
                SUPPLIERS_READ,
                CATALOG_WRITE,
                CATALOG_READ,
                INVENTORY_READ,
                ORDERS_READ,
                ORDERS_FULFIL,
            ],
            Self::Customer => &[
                ORDERS_WRITE,
                ORDERS_READ,
                CATALOG_READ,
                CUSTOMERS_READ,
                CUSTOMERS_WRITE,
                CARTS_WRITE,
            ],
            Self::Rider => &[DELIVERIES_UPDATE, ORDERS_READ],
            Self::Auditor => &[
                SUPPLIERS_READ,
                ORDERS_READ,
                AUDIT_EXPORT,
                CATALOG_READ,
                INVENTORY_READ,
                CUSTOMERS_READ,
            ],
            Self::Warehouse => &[
                INVENTORY_WRITE,
                INVENTORY_READ,
                CATALOG_READ,
                ORDERS_READ,
                ORDERS_FULFIL,
            ],
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Self::Admin),
            "supplier" => Ok(Self::Supplier),
            "customer" => Ok(Self::Customer),
            "rider" => Ok(Self::Rider),
            "auditor" => Ok(Self::Auditor),
            "warehouse" => Ok(Self::Warehouse),
            other => Err(format!(
                "unknown role {other:?}: expected admin, supplier, customer, rider, auditor or warehouse"
            )),
        }
    }
}

/// The default scopes of a known service identity (`vendor`, `delivery`, ...). Unknown
/// services get none: they must be given scopes explicitly.
pub fn service_default_scopes(service: &str) -> &'static [&'static str] {
    use scopes::*;
    match service {
        "vendor" => &[
            SUPPLIERS_REGISTER,
            SUPPLIERS_WRITE,
            SUPPLIERS_READ,
            CATALOG_WRITE,
            CATALOG_READ,
        ],
        "delivery" => &[DELIVERIES_UPDATE, ORDERS_READ],
        "payment" => &[ORDERS_READ],
        "notifier" => &[SUPPLIERS_READ, ORDERS_READ],
        "ops" => &[SUPPLIERS_APPROVE, SUPPLIERS_READ],
        // A warehouse management system: packs paid orders.
        "warehouse" => &[ORDERS_FULFIL, ORDERS_READ],
        // Carries orders through stock, payment and delivery, and runs the image worker and
        // the scheduler.
        "sagas" => &[
            SUPPLIERS_READ,
            CATALOG_READ,
            CATALOG_IMAGES,
            INVENTORY_READ,
            INVENTORY_WRITE,
            INVENTORY_RESERVE,
            ORDERS_READ,
            ORDERS_MANAGE,
            PAYMENTS_WRITE,
            DELIVERIES_MANAGE,
            CARTS_MANAGE,
        ],
        _ => &[],
    }
}

/// `aud` may be a string or a list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// The claims of a Freshline token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: a person's or a service's id.
    pub sub: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at (required: a token that does not say when it was issued is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Audience.
    pub aud: Audience,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// A person's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// A service identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svc: Option<String>,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: String,
    /// Authentication context class (OIDC `acr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods (RFC 8176 `amr`): `["pwd", "otp"]` after a one-time password.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

impl Claims {
    /// The same claims showing a second factor (`acr` `"2"`, `amr` `["pwd", "otp"]`), as
    /// after a login with a one-time password: for locally minted tokens (tests, demo tools,
    /// `freshline token mint --mfa`).
    #[must_use]
    pub fn with_second_factor(mut self) -> Self {
        self.acr = Some("2".to_owned());
        self.amr = vec!["pwd".to_owned(), "otp".to_owned()];
        self
    }
}

/// Who is calling: a person with a role, or a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person.
    Person(Role),
    /// A service identity.
    Service(String),
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token subject.
    pub subject: String,
    /// Person or service.
    pub actor: Actor,
    /// Granted scopes.
    pub scopes: BTreeSet<String>,
    /// Whether the token shows a second factor (`amr` names one, or `acr` is configured as
    /// one): what sensitive operations need.
    pub second_factor: bool,
}

impl Principal {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// The role, for a person.
    pub fn role(&self) -> Option<Role> {
        match self.actor {
            Actor::Person(r) => Some(r),
            Actor::Service(_) => None,
        }
    }

    /// Checks that the token grants `scope` and, for a person, that its role is one of
    /// `roles`. Services are governed by their scopes alone.
    ///
    /// # Errors
    /// [`AuthError::InsufficientScope`] or [`AuthError::RoleNotAllowed`].
    pub fn authorize(&self, scope: &'static str, roles: &[Role]) -> Result<(), AuthError> {
        if !self.has_scope(scope) {
            return Err(AuthError::InsufficientScope { needed: scope });
        }
        match self.actor {
            Actor::Person(role) if !roles.contains(&role) => Err(AuthError::RoleNotAllowed {
                role,
                needed: scope,
            }),
            _ => Ok(()),
        }
    }
}

impl Principal {
    /// Checks that a person's token shows a second factor (services have none to show; their
    /// scopes govern them).
    ///
    /// # Errors
    /// [`AuthError::SecondFactorRequired`].
    pub fn require_second_factor(&self) -> Result<(), AuthError> {
        match self.actor {
            Actor::Person(_) if !self.second_factor => Err(AuthError::SecondFactorRequired),
            _ => Ok(()),
        }
    }
}

/// Why a request is not authenticated or not allowed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// The token is malformed, badly signed, expired, for another audience, ...
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token names a key id the verifier does not know.
    #[error("invalid token: unknown key id")]
    UnknownKey,
    /// The token lacks the scope the route needs.
    #[error("this operation needs the scope {needed}")]
    InsufficientScope {
        /// The scope.
        needed: &'static str,
    },
    /// A sensitive operation, and the token shows no second factor.
    #[error("this operation needs a login with a second factor (one-time password)")]
    SecondFactorRequired,
    /// The person's role may not use this route even with the scope.
    #[error("the role {} may not perform this operation", role.as_str())]
    RoleNotAllowed {
        /// The caller's role.
        role: Role,
        /// The scope of the route.
        needed: &'static str,
    },
}

/// A key set that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The JWKS file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Not a JWKS document.
    #[error("not a JWKS document")]
    Parse(#[source] serde_json::Error),
    /// A key that cannot be used.
    #[error("key {kid}: {problem}")]
    Key {
        /// Key id.
        kid: String,
        /// What is wrong.
        problem: String,
    },
    /// A PEM private key that cannot be read.
    #[error("signing key: {0}")]
    Signing(String),
    /// A JWKS URL that cannot be fetched.
    #[error("cannot fetch {url}: {problem}")]
    Fetch {
        /// The URL.
        url: String,
        /// What went wrong.
        problem: String,
    },
}

/// A verifying key, with the issuer whose tokens it signs (`None`: any issuer) and the source
/// it came from (its index among the verifier's sources).
#[derive(Clone)]
struct TrustedKey {
    key: DecodingKey,
    alg: Algorithm,
    issuer: Option<String>,
    source: usize,
}

type KeyMap = HashMap<String, TrustedKey>;

/// Where verifying keys come from, so they can be fetched again when keys rotate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS file.
    File(String),
    /// A JWKS URL, e.g. an OIDC issuer's `jwks_uri`.
    Url(String),
}

/// An issuer the services trust: its keys, and the `iss` its tokens must carry (`None`: any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// Where its keys are published.
    pub keys: KeySource,
    /// The `iss` its tokens carry.
    pub issuer: Option<String>,
}

/// Verifies tokens against the public keys of one or more trusted issuers (the local signing
/// key of the CLI and the services, and an OpenID Connect provider such as Keycloak), each key
/// with its own algorithm and issuer. The token's `alg` header must match the algorithm of the
/// key its `kid` names, so a token can never choose `none`, or HMAC with a public key as the
/// secret; and its `iss` must be the issuer of that key, so one issuer's key never vouches for
/// another's tokens.
///
/// Keys rotate: a token naming an unknown `kid` makes the verifier fetch the key sets again
/// (at most every 10 seconds), and URL sources are also re-fetched periodically
/// ([`Verifier::spawn_periodic_refresh`]). A new key works as soon as it is published; an old
/// key keeps working until it is removed from the set.
pub struct Verifier {
    keys: std::sync::RwLock<Arc<KeyMap>>,
    sources: Vec<TrustedIssuer>,
    audience: String,
    leeway_secs: u64,
    max_lifetime_secs: i64,
    second_factor_acr: Vec<String>,
    last_refresh: std::sync::Mutex<Option<std::time::Instant>>,
    /// Tokens already verified, with the principal they name and until when (their `exp`
    /// plus the leeway): a client sends the same token with every request, and checking its
    /// signature again each time is most of what authentication costs. Emptied whenever the
    /// key set changes, so a key rotated out stops its tokens at once.
    verified: std::sync::Mutex<HashMap<String, (Principal, i64)>>,
}

/// How the services that take bearer tokens check them, from `FRESHLINE_*` variables.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `FRESHLINE_JWKS_PATH`: the local signing key's public keys on disk (the CLI's and the
    /// services' own tokens), trusted for the issuer `FRESHLINE_AUTH_ISSUER`.
    pub jwks_path: String,
    /// `FRESHLINE_OIDC_ISSUER`: an OpenID Connect provider trusted beside the local key (e.g.
    /// `http://127.0.0.1:8180/realms/freshline`).
    pub oidc_issuer: Option<String>,
    /// `FRESHLINE_JWKS_URL`: that provider's keys (default: Keycloak's
    /// `{issuer}/protocol/openid-connect/certs`).
    pub jwks_url: Option<String>,
    /// `FRESHLINE_JWKS_REFRESH_SECS`: how often a JWKS URL is fetched again.
    pub jwks_refresh: std::time::Duration,
    /// `FRESHLINE_AUTH_AUDIENCE`.
    pub audience: String,
    /// `FRESHLINE_AUTH_ISSUER` (`*`: any issuer): the local key's issuer.
    pub issuer: Option<String>,
    /// `FRESHLINE_AUTH_MAX_TOKEN_LIFETIME_SECS`: the longest `exp - iat` accepted.
    pub max_token_lifetime_secs: i64,
    /// `FRESHLINE_AUTH_REQUIRE_MFA` (default on): sensitive operations need a token that
    /// shows a second factor.
    pub require_second_factor: bool,
    /// `FRESHLINE_AUTH_MFA_ACR`: space-separated `acr` values that also count as a second
    /// factor (beside an `amr` naming one), for providers configured with levels.
    pub second_factor_acr: Vec<String>,
}

impl AuthSettings {
    /// Reads the environment.
    ///
    /// # Errors
    /// When a variable is set to something invalid.
    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        use crate::config::{self, defaults};
        let issuer = config::string("FRESHLINE_AUTH_ISSUER", defaults::ISSUER);
        let non_empty = |key: &str| Some(config::string(key, "")).filter(|u| !u.is_empty());
        Ok(Self {
            jwks_path: config::string("FRESHLINE_JWKS_PATH", defaults::JWKS_PATH),
            oidc_issuer: non_empty("FRESHLINE_OIDC_ISSUER"),
            jwks_url: non_empty("FRESHLINE_JWKS_URL"),
            jwks_refresh: std::time::Duration::from_secs(config::parse(
                "FRESHLINE_JWKS_REFRESH_SECS",
                300,
            )?),
            audience: config::string("FRESHLINE_AUTH_AUDIENCE", defaults::AUDIENCE),
            issuer: (issuer != "*").then_some(issuer),
            max_token_lifetime_secs: config::parse(
                "FRESHLINE_AUTH_MAX_TOKEN_LIFETIME_SECS",
                DEFAULT_MAX_TOKEN_LIFETIME_SECS,
            )?,
            require_second_factor: config::parse("FRESHLINE_AUTH_REQUIRE_MFA", true)?,
            second_factor_acr: config::string("FRESHLINE_AUTH_MFA_ACR", "")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        })
    }

    /// The issuers these settings trust: the local key file, and the OIDC provider if set.
    pub fn trusted_issuers(&self) -> Vec<TrustedIssuer> {
        let mut trusted = vec![TrustedIssuer {
            keys: KeySource::File(self.jwks_path.clone()),
            issuer: self.issuer.clone(),
        }];
        if let Some(oidc) = &self.oidc_issuer {
            let url = self.jwks_url.clone().unwrap_or_else(|| {
                format!(
                    "{}/protocol/openid-connect/certs",
                    oidc.trim_end_matches('/')
                )
            });
            trusted.push(TrustedIssuer {
                keys: KeySource::Url(url),
                issuer: Some(oidc.clone()),
            });
        }
        trusted
    }
}

/// The longest a token may live (`exp - iat`) unless [`Verifier::with_max_lifetime`] says
/// otherwise: a day. A stolen token is worth at most that long; services and people get new
/// ones (services re-mint theirs well before expiry).
pub const DEFAULT_MAX_TOKEN_LIFETIME_SECS: i64 = 24 * 3600;

/// How many verified tokens are remembered (then the memory starts again).
const VERIFIED_CAPACITY: usize = 10_000;

/// `amr` values (RFC 8176) that name a second factor: a one-time password, a hardware or
/// SMS-delivered code, or "multiple factors".
const SECOND_FACTOR_AMR: &[&str] = &["otp", "mfa", "hwk", "sms", "totp"];

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("kids", &self.current().keys().cloned().collect::<Vec<_>>())
            .field("sources", &self.sources)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// Why a key of a set is not one to verify signatures with (`None`: it is). Identity
/// providers publish encryption keys beside signing keys (Keycloak's `RSA-OAEP` key): those
/// are left out, never used to check a signature.
fn not_for_signatures(jwk: &jsonwebtoken::jwk::Jwk) -> Option<&'static str> {
    use jsonwebtoken::jwk::{KeyAlgorithm as A, KeyOperations, PublicKeyUse};
    let c = &jwk.common;
    match &c.public_key_use {
        Some(PublicKeyUse::Encryption) => return Some("its use is enc"),
        Some(PublicKeyUse::Other(_)) => return Some("its use is not sig"),
        Some(PublicKeyUse::Signature) | None => {}
    }
    if let Some(ops) = &c.key_operations {
        if !ops.iter().any(|o| matches!(o, KeyOperations::Verify)) {
            return Some("its key_ops do not include verify");
        }
    }
    if matches!(
        c.key_algorithm,
        Some(A::RSA1_5 | A::RSA_OAEP | A::RSA_OAEP_256)
    ) {
        return Some("its alg is an encryption algorithm");
    }
    None
}

/// The signing keys of a JWKS document, as keys of `issuer` from source number `source`.
fn parse_jwks(jwks: &str, issuer: Option<&str>, source: usize) -> Result<KeyMap, KeyError> {
    let set: JwkSet = serde_json::from_str(jwks).map_err(KeyError::Parse)?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let kid = jwk.common.key_id.clone().ok_or_else(|| KeyError::Key {
            kid: "(none)".into(),
            problem: "every key needs a kid".into(),
        })?;
        if let Some(why) = not_for_signatures(jwk) {
            tracing::info!(%kid, why, "key left out of the verifying keys");
            continue;
        }
        let alg = match &jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            _ => {
                return Err(KeyError::Key {
                    kid,
                    problem: "only Ed25519 (OKP) and RSA keys are accepted".into(),
                })
            }
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Key {
            kid: kid.clone(),
            problem: e.to_string(),
        })?;
        let trusted = TrustedKey {
            key,
            alg,
            issuer: issuer.map(str::to_owned),
            source,
        };
        if keys.insert(kid.clone(), trusted).is_some() {
            return Err(KeyError::Key {
                kid,
                problem: "the key id appears twice".into(),
            });
        }
    }
    Ok(keys)
}

/// Adds `more` to `keys`; a key id already there (from another issuer) is refused.
fn merge(keys: &mut KeyMap, more: KeyMap) -> Result<(), KeyError> {
    for (kid, key) in more {
        if keys.contains_key(&kid) {
            return Err(KeyError::Key {
                kid,
                problem: "two trusted issuers publish the same key id".into(),
            });
        }
        keys.insert(kid, key);
    }
    Ok(())
}

async fn load(trusted: &TrustedIssuer, index: usize) -> Result<KeyMap, KeyError> {
    let issuer = trusted.issuer.as_deref();
    match &trusted.keys {
        KeySource::File(path) => {
            let text = tokio::fs::read_to_string(path)
                .await
                .map_err(|source| KeyError::Read {
                    path: path.clone(),
                    source,
                })?;
            parse_jwks(&text, issuer, index)
        }
        KeySource::Url(url) => {
            let fetch = |problem: String| KeyError::Fetch {
                url: url.clone(),
                problem,
            };
            let response = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .map_err(|e| fetch(e.to_string()))?
                .get(url)
                .send()
                .await
                .map_err(|e| fetch(e.to_string()))?;
            if !response.status().is_success() {
                return Err(fetch(format!("HTTP {}", response.status())));
            }
            let text = response.text().await.map_err(|e| fetch(e.to_string()))?;
            parse_jwks(&text, issuer, index)
        }
    }
}

impl Verifier {
    /// The verifier for a service (see [`AuthSettings`]): the local key file's keys, and the
    /// identity provider's `jwks_uri` when one is configured (re-fetched every
    /// `jwks_refresh`).
    ///
    /// # Errors
    /// [`KeyError`] when the keys cannot be loaded.
    pub async fn from_settings(s: &AuthSettings) -> Result<Arc<Self>, KeyError> {
        let verifier = Self::trusting(s.trusted_issuers(), &s.audience)
            .await?
            .with_max_lifetime(s.max_token_lifetime_secs)
            .with_second_factor_acr(s.second_factor_acr.clone());
        let verifier = Arc::new(verifier);
        verifier.spawn_periodic_refresh(s.jwks_refresh);
        Ok(verifier)
    }

    /// A verifier trusting each of `issuers`, their keys loaded now.
    ///
    /// # Errors
    /// [`KeyError`] when a key set cannot be loaded or two issuers share a key id.
    pub async fn trusting(issuers: Vec<TrustedIssuer>, audience: &str) -> Result<Self, KeyError> {
        let mut keys = KeyMap::new();
        for (index, trusted) in issuers.iter().enumerate() {
            match load(trusted, index).await {
                Ok(loaded) => merge(&mut keys, loaded)?,
                // An identity provider that cannot be reached now is tried again at the first
                // token naming one of its keys (and periodically): the service starts and
                // serves the local issuer's tokens meanwhile. Keys it cannot use are refused.
                Err(e @ KeyError::Fetch { .. }) if issuers.len() > 1 => {
                    tracing::warn!(error = %e, "identity provider unreachable at start; its keys will be fetched when needed");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Self::with_keys(keys, issuers, audience))
    }

    fn with_keys(keys: KeyMap, sources: Vec<TrustedIssuer>, audience: &str) -> Self {
        Self {
            keys: std::sync::RwLock::new(Arc::new(keys)),
            sources,
            audience: audience.to_owned(),
            leeway_secs: 30,
            max_lifetime_secs: DEFAULT_MAX_TOKEN_LIFETIME_SECS,
            second_factor_acr: Vec::new(),
            last_refresh: std::sync::Mutex::new(None),
            verified: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The same verifier refusing tokens that live longer than `secs` (`exp - iat`).
    #[must_use]
    pub fn with_max_lifetime(mut self, secs: i64) -> Self {
        self.max_lifetime_secs = secs.max(1);
        self
    }

    /// The same verifier also taking these `acr` values as a second factor.
    #[must_use]
    pub fn with_second_factor_acr(mut self, acr: Vec<String>) -> Self {
        self.second_factor_acr = acr;
        self
    }

    /// Builds a verifier from a JWKS document. Keys without `kid` or of unsupported types are
    /// refused, so a misconfiguration shows at start-up.
    ///
    /// # Errors
    /// [`KeyError`] for a document or key that cannot be used.
    pub fn from_jwks_json(
        jwks: &str,
        audience: &str,
        issuer: Option<&str>,
    ) -> Result<Self, KeyError> {
        Ok(Self::with_keys(
            parse_jwks(jwks, issuer, 0)?,
            Vec::new(),
            audience,
        ))
    }

    /// Reads the JWKS document at `path` (read again when an unknown key id shows up).
    ///
    /// # Errors
    /// [`KeyError`] when it cannot be read or used.
    pub fn from_jwks_file(
        path: &str,
        audience: &str,
        issuer: Option<&str>,
    ) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::with_keys(
            parse_jwks(&text, issuer, 0)?,
            vec![TrustedIssuer {
                keys: KeySource::File(path.to_owned()),
                issuer: issuer.map(str::to_owned),
            }],
            audience,
        ))
    }

    /// Fetches the JWKS document at `url` (an OIDC issuer's `jwks_uri`).
    ///
    /// # Errors
    /// [`KeyError`] when it cannot be fetched or used.
    pub async fn from_jwks_url(
        url: &str,
        audience: &str,
        issuer: Option<&str>,
    ) -> Result<Self, KeyError> {
        let trusted = TrustedIssuer {
            keys: KeySource::Url(url.to_owned()),
            issuer: issuer.map(str::to_owned),
        };
        Self::trusting(vec![trusted], audience).await
    }

    fn current(&self) -> Arc<KeyMap> {
        self.keys
            .read()
            .map_or_else(|e| e.into_inner().clone(), |k| k.clone())
    }

    /// Fetches every key set again from its source; returns how many keys there are. A source
    /// that cannot be read keeps its current keys (and the error is returned after the others
    /// were refreshed).
    ///
    /// # Errors
    /// [`KeyError`] when a source cannot be read.
    pub async fn refresh(&self) -> Result<usize, KeyError> {
        if self.sources.is_empty() {
            return Ok(self.current().len());
        }
        if let Ok(mut last) = self.last_refresh.lock() {
            *last = Some(std::time::Instant::now());
        }
        let old = self.current();
        let mut keys = KeyMap::new();
        let mut failure = None;
        for (index, trusted) in self.sources.iter().enumerate() {
            let loaded = match load(trusted, index).await {
                Ok(k) => k,
                Err(e) => {
                    failure = Some(e);
                    old.iter()
                        .filter(|(_, k)| k.source == index)
                        .map(|(kid, k)| (kid.clone(), k.clone()))
                        .collect()
                }
            };
            if let Err(e) = merge(&mut keys, loaded) {
                failure = Some(e);
            }
        }
        let n = keys.len();
        match self.keys.write() {
            Ok(mut k) => *k = Arc::new(keys),
            Err(e) => *e.into_inner() = Arc::new(keys),
        }
        self.forget_verified();
        failure.map_or(Ok(n), Err)
    }

    /// [`Verifier::verify`], fetching the key sets again once (at most every 10 s) when the
    /// token names a key id not seen yet: a freshly rotated-in key.
    ///
    /// # Errors
    /// As [`Verifier::verify`].
    pub async fn verify_refreshing(&self, token: &str) -> Result<Principal, AuthError> {
        match self.verify(token) {
            Err(AuthError::UnknownKey) if !self.sources.is_empty() => {
                let stale = self
                    .last_refresh
                    .lock()
                    .map(|l| l.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(10)))
                    .unwrap_or(true);
                if stale {
                    if let Err(e) = self.refresh().await {
                        tracing::warn!(error = %e, "could not refresh verifying keys");
                    }
                }
                self.verify(token)
            }
            other => other,
        }
    }

    /// Re-fetches the key sets every `every` (when one of them is a URL), in the background.
    pub fn spawn_periodic_refresh(self: &Arc<Self>, every: std::time::Duration) {
        if !self
            .sources
            .iter()
            .any(|s| matches!(s.keys, KeySource::Url(_)))
        {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = me.refresh().await {
                    tracing::warn!(error = %e, "could not refresh verifying keys");
                }
            }
        });
    }

    /// Verifies a bearer token and returns its principal. A token that verified before is
    /// taken from memory until its `exp` (plus the leeway), while the key set is unchanged.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for any token that does not verify.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = chrono::Utc::now().timestamp();
        if let Ok(verified) = self.verified.lock() {
            if let Some((principal, until)) = verified.get(token) {
                if now <= *until {
                    return Ok(principal.clone());
                }
            }
        }
        let (principal, exp) = self.verify_signed(token)?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
            let until = exp.saturating_add(i64::try_from(self.leeway_secs).unwrap_or(0));
            verified.insert(token.to_owned(), (principal.clone(), until));
        }
        Ok(principal)
    }

    fn forget_verified(&self) {
        if let Ok(mut verified) = self.verified.lock() {
            verified.clear();
        }
    }

    /// Checks the token's signature and claims; returns its principal and `exp`.
    fn verify_signed(&self, token: &str) -> Result<(Principal, i64), AuthError> {
        let invalid = |m: &str| AuthError::Invalid(m.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        let kid = header.kid.as_deref().ok_or_else(|| invalid("no kid"))?;
        let keys = self.current();
        let trusted = keys.get(kid).ok_or(AuthError::UnknownKey)?;
        if header.alg != trusted.alg {
            return Err(invalid("algorithm does not match the key"));
        }
        let mut validation = Validation::new(trusted.alg);
        validation.leeway = self.leeway_secs;
        validation.validate_nbf = true;
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        if let Some(iss) = &trusted.issuer {
            validation.set_issuer(&[iss]);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &trusted.key, &validation)
            .map_err(|e| AuthError::Invalid(e.kind_description()))?;
        let claims = data.claims;
        let leeway = i64::try_from(self.leeway_secs).unwrap_or(0);
        let iat = claims.iat.ok_or_else(|| invalid("missing claim iat"))?;
        if iat > chrono::Utc::now().timestamp().saturating_add(leeway) {
            return Err(invalid("issued in the future (iat)"));
        }
        if claims.exp.saturating_sub(iat) > self.max_lifetime_secs {
            return Err(AuthError::Invalid(format!(
                "lives longer than the {} s a token may (exp - iat)",
                self.max_lifetime_secs
            )));
        }
        if claims.sub.trim().is_empty() {
            return Err(invalid("empty subject"));
        }
        let second_factor = claims
            .amr
            .iter()
            .any(|m| SECOND_FACTOR_AMR.contains(&m.as_str()))
            || claims
                .acr
                .as_ref()
                .is_some_and(|acr| self.second_factor_acr.contains(acr));
        let actor = match (claims.role, claims.svc) {
            (Some(role), None) => Actor::Person(role),
            (None, Some(svc)) if !svc.is_empty() => Actor::Service(svc),
            _ => return Err(invalid("a token names exactly one of role and svc")),
        };
        let principal = Principal {
            subject: claims.sub,
            actor,
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
            second_factor,
        };
        Ok((principal, claims.exp))
    }
}

trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for jsonwebtoken::errors::Error {
    fn kind_description(&self) -> String {
        use jsonwebtoken::errors::ErrorKind as K;
        match self.kind() {
            K::ExpiredSignature => "token expired".into(),
            K::ImmatureSignature => "token not yet valid".into(),
            K::InvalidAudience => "wrong audience".into(),
            K::InvalidIssuer => "wrong issuer".into(),
            K::InvalidSignature => "bad signature".into(),
            K::InvalidAlgorithm => "algorithm not allowed".into(),
            K::MissingRequiredClaim(c) => format!("missing claim {c}"),
            _ => "malformed token".into(),
        }
    }
}

/// Signs tokens with an Ed25519 private key (local development, tests, the CLI).
#[derive(Clone)]
pub struct Signer {
    kid: String,
    key: EncodingKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from a PKCS#8 PEM Ed25519 private key.
    ///
    /// # Errors
    /// [`KeyError::Signing`] when the PEM is not an Ed25519 key.
    pub fn from_pem(kid: &str, pem: &str) -> Result<Self, KeyError> {
        Ok(Self {
            kid: kid.to_owned(),
            key: EncodingKey::from_ed_pem(pem.as_bytes())
                .map_err(|e| KeyError::Signing(e.to_string()))?,
        })
    }

    /// The key id put in every token's header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims`.
    ///
    /// # Errors
    /// [`KeyError::Signing`] if signing fails.
    pub fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| KeyError::Signing(e.to_string()))
    }
}

/// A freshly generated Ed25519 key pair.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    /// Key id.
    pub kid: String,
    /// PKCS#8 PEM private key.
    pub private_pem: String,
    /// The public key as a JWK (JSON object).
    pub public_jwk: serde_json::Value,
}

/// Generates an Ed25519 key pair named `kid`.
///
/// # Errors
/// [`KeyError::Signing`] if the key cannot be encoded.
pub fn generate_key(kid: &str) -> Result<GeneratedKey, KeyError> {
    let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = signing
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Signing(e.to_string()))?;
    Ok(GeneratedKey {
        kid: kid.to_owned(),
        private_pem: pem.to_string(),
        public_jwk: public_jwk(kid, signing.verifying_key().as_bytes()),
    })
}

/// The JWK of an Ed25519 public key.
pub fn public_jwk(kid: &str, public_key: &[u8; 32]) -> serde_json::Value {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(public_key),
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    })
}

/// The public JWK of a PKCS#8 PEM Ed25519 private key.
///
/// # Errors
/// [`KeyError::Signing`] when the PEM is not an Ed25519 private key.
pub fn public_jwk_of_pem(kid: &str, pem: &str) -> Result<serde_json::Value, KeyError> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
        .map_err(|e| KeyError::Signing(e.to_string()))?;
    Ok(public_jwk(kid, key.verifying_key().as_bytes()))
}

/// Builds claims for a person or a service, valid for `ttl_secs` from now.
pub fn claims(
    subject: &str,
    actor: &Actor,
    scopes: &[&str],
    ttl_secs: i64,
    issuer: &str,
) -> Claims {
    let now = chrono::Utc::now().timestamp();
    let (role, svc) = match actor {
        Actor::Person(r) => (Some(*r), None),
        Actor::Service(s) => (None, Some(s.clone())),
    };
    Claims {
        sub: subject.to_owned(),
        exp: now + ttl_secs,
        iat: Some(now),
        nbf: Some(now),
        aud: Audience::One(crate::config::defaults::AUDIENCE.to_owned()),
        iss: Some(issuer.to_owned()),
        role,
        svc,
        scope: scopes.join(" "),
        acr: None,
        amr: Vec::new(),
    }
}
