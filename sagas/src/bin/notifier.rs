//! The notifier binary: e-mails about orders, payments, deliveries, stock and suppliers (see
//! `sagas::notifier`), with `/healthz`, `/readyz` and `/metrics` on
//! `FRESHLINE_NOTIFIER_HTTP_ADDR` (default 127.0.0.1:9184).

use platform::config::{self, defaults};
use platform::telemetry::LogFormat;
use sagas::notifier::{Notifier, NotifierConfig, NotifierMetrics};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(
        config::parse("FRESHLINE_LOG_FORMAT", LogFormat::Pretty)?,
        &config::string("FRESHLINE_LOG", "info,sqlx=warn"),
    );
    let pool = platform::db::pool(
        &config::secret("FRESHLINE_DATABASE_URL", defaults::DATABASE_URL),
        4,
    )?;
    let cfg = NotifierConfig::from_settings()?;
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
