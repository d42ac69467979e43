//! The query-api binary: serves the read models over HTTP.

use anyhow::Context;
use platform::auth::Verifier;
use platform::config::{self, defaults};
use platform::telemetry::LogFormat;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init(
        config::parse("FRESHLINE_LOG_FORMAT", LogFormat::Pretty)?,
        &config::string("FRESHLINE_LOG", "info,sqlx=warn"),
    );
    let pool = platform::db::pool(
        &config::secret("FRESHLINE_DATABASE_URL", defaults::DATABASE_URL),
        config::parse("FRESHLINE_DB_MAX_CONNECTIONS", 32)?,
    )?;
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
    let app = projectors::query::router(
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
