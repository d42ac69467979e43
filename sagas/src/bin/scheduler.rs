//! The scheduler binary: expiry, expiring-soon and low-stock alerts (see `sagas::scheduler`),
//! with `/healthz`, `/readyz` and `/metrics` on `FRESHLINE_SCHEDULER_HTTP_ADDR` (default
//! 127.0.0.1:9186).

use anyhow::Context;
use platform::config::{self, defaults};
use platform::telemetry::LogFormat;
use sagas::scheduler::{Scheduler, SchedulerConfig, SchedulerMetrics};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(
        config::parse("FRESHLINE_LOG_FORMAT", LogFormat::Pretty)?,
        &config::string("FRESHLINE_LOG", "info,sqlx=warn"),
    );
    let api = sagas::commands::client_from_settings()?;
    let commands = api.readiness_check("command-api");
    let pool = platform::db::pool(
        &config::secret("FRESHLINE_DATABASE_URL", defaults::DATABASE_URL),
        4,
    )?;
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
