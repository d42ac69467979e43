//! The simulated card gateway binary (see `simulators::card_gateway`): a payment
//! provider's test mode for local runs, its state in PostgreSQL schema `card_gateway`.

use platform::config::{self, defaults};
use platform::telemetry::LogFormat;
use simulators::card_gateway::{self, CardGatewayConfig};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(
        config::parse("FRESHLINE_LOG_FORMAT", LogFormat::Pretty)?,
        &config::string("FRESHLINE_LOG", "info,sqlx=warn"),
    );
    let pool = platform::db::pool(
        &config::secret("FRESHLINE_DATABASE_URL", defaults::DATABASE_URL),
        16,
    )?;
    let cfg = CardGatewayConfig::from_settings()?;
    let addr = config::string("FRESHLINE_GATEWAY_HTTP_ADDR", "127.0.0.1:8090");
    let shutdown = CancellationToken::new();
    platform::ops::cancel_on_signal(shutdown.clone());
    tracing::info!(latency = ?cfg.latency, timeout_sleep = ?cfg.timeout_sleep, "card gateway starting");
    let registry = prometheus::Registry::new();
    let (_, server) = card_gateway::start(&addr, pool, cfg, &registry, shutdown).await?;
    server.await?;
    platform::telemetry::shutdown();
    Ok(())
}
