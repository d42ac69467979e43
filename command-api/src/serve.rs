//! The services this crate runs (`freshline serve command-api`, `freshline serve outbox-relay`):
//! each reads its settings from the environment, serves until SIGTERM or Ctrl-C, and stops
//! cleanly.

use crate::settings::Settings;
use anyhow::Context;
use platform::auth::Verifier;
use platform::config::{self, defaults, Common};
use platform::relay::{Relay, RelayConfig, RelayMetrics};
use std::time::Duration;

/// command-api: the write side's HTTP API (commands, `/openapi.json`, health, metrics).
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn command_api() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    settings.common.init_telemetry();
    let pool = settings.common.pool(settings.db_max_connections)?;
    platform::db::migrate(&pool)
        .await
        .context("running migrations")?;
    let verifier = Verifier::from_settings(&settings.auth)
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
    let app = crate::router(
        pool,
        verifier,
        prometheus::Registry::new(),
        std::sync::Arc::new(settings.blobs.store()),
        crate::Options {
            max_body_bytes: settings.max_body_bytes,
            limiter: platform::ratelimit::RateLimiter::new(
                settings.rate_per_sec,
                settings.rate_burst,
            ),
            snapshots: platform::bus::Snapshots::every(settings.snapshot_every),
            idempotency_ttl: std::time::Duration::from_secs(settings.idempotency_ttl_secs),
            image_limits: settings.image_limits,
            second_factor: settings.auth.require_second_factor,
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

/// The relay's configuration, from `FRESHLINE_*` variables.
#[derive(Debug)]
struct RelaySettings {
    common: Common,
    relay: RelayConfig,
    http_addr: String,
    create_topics: bool,
    /// `FRESHLINE_KAFKA_REPLICATION`: replicas of each topic it creates
    /// (`min.insync.replicas` follows: a majority).
    replication: i32,
}

impl RelaySettings {
    fn from_env() -> Result<Self, config::ConfigError> {
        let common = Common::from_env()?;
        Ok(Self {
            relay: RelayConfig {
                name: config::string("FRESHLINE_RELAY_NAME", "default"),
                topic_prefix: common.topic_prefix.clone(),
                batch_size: config::parse("FRESHLINE_RELAY_BATCH_SIZE", 2000)?,
                poll_interval: Duration::from_millis(config::parse(
                    "FRESHLINE_RELAY_POLL_MS",
                    1000,
                )?),
                lease: Duration::from_secs_f64(config::parse(
                    "FRESHLINE_RELAY_LEASE_SECS",
                    platform::relay::DEFAULT_LEASE.as_secs_f64(),
                )?),
                ..RelayConfig::default()
            },
            replication: config::parse("FRESHLINE_KAFKA_REPLICATION", 1)?,
            http_addr: config::string("FRESHLINE_RELAY_HTTP_ADDR", defaults::RELAY_ADDR),
            create_topics: config::parse("FRESHLINE_RELAY_CREATE_TOPICS", true)?,
            common,
        })
    }
}

/// The outbox relay: publishes the event store to Kafka (see `platform::relay`), and
/// serves `/healthz`, `/readyz` and `/metrics`.
///
/// # Errors
/// When a setting is invalid or a dependency cannot be reached at start.
pub async fn outbox_relay() -> anyhow::Result<()> {
    let s = RelaySettings::from_env()?;
    s.common.init_telemetry();
    let pool = s.common.pool(4)?;
    platform::db::migrate(&pool)
        .await
        .context("running migrations")?;
    if s.create_topics {
        platform::kafka::ensure_topics(
            &s.common.brokers,
            &s.relay.topic_prefix,
            schemas::topics::ALL,
            s.replication,
        )
        .await
        .context("creating topics")?;
    }
    let registry = prometheus::Registry::new();
    let metrics = RelayMetrics::new(&registry)?;

    let checks = vec![platform::ops::postgres(pool.clone()), metrics.readiness()];
    platform::ops::run_worker(
        "outbox relay",
        &s.http_addr,
        registry,
        checks,
        |stop| async move {
            while !stop.is_cancelled() {
                // A fresh producer each time: after a fatal producer error the old one is unusable.
                let producer = platform::kafka::idempotent_producer(
                    &s.common.brokers,
                    "freshline-outbox-relay",
                )?;
                let relay = Relay::new(pool.clone(), producer, s.relay.clone(), metrics.clone());
                if let Err(e) = relay.run(stop.clone()).await {
                    platform::telemetry::log_error_chain("relay stopped; restarting in 1 s", &e);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            Ok(())
        },
    )
    .await
}
