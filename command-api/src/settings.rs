//! command-api's configuration, from `FRESHLINE_*` variables with local defaults.

use platform::auth::AuthSettings;
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
    /// How bearer tokens are checked.
    pub auth: AuthSettings,
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
    /// Where uploaded images and their renditions are kept.
    pub blobs: platform::blobs::BlobSettings,
    /// `FRESHLINE_IMAGE_QUOTA_BYTES` and `FRESHLINE_IMAGE_MAX_PENDING`, per supplier.
    pub image_limits: crate::image_quota::ImageLimits,
}

impl Settings {
    /// Reads the environment.
    ///
    /// # Errors
    /// When a variable is set to something invalid.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            http_addr: config::string("FRESHLINE_HTTP_ADDR", defaults::COMMAND_API_ADDR),
            common: Common::from_env()?,
            db_max_connections: config::parse("FRESHLINE_DB_MAX_CONNECTIONS", 32)?,
            auth: AuthSettings::from_env()?,
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
            blobs: platform::blobs::BlobSettings::from_env()?,
            image_limits: {
                let d = crate::image_quota::ImageLimits::default();
                crate::image_quota::ImageLimits {
                    quota_bytes: config::parse("FRESHLINE_IMAGE_QUOTA_BYTES", d.quota_bytes)?,
                    max_pending: config::parse("FRESHLINE_IMAGE_MAX_PENDING", d.max_pending)?,
                }
            },
        })
    }
}
