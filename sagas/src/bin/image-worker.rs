//! The image worker binary: processes uploaded product images (see `sagas::image_worker`).

use platform::config::{self, defaults};
use platform::telemetry::LogFormat;
use sagas::image_worker::ImageWorker;
use sagas::images::LocalDirStore;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(
        config::parse("FRESHLINE_LOG_FORMAT", LogFormat::Pretty)?,
        &config::string("FRESHLINE_LOG", "info"),
    );
    let api = sagas::commands::client_from_settings()?;
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
    let shutdown = CancellationToken::new();
    platform::ops::cancel_on_signal(shutdown.clone());
    tracing::info!("image worker running");
    worker.run(shutdown).await?;
    Ok(())
}
