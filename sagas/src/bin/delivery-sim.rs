//! Simulated warehouse and riders (see `sagas::simulator`), for local runs and benchmarks.

use platform::config::{self, defaults};
use platform::telemetry::LogFormat;
use sagas::simulator::{Simulator, SimulatorConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(
        config::parse("FRESHLINE_LOG_FORMAT", LogFormat::Pretty)?,
        &config::string("FRESHLINE_LOG", "info,sqlx=warn"),
    );
    let warehouse = sagas::commands::client_for_service("warehouse", "FRESHLINE_WAREHOUSE_TOKEN")?;
    let delivery = sagas::commands::client_for_service("delivery", "FRESHLINE_DELIVERY_TOKEN")?;
    let mut cfg = SimulatorConfig::new(&config::string(
        "FRESHLINE_KAFKA_BROKERS",
        defaults::KAFKA_BROKERS,
    ));
    cfg.topic_prefix = config::string("FRESHLINE_TOPIC_PREFIX", "");
    cfg.step_delay = Duration::from_millis(config::parse("FRESHLINE_SIM_STEP_DELAY_MS", 0)?);
    cfg.fail_every = config::parse("FRESHLINE_SIM_FAIL_EVERY", 0)?;
    let sim = Arc::new(Simulator::new(warehouse, delivery, cfg));
    let shutdown = CancellationToken::new();
    platform::ops::cancel_on_signal(shutdown.clone());
    tracing::info!("delivery simulator running");
    sim.run(shutdown).await?;
    Ok(())
}
