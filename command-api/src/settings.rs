//! command-api's configuration, from `FRESHLINE_*` variables with local defaults.

use platform::config::{self, defaults, Common, ConfigError};

/// Everything command-api reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `FRESHLINE_HTTP_ADDR`.
    pub http_addr: String,
    /// What every service reads: the database, Kafka, logging.
    pub common: Common,
    /// `FRESHLINE_DB_MAX_CONNECTIONS`.
    pub db_max_connections: u32,
    /// `FRESHLINE_JWKS_PATH`: the verifying keys.
    pub jwks_path: String,
    /// `FRESHLINE_JWKS_URL`: an identity provider's JWKS (takes precedence over the path).
    pub jwks_url: Option<String>,
    /// `FRESHLINE_JWKS_REFRESH_SECS`: how often a JWKS URL is fetched again.
    pub jwks_refresh_secs: u64,
    /// `FRESHLINE_AUTH_AUDIENCE`.
    pub audience: String,
    /// `FRESHLINE_AUTH_ISSUER` (empty: any issuer).
    pub issuer: Option<String>,
    /// `FRESHLINE_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `FRESHLINE_RATE_LIMIT_PER_SEC`: requests per second per token subject.
    pub rate_per_sec: f64,
    /// `FRESHLINE_RATE_LIMIT_BURST`: requests at once per token subject.
    pub rate_burst: f64,
    /// `FRESHLINE_SNAPSHOT_EVERY`: snapshot an aggregate every this many events (0: never).
    pub snapshot_every: usize,
    /// `FRESHLINE_IDEMPOTENCY_TTL_SECS`: how long an `Idempotency-Key`'s answer is kept.
    pub idempotency_ttl_secs: u64,
    /// `FRESHLINE_BLOB_DIR`: where uploaded images and their renditions are kept.
    pub blob_dir: String,
}

impl Settings {
    /// Reads the environment.
    ///
    /// # Errors
    /// When a variable is set to something invalid.
    pub fn from_env() -> Result<Self, ConfigError> {
        let issuer = config::string("FRESHLINE_AUTH_ISSUER", defaults::ISSUER);
        Ok(Self {
            http_addr: config::string("FRESHLINE_HTTP_ADDR", defaults::COMMAND_API_ADDR),
            common: Common::from_env()?,
            db_max_connections: config::parse("FRESHLINE_DB_MAX_CONNECTIONS", 32)?,
            jwks_path: config::string("FRESHLINE_JWKS_PATH", defaults::JWKS_PATH),
            jwks_url: Some(config::string("FRESHLINE_JWKS_URL", "")).filter(|u| !u.is_empty()),
            jwks_refresh_secs: config::parse("FRESHLINE_JWKS_REFRESH_SECS", 300)?,
            audience: config::string("FRESHLINE_AUTH_AUDIENCE", defaults::AUDIENCE),
            issuer: (issuer != "*").then_some(issuer),
            max_body_bytes: config::parse("FRESHLINE_MAX_BODY_BYTES", 64 * 1024)?,
            rate_per_sec: config::parse("FRESHLINE_RATE_LIMIT_PER_SEC", 500.0)?,
            rate_burst: config::parse("FRESHLINE_RATE_LIMIT_BURST", 1000.0)?,
            snapshot_every: config::parse(
                "FRESHLINE_SNAPSHOT_EVERY",
                platform::bus::Snapshots::DEFAULT_EVERY,
            )?,
            idempotency_ttl_secs: config::parse(
                "FRESHLINE_IDEMPOTENCY_TTL_SECS",
                platform::idempotency::DEFAULT_TTL.as_secs(),
            )?,
            blob_dir: config::string("FRESHLINE_BLOB_DIR", defaults::BLOB_DIR),
        })
    }
}
