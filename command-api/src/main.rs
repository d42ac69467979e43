//! The command-api binary.

use anyhow::Context;
use command_api::settings::Settings;
use platform::auth::Verifier;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    platform::telemetry::init(settings.log_format, &settings.log_filter);
    let pool = platform::db::pool(&settings.database_url, settings.db_max_connections)?;
    platform::db::migrate(&pool)
        .await
        .context("running migrations")?;
    let verifier = Verifier::from_settings(
        settings.jwks_url.as_deref(),
        &settings.jwks_path,
        &settings.audience,
        settings.issuer.as_deref(),
        std::time::Duration::from_secs(settings.jwks_refresh_secs),
    )
    .await
    .context("loading verifying keys")?;
    // Answers older than their time to live go; one purge a minute from every instance is
    // cheap (an index range scan), so no instance needs to be the one that does it.
    let purge = tokio_util::sync::CancellationToken::new();
    tokio::spawn(platform::idempotency::purge_loop(
        pool.clone(),
        std::time::Duration::from_secs(60),
        purge.clone(),
    ));
    let app = command_api::router(
        pool,
        verifier,
        prometheus::Registry::new(),
        std::sync::Arc::new(platform::blobs::LocalDirStore::new(&settings.blob_dir)),
        command_api::Options {
            max_body_bytes: settings.max_body_bytes,
            limiter: platform::ratelimit::RateLimiter::new(
                settings.rate_per_sec,
                settings.rate_burst,
            ),
            snapshots: platform::bus::Snapshots::every(settings.snapshot_every),
            idempotency_ttl: std::time::Duration::from_secs(settings.idempotency_ttl_secs),
        },
    )?;
    let listener = tokio::net::TcpListener::bind(&settings.http_addr)
        .await
        .with_context(|| format!("binding {}", settings.http_addr))?;
    tracing::info!(addr = %settings.http_addr, "command-api listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(platform::shutdown_signal())
        .await?;
    purge.cancel();
    platform::telemetry::shutdown();
    Ok(())
}
