//! Delivery slots with their remaining capacity.

use super::common::{
    day_start, db_problem, parse_date, parse_id, query_params, GeoPoint, Params, VersionParams,
};
use super::state::QueryState;
use crate::read_your_writes::{read_your_writes, Stream};
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use platform::auth::Principal;
use platform::http::{ApiError, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Filters of the slot list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SlotParams {
    /// Delivery zone.
    #[param(min_length = 1, max_length = 100)]
    pub zone: Option<String>,
    /// Slots starting on this UTC day, `YYYY-MM-DD`.
    #[param(format = Date)]
    pub date: Option<String>,
    /// At most this many, 1-500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A delivery slot and its remaining capacity.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotView {
    /// Id.
    pub id: Uuid,
    /// Zone.
    pub zone: String,
    /// The warehouse serving it.
    pub warehouse_id: Uuid,
    /// Where that warehouse is.
    pub warehouse_location: GeoPoint,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Orders it takes.
    pub capacity: i32,
    /// Orders holding a place.
    pub booked: i32,
    /// `capacity - booked`.
    pub remaining: i32,
    /// The slot stream's version.
    pub version: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct SlotRow {
    id: Uuid,
    zone: String,
    warehouse_id: Uuid,
    warehouse_lat_e6: i32,
    warehouse_lon_e6: i32,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    capacity: i32,
    booked: i32,
    version: i64,
}

impl From<SlotRow> for SlotView {
    fn from(r: SlotRow) -> Self {
        Self {
            id: r.id,
            zone: r.zone,
            warehouse_id: r.warehouse_id,
            warehouse_location: GeoPoint {
                lat_e6: r.warehouse_lat_e6,
                lon_e6: r.warehouse_lon_e6,
            },
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            capacity: r.capacity,
            booked: r.booked,
            remaining: r.capacity - r.booked,
            version: r.version,
        }
    }
}

const SLOT_COLUMNS: &str = "id, zone, warehouse_id, warehouse_lat_e6, warehouse_lon_e6, \
     starts_at, ends_at, capacity, booked, version";

/// A list of slots.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotList {
    /// Slots by start time.
    pub items: Vec<SlotView>,
}

/// Delivery slots with their remaining capacity.
#[utoipa::path(get, path = "/v1/delivery-slots", tag = "orders", params(SlotParams),
    responses((status = 200, body = SlotList), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn delivery_slots(
    State(s): State<QueryState>,
    params: Params<SlotParams>,
) -> Result<Json<SlotList>, ApiError> {
    let p = query_params(params)?;
    let mut errors = Vec::new();
    let date = parse_date("date", p.date.as_deref(), &mut errors);
    if p.zone
        .as_ref()
        .is_some_and(|z| z.is_empty() || z.len() > 100)
    {
        errors.push(FieldError::new("zone", "1 to 100 characters"));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "between 1 and 500"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let from = date.map(day_start);
    let to = from.map(|f| f + chrono::Duration::days(1));
    let rows: Vec<SlotRow> = sqlx::query_as(&format!(
        "SELECT {SLOT_COLUMNS} FROM {}.delivery_slots
          WHERE ($1::text IS NULL OR zone = $1)
            AND ($2::timestamptz IS NULL OR (starts_at >= $2 AND starts_at < $3))
          ORDER BY starts_at, zone, id LIMIT $4",
        s.schema
    ))
    .bind(&p.zone)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let items = rows.into_iter().map(SlotView::from).collect();
    Ok(Json(SlotList { items }))
}

/// One delivery slot (the `Location` of its commands).
#[utoipa::path(get, path = "/v1/delivery-slots/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Slot id"), VersionParams),
    responses((status = 200, body = SlotView), (status = 404, body = platform::http::Problem),
              (status = 503, description = "`min_version` not reached in time", body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn get_slot(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
    params: Params<VersionParams>,
) -> Result<Json<SlotView>, ApiError> {
    let id = parse_id(&raw)?;
    let p = query_params(params)?;
    let sql = format!(
        "SELECT {SLOT_COLUMNS} FROM {}.delivery_slots WHERE id = $1",
        s.schema
    );
    let row = read_your_writes(
        &s.fresh,
        &principal.subject,
        Stream {
            aggregate_type: schemas::aggregate_types::DELIVERY_SLOT,
            id,
            what: "delivery slot",
        },
        p.min_version,
        || async {
            let row: Option<SlotRow> = sqlx::query_as(&sql)
                .bind(id)
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
