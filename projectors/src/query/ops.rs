//! Operators' controls (scopes `ops:read` / `ops:write`, administrators): the fulfilment
//! sagas by status with their last error, retrying a stuck or parked saga, and each
//! projection's dead events, retried or skipped (a skip is recorded with who and why).
//!
//! None of these writes the event store: a saga's row and a projection's dead events are
//! runtime state. Forcing a saga to compensate is a command on the order
//! (`POST /v1/orders/{id}/cancel` by an administrator, with a reason), which the saga then
//! carries out like any cancellation.

use super::common::{db_problem, parse_id, query_params, Params};
use super::page::PageRequest;
use super::state::QueryState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use platform::auth::Principal;
use platform::http::{ApiError, FieldError, ValidJson};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Steps failed in a row from which a running saga counts as `stuck`.
pub const STUCK_AFTER: i32 = platform::db::SAGA_STUCK_AFTER;

/// The statuses an operator filters by.
const STATUSES: [&str; 6] = [
    "running",
    "waiting",
    "stuck",
    "parked",
    "delivered",
    "compensated",
];

/// Filters of the saga list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SagaParams {
    /// `running`, `waiting` (for an event), `stuck` (running, its step failed at least 3
    /// times in a row), `parked` (its state unreadable), `delivered` or `compensated`.
    #[param(pattern = "^(running|waiting|stuck|parked|delivered|compensated)$")]
    pub status: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// From `next_cursor`.
    pub cursor: Option<String>,
}

/// A fulfilment saga as an operator sees it.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct SagaView {
    /// The order (the saga's id).
    pub order_id: Uuid,
    /// `running`, `waiting`, `stuck`, `parked`, `delivered` or `compensated`.
    pub status: String,
    /// The last step run.
    pub last_step: Option<String>,
    /// Why the last step failed, while it keeps failing.
    pub last_error: Option<String>,
    /// Failures in a row of the current step.
    pub attempts: i32,
    /// When the next step is due.
    pub next_at: Option<DateTime<Utc>>,
    /// Until when a worker holds it.
    pub lease_until: Option<DateTime<Utc>>,
    /// The order's correlation id.
    pub correlation_id: Option<String>,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A page of sagas.
#[derive(Debug, Serialize, ToSchema)]
pub struct SagaPage {
    /// Sagas, most recently changed first.
    pub items: Vec<SagaView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The status an operator sees, from the stored one.
fn shown_status() -> String {
    format!(
        "CASE WHEN status = 'running' AND attempts >= {STUCK_AFTER} THEN 'stuck' ELSE status END"
    )
}

fn saga_columns() -> String {
    format!(
        "order_id, {} AS status, last_step, last_error, attempts, next_at, lease_until,
         correlation_id, created_at, updated_at",
        shown_status()
    )
}

/// The fulfilment sagas, by status.
#[utoipa::path(get, path = "/v1/ops/sagas", tag = "ops", params(SagaParams),
    responses((status = 200, body = SagaPage), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["ops:read"])))]
pub async fn sagas(
    State(s): State<QueryState>,
    params: Params<SagaParams>,
) -> Result<Json<SagaPage>, ApiError> {
    let p = query_params(params)?;
    let mut errors = Vec::new();
    if let Some(st) = p.status.as_deref() {
        if !STATUSES.contains(&st) {
            errors.push(FieldError::new("status", STATUSES.join(", ")));
        }
    }
    let page: PageRequest<(DateTime<Utc>, Uuid)> =
        PageRequest::new(p.limit, 50, p.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (after_at, after_id) = page.after.unzip();
    let rows: Result<Vec<SagaView>, _> = sqlx::query_as(&format!(
        "SELECT {} FROM fulfilment.sagas
          WHERE ($1::text IS NULL OR {} = $1)
            AND ($2::timestamptz IS NULL OR (updated_at, order_id) < ($2, $3))
          ORDER BY updated_at DESC, order_id DESC LIMIT $4",
        saga_columns(),
        shown_status()
    ))
    .bind(p.status.as_deref())
    .bind(after_at)
    .bind(after_id)
    .bind(page.fetch())
    .fetch_all(&s.pool)
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        // No saga has run against this database: none to list.
        Err(e) if is_missing_table(&e) => Vec::new(),
        Err(e) => return Err(db_problem(&e)),
    };
    let (items, next_cursor) = page.page(rows, |r| (r.updated_at, r.order_id));
    Ok(Json(SagaPage { items, next_cursor }))
}

/// One saga with its whole state.
#[derive(Debug, Serialize, ToSchema)]
pub struct SagaDetail {
    /// The saga.
    #[serde(flatten)]
    pub saga: SagaView,
    /// Its state as stored (what it did so far).
    #[schema(value_type = Object)]
    pub state: serde_json::Value,
}

/// One fulfilment saga.
#[utoipa::path(get, path = "/v1/ops/sagas/{order_id}", tag = "ops",
    params(("order_id" = Uuid, Path, description = "The order")),
    responses((status = 200, body = SagaDetail), (status = 404, body = platform::http::Problem)),
    security(("bearer" = ["ops:read"])))]
pub async fn saga(
    State(s): State<QueryState>,
    Path(order_id): Path<String>,
) -> Result<Json<SagaDetail>, ApiError> {
    let order_id = parse_id(&order_id)?;
    let row: Option<(serde_json::Value,)> =
        sqlx::query_as("SELECT state FROM fulfilment.sagas WHERE order_id = $1")
            .bind(order_id)
            .fetch_optional(&s.pool)
            .await
            .map_err(|e| sagas_problem(&e))?;
    let Some((state,)) = row else {
        return Err(ApiError::not_found("no saga for this order"));
    };
    let saga: SagaView = sqlx::query_as(&format!(
        "SELECT {} FROM fulfilment.sagas WHERE order_id = $1",
        saga_columns()
    ))
    .bind(order_id)
    .fetch_one(&s.pool)
    .await
    .map_err(|e| sagas_problem(&e))?;
    Ok(Json(SagaDetail { saga, state }))
}

/// What an operator's action did.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpsDone {
    /// What happened.
    pub detail: String,
}

/// Tries a stuck, parked or waiting saga again now: its failures are forgotten, a parked one
/// is taken up again (a state still unreadable parks it again).
#[utoipa::path(post, path = "/v1/ops/sagas/{order_id}/retry", tag = "ops",
    params(("order_id" = Uuid, Path, description = "The order")),
    responses((status = 202, body = OpsDone), (status = 404, body = platform::http::Problem),
        (status = 409, description = "`saga_finished`: delivered or compensated", body = platform::http::Problem)),
    security(("bearer" = ["ops:write"])))]
pub async fn retry_saga(
    State(s): State<QueryState>,
    principal: Principal,
    Path(order_id): Path<String>,
) -> Result<(StatusCode, Json<OpsDone>), ApiError> {
    let order_id = parse_id(&order_id)?;
    let row: Option<(String,)> = sqlx::query_as(
        "UPDATE fulfilment.sagas AS s
            SET status = CASE WHEN s.status = 'parked' THEN 'running' ELSE s.status END,
                attempts = 0, next_at = now(), lease_owner = NULL, lease_until = NULL,
                updated_at = now()
           FROM (SELECT order_id, status FROM fulfilment.sagas WHERE order_id = $1 FOR UPDATE) old
          WHERE s.order_id = old.order_id AND old.status IN ('running', 'waiting', 'parked')
          RETURNING old.status",
    )
    .bind(order_id)
    .fetch_optional(&s.pool)
    .await
    .map_err(|e| sagas_problem(&e))?;
    match row {
        Some((was,)) => {
            // Operators' live view: the saga is no longer stuck or parked.
            let _ = sqlx::query("SELECT pg_notify($1, 'sagas')")
                .bind(platform::db::CHANGED_CHANNEL)
                .execute(&s.pool)
                .await;
            tracing::info!(%order_id, was, by = %principal.subject, "saga retried by an operator");
            Ok((
                StatusCode::ACCEPTED,
                Json(OpsDone {
                    detail: format!("the saga ({was}) runs again now"),
                }),
            ))
        }
        None => {
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT status FROM fulfilment.sagas WHERE order_id = $1")
                    .bind(order_id)
                    .fetch_optional(&s.pool)
                    .await
                    .map_err(|e| sagas_problem(&e))?;
            match exists {
                None => Err(ApiError::not_found("no saga for this order")),
                Some((status,)) => Err(ApiError::conflict(
                    "saga_finished",
                    format!("the saga is {status}: nothing to retry"),
                )),
            }
        }
    }
}

/// The saga tables may not exist yet (no saga ever ran against this database).
fn is_missing_table(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01"))
}

fn sagas_problem(e: &sqlx::Error) -> ApiError {
    if is_missing_table(e) {
        return ApiError::not_found("no saga for this order");
    }
    db_problem(e)
}

/// A dead (or waiting, or skipped) event of a projection.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct DeadEventView {
    /// Topic (or `events` for a replay from the store).
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset (or position in the store).
    pub offset: i64,
    /// `dead` (failed), `waiting` (behind a dead event of its stream) or `skipped`.
    pub state: String,
    /// The stream.
    pub aggregate_type: Option<String>,
    /// The stream's id.
    pub aggregate_id: Option<String>,
    /// Its place in the stream.
    pub sequence: Option<i64>,
    /// Event type.
    pub event_type: Option<String>,
    /// Why.
    pub error: String,
    /// Tries so far.
    pub attempts: i32,
    /// When it was recorded.
    pub dead_at: DateTime<Utc>,
    /// Who skipped it, and why.
    pub skipped_by: Option<String>,
    /// Why it was skipped.
    pub skip_reason: Option<String>,
}

/// A page of dead events.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadEventPage {
    /// Dead events in stream order.
    pub items: Vec<DeadEventView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Paging of dead events.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeadParams {
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// From `next_cursor`.
    pub cursor: Option<String>,
}

fn projection(name: &str) -> Result<std::sync::Arc<dyn crate::runtime::Projection>, ApiError> {
    crate::by_name(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "projection_not_found",
            "Not found",
            "no projection by that name (suppliers, catalog, orders)",
        )
    })
}

/// The dead and waiting events of a projection's live generation.
#[utoipa::path(get, path = "/v1/ops/projections/{name}/dead-events", tag = "ops",
    params(("name" = String, Path, description = "`suppliers`, `catalog` or `orders`"), DeadParams),
    responses((status = 200, body = DeadEventPage), (status = 404, body = platform::http::Problem),
        (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["ops:read"])))]
pub async fn dead_events(
    State(s): State<QueryState>,
    Path(name): Path<String>,
    params: Params<DeadParams>,
) -> Result<Json<DeadEventPage>, ApiError> {
    let projection = projection(&name)?;
    let p = query_params(params)?;
    let mut errors = Vec::new();
    let page: PageRequest<(String, i32, i64)> =
        PageRequest::new(p.limit, 50, p.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let physical = crate::rebuild::live_schema(&s.pool, projection.as_ref(), &s.schema)
        .await
        .map_err(|e| db_problem(&e))?;
    let (t, pa, o) = match &page.after {
        Some((t, p, o)) => (Some(t.clone()), Some(*p), Some(*o)),
        None => (None, None, None),
    };
    let rows: Vec<DeadEventView> = sqlx::query_as(&format!(
        "SELECT topic, partition, kafka_offset AS offset, state, aggregate_type, aggregate_id,
                sequence, event_type, error, attempts, dead_at, skipped_by, skip_reason
           FROM {physical}.dead_events
          WHERE projection = $1
            AND ($2::text IS NULL OR (topic, partition, kafka_offset) > ($2, $3, $4))
          ORDER BY topic, partition, kafka_offset LIMIT $5"
    ))
    .bind(projection.name())
    .bind(t)
    .bind(pa)
    .bind(o)
    .bind(page.fetch())
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let (items, next_cursor) = page.page(rows, |r| (r.topic.clone(), r.partition, r.offset));
    Ok(Json(DeadEventPage { items, next_cursor }))
}

/// What retrying dead events did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetriedView {
    /// Events that applied now.
    pub applied: u64,
    /// Events still dead (or waiting).
    pub still_dead: u64,
}

/// Applies a projection's dead and waiting events again, in stream order.
#[utoipa::path(post, path = "/v1/ops/projections/{name}/dead-events/retry", tag = "ops",
    params(("name" = String, Path, description = "`suppliers`, `catalog` or `orders`")),
    responses((status = 200, body = RetriedView), (status = 404, body = platform::http::Problem)),
    security(("bearer" = ["ops:write"])))]
pub async fn retry_dead(
    State(s): State<QueryState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<RetriedView>, ApiError> {
    let projection = projection(&name)?;
    let r = crate::rebuild::retry_dead(&s.pool, projection.as_ref(), &s.schema)
        .await
        .map_err(|e| db_problem(&e))?;
    tracing::info!(projection = %name, applied = r.applied, still_dead = r.still_dead, by = %principal.subject, "dead events retried by an operator");
    Ok(Json(RetriedView {
        applied: r.applied,
        still_dead: r.still_dead,
    }))
}

/// Which dead event to skip, and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipBody {
    /// Its topic (Kafka's topic names: letters, digits, `.`, `_`, `-`; or `events` for a
    /// replay from the store).
    #[schema(min_length = 1, max_length = 249, pattern = "^[A-Za-z0-9._-]+$")]
    pub topic: String,
    /// Its partition.
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "platform::http::whole")]
    pub partition: i32,
    /// Its offset.
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "platform::http::whole")]
    pub offset: i64,
    /// Why it is given up (recorded with the skip): 1 to 500 characters once trimmed, no
    /// control characters.
    #[schema(min_length = 1, max_length = 500, pattern = "^[^\\x00-\\x1f\\x7f]*$")]
    pub reason: String,
}

/// Gives up on one dead event: it stays recorded as `skipped` (with who and why), its stream
/// goes on, and the events that waited behind it are applied.
#[utoipa::path(post, path = "/v1/ops/projections/{name}/dead-events/skip", tag = "ops",
    params(("name" = String, Path, description = "`suppliers`, `catalog` or `orders`")),
    request_body = SkipBody,
    responses((status = 200, body = RetriedView),
        (status = 404, description = "`projection_not_found`, or `not_found`: no dead event there", body = platform::http::Problem),
        (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["ops:write"])))]
pub async fn skip_dead(
    State(s): State<QueryState>,
    principal: Principal,
    Path(name): Path<String>,
    ValidJson(body): ValidJson<SkipBody>,
) -> Result<Json<RetriedView>, ApiError> {
    let projection = projection(&name)?;
    let reason = body.reason.trim();
    let mut errors = Vec::new();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "reason",
            "1 to 500 characters, no control characters",
        ));
    }
    let topic_ok = (1..=249).contains(&body.topic.len())
        && body
            .topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !topic_ok {
        errors.push(FieldError::new(
            "topic",
            "1 to 249 of letters, digits, '.', '_' and '-'",
        ));
    }
    if body.partition < 0 {
        errors.push(FieldError::new("partition", "0 or more"));
    }
    if body.offset < 0 {
        errors.push(FieldError::new("offset", "0 or more"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let skipped = crate::rebuild::skip(
        &s.pool,
        projection.as_ref(),
        &s.schema,
        &crate::rebuild::SkipRequest {
            topic: &body.topic,
            partition: body.partition,
            offset: body.offset,
            by: &principal.subject,
            reason,
        },
    )
    .await
    .map_err(|e| match e {
        sqlx::Error::RowNotFound => ApiError::not_found("no dead event at that place"),
        e => db_problem(&e),
    })?;
    tracing::info!(projection = %name, topic = %body.topic, partition = body.partition, offset = body.offset, by = %principal.subject, reason, "dead event skipped by an operator");
    Ok(Json(RetriedView {
        applied: skipped.retried.applied,
        still_dead: skipped.retried.still_dead,
    }))
}
