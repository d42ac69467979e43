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
        // No `SELECT 1` before every statement: a broken connection fails its statement, which
        // is reported (503) and retried by the caller like any other transient failure.
        .test_before_acquire(false)
        .idle_timeout(Some(Duration::from_secs(300)))
        .connect_lazy_with(options))
}

/// The channel a read model's writer notifies, with the read model's name as payload, when a
/// change to it commits: a projector (its projection's name) or the fulfilment sagas (`sagas`,
/// when a saga becomes or stops being stuck or parked). The query API wakes the reads and live
/// streams waiting on that name instead of polling.
pub const CHANGED_CHANNEL: &str = "freshline_projection_changed";

/// A saga's step has failed this many times in a row: it counts as `stuck` for operators.
pub const SAGA_STUCK_AFTER: i32 = 3;

/// A listener on `channels` over a connection of its own (same settings as `pool`), so that
/// listening never takes one of the pool's connections away from its statements.
///
/// # Errors
/// When the database is unreachable.
pub async fn listener(
    pool: &PgPool,
    channels: &[&str],
) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*pool.connect_options()).clone())
        .await?;
    let mut listener = sqlx::postgres::PgListener::connect_with(&own).await?;
    listener.listen_all(channels.iter().copied()).await?;
    Ok(listener)
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

/// Whether a database failure says "try again" (the server or the connection went away, the
/// pool is exhausted, a deadlock, a serialization failure, a cancelled statement, a server out
/// of resources) rather than "this statement is wrong".
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            ["08", "40", "53", "55", "57", "58"]
                .iter()
                .any(|class| c.starts_with(class))
        }),
        _ => false,
    }
}
