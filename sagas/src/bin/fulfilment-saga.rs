//! The fulfilment saga binary (see `sagas::fulfilment`): intake from Kafka, step workers and
//! deadlines, acting through command-api and the card gateway; `/healthz`, `/readyz`,
//! `/metrics` on `FRESHLINE_SAGA_HTTP_ADDR`.

use anyhow::Context;
use platform::config::{self, defaults};
use platform::telemetry::LogFormat;
use sagas::fulfilment::{FulfilmentSaga, SagaConfig, SagaMetrics};
use sagas::payments::{HttpCardGateway, HttpCardGatewayConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(
        config::parse("FRESHLINE_LOG_FORMAT", LogFormat::Pretty)?,
        &config::string("FRESHLINE_LOG", "info,sqlx=warn"),
    );
    let api = sagas::commands::client_from_settings()?;
    // Ready while PostgreSQL answers and command-api's last answer was not a fault.
    let commands = api.readiness_check("command-api");
    let mut cfg = SagaConfig::new(&config::string(
        "FRESHLINE_KAFKA_BROKERS",
        defaults::KAFKA_BROKERS,
    ));
    cfg.topic_prefix = config::string("FRESHLINE_TOPIC_PREFIX", "");
    cfg.group = config::string("FRESHLINE_SAGA_GROUP", "fulfilment-saga");
    cfg.read_schema = config::string("FRESHLINE_READ_SCHEMA", "read");
    cfg.instance_id =
        Some(config::string("FRESHLINE_SAGA_INSTANCE_ID", "")).filter(|s| !s.is_empty());
    cfg.workers = config::parse("FRESHLINE_SAGA_WORKERS", 16)?;
    cfg.payment_timeout =
        Duration::from_secs(config::parse("FRESHLINE_PAYMENT_TIMEOUT_SECS", 120)?);
    cfg.rider_timeout = Duration::from_secs(config::parse("FRESHLINE_RIDER_TIMEOUT_SECS", 600)?);
    cfg.lease = Duration::from_secs(config::parse("FRESHLINE_SAGA_LEASE_SECS", 60)?);
    let pool = platform::db::pool(
        &config::secret("FRESHLINE_DATABASE_URL", defaults::DATABASE_URL),
        u32::try_from(cfg.workers + 4).unwrap_or(20),
    )?;
    let gateway = Arc::new(HttpCardGateway::new(
        &HttpCardGatewayConfig::from_settings()?,
    )?);
    let registry = prometheus::Registry::new();
    let metrics = SagaMetrics::new(&registry)?;
    let saga = Arc::new(FulfilmentSaga::new(pool.clone(), api, gateway, cfg, metrics).await?);
    let shutdown = CancellationToken::new();
    let http_addr = config::string("FRESHLINE_SAGA_HTTP_ADDR", "127.0.0.1:9183");
    let http = platform::ops::spawn_server_with(
        &http_addr,
        registry,
        vec![platform::ops::postgres(pool), commands],
        shutdown.clone(),
    )
    .await
    .with_context(|| format!("binding {http_addr}"))?;
    platform::ops::cancel_on_signal(shutdown.clone());
    tracing::info!("fulfilment saga running");
    saga.run(shutdown).await?;
    http.await.ok();
    platform::telemetry::shutdown();
    Ok(())
}
