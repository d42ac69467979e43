//! Each service of this crate reads its settings once, at start, into one struct: the common
//! ones ([`Common`]: database, brokers, topic prefix, logging) and its own.

use platform::config::{self, defaults, Common, ConfigError};
use std::time::Duration;

/// `freshline serve query-api`.
#[derive(Debug)]
pub struct QueryApiSettings {
    /// Database, brokers, topic prefix, logging.
    pub common: Common,
    /// `FRESHLINE_HTTP_ADDR`.
    pub http_addr: String,
    /// `FRESHLINE_DB_MAX_CONNECTIONS`.
    pub db_max_connections: u32,
    /// `FRESHLINE_READ_SCHEMA`: where the read models are.
    pub read_schema: String,
    /// How bearer tokens are checked.
    pub auth: platform::auth::AuthSettings,
    /// `FRESHLINE_EVIDENCE_KEY`: the key signed history exports are signed with.
    pub evidence_key: String,
    /// `FRESHLINE_READ_YOUR_WRITES_WAIT_MS`: how long a `min_version` read waits.
    pub read_your_writes_wait: Duration,
    /// `FRESHLINE_RATE_LIMIT_PER_SEC` and `FRESHLINE_RATE_LIMIT_BURST`, per caller.
    pub rate: (f64, f64),
}

impl QueryApiSettings {
    /// From `FRESHLINE_*` variables.
    ///
    /// # Errors
    /// A setting that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            common: Common::from_env()?,
            http_addr: config::string("FRESHLINE_HTTP_ADDR", defaults::QUERY_API_ADDR),
            db_max_connections: config::parse("FRESHLINE_DB_MAX_CONNECTIONS", 32)?,
            read_schema: config::string("FRESHLINE_READ_SCHEMA", "read"),
            auth: platform::auth::AuthSettings::from_env()?,
            evidence_key: config::string("FRESHLINE_EVIDENCE_KEY", defaults::EVIDENCE_KEY_PATH),
            read_your_writes_wait: Duration::from_millis(config::parse(
                "FRESHLINE_READ_YOUR_WRITES_WAIT_MS",
                2000,
            )?),
            rate: (
                config::parse("FRESHLINE_RATE_LIMIT_PER_SEC", 1000.0)?,
                config::parse("FRESHLINE_RATE_LIMIT_BURST", 2000.0)?,
            ),
        })
    }
}

/// `freshline serve projector`.
#[derive(Debug)]
pub struct ProjectorSettings {
    /// Database, brokers, topic prefix, logging.
    pub common: Common,
    /// `FRESHLINE_PROJECTOR_HTTP_ADDR`: `/healthz`, `/readyz`, `/metrics`.
    pub http_addr: String,
    /// `FRESHLINE_READ_SCHEMA`: where the read models are.
    pub read_schema: String,
    /// `FRESHLINE_PROJECTIONS`: the projections to run, by name (empty: all).
    pub projections: Vec<String>,
}

impl ProjectorSettings {
    /// From `FRESHLINE_*` variables.
    ///
    /// # Errors
    /// A setting that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            common: Common::from_env()?,
            http_addr: config::string("FRESHLINE_PROJECTOR_HTTP_ADDR", "127.0.0.1:9182"),
            read_schema: config::string("FRESHLINE_READ_SCHEMA", "read"),
            projections: config::string("FRESHLINE_PROJECTIONS", "")
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}
