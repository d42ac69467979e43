//! The projector binary: runs the projections named in `FRESHLINE_PROJECTIONS` (default: all,
//! each with its own consumer group) and serves `/healthz`, `/readyz` and `/metrics`.

use anyhow::Context;
use platform::config::{self, defaults};
use platform::consumer::ConsumerMetrics;
use platform::telemetry::LogFormat;
use projectors::runtime::{Projection, Runner, RunnerConfig, RunnerError};
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
    let metrics = ConsumerMetrics::new(&registry)?;
    let names = config::string("FRESHLINE_PROJECTIONS", "");
    let projections: Vec<Arc<dyn Projection>> = if names.trim().is_empty() {
        projectors::all()
    } else {
        names
            .split(',')
            .map(|n| {
                projectors::by_name(n.trim())
                    .with_context(|| format!("unknown projection {n:?} in FRESHLINE_PROJECTIONS"))
            })
            .collect::<anyhow::Result<_>>()?
    };

    let shutdown = CancellationToken::new();
    let http = platform::ops::spawn_server(&http_addr, pool.clone(), registry, shutdown.clone())
        .await
        .with_context(|| format!("binding {http_addr}"))?;
    platform::ops::cancel_on_signal(shutdown.clone());
    let mut tasks = Vec::new();
    for projection in projections {
        let runner = Runner::new(projection, pool.clone(), cfg.clone(), metrics.clone());
        tasks.push(tokio::spawn(keep_running(runner, shutdown.clone())));
    }
    for t in tasks {
        t.await.ok();
    }
    http.await.ok();
    platform::telemetry::shutdown();
    Ok(())
}

/// Runs one projection until shutdown, following rebuilt generations and restarting after
/// failures.
async fn keep_running(runner: Runner, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        match runner.run(shutdown.clone()).await {
            Ok(()) => {}
            Err(RunnerError::GenerationMoved(g)) => {
                tracing::info!(
                    generation = g,
                    "a rebuilt generation went live; following it"
                );
            }
            Err(e) => {
                platform::telemetry::log_error_chain("projection stopped; restarting in 1 s", &e);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
