//! Reading `FRESHLINE_*` environment variables. The settings every service shares are read
//! once, by [`Common::from_env`]; each service adds its own in one place (its `serve` function
//! or its settings struct) with these helpers; nothing else reads the environment.

use secrecy::SecretString;
use std::str::FromStr;

/// A variable that is set but cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {key}={value:?} is invalid: {problem}")]
pub struct ConfigError {
    key: String,
    value: String,
    problem: String,
}

/// The variable's value, or `default` when unset or empty.
pub fn string(key: &str, default: &str) -> String {
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => default.to_owned(),
    }
}

/// The variable's value as a secret, or `default`.
pub fn secret(key: &str, default: &str) -> SecretString {
    SecretString::from(string(key, default))
}

/// The variable parsed as `T`, or `default` when unset or empty.
///
/// # Errors
/// When the variable is set to something `T` cannot parse.
pub fn parse<T>(key: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|e: T::Err| ConfigError {
            key: key.to_owned(),
            value: v,
            problem: e.to_string(),
        }),
        _ => Ok(default),
    }
}

/// The settings every service reads: where PostgreSQL and Kafka are, the topic prefix, and how
/// to log.
#[derive(Debug, Clone)]
pub struct Common {
    /// `FRESHLINE_DATABASE_URL`.
    pub database_url: SecretString,
    /// `FRESHLINE_KAFKA_BROKERS`.
    pub brokers: String,
    /// `FRESHLINE_TOPIC_PREFIX` (empty by default).
    pub topic_prefix: String,
    /// `FRESHLINE_LOG_FORMAT` (`json` or `pretty`).
    pub log_format: crate::telemetry::LogFormat,
    /// `FRESHLINE_LOG` (a tracing filter).
    pub log_filter: String,
}

impl Common {
    /// From the environment, with the local defaults.
    ///
    /// # Errors
    /// When `FRESHLINE_LOG_FORMAT` is set to something else than `json` or `pretty`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            database_url: secret("FRESHLINE_DATABASE_URL", defaults::DATABASE_URL),
            brokers: string("FRESHLINE_KAFKA_BROKERS", defaults::KAFKA_BROKERS),
            topic_prefix: string("FRESHLINE_TOPIC_PREFIX", ""),
            log_format: parse("FRESHLINE_LOG_FORMAT", crate::telemetry::LogFormat::Pretty)?,
            log_filter: string("FRESHLINE_LOG", "info,sqlx=warn"),
        })
    }

    /// Starts logging (and trace export, when configured) as these settings say.
    pub fn init_telemetry(&self) {
        crate::telemetry::init(self.log_format, &self.log_filter);
    }

    /// A pool of at most `max_connections` to the database.
    ///
    /// # Errors
    /// When the URL cannot be parsed.
    pub fn pool(&self, max_connections: u32) -> Result<sqlx::PgPool, sqlx::Error> {
        crate::db::pool(&self.database_url, max_connections)
    }
}

/// Local defaults shared by every service: they match `infra/local`.
pub mod defaults {
    /// PostgreSQL started by `infra/local`.
    pub const DATABASE_URL: &str = "postgres://freshline:freshline@127.0.0.1:55432/freshline";
    /// Kafka started by `infra/local`.
    pub const KAFKA_BROKERS: &str = "127.0.0.1:9092";
    /// The JWKS written by `make up` (`freshline token keygen`).
    pub const JWKS_PATH: &str = ".local/keys/jwks.json";
    /// The signing key written by `make up`.
    pub const SIGNING_KEY_PATH: &str = ".local/keys/signing-key.pem";
    /// Where uploaded images and their renditions are kept (a local folder by default).
    pub const BLOB_DIR: &str = ".local/blobs";
    /// The evidence signing key written by `make up` (`freshline audit keygen`); kept apart
    /// from the token keys.
    pub const EVIDENCE_KEY_PATH: &str = ".local/evidence/evidence-key.pem";
    /// The audience every Freshline token names.
    pub const AUDIENCE: &str = "freshline";
    /// The issuer of locally minted tokens.
    pub const ISSUER: &str = "freshline-local";
    /// command-api's address.
    pub const COMMAND_API_ADDR: &str = "127.0.0.1:8080";
    /// query-api's address.
    pub const QUERY_API_ADDR: &str = "127.0.0.1:8081";
    /// The relay's health and metrics address.
    pub const RELAY_ADDR: &str = "127.0.0.1:9181";
    /// The image worker's health and metrics address.
    pub const IMAGE_WORKER_ADDR: &str = "127.0.0.1:9185";
    /// The scheduler's health and metrics address.
    pub const SCHEDULER_ADDR: &str = "127.0.0.1:9186";
    /// The delivery simulator's health and metrics address.
    pub const DELIVERY_SIM_ADDR: &str = "127.0.0.1:9187";
}
