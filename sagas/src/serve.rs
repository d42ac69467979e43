//! The services this crate runs (`freshline serve fulfilment-saga | notifier | image-worker |
//! scheduler`): each reads its settings (`crate::settings`), serves until SIGTERM or Ctrl-C,
//! and stops cleanly.

use crate::fulfilment::{FulfilmentSaga, SagaMetrics};
use crate::image_worker::{ImageWorker, ImageWorkerMetrics};
use crate::notifier::{Notifier, NotifierMetrics};
use crate::payments::HttpCardGateway;
use crate::scheduler::{Scheduler, SchedulerMetrics};
use crate::settings::{
    FulfilmentSagaSettings, ImageWorkerSettings, NotifierSettings, SchedulerSettings,
};
use platform::ops::{postgres, run_worker};
use std::sync::Arc;

/// The fulfilment saga (see `crate::fulfilment`): intake from Kafka, step workers and
/// deadlines, acting through command-api and the card gateway. Ready while PostgreSQL answers
/// and command-api's last answer was not a fault.
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn fulfilment_saga() -> anyhow::Result<()> {
    let s = FulfilmentSagaSettings::from_env()?;
    s.common.init_telemetry();
    let api = s.commands.client("sagas")?;
    let commands = api.readiness_check("command-api");
    let pool = s
        .common
        .pool(u32::try_from(s.saga.workers + 4).unwrap_or(20))?;
    let gateway = Arc::new(HttpCardGateway::new(&s.gateway)?);
    let registry = prometheus::Registry::new();
    let metrics = SagaMetrics::new(&registry)?;
    let saga = Arc::new(FulfilmentSaga::new(pool.clone(), api, gateway, s.saga, metrics).await?);
    let checks = vec![postgres(pool), commands];
    run_worker(
        "fulfilment saga",
        &s.http_addr,
        registry,
        checks,
        |stop| async move { Ok(saga.run(stop).await?) },
    )
    .await
}

/// The notifier: e-mails about orders, payments, deliveries, stock and suppliers (see
/// `crate::notifier`).
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn notifier() -> anyhow::Result<()> {
    let s = NotifierSettings::from_env()?;
    s.common.init_telemetry();
    let pool = s.common.pool(4)?;
    let registry = prometheus::Registry::new();
    let metrics = NotifierMetrics::new(&registry)?;
    tracing::info!(
        smtp = %format!("{}:{}", s.notifier.smtp.host, s.notifier.smtp.port),
        group = %s.notifier.group_id,
        "notifier starting"
    );
    let notifier = Notifier::new(pool.clone(), s.notifier, metrics).await?;
    run_worker(
        "notifier",
        &s.http_addr,
        registry,
        vec![postgres(pool)],
        |stop| async move { Ok(notifier.run(stop).await?) },
    )
    .await
}

/// The image worker: processes uploaded product images (see `crate::image_worker`). Its
/// dependencies (Kafka, the blob store, command-api) are retried, never fatal: ready while
/// command-api's last answer was not a fault (a token or scope problem).
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn image_worker() -> anyhow::Result<()> {
    let s = ImageWorkerSettings::from_env()?;
    s.common.init_telemetry();
    let api = s.commands.client("sagas")?;
    let commands = api.readiness_check("command-api");
    let store = Arc::new(s.blobs.store());
    let registry = prometheus::Registry::new();
    let worker = ImageWorker::new(
        &s.common.brokers,
        &s.common.topic_prefix,
        &s.group,
        store,
        api,
    )?
    .keeping_originals(s.blobs.keep_originals)
    .with_metrics(ImageWorkerMetrics::new(&registry)?);
    run_worker(
        "image worker",
        &s.http_addr,
        registry,
        vec![commands],
        |stop| async move { Ok(worker.run(stop).await?) },
    )
    .await
}

/// The scheduler: expiry, expiring-soon and low-stock alerts (see `crate::scheduler`). Ready
/// while PostgreSQL answers and command-api's last answer was not a fault.
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn scheduler() -> anyhow::Result<()> {
    let s = SchedulerSettings::from_env()?;
    s.common.init_telemetry();
    let api = s.commands.client("sagas")?;
    let commands = api.readiness_check("command-api");
    let pool = s.common.pool(4)?;
    let registry = prometheus::Registry::new();
    let scheduler = Scheduler::new(pool.clone(), api, s.scheduler)
        .await?
        .with_metrics(SchedulerMetrics::new(&registry)?);
    let checks = vec![postgres(pool), commands];
    let every = s.every;
    run_worker(
        "scheduler",
        &s.http_addr,
        registry,
        checks,
        |stop| async move {
            scheduler.run(every, stop).await;
            Ok(())
        },
    )
    .await
}
