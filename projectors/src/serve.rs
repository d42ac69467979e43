//! The services this crate runs (`freshline serve query-api`, `freshline serve projector`):
//! each reads its settings from the environment, serves until SIGTERM or Ctrl-C, and stops
//! cleanly.

use crate::runtime::{Projection, Runner, RunnerConfig, RunnerError};
use anyhow::Context;
use platform::auth::Verifier;
use platform::config::{self, defaults, Common};
use platform::consumer::ConsumerMetrics;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The query API: serves the read models over HTTP.
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn query_api() -> anyhow::Result<()> {
    let common = Common::from_env()?;
    common.init_telemetry();
    let pool = common.pool(config::parse("FRESHLINE_DB_MAX_CONNECTIONS", 32)?)?;
    let issuer = config::string("FRESHLINE_AUTH_ISSUER", defaults::ISSUER);
    let jwks_url = config::string("FRESHLINE_JWKS_URL", "");
    let verifier = Verifier::from_settings(
        Some(jwks_url.as_str()).filter(|u| !u.is_empty()),
        &config::string("FRESHLINE_JWKS_PATH", defaults::JWKS_PATH),
        &config::string("FRESHLINE_AUTH_AUDIENCE", defaults::AUDIENCE),
        (issuer != "*").then_some(issuer.as_str()),
        Duration::from_secs(config::parse("FRESHLINE_JWKS_REFRESH_SECS", 300)?),
    )
    .await
    .context("loading verifying keys")?;
    let evidence_path = config::string("FRESHLINE_EVIDENCE_KEY", defaults::EVIDENCE_KEY_PATH);
    let evidence = match platform::evidence::EvidenceSigner::from_file(evidence_path.as_ref()) {
        Ok(signer) => Some(std::sync::Arc::new(signer)),
        Err(e) => {
            tracing::warn!(error = %e, "no evidence key: history exports will answer 503");
            None
        }
    };
    let app = crate::query::router(
        pool,
        &config::string("FRESHLINE_READ_SCHEMA", "read"),
        verifier,
        prometheus::Registry::new(),
        Duration::from_millis(config::parse("FRESHLINE_READ_YOUR_WRITES_WAIT_MS", 2000)?),
        platform::ratelimit::RateLimiter::new(
            config::parse("FRESHLINE_RATE_LIMIT_PER_SEC", 1000.0)?,
            config::parse("FRESHLINE_RATE_LIMIT_BURST", 2000.0)?,
        ),
        evidence,
    )?;
    let addr = config::string("FRESHLINE_HTTP_ADDR", defaults::QUERY_API_ADDR);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "query-api listening");
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
    let common = Common::from_env()?;
    common.init_telemetry();
    let pool = common.pool(8)?;
    let mut cfg = RunnerConfig::new(&common.brokers);
    cfg.topic_prefix = common.topic_prefix.clone();
    cfg.schema = config::string("FRESHLINE_READ_SCHEMA", "read");
    let http_addr = config::string("FRESHLINE_PROJECTOR_HTTP_ADDR", "127.0.0.1:9182");
    let registry = prometheus::Registry::new();
    let metrics = ConsumerMetrics::new(&registry)?;
    let names = config::string("FRESHLINE_PROJECTIONS", "");
    let projections: Vec<Arc<dyn Projection>> = if names.trim().is_empty() {
        crate::all()
    } else {
        names
            .split(',')
            .map(|n| {
                crate::by_name(n.trim())
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
