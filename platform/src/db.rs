//! The PostgreSQL pool and the schema migrations (embedded from `platform/migrations`).

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// Builds a pool that connects lazily: a service starts even while the database is down and
/// reports it on `/readyz` (postgres-es's `default_postgress_pool` panics instead).
///
/// # Errors
/// When the URL cannot be parsed.
pub fn pool(url: &SecretString, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url.expose_secret())?
        .application_name("freshline")
        .statement_cache_capacity(256)
        // No statement runs for ever, and no transaction sits idle holding the relay's
        // horizon (pg_snapshot_xmin) back: both bound the crash windows the services rely on.
        .options([
            ("statement_timeout", "30s"),
            ("idle_in_transaction_session_timeout", "60s"),
        ]);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Some(Duration::from_secs(300)))
        .connect_lazy_with(options))
}

/// Applies every pending migration (takes PostgreSQL's advisory lock, so concurrent starts are
/// safe).
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations").run(pool).await
}

/// `select 1`, for readiness probes.
pub async fn ping(pool: &PgPool) -> bool {
    sqlx::query_scalar::<_, i32>("select 1")
        .fetch_one(pool)
        .await
        .is_ok()
}
