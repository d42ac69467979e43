//! The operations endpoints of a worker that has no HTTP API of its own (the relay, the
//! projector, the saga, the notifier, the image worker, the scheduler, the simulated riders):
//! `/healthz`, `/readyz` (its dependencies answer) and `/metrics`.

use axum::routing::get;
use futures::future::BoxFuture;
use prometheus::Registry;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A readiness check: whether one dependency answers.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// The check that PostgreSQL answers on `pool`.
pub fn postgres(pool: PgPool) -> (&'static str, Check) {
    (
        "postgres",
        Arc::new(move || {
            let pool = pool.clone();
            Box::pin(async move { crate::db::ping(&pool).await })
        }),
    )
}

/// Binds `addr` and serves the endpoints until `shutdown`; ready while PostgreSQL answers.
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn_server(
    addr: &str,
    pool: PgPool,
    registry: Registry,
    shutdown: CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    spawn_server_with(addr, registry, vec![postgres(pool)], shutdown).await
}

/// [`spawn_server`] with its own readiness checks (none: ready while alive, for a worker whose
/// only dependencies are Kafka and HTTP services that retry on their own).
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn_server_with(
    addr: &str,
    registry: Registry,
    checks: Vec<(&'static str, Check)>,
    shutdown: CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    let checks = Arc::new(checks);
    let app = axum::Router::new()
        .route("/healthz", get(crate::http::healthz))
        .route(
            "/readyz",
            get(move || {
                let checks = checks.clone();
                async move {
                    let mut outcomes = Vec::with_capacity(checks.len());
                    for (name, check) in checks.iter() {
                        outcomes.push((*name, check().await));
                    }
                    crate::http::readiness(&outcomes)
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move { crate::metrics::render(&registry) }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "health and metrics listening");
    Ok(tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "health and metrics server failed");
        }
    }))
}

/// Cancels `token` on Ctrl-C or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        token.cancel();
    });
}

/// Runs a worker as a service: its operations server on `addr` (`/healthz`, `/readyz` with
/// `checks`, `/metrics` from `registry`), a shutdown token cancelled by Ctrl-C or SIGTERM and
/// handed to `run`; when `run` ends, the server stops and telemetry is flushed, and `run`'s
/// outcome is the service's.
///
/// # Errors
/// When `addr` cannot be bound, or what `run` returns.
pub async fn run_worker<F, Fut>(
    name: &str,
    addr: &str,
    registry: Registry,
    checks: Vec<(&'static str, Check)>,
    run: F,
) -> anyhow::Result<()>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    use anyhow::Context;
    let shutdown = CancellationToken::new();
    let http = spawn_server_with(addr, registry, checks, shutdown.clone())
        .await
        .with_context(|| format!("binding {addr}"))?;
    cancel_on_signal(shutdown.clone());
    tracing::info!(service = name, %addr, "running");
    let outcome = run(shutdown.clone()).await;
    shutdown.cancel();
    http.await.ok();
    crate::telemetry::shutdown();
    outcome
}
