//! Plumbing shared by Freshline's services, so that each service is only its own logic:
//! configuration from `FRESHLINE_*` variables, telemetry, the Prometheus registry, the
//! PostgreSQL pool and migrations, Kafka producer and admin helpers, token verification and
//! minting, the HTTP conventions (problem+json errors, JSON extraction, idempotency, health),
//! and the outbox relay that publishes the event store to Kafka.

pub mod auth;
pub mod blobs;
pub mod bus;
pub mod config;
pub mod consumer;
pub mod db;
pub mod evidence;
pub mod http;
pub mod idempotency;
pub mod idp;
pub mod kafka;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod ratelimit;
pub mod relay;
pub mod snapshots;
pub mod store;
pub mod telemetry;
pub mod tickets;

/// Waits for Ctrl-C or SIGTERM; services pass it to their graceful-shutdown hooks.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
