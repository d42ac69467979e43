//! What every crate's integration tests need from their surroundings, once: a PostgreSQL
//! database of their own, the broker and a topic prefix of their own, the local SMTP sink, a
//! port nothing listens on, and a poll with a deadline. The services themselves are started by
//! each crate's own harness (on port 0), from these.

use sqlx::PgPool;
use std::path::PathBuf;
use std::time::Duration;

/// `key` from the environment, else `default`.
pub fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

/// The PostgreSQL cluster tests create their databases in (`FRESHLINE_TEST_DATABASE_URL`).
pub fn admin_database_url() -> String {
    env_or(
        "FRESHLINE_TEST_DATABASE_URL",
        platform::config::defaults::DATABASE_URL,
    )
}

/// The Kafka brokers tests use (`FRESHLINE_TEST_KAFKA_BROKERS`).
pub fn brokers() -> String {
    env_or(
        "FRESHLINE_TEST_KAFKA_BROKERS",
        platform::config::defaults::KAFKA_BROKERS,
    )
}

/// A fresh database of its own (no schema applied).
pub async fn database() -> PgPool {
    database_with_url().await.0
}

/// A fresh database (no schema applied), and its URL (to connect again, as a restarted
/// process would).
pub async fn database_with_url() -> (PgPool, String) {
    let admin_url = admin_database_url();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPool::connect(&admin_url)
        .await
        .expect("PostgreSQL is up (run `make up` or infra/local/infra-up.sh)");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create the test database");
    admin.close().await;
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("the URL names a database");
    let url = format!("{base}/{name}");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(20)
        .connect(&url)
        .await
        .expect("connect to the test database");
    (pool, url)
}

/// A topic prefix of its own (`<letter><10 hex>.`), with every topic of `schemas::topics::ALL`
/// created under it (one partition each).
pub async fn topic_prefix(letter: char) -> String {
    let prefix = format!(
        "{letter}{}.",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    platform::kafka::ensure_topics(&brokers(), &prefix, schemas::topics::ALL, 1)
        .await
        .expect("Kafka is up");
    prefix
}

/// The SMTP sink's port (`infra/local` starts it on `FRESHLINE_SMTP_PORT`, default 2525).
pub fn smtp_port() -> u16 {
    env_or("FRESHLINE_TEST_SMTP_PORT", "2525")
        .parse()
        .expect("FRESHLINE_TEST_SMTP_PORT is a port")
}

/// The sink's Maildir: `FRESHLINE_TEST_MAILDIR`, else `<workspace>/.local/mail`.
pub fn maildir() -> PathBuf {
    match std::env::var("FRESHLINE_TEST_MAILDIR") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/mail"),
    }
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Polls `check` until it gives `Some`, or fails after `secs` seconds.
pub async fn until<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
pub mod keycloak;

/// Holds a document the repository keeps (an OpenAPI description the frontends build their
/// typed client from, under `web/openapi/`) equal to what the code generates: a test fails when
/// they differ; `FRESHLINE_BLESS=1` rewrites the file instead.
///
/// # Panics
/// When the file differs (or cannot be read or written).
pub fn committed_document(relative_to_repo: &str, generated: &serde_json::Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative_to_repo);
    let text = serde_json::to_string_pretty(generated).expect("render") + "\n";
    if std::env::var("FRESHLINE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("mkdir");
        std::fs::write(&path, &text).expect("write");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} differs from what the code generates; after an intended change run \
         `FRESHLINE_BLESS=1 cargo test` (and rebuild web/)",
        path.display()
    );
}
