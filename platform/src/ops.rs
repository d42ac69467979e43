//! The operations endpoints of a worker that has no HTTP API of its own (the relay, the
//! projector): `/healthz`, `/readyz` (PostgreSQL answers) and `/metrics`.

use axum::routing::get;
use prometheus::Registry;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Binds `addr` and serves the endpoints until `shutdown`.
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn_server(
    addr: &str,
    pool: PgPool,
    registry: Registry,
    shutdown: CancellationToken,
) -> std::io::Result<JoinHandle<()>> {
    let app = axum::Router::new()
        .route("/healthz", get(crate::http::healthz))
        .route(
            "/readyz",
            get(move || {
                let pool = pool.clone();
                async move { crate::http::readiness(&[("postgres", crate::db::ping(&pool).await)]) }
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
