//! The simulators as processes (`freshline-sim card-gateway`, `freshline-sim delivery-sim`):
//! each reads its settings from the environment, serves until SIGTERM or Ctrl-C, and stops
//! cleanly.
use crate::card_gateway::{self, CardGatewayConfig};
use crate::delivery::{Simulator, SimulatorConfig, SimulatorMetrics};
use anyhow::Context;
use platform::config::{self, defaults, Common};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The simulators' names: the subcommands of `freshline-sim`, and the services a deployment
/// runs them as.
pub const NAMES: [&str; 2] = ["card-gateway", "delivery-sim"];

/// The simulated card gateway (see `crate::card_gateway`): a payment
/// provider's test mode for local runs, its state in PostgreSQL schema `card_gateway`.
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn card_gateway() -> anyhow::Result<()> {
    let common = Common::from_env()?;
    common.init_telemetry();
    let pool = common.pool(16)?;
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

/// Simulated warehouse and riders (see `crate::delivery`), for local runs and benchmarks, with
/// `/healthz`, `/readyz` and `/metrics` on `FRESHLINE_SIM_HTTP_ADDR` (default 127.0.0.1:9187).
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn delivery_sim() -> anyhow::Result<()> {
    let common = Common::from_env()?;
    common.init_telemetry();
    let warehouse = sagas::commands::client_for_service("warehouse", "FRESHLINE_WAREHOUSE_TOKEN")?;
    let delivery = sagas::commands::client_for_service("delivery", "FRESHLINE_DELIVERY_TOKEN")?;
    let checks = vec![
        warehouse.readiness_check("command-api (warehouse token)"),
        delivery.readiness_check("command-api (delivery token)"),
    ];
    let mut cfg = SimulatorConfig::new(&common.brokers);
    cfg.topic_prefix = common.topic_prefix.clone();
    cfg.step_delay = Duration::from_millis(config::parse("FRESHLINE_SIM_STEP_DELAY_MS", 0)?);
    cfg.fail_every = config::parse("FRESHLINE_SIM_FAIL_EVERY", 0)?;
    let registry = prometheus::Registry::new();
    let sim = Arc::new(
        Simulator::new(warehouse, delivery, cfg).with_metrics(SimulatorMetrics::new(&registry)?),
    );
    let shutdown = CancellationToken::new();
    let http_addr = config::string("FRESHLINE_SIM_HTTP_ADDR", defaults::DELIVERY_SIM_ADDR);
    // Ready while command-api's last answer to each of its tokens was not a fault (Kafka is
    // retried).
    let http = platform::ops::spawn_server_with(&http_addr, registry, checks, shutdown.clone())
        .await
        .with_context(|| format!("binding {http_addr}"))?;
    platform::ops::cancel_on_signal(shutdown.clone());
    tracing::info!("delivery simulator running");
    let outcome = sim.run(shutdown.clone()).await;
    shutdown.cancel();
    http.await.ok();
    platform::telemetry::shutdown();
    outcome?;
    Ok(())
}
