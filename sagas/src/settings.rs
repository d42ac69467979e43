//! Each service of this crate reads its settings once, at start, into one struct: the common
//! ones ([`Common`]: database, brokers, topic prefix, logging) and its own. Nothing else here
//! reads the environment.

use crate::commands::{CommandClient, TokenSource};
use crate::fulfilment::SagaConfig;
use crate::notifier::NotifierConfig;
use crate::payments::HttpCardGatewayConfig;
use crate::scheduler::SchedulerConfig;
use anyhow::Context;
use platform::auth::Signer;
use platform::config::{self, defaults, Common, ConfigError};
use std::time::Duration;

/// How a service reaches command-api: its URL, and the token in `token_var` or else one
/// minted with the signing key (local development).
#[derive(Debug, Clone)]
pub struct CommandApiSettings {
    /// `FRESHLINE_COMMAND_API_URL`.
    pub url: String,
    /// The variable the token was read from, for messages.
    pub token_var: String,
    /// A token given by the platform.
    pub token: Option<String>,
    /// `FRESHLINE_SIGNING_KEY`: the key to mint with when no token is given.
    pub signing_key: String,
    /// `FRESHLINE_AUTH_ISSUER`.
    pub issuer: String,
}

impl CommandApiSettings {
    /// From `FRESHLINE_COMMAND_API_URL`, `token_var`, `FRESHLINE_SIGNING_KEY` and
    /// `FRESHLINE_AUTH_ISSUER`.
    pub fn from_env(token_var: &str) -> Self {
        Self {
            url: config::string("FRESHLINE_COMMAND_API_URL", "http://127.0.0.1:8080"),
            token_var: token_var.to_owned(),
            token: Some(config::string(token_var, "")).filter(|t| !t.is_empty()),
            signing_key: config::string("FRESHLINE_SIGNING_KEY", defaults::SIGNING_KEY_PATH),
            issuer: config::string("FRESHLINE_AUTH_ISSUER", defaults::ISSUER),
        }
    }

    /// A client acting as `service`: the given token, or one minted for `service` (with its
    /// default scopes) and renewed before it expires.
    ///
    /// # Errors
    /// When no token is given and the signing key cannot be read.
    pub fn client(&self, service: &str) -> anyhow::Result<CommandClient> {
        let token = match &self.token {
            Some(t) => TokenSource::Fixed(t.clone()),
            None => {
                let key = &self.signing_key;
                let pem = std::fs::read_to_string(key)
                    .with_context(|| format!("reading {key} (or set {})", self.token_var))?;
                let kid = std::fs::read_to_string(std::path::Path::new(key).with_extension("kid"))?;
                TokenSource::minted(service, Signer::from_pem(kid.trim(), &pem)?, &self.issuer)
            }
        };
        Ok(CommandClient::new(&self.url, token)?)
    }
}

/// `freshline serve fulfilment-saga`.
#[derive(Debug)]
pub struct FulfilmentSagaSettings {
    /// Database, brokers, topic prefix, logging.
    pub common: Common,
    /// `FRESHLINE_SAGA_HTTP_ADDR`: `/healthz`, `/readyz`, `/metrics`.
    pub http_addr: String,
    /// command-api, as `sagas` (`FRESHLINE_SERVICE_TOKEN`).
    pub commands: CommandApiSettings,
    /// The card gateway.
    pub gateway: HttpCardGatewayConfig,
    /// The saga itself.
    pub saga: SagaConfig,
}

impl FulfilmentSagaSettings {
    /// From `FRESHLINE_*` variables.
    ///
    /// # Errors
    /// A setting that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        let common = Common::from_env()?;
        let mut saga = SagaConfig::new(&common.brokers);
        saga.topic_prefix = common.topic_prefix.clone();
        saga.group = config::string("FRESHLINE_SAGA_GROUP", "fulfilment-saga");
        saga.read_schema = config::string("FRESHLINE_READ_SCHEMA", "read");
        saga.instance_id =
            Some(config::string("FRESHLINE_SAGA_INSTANCE_ID", "")).filter(|s| !s.is_empty());
        saga.workers = config::parse("FRESHLINE_SAGA_WORKERS", 16)?;
        saga.payment_timeout =
            Duration::from_secs(config::parse("FRESHLINE_PAYMENT_TIMEOUT_SECS", 120)?);
        saga.rider_timeout =
            Duration::from_secs(config::parse("FRESHLINE_RIDER_TIMEOUT_SECS", 600)?);
        saga.lease = Duration::from_secs(config::parse("FRESHLINE_SAGA_LEASE_SECS", 60)?);
        Ok(Self {
            http_addr: config::string("FRESHLINE_SAGA_HTTP_ADDR", "127.0.0.1:9183"),
            commands: CommandApiSettings::from_env("FRESHLINE_SERVICE_TOKEN"),
            gateway: HttpCardGatewayConfig::from_settings()?,
            saga,
            common,
        })
    }
}

/// `freshline serve notifier`.
#[derive(Debug)]
pub struct NotifierSettings {
    /// Database, brokers, topic prefix, logging.
    pub common: Common,
    /// `FRESHLINE_NOTIFIER_HTTP_ADDR`.
    pub http_addr: String,
    /// SMTP, senders, retries.
    pub notifier: NotifierConfig,
}

impl NotifierSettings {
    /// From `FRESHLINE_*` variables.
    ///
    /// # Errors
    /// A setting that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        let common = Common::from_env()?;
        Ok(Self {
            http_addr: config::string("FRESHLINE_NOTIFIER_HTTP_ADDR", "127.0.0.1:9184"),
            notifier: NotifierConfig::from_settings(&common)?,
            common,
        })
    }
}

/// `freshline serve image-worker`.
#[derive(Debug)]
pub struct ImageWorkerSettings {
    /// Database, brokers, topic prefix, logging.
    pub common: Common,
    /// `FRESHLINE_IMAGE_WORKER_HTTP_ADDR`.
    pub http_addr: String,
    /// command-api, as `sagas` (`FRESHLINE_SERVICE_TOKEN`).
    pub commands: CommandApiSettings,
    /// Where originals and renditions are stored; whether originals are kept.
    pub blobs: platform::blobs::BlobSettings,
    /// `FRESHLINE_IMAGE_WORKER_GROUP`: its consumer group.
    pub group: String,
}

impl ImageWorkerSettings {
    /// From `FRESHLINE_*` variables.
    ///
    /// # Errors
    /// A setting that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            common: Common::from_env()?,
            http_addr: config::string(
                "FRESHLINE_IMAGE_WORKER_HTTP_ADDR",
                defaults::IMAGE_WORKER_ADDR,
            ),
            commands: CommandApiSettings::from_env("FRESHLINE_SERVICE_TOKEN"),
            blobs: platform::blobs::BlobSettings::from_env()?,
            group: config::string("FRESHLINE_IMAGE_WORKER_GROUP", "freshline-image-worker"),
        })
    }
}

/// `freshline serve scheduler`.
#[derive(Debug)]
pub struct SchedulerSettings {
    /// Database, brokers, topic prefix, logging.
    pub common: Common,
    /// `FRESHLINE_SCHEDULER_HTTP_ADDR`.
    pub http_addr: String,
    /// command-api, as `sagas` (`FRESHLINE_SERVICE_TOKEN`).
    pub commands: CommandApiSettings,
    /// What a tick looks for.
    pub scheduler: SchedulerConfig,
    /// `FRESHLINE_SCHEDULER_INTERVAL_SECS`: time between ticks.
    pub every: Duration,
}

impl SchedulerSettings {
    /// From `FRESHLINE_*` variables.
    ///
    /// # Errors
    /// A setting that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            common: Common::from_env()?,
            http_addr: config::string("FRESHLINE_SCHEDULER_HTTP_ADDR", defaults::SCHEDULER_ADDR),
            commands: CommandApiSettings::from_env("FRESHLINE_SERVICE_TOKEN"),
            scheduler: SchedulerConfig {
                horizon: chrono::TimeDelta::hours(config::parse(
                    "FRESHLINE_EXPIRY_HORIZON_HOURS",
                    48,
                )?),
                read_schema: config::string("FRESHLINE_READ_SCHEMA", "read"),
                ..SchedulerConfig::default()
            },
            every: Duration::from_secs(config::parse("FRESHLINE_SCHEDULER_INTERVAL_SECS", 30)?),
        })
    }
}
