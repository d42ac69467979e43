//! Read-your-writes, once for every route: a get with `min_version` waits (up to the configured
//! time) until the read model has reached that version of the stream; any read with
//! `min_position` waits until every projection it reads has applied every event of the store up
//! to that position (what a command answered: read-your-writes across aggregates). Waiting
//! reads are woken by the projectors' notifications ([`listen_for_changes`]), not by polling;
//! a slow re-check covers a notification lost while the listener reconnects. What the event
//! store does not hold is not waited for, and the waiting reads of one subject are bounded:
//! over the bound, `429`.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use platform::http::Authenticated;
use platform::http::{ApiError, FieldError};
use sqlx::PgPool;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

/// How long a waiting read sleeps when no notification comes (one lost during a reconnect).
const RECHECK: Duration = Duration::from_millis(250);

/// What waiting reads share: the pool, the change signal, how long to wait, and how many
/// reads each subject has waiting.
#[derive(Debug)]
pub(crate) struct Freshness {
    pool: PgPool,
    schema: String,
    changes: Arc<Changes>,
    wait: Duration,
    max_waiting: usize,
    waiting: Mutex<HashMap<String, usize>>,
}

/// A place among a subject's waiting reads, given back when dropped.
struct Waiting<'a> {
    fresh: &'a Freshness,
    subject: String,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Ok(mut w) = self.fresh.waiting.lock() {
            if let Some(n) = w.get_mut(&self.subject) {
                *n -= 1;
                if *n == 0 {
                    w.remove(&self.subject);
                }
            }
        }
    }
}

impl Freshness {
    /// Waiting reads over `pool`'s read models in `schema`, woken by a listener this starts;
    /// each waits up to `wait`, at most `max_waiting` at once per subject.
    pub(crate) fn start(
        pool: PgPool,
        schema: &str,
        wait: Duration,
        max_waiting: usize,
    ) -> Arc<Self> {
        let changes = Arc::new(Changes::new());
        tokio::spawn(listen_for_changes(pool.clone(), changes.clone()));
        Arc::new(Self {
            pool,
            schema: schema.to_owned(),
            changes,
            wait,
            max_waiting,
            waiting: Mutex::new(HashMap::new()),
        })
    }

    /// Resolves at `projection`'s next committed batch (a live stream waits on it). Enable the
    /// future before reading, so a commit during the read still wakes it.
    pub(crate) fn changed(&self, projection: &str) -> tokio::sync::futures::Notified<'_> {
        self.changes.of(projection).notified()
    }

    /// Resolves at the next change to any read model (a projector's commit, or a saga becoming
    /// or ceasing to be stuck): the operators' stream, which reads several, waits on it.
    pub(crate) fn changed_any(&self) -> tokio::sync::futures::Notified<'_> {
        self.changes.any.notified()
    }

    /// Takes a place among `subject`'s waiting reads; `429` when they are all taken.
    fn wait_as(&self, subject: &str) -> Result<Waiting<'_>, ApiError> {
        let mut w = self
            .waiting
            .lock()
            .map_err(|_| ApiError::unavailable("waiting reads are not counted"))?;
        let n = w.entry(subject.to_owned()).or_insert(0);
        if *n >= self.max_waiting {
            return Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too_many_waiting_reads",
                "Too many waiting reads",
                format!(
                    "{} reads of this subject are already waiting for a version or position; wait for them",
                    self.max_waiting
                ),
            )
            .retry_after(1));
        }
        *n += 1;
        Ok(Waiting {
            fresh: self,
            subject: subject.to_owned(),
        })
    }
}

/// One signal per projection: a notification wakes only the reads waiting on the projection
/// that changed.
#[derive(Debug)]
struct Changes {
    by_projection: HashMap<&'static str, Notify>,
    other: Notify,
    any: Notify,
}

impl Changes {
    fn new() -> Self {
        Self {
            by_projection: crate::all()
                .iter()
                .map(|p| (p.name(), Notify::new()))
                .collect(),
            other: Notify::new(),
            any: Notify::new(),
        }
    }

    fn of(&self, projection: &str) -> &Notify {
        self.by_projection.get(projection).unwrap_or(&self.other)
    }

    fn wake_all(&self) {
        for n in self.by_projection.values() {
            n.notify_waiters();
        }
        self.other.notify_waiters();
        self.any.notify_waiters();
    }
}

/// The projection a `min_version` read of `aggregate_type` reads (a supplier's directory
/// entry; everything else with a version is an orders read).
fn projection_of(aggregate_type: &str) -> &'static str {
    if aggregate_type == schemas::aggregate_types::SUPPLIER {
        "suppliers"
    } else {
        "orders"
    }
}

/// Listens for the projectors' change notifications (the payload names the projection) and
/// wakes the reads waiting on that projection; reconnects (waking everyone, a notification may
/// have been missed) when the connection drops. Runs for as long as the process.
async fn listen_for_changes(pool: PgPool, changes: Arc<Changes>) {
    loop {
        let listening = async {
            let mut listener =
                platform::db::listener(&pool, &[crate::runtime::CHANGED_CHANNEL]).await?;
            loop {
                let n = listener.recv().await?;
                changes.of(n.payload()).notify_waiters();
                changes.any.notify_waiters();
            }
        };
        let result: Result<(), sqlx::Error> = listening.await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "change listener lost its connection; reconnecting");
        }
        changes.wake_all();
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
    fresh: &Freshness,
    subject: &str,
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
    let deadline = tokio::time::Instant::now() + fresh.wait;
    let mut waiting = None;
    loop {
        // Registered before the read, so a change committed during it still wakes us.
        let changed = fresh
            .changes
            .of(projection_of(stream.aggregate_type))
            .notified();
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
        if waiting.is_none() {
            let head: Option<i64> = sqlx::query_scalar(
                "SELECT max(sequence) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
            )
            .bind(stream.aggregate_type)
            .bind(stream.id.to_string())
            .fetch_one(&fresh.pool)
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
            waiting = Some(fresh.wait_as(subject)?);
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

/// What a group of routes waits on for `min_position`: the read-your-writes state and the one
/// projection its routes read (named where the router builds the group).
#[derive(Debug, Clone)]
pub(crate) struct Positions {
    /// Waiting reads.
    pub fresh: Arc<Freshness>,
    /// The projection the group's routes read.
    pub projection: &'static str,
}

/// `min_position` from a query string: `None` when absent; `422` when not a position.
fn min_position(query: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(raw) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find_map(|(k, v)| (k == "min_position").then_some(v))
    else {
        return Ok(None);
    };
    match raw.parse::<i64>() {
        Ok(p) if p >= 1 => Ok(Some(p)),
        _ => Err(ApiError::validation(vec![FieldError::new(
            "min_position",
            "must be an event store position (a whole number from 1), as a command answered",
        )])),
    }
}

/// The URI without its `min_position` parameter.
fn without_min_position(uri: &axum::http::Uri) -> Option<axum::http::Uri> {
    let rest: Vec<&str> = uri
        .query()?
        .split('&')
        .filter(|pair| pair.split('=').next() != Some("min_position"))
        .collect();
    let path_and_query = if rest.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), rest.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    axum::http::Uri::from_parts(parts).ok()
}

/// Middleware: a read with `min_position` is served once every projection its route reads has
/// applied every event of the store up to that position (the handler ignores the parameter).
pub(crate) async fn wait_for_position(
    State(Positions { fresh, projection }): State<Positions>,
    mut request: Request,
    next: Next,
) -> Response {
    let position = match min_position(request.uri().query()) {
        Ok(Some(p)) => p,
        Ok(None) => return next.run(request).await,
        Err(e) => return e.into_response(),
    };
    // Handled here: the route's own parameters do not include it.
    if let Some(uri) = without_min_position(request.uri()) {
        *request.uri_mut() = uri;
    }
    let subject = match request.extensions().get::<Authenticated>() {
        Some(Authenticated(Ok(p))) => p.subject.clone(),
        _ => String::new(),
    };
    match fresh.reach(&subject, projection, position).await {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

impl Freshness {
    /// Waits until `projection` has applied every event up to `position`; `503
    /// position_not_reached` after the wait, `404 position_not_found` for a position the store
    /// does not hold.
    async fn reach(&self, subject: &str, projection: &str, position: i64) -> Result<(), ApiError> {
        let deadline = tokio::time::Instant::now() + self.wait;
        // A position the store does not hold never comes (a command's was committed before
        // its answer was sent).
        let head: Option<i64> = sqlx::query_scalar("SELECT max(global_position) FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| ApiError::database("reading the store's head", &e))?;
        if head.is_none_or(|h| position > h) {
            return Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "position_not_found",
                "No such position",
                format!(
                    "the event store holds no position {position} (its latest is {}): nothing to wait for",
                    head.unwrap_or(0)
                ),
            ));
        }
        let mut waiting = None;
        loop {
            let changed = self.changes.of(projection).notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.passed(projection, position).await? {
                return Ok(());
            }
            if waiting.is_none() {
                waiting = Some(self.wait_as(subject)?);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "position_not_reached",
                    "Not visible yet",
                    format!("the {projection} read model has not reached position {position} yet"),
                )
                .retry_after(1));
            }
            let recheck =
                RECHECK.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep(recheck) => {}
            }
        }
    }

    /// Whether `projection` has applied every committed event of its aggregate types up to
    /// `position`: at once when its watermark (kept by the projector) is there, else by looking
    /// at the events between the watermark and `position`.
    async fn passed(&self, projection: &str, position: i64) -> Result<bool, ApiError> {
        let db = |e: sqlx::Error| ApiError::database("reading a projection's position", &e);
        let Some(p) = crate::by_name(projection) else {
            return Ok(true);
        };
        let live: Option<i32> = sqlx::query_scalar(&format!(
            "SELECT live FROM {}.projection_generations WHERE projection = $1",
            self.schema
        ))
        .bind(projection)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(live) = live else { return Ok(false) };
        let physical = crate::runtime::physical_schema(&self.schema, projection, live);
        let passed: bool = sqlx::query_scalar(&format!(
            "WITH w AS (SELECT coalesce((SELECT position FROM {physical}.projection_watermark
                                          WHERE projection = $1), 0) AS at)
             SELECT (SELECT at FROM w) >= $2 OR NOT EXISTS (
               SELECT 1 FROM events e
                 LEFT JOIN {physical}.applied_versions v
                        ON v.aggregate_type = e.aggregate_type AND v.aggregate_id = e.aggregate_id
                WHERE e.global_position > (SELECT at FROM w) AND e.global_position <= $2
                  AND e.aggregate_type = ANY($3) AND coalesce(v.version, 0) < e.sequence)"
        ))
        .bind(projection)
        .bind(position)
        .bind(crate::runtime::aggregate_types(p.as_ref()))
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(passed)
    }
}

/// An OpenAPI modifier: `min_position` on every read that waits for it (every authenticated
/// `GET`: each group of read routes has the layer, named with its projection). Runs before the shared problems, which then add its `422`.
#[derive(Debug, Clone, Copy)]
pub struct MinPosition;

impl utoipa::Modify for MinPosition {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
        use utoipa::openapi::{RefOr, Required};
        for (path, item) in &mut openapi.paths.paths {
            // Operators read the runtime's own state (sagas, dead events), not a read model;
            // their live picture too.
            if path.starts_with("/v1/ops/") || path == "/v1/streams/ops" {
                continue;
            }
            let Some(get) = item.get.as_mut() else {
                continue;
            };
            // Every authenticated read sits behind the `min_position` layer of its group.
            if get.security.as_ref().is_none_or(|s| s.is_empty()) {
                continue;
            }
            get.responses
                .responses
                .entry("404".to_owned())
                .or_insert_with(|| {
                    RefOr::T(
                        utoipa::openapi::ResponseBuilder::new()
                            .description(
                                "`position_not_found`: `min_position` beyond the event store's \
                                 latest position (or `not_found` for an id)",
                            )
                            .build(),
                    )
                });
            get.parameters.get_or_insert_with(Vec::new).push(
                ParameterBuilder::new()
                    .name("min_position")
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(
                        "Answer only once the read model has applied every event of the store up \
                         to this position (a command's `position`): read your own writes across \
                         aggregates. `503 position_not_reached` after the configured wait, `404` \
                         for a position the store does not hold, `429` when this caller has too \
                         many reads waiting.",
                    ))
                    .schema(Some(RefOr::T(Schema::Object(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                                utoipa::openapi::KnownFormat::Int64,
                            )))
                            .minimum(Some(1))
                            .build(),
                    ))))
                    .build(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_subject_has_a_bounded_number_of_waiting_reads() {
        let fresh = Freshness {
            pool: PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").expect("lazy pool"),
            schema: "read".into(),
            changes: Arc::new(Changes::new()),
            wait: Duration::from_secs(1),
            max_waiting: 2,
            waiting: Mutex::new(HashMap::new()),
        };
        let a = fresh.wait_as("alice").expect("first");
        let b = fresh.wait_as("alice").expect("second");
        let refused = fresh
            .wait_as("alice")
            .err()
            .expect("a third waits too many");
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code, "too_many_waiting_reads");
        // Another subject has places of its own; a place given back is free again.
        let _c = fresh.wait_as("bob").expect("bob");
        drop(a);
        let _d = fresh.wait_as("alice").expect("a freed place");
        drop(b);
        assert_eq!(fresh.waiting.lock().expect("lock").get("alice"), Some(&1));
    }

    #[test]
    fn min_position_is_read_and_taken_out_of_the_query() {
        assert_eq!(
            min_position(Some("a=1&min_position=42")).expect("ok"),
            Some(42)
        );
        assert_eq!(min_position(Some("a=1")).expect("ok"), None);
        assert!(min_position(Some("min_position=-1")).is_err());
        let uri: axum::http::Uri = "/v1/products?q=x&min_position=42&limit=5"
            .parse()
            .expect("uri");
        assert_eq!(
            without_min_position(&uri).expect("uri").to_string(),
            "/v1/products?q=x&limit=5"
        );
        let uri: axum::http::Uri = "/v1/suppliers?min_position=42".parse().expect("uri");
        assert_eq!(
            without_min_position(&uri).expect("uri").to_string(),
            "/v1/suppliers"
        );
    }
}
