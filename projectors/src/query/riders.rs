//! Riders, their availability and position (the back office; a rider reads itself).

use super::common::{db_problem, parse_id, point, query_params, GeoPoint, Params, VersionParams};
use super::page::PageRequest;
use super::state::QueryState;
use crate::read_your_writes::{read_your_writes, Stream};
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use platform::auth::{Actor, Principal, Role};
use platform::http::{ApiError, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Filters of the rider list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RiderParams {
    /// Only riders on (`true`) or off (`false`) shift.
    #[param(pattern = "^(true|false)$")]
    pub available: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// From `next_cursor`.
    pub cursor: Option<String>,
}

/// A rider.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiderView {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// The rider's account (token subject).
    pub account: String,
    /// On shift.
    pub available: bool,
    /// Last known position.
    pub location: Option<GeoPoint>,
    /// Carries a refrigerated box.
    pub cold_chain_capable: bool,
    /// The delivery being carried.
    pub current_delivery: Option<Uuid>,
    /// The rider stream's version.
    pub version: i64,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct RiderRow {
    id: Uuid,
    name: String,
    account: String,
    available: bool,
    lat_e6: Option<i32>,
    lon_e6: Option<i32>,
    cold_chain_capable: bool,
    current_delivery: Option<Uuid>,
    version: i64,
    updated_at: DateTime<Utc>,
}

impl From<RiderRow> for RiderView {
    fn from(r: RiderRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            account: r.account,
            available: r.available,
            location: point(r.lat_e6, r.lon_e6),
            cold_chain_capable: r.cold_chain_capable,
            current_delivery: r.current_delivery,
            version: r.version,
            updated_at: r.updated_at,
        }
    }
}

const RIDER_COLUMNS: &str = "id, name, account, available, lat_e6, lon_e6, cold_chain_capable, \
     current_delivery, version, updated_at";

/// A page of riders.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiderPage {
    /// Riders by id.
    pub items: Vec<RiderView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Riders (admin and service view).
#[utoipa::path(get, path = "/v1/riders", tag = "orders", params(RiderParams),
    responses((status = 200, body = RiderPage), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn riders(
    State(s): State<QueryState>,
    params: Params<RiderParams>,
) -> Result<Json<RiderPage>, ApiError> {
    let p = query_params(params)?;
    let mut errors = Vec::new();
    let available = match p.available.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.push(FieldError::new("available", "true or false"));
            None
        }
    };
    let page: PageRequest<Uuid> = PageRequest::new(p.limit, 50, p.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let rows: Vec<RiderRow> = sqlx::query_as(&format!(
        "SELECT {RIDER_COLUMNS} FROM {}.riders
          WHERE ($1::bool IS NULL OR available = $1) AND ($2::uuid IS NULL OR id > $2)
          ORDER BY id LIMIT $3",
        s.schema
    ))
    .bind(available)
    .bind(page.after)
    .bind(page.fetch())
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let rows: Vec<RiderView> = rows.into_iter().map(RiderView::from).collect();
    let (items, next_cursor) = page.page(rows, |r| r.id);
    Ok(Json(RiderPage { items, next_cursor }))
}

/// One rider (the `Location` of its commands); a rider sees only themself.
#[utoipa::path(get, path = "/v1/riders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Rider id"), VersionParams),
    responses((status = 200, body = RiderView), (status = 404, body = platform::http::Problem),
              (status = 503, description = "`min_version` not reached in time", body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn get_rider(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
    params: Params<VersionParams>,
) -> Result<Json<RiderView>, ApiError> {
    let id = parse_id(&raw)?;
    let p = query_params(params)?;
    let account =
        matches!(principal.actor, Actor::Person(Role::Rider)).then(|| principal.subject.clone());
    let sql = format!(
        "SELECT {RIDER_COLUMNS} FROM {}.riders WHERE id = $1 AND ($2::text IS NULL OR account = $2)",
        s.schema
    );
    let row = read_your_writes(
        &s.fresh,
        &principal.subject,
        Stream {
            aggregate_type: schemas::aggregate_types::RIDER,
            id,
            what: "rider",
        },
        p.min_version,
        || async {
            let row: Option<RiderRow> = sqlx::query_as(&sql)
                .bind(id)
                .bind(&account)
                .fetch_optional(&s.pool)
                .await
                .map_err(|e| db_problem(&e))?;
            Ok(row.map(|r| {
                let v = r.version;
                (r, v)
            }))
        },
    )
    .await?;
    Ok(Json(row.into()))
}
