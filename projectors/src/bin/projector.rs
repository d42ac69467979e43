//! The projector binary: runs the supplier projection and serves `/healthz`, `/readyz` and
//! `/metrics`.

use anyhow::Context;
use platform::config::{self, defaults};
use platform::telemetry::LogFormat;
use projectors::runtime::{ProjectionMetrics, Runner, RunnerConfig, RunnerError};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(
        config::parse("FRESHLINE_LOG_FORMAT", LogFormat::Pretty)?,
        &config::string("FRESHLINE_LOG", "info,sqlx=warn"),
    );
    let pool = platform::db::pool(
        &config::secret("FRESHLINE_DATABASE_URL", defaults::DATABASE_URL),
        8,
    )?;
    let mut cfg = RunnerConfig::new(&config::string(
        "FRESHLINE_KAFKA_BROKERS",
        defaults::KAFKA_BROKERS,
    ));
    cfg.topic_prefix = config::string("FRESHLINE_TOPIC_PREFIX", "");
    cfg.schema = config::string("FRESHLINE_READ_SCHEMA", "read");
    let http_addr = config::string("FRESHLINE_PROJECTOR_HTTP_ADDR", "127.0.0.1:9182");
    let registry = prometheus::Registry::new();
    let metrics = ProjectionMetrics::new(&registry)?;
    let runner = Runner::new(
        Arc::new(projectors::suppliers::SupplierProjection),
        pool.clone(),
        cfg,
        metrics,
    );

    let shutdown = CancellationToken::new();
    let http = platform::ops::spawn_server(&http_addr, pool.clone(), registry, shutdown.clone())
        .await
        .with_context(|| format!("binding {http_addr}"))?;
    platform::ops::cancel_on_signal(shutdown.clone());
    while !shutdown.is_cancelled() {
        match runner.run(shutdown.clone()).await {
            Ok(()) => {}
            Err(RunnerError::GenerationMoved(g)) => {
                tracing::info!(
                    generation = g,
                    "a rebuilt generation went live; following it"
                );
                continue;
            }
            Err(e) => {
                platform::telemetry::log_error_chain("projection stopped; restarting in 1 s", &e);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    http.await.ok();
    Ok(())
}
