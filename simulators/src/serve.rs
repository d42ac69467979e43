//! The simulators as processes (`freshline-sim card-gateway`, `freshline-sim delivery-sim`):
//! each reads its settings into one struct, serves until SIGTERM or Ctrl-C, and stops
//! cleanly.
use crate::card_gateway::{self, CardGatewayConfig};
use crate::delivery::{Simulator, SimulatorConfig, SimulatorMetrics};
use platform::config::{self, defaults, Common};
use sagas::settings::CommandApiSettings;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The simulators' names: the subcommands of `freshline-sim`, and the services a deployment
/// runs them as.
pub const NAMES: [&str; 3] = ["card-gateway", "delivery-sim", "messaging"];

/// `freshline-sim card-gateway`'s settings.
#[derive(Debug)]
pub struct CardGatewaySettings {
    /// Database, logging.
    pub common: Common,
    /// `FRESHLINE_GATEWAY_HTTP_ADDR`.
    pub http_addr: String,
    /// Latency and timeouts to simulate.
    pub gateway: CardGatewayConfig,
}

impl CardGatewaySettings {
    /// From `FRESHLINE_*` variables.
    ///
    /// # Errors
    /// A setting that does not parse.
    pub fn from_env() -> Result<Self, config::ConfigError> {
        Ok(Self {
            common: Common::from_env()?,
            http_addr: config::string("FRESHLINE_GATEWAY_HTTP_ADDR", "127.0.0.1:8090"),
            gateway: CardGatewayConfig::from_settings()?,
        })
    }
}

/// `freshline-sim delivery-sim`'s settings.
#[derive(Debug)]
pub struct DeliverySimSettings {
    /// Brokers, topic prefix, logging.
    pub common: Common,
    /// `FRESHLINE_SIM_HTTP_ADDR`: `/healthz`, `/readyz`, `/metrics`.
    pub http_addr: String,
    /// command-api as the warehouse (`FRESHLINE_WAREHOUSE_TOKEN`).
    pub warehouse: CommandApiSettings,
    /// command-api as the riders (`FRESHLINE_DELIVERY_TOKEN`).
    pub delivery: CommandApiSettings,
    /// `FRESHLINE_SIM_STEP_DELAY_MS`: between a delivery's steps.
    pub step_delay: Duration,
    /// `FRESHLINE_SIM_FAIL_EVERY`: every n-th delivery fails (0: none).
    pub fail_every: u64,
}

impl DeliverySimSettings {
    /// From `FRESHLINE_*` variables.
    ///
    /// # Errors
    /// A setting that does not parse.
    pub fn from_env() -> Result<Self, config::ConfigError> {
        Ok(Self {
            common: Common::from_env()?,
            http_addr: config::string("FRESHLINE_SIM_HTTP_ADDR", defaults::DELIVERY_SIM_ADDR),
            warehouse: CommandApiSettings::from_env("FRESHLINE_WAREHOUSE_TOKEN"),
            delivery: CommandApiSettings::from_env("FRESHLINE_DELIVERY_TOKEN"),
            step_delay: Duration::from_millis(config::parse("FRESHLINE_SIM_STEP_DELAY_MS", 0)?),
            fail_every: config::parse("FRESHLINE_SIM_FAIL_EVERY", 0)?,
        })
    }
}

/// The simulated card gateway (see `crate::card_gateway`): a payment
/// provider's test mode for local runs, its state in PostgreSQL schema `card_gateway`.
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn card_gateway() -> anyhow::Result<()> {
    let s = CardGatewaySettings::from_env()?;
    s.common.init_telemetry();
    let pool = s.common.pool(16)?;
    let shutdown = CancellationToken::new();
    platform::ops::cancel_on_signal(shutdown.clone());
    tracing::info!(latency = ?s.gateway.latency, timeout_sleep = ?s.gateway.timeout_sleep, "card gateway starting");
    let registry = prometheus::Registry::new();
    let (_, server) =
        card_gateway::start(&s.http_addr, pool, s.gateway, &registry, shutdown).await?;
    server.await?;
    platform::telemetry::shutdown();
    Ok(())
}

/// The simulated SMS and push providers (see `crate::messaging`) on
/// `FRESHLINE_MESSAGING_HTTP_ADDR` (default `127.0.0.1:8091`): the SMS API under `/sms`, the push
/// API under `/push`.
///
/// # Errors
/// When the address cannot be bound.
pub async fn messaging() -> anyhow::Result<()> {
    let common = Common::from_env()?;
    common.init_telemetry();
    let addr = config::string("FRESHLINE_MESSAGING_HTTP_ADDR", "127.0.0.1:8091");
    let shutdown = CancellationToken::new();
    platform::ops::cancel_on_signal(shutdown.clone());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "simulated SMS and push providers listening");
    axum::serve(
        listener,
        crate::messaging::router(crate::messaging::Messaging::new()?),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    platform::telemetry::shutdown();
    Ok(())
}

/// Simulated warehouse and riders (see `crate::delivery`), for local runs and benchmarks. Ready
/// while command-api's last answer to each of its tokens was not a fault (Kafka is retried).
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn delivery_sim() -> anyhow::Result<()> {
    let s = DeliverySimSettings::from_env()?;
    s.common.init_telemetry();
    let warehouse = s.warehouse.client("warehouse")?;
    let delivery = s.delivery.client("delivery")?;
    let checks = vec![
        warehouse.readiness_check("command-api (warehouse token)"),
        delivery.readiness_check("command-api (delivery token)"),
    ];
    let mut cfg = SimulatorConfig::new(&s.common.brokers);
    cfg.topic_prefix = s.common.topic_prefix.clone();
    cfg.step_delay = s.step_delay;
    cfg.fail_every = s.fail_every;
    let registry = prometheus::Registry::new();
    let sim = Arc::new(
        Simulator::new(warehouse, delivery, cfg).with_metrics(SimulatorMetrics::new(&registry)?),
    );
    platform::ops::run_worker(
        "delivery simulator",
        &s.http_addr,
        registry,
        checks,
        |stop| async move { Ok(sim.run(stop).await?) },
    )
    .await
}
