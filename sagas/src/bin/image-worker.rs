//! The image worker binary: processes uploaded product images (see `sagas::image_worker`).

use anyhow::Context;
use platform::config::{self, defaults};
use platform::telemetry::LogFormat;
use sagas::commands::{CommandClient, TokenSource};
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
    let token = match config::string("FRESHLINE_SERVICE_TOKEN", "") {
        t if !t.is_empty() => TokenSource::Fixed(t),
        _ => {
            let key = config::string("FRESHLINE_SIGNING_KEY", defaults::SIGNING_KEY_PATH);
            let pem = std::fs::read_to_string(&key)
                .with_context(|| format!("reading {key} (or set FRESHLINE_SERVICE_TOKEN)"))?;
            let kid = std::fs::read_to_string(std::path::Path::new(&key).with_extension("kid"))?;
            TokenSource::Minted {
                signer: platform::auth::Signer::from_pem(kid.trim(), &pem)?,
                issuer: config::string("FRESHLINE_AUTH_ISSUER", defaults::ISSUER),
                current: std::sync::Mutex::new(None),
            }
        }
    };
    let api = CommandClient::new(
        &config::string("FRESHLINE_COMMAND_API_URL", "http://127.0.0.1:8080"),
        token,
    )?;
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
