//! The services this crate runs (`freshline serve fulfilment-saga | notifier | image-worker |
//! scheduler`): each reads its settings from the environment, serves until SIGTERM or Ctrl-C,
//! and stops cleanly.

use crate::fulfilment::{FulfilmentSaga, SagaConfig, SagaMetrics};
use crate::image_worker::{ImageWorker, ImageWorkerMetrics};
use crate::notifier::{Notifier, NotifierConfig, NotifierMetrics};
use crate::payments::{HttpCardGateway, HttpCardGatewayConfig};
use crate::scheduler::{Scheduler, SchedulerConfig, SchedulerMetrics};
use anyhow::Context;
use platform::blobs::LocalDirStore;
use platform::config::{self, defaults, Common};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The fulfilment saga (see `crate::fulfilment`): intake from Kafka, step workers and
/// deadlines, acting through command-api and the card gateway; `/healthz`, `/readyz`,
/// `/metrics` on `FRESHLINE_SAGA_HTTP_ADDR`.
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn fulfilment_saga() -> anyhow::Result<()> {
    let common = Common::from_env()?;
    common.init_telemetry();
    let api = crate::commands::client_from_settings()?;
    // Ready while PostgreSQL answers and command-api's last answer was not a fault.
    let commands = api.readiness_check("command-api");
    let mut cfg = SagaConfig::new(&common.brokers);
    cfg.topic_prefix = common.topic_prefix.clone();
    cfg.group = config::string("FRESHLINE_SAGA_GROUP", "fulfilment-saga");
    cfg.read_schema = config::string("FRESHLINE_READ_SCHEMA", "read");
    cfg.instance_id =
        Some(config::string("FRESHLINE_SAGA_INSTANCE_ID", "")).filter(|s| !s.is_empty());
    cfg.workers = config::parse("FRESHLINE_SAGA_WORKERS", 16)?;
    cfg.payment_timeout =
        Duration::from_secs(config::parse("FRESHLINE_PAYMENT_TIMEOUT_SECS", 120)?);
    cfg.rider_timeout = Duration::from_secs(config::parse("FRESHLINE_RIDER_TIMEOUT_SECS", 600)?);
    cfg.lease = Duration::from_secs(config::parse("FRESHLINE_SAGA_LEASE_SECS", 60)?);
    let pool = common.pool(u32::try_from(cfg.workers + 4).unwrap_or(20))?;
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

/// The notifier: e-mails about orders, payments, deliveries, stock and suppliers (see
/// `crate::notifier`), with `/healthz`, `/readyz` and `/metrics` on
/// `FRESHLINE_NOTIFIER_HTTP_ADDR` (default 127.0.0.1:9184).
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn notifier() -> anyhow::Result<()> {
    let common = Common::from_env()?;
    common.init_telemetry();
    let pool = common.pool(4)?;
    let cfg = NotifierConfig::from_settings(&common)?;
    let registry = prometheus::Registry::new();
    let metrics = NotifierMetrics::new(&registry)?;
    let shutdown = CancellationToken::new();
    platform::ops::cancel_on_signal(shutdown.clone());
    let ops = platform::ops::spawn_server(
        &config::string("FRESHLINE_NOTIFIER_HTTP_ADDR", "127.0.0.1:9184"),
        pool.clone(),
        registry,
        shutdown.clone(),
    )
    .await?;
    tracing::info!(
        smtp = %format!("{}:{}", cfg.smtp.host, cfg.smtp.port),
        group = %cfg.group_id,
        "notifier running"
    );
    let notifier = Notifier::new(pool, cfg, metrics).await?;
    let outcome = notifier.run(shutdown.clone()).await;
    shutdown.cancel();
    ops.await?;
    platform::telemetry::shutdown();
    outcome?;
    Ok(())
}

/// The image worker: processes uploaded product images (see `crate::image_worker`), with
/// `/healthz`, `/readyz` and `/metrics` on `FRESHLINE_IMAGE_WORKER_HTTP_ADDR` (default
/// 127.0.0.1:9185).
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn image_worker() -> anyhow::Result<()> {
    let common = Common::from_env()?;
    common.init_telemetry();
    let api = crate::commands::client_from_settings()?;
    let commands = api.readiness_check("command-api");
    let store = Arc::new(LocalDirStore::new(config::string(
        "FRESHLINE_BLOB_DIR",
        defaults::BLOB_DIR,
    )));
    let worker = ImageWorker::new(
        &common.brokers,
        &common.topic_prefix,
        &config::string("FRESHLINE_IMAGE_WORKER_GROUP", "freshline-image-worker"),
        store,
        api,
    )?;
    let registry = prometheus::Registry::new();
    let worker = worker.with_metrics(ImageWorkerMetrics::new(&registry)?);
    let shutdown = CancellationToken::new();
    let http_addr = config::string(
        "FRESHLINE_IMAGE_WORKER_HTTP_ADDR",
        defaults::IMAGE_WORKER_ADDR,
    );
    // Its dependencies (Kafka, the blob store, command-api) are retried, never fatal: ready
    // while command-api's last answer was not a fault (a token or scope problem).
    let http =
        platform::ops::spawn_server_with(&http_addr, registry, vec![commands], shutdown.clone())
            .await
            .with_context(|| format!("binding {http_addr}"))?;
    platform::ops::cancel_on_signal(shutdown.clone());
    tracing::info!("image worker running");
    let outcome = worker.run(shutdown.clone()).await;
    shutdown.cancel();
    http.await.ok();
    platform::telemetry::shutdown();
    outcome?;
    Ok(())
}

/// The scheduler: expiry, expiring-soon and low-stock alerts (see `crate::scheduler`),
/// with `/healthz`, `/readyz` and `/metrics` on `FRESHLINE_SCHEDULER_HTTP_ADDR` (default
/// 127.0.0.1:9186).
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn scheduler() -> anyhow::Result<()> {
    let common = Common::from_env()?;
    common.init_telemetry();
    let api = crate::commands::client_from_settings()?;
    let commands = api.readiness_check("command-api");
    let pool = common.pool(4)?;
    let cfg = SchedulerConfig {
        horizon: chrono::TimeDelta::hours(config::parse("FRESHLINE_EXPIRY_HORIZON_HOURS", 48)?),
        read_schema: config::string("FRESHLINE_READ_SCHEMA", "read"),
        ..SchedulerConfig::default()
    };
    let registry = prometheus::Registry::new();
    let scheduler = Scheduler::new(pool.clone(), api, cfg)
        .await?
        .with_metrics(SchedulerMetrics::new(&registry)?);
    let shutdown = CancellationToken::new();
    let http_addr = config::string("FRESHLINE_SCHEDULER_HTTP_ADDR", defaults::SCHEDULER_ADDR);
    // Ready while PostgreSQL answers and command-api's last answer was not a fault.
    let http = platform::ops::spawn_server_with(
        &http_addr,
        registry,
        vec![platform::ops::postgres(pool), commands],
        shutdown.clone(),
    )
    .await
    .with_context(|| format!("binding {http_addr}"))?;
    platform::ops::cancel_on_signal(shutdown.clone());
    let every = Duration::from_secs(config::parse("FRESHLINE_SCHEDULER_INTERVAL_SECS", 30)?);
    tracing::info!(?every, "scheduler running");
    scheduler.run(every, shutdown).await;
    http.await.ok();
    platform::telemetry::shutdown();
    Ok(())
}
