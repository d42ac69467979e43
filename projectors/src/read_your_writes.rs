//! Read-your-writes: a get with `min_version` waits (up to the configured time) until the read
//! model has reached that version of the stream. It is woken by the projectors' notifications
//! ([`listen_for_changes`]), not by polling; a slow re-check covers a notification lost while
//! the listener reconnects. A version the event store does not hold is not
//! waited for: it is answered `404` at once.

use platform::http::{ApiError, FieldError};
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

/// How long a waiting read sleeps when no notification comes (one lost during a reconnect).
const RECHECK: Duration = Duration::from_millis(250);

/// Listens for the projectors' change notifications and wakes every waiting read; reconnects
/// (waking everyone, a notification may have been missed) when the connection drops. Runs for
/// as long as the process.
pub(crate) async fn listen_for_changes(pool: PgPool, changes: Arc<Notify>) {
    loop {
        let listening = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(crate::runtime::CHANGED_CHANNEL).await?;
            loop {
                listener.recv().await?;
                changes.notify_waiters();
            }
        };
        let result: Result<(), sqlx::Error> = listening.await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "change listener lost its connection; reconnecting");
        }
        changes.notify_waiters();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The stream a get reads, for its messages and the event store's head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream<'a> {
    /// The aggregate type as stored (`schemas::aggregate_types`).
    pub aggregate_type: &'static str,
    /// Its id.
    pub id: Uuid,
    /// What to call it in messages (`order`, `delivery slot`).
    pub what: &'a str,
}

/// `422` on a negative `min_version`.
pub(crate) fn check_min_version(v: Option<i64>) -> Result<(), ApiError> {
    if v.is_some_and(|v| v < 0) {
        return Err(ApiError::validation(vec![FieldError::new(
            "min_version",
            "must be 0 or more",
        )]));
    }
    Ok(())
}

/// Loads a row (with its version) until the version reaches `min_version`, waiting up to
/// `wait`; then `503 version_not_reached` with `Retry-After`. `404` when there is no such row,
/// and at once when the event store holds no such stream or `min_version` is beyond its latest
/// version: there is nothing to wait for.
pub(crate) async fn read_your_writes<T, F, Fut>(
    pool: &PgPool,
    changes: &Notify,
    wait: Duration,
    stream: Stream<'_>,
    min_version: Option<i64>,
    mut load: F,
) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<(T, i64)>, ApiError>>,
{
    check_min_version(min_version)?;
    let not_found = || ApiError::not_found(format!("no {} with this id", stream.what));
    let deadline = tokio::time::Instant::now() + wait;
    let mut head_checked = false;
    loop {
        // Registered before the read, so a change committed during it still wakes us.
        let changed = changes.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let row = load().await?;
        let Some(min) = min_version else {
            return row.map(|(r, _)| r).ok_or_else(not_found);
        };
        match row {
            Some((r, v)) if v >= min => return Ok(r),
            _ => {}
        }
        if !head_checked {
            head_checked = true;
            let head: Option<i64> = sqlx::query_scalar(
                "SELECT max(sequence) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
            )
            .bind(stream.aggregate_type)
            .bind(stream.id.to_string())
            .fetch_one(pool)
            .await
            .map_err(|e| ApiError::database("reading a stream's head", &e))?;
            // The write was committed before its answer was sent: a version the store does
            // not hold never comes.
            match head {
                None => return Err(not_found()),
                Some(head) if min > head => {
                    return Err(ApiError::not_found(format!(
                        "this {} has no version {min}: its latest is {head}",
                        stream.what
                    )))
                }
                Some(_) => {}
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "version_not_reached",
                "Not visible yet",
                format!(
                    "the read model has not reached version {min} of this {} yet",
                    stream.what
                ),
            )
            .retry_after(1));
        }
        let recheck = RECHECK.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep(recheck) => {}
        }
    }
}
