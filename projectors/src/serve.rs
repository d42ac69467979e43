//! The services this crate runs (`freshline serve query-api`, `freshline serve projector`):
//! each reads its settings (`crate::settings`), serves until SIGTERM or Ctrl-C, and stops
//! cleanly.

use crate::runtime::{Projection, Runner, RunnerConfig, RunnerError};
use crate::settings::{ProjectorSettings, QueryApiSettings};
use anyhow::Context;
use platform::auth::Verifier;
use platform::consumer::ConsumerMetrics;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The query API: serves the read models over HTTP.
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn query_api() -> anyhow::Result<()> {
    let s = QueryApiSettings::from_env()?;
    s.common.init_telemetry();
    let pool = s.common.pool(s.db_max_connections)?;
    let verifier = Verifier::from_settings(&s.auth)
        .await
        .context("loading verifying keys")?;
    let evidence = match platform::evidence::EvidenceSigner::from_file(s.evidence_key.as_ref()) {
        Ok(signer) => Some(Arc::new(signer)),
        Err(e) => {
            tracing::warn!(error = %e, "no evidence key: history exports will answer 503");
            None
        }
    };
    let app = crate::query::router(
        pool,
        &s.read_schema,
        verifier,
        prometheus::Registry::new(),
        s.read_your_writes_wait,
        platform::ratelimit::RateLimiter::new(s.rate.0, s.rate.1),
        evidence,
    )?;
    let listener = tokio::net::TcpListener::bind(&s.http_addr)
        .await
        .with_context(|| format!("binding {}", s.http_addr))?;
    tracing::info!(addr = %s.http_addr, "query-api listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(platform::shutdown_signal())
        .await?;
    platform::telemetry::shutdown();
    Ok(())
}

/// The projector: runs the projections named in `FRESHLINE_PROJECTIONS` (default: all,
/// each with its own consumer group) and serves `/healthz`, `/readyz` and `/metrics`.
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn projector() -> anyhow::Result<()> {
    let s = ProjectorSettings::from_env()?;
    s.common.init_telemetry();
    let pool = s.common.pool(8)?;
    let mut cfg = RunnerConfig::new(&s.common.brokers);
    cfg.topic_prefix = s.common.topic_prefix.clone();
    cfg.schema = s.read_schema.clone();
    let registry = prometheus::Registry::new();
    let metrics = ConsumerMetrics::new(&registry)?;
    let projections: Vec<Arc<dyn Projection>> = if s.projections.is_empty() {
        crate::all()
    } else {
        s.projections
            .iter()
            .map(|n| {
                crate::by_name(n)
                    .with_context(|| format!("unknown projection {n:?} in FRESHLINE_PROJECTIONS"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    let checks = vec![platform::ops::postgres(pool.clone())];
    platform::ops::run_worker(
        "projector",
        &s.http_addr,
        registry,
        checks,
        |stop| async move {
            let tasks: Vec<_> = projections
                .into_iter()
                .map(|projection| {
                    let runner =
                        Runner::new(projection, pool.clone(), cfg.clone(), metrics.clone());
                    tokio::spawn(keep_running(runner, stop.clone()))
                })
                .collect();
            for t in tasks {
                t.await.ok();
            }
            Ok(())
        },
    )
    .await
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
