//! The scheduler binary: expiry, expiring-soon and low-stock alerts (see `sagas::scheduler`).

use anyhow::Context;
use platform::config::{self, defaults};
use platform::telemetry::LogFormat;
use sagas::commands::{CommandClient, TokenSource};
use sagas::scheduler::{Scheduler, SchedulerConfig};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(
        config::parse("FRESHLINE_LOG_FORMAT", LogFormat::Pretty)?,
        &config::string("FRESHLINE_LOG", "info,sqlx=warn"),
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
    let pool = platform::db::pool(
        &config::secret("FRESHLINE_DATABASE_URL", defaults::DATABASE_URL),
        4,
    )?;
    let cfg = SchedulerConfig {
        horizon: chrono::TimeDelta::hours(config::parse("FRESHLINE_EXPIRY_HORIZON_HOURS", 48)?),
        read_schema: config::string("FRESHLINE_READ_SCHEMA", "read"),
        ..SchedulerConfig::default()
    };
    let scheduler = Scheduler::new(pool, api, cfg).await?;
    let shutdown = CancellationToken::new();
    platform::ops::cancel_on_signal(shutdown.clone());
    let every = Duration::from_secs(config::parse("FRESHLINE_SCHEDULER_INTERVAL_SECS", 30)?);
    tracing::info!(?every, "scheduler running");
    scheduler.run(every, shutdown).await;
    Ok(())
}
