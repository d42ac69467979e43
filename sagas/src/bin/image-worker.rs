//! The image worker binary: processes uploaded product images (see `sagas::image_worker`), with
//! `/healthz`, `/readyz` and `/metrics` on `FRESHLINE_IMAGE_WORKER_HTTP_ADDR` (default
//! 127.0.0.1:9185).

use anyhow::Context;
use platform::blobs::LocalDirStore;
use platform::config::{self, defaults};
use platform::telemetry::LogFormat;
use sagas::image_worker::{ImageWorker, ImageWorkerMetrics};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(
        config::parse("FRESHLINE_LOG_FORMAT", LogFormat::Pretty)?,
        &config::string("FRESHLINE_LOG", "info"),
    );
    let api = sagas::commands::client_from_settings()?;
    let commands = api.readiness_check("command-api");
    let store = Arc::new(LocalDirStore::new(config::string(
        "FRESHLINE_BLOB_DIR",
        defaults::BLOB_DIR,
    )));
    let worker = ImageWorker::new(
        &config::string("FRESHLINE_KAFKA_BROKERS", defaults::KAFKA_BROKERS),
        &config::string("FRESHLINE_TOPIC_PREFIX", ""),
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
