//! A delivery with its rider and positions: a customer sees their own, a rider the ones assigned
//! to them.

use super::common::{
    customer_filter, db_problem, parse_id, point, query_params, GeoPoint, Params, VersionParams,
};
use super::state::QueryState;
use crate::read_your_writes::{read_your_writes, Stream};
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use platform::auth::{Actor, Principal, Role};
use platform::http::ApiError;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A rider's reported position on a delivery.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct PositionView {
    /// Position in the delivery's stream.
    pub sequence: i64,
    /// Latitude, millionths of a degree.
    pub lat_e6: i32,
    /// Longitude, millionths of a degree.
    pub lon_e6: i32,
    /// The ETA computed from there.
    pub eta: Option<DateTime<Utc>>,
    /// When reported.
    pub recorded_at: DateTime<Utc>,
}

/// The rider of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryRider {
    /// Rider id.
    pub id: Uuid,
    /// Display name, once the rider is projected.
    pub name: Option<String>,
    /// Great-circle distance to the warehouse when assigned, metres.
    pub distance_m: Option<i64>,
}

/// A delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Id.
    pub id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// `scheduled`, `assigned`, `picked_up`, `delivered`, `failed` or `cancelled`.
    pub status: String,
    /// The slot.
    pub slot_id: Uuid,
    /// The warehouse it leaves from.
    pub warehouse_id: Uuid,
    /// Where the warehouse is.
    pub pickup: GeoPoint,
    /// Where it goes.
    #[schema(value_type = Object)]
    pub destination: serde_json::Value,
    /// Whether it must be kept cold.
    pub cold_chain: bool,
    /// The rider, once assigned.
    pub rider: Option<DeliveryRider>,
    /// The last reported position.
    pub last_position: Option<GeoPoint>,
    /// Expected arrival, from the last position.
    pub eta: Option<DateTime<Utc>>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// The slot's start.
    pub window_starts_at: DateTime<Utc>,
    /// The slot's end.
    pub window_ends_at: DateTime<Utc>,
    /// Every reported position, in order.
    pub positions: Vec<PositionView>,
    /// The delivery stream's version.
    pub version: i64,
    /// Scheduled at.
    pub created_at: DateTime<Utc>,
    /// Rider assigned at.
    pub assigned_at: Option<DateTime<Utc>>,
    /// Picked up at.
    pub picked_up_at: Option<DateTime<Utc>>,
    /// Delivered, failed or cancelled at.
    pub finished_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    order_id: Uuid,
    status: String,
    slot_id: Uuid,
    warehouse_id: Uuid,
    pickup_lat_e6: i32,
    pickup_lon_e6: i32,
    destination: serde_json::Value,
    cold_chain: bool,
    rider_id: Option<Uuid>,
    rider_name: Option<String>,
    distance_m: Option<i64>,
    last_lat_e6: Option<i32>,
    last_lon_e6: Option<i32>,
    eta: Option<DateTime<Utc>>,
    failure_reason: Option<String>,
    cancel_reason: Option<String>,
    window_starts_at: DateTime<Utc>,
    window_ends_at: DateTime<Utc>,
    version: i64,
    created_at: DateTime<Utc>,
    assigned_at: Option<DateTime<Utc>>,
    picked_up_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

/// A delivery with its rider, positions and ETA. A rider sees the deliveries assigned to them.
#[utoipa::path(get, path = "/v1/deliveries/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Delivery id"), VersionParams),
    responses((status = 200, body = DeliveryView), (status = 404, body = platform::http::Problem),
              (status = 503, description = "`min_version` not reached in time", body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn get_delivery(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
    params: Params<VersionParams>,
) -> Result<Json<DeliveryView>, ApiError> {
    let id = parse_id(&raw)?;
    let p = query_params(params)?;
    let customer = customer_filter(&principal);
    let rider =
        matches!(principal.actor, Actor::Person(Role::Rider)).then(|| principal.subject.clone());
    let schema = &s.schema;
    // A customer's delivery is found through their order, a rider's through its account.
    let sql = format!(
        "SELECT d.id, d.order_id, d.status, d.slot_id, d.warehouse_id, d.pickup_lat_e6,
                d.pickup_lon_e6, d.destination, d.cold_chain, d.rider_id, r.name AS rider_name,
                d.distance_m, d.last_lat_e6, d.last_lon_e6, d.eta, d.failure_reason,
                d.cancel_reason, d.window_starts_at, d.window_ends_at, d.version, d.created_at,
                d.assigned_at, d.picked_up_at, d.finished_at, d.updated_at
           FROM {schema}.deliveries d
           LEFT JOIN {schema}.riders r ON r.id = d.rider_id
          WHERE d.id = $1
            AND ($2::text IS NULL OR EXISTS (
                 SELECT 1 FROM {schema}.orders o WHERE o.id = d.order_id AND o.customer = $2))
            AND ($3::text IS NULL OR r.account = $3)"
    );
    let r = read_your_writes(
        &s.fresh,
        &principal.subject,
        Stream {
            aggregate_type: schemas::aggregate_types::DELIVERY,
            id,
            what: "delivery",
        },
        p.min_version,
        || async {
            let row: Option<DeliveryRow> = sqlx::query_as(&sql)
                .bind(id)
                .bind(&customer)
                .bind(&rider)
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
    let positions: Vec<PositionView> = sqlx::query_as(&format!(
        "SELECT sequence, lat_e6, lon_e6, eta, recorded_at FROM {schema}.delivery_positions
          WHERE delivery_id = $1 ORDER BY sequence"
    ))
    .bind(id)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(DeliveryView {
        id: r.id,
        order_id: r.order_id,
        status: r.status,
        slot_id: r.slot_id,
        warehouse_id: r.warehouse_id,
        pickup: GeoPoint {
            lat_e6: r.pickup_lat_e6,
            lon_e6: r.pickup_lon_e6,
        },
        destination: r.destination,
        cold_chain: r.cold_chain,
        rider: r.rider_id.map(|id| DeliveryRider {
            id,
            name: r.rider_name,
            distance_m: r.distance_m,
        }),
        last_position: point(r.last_lat_e6, r.last_lon_e6),
        eta: r.eta,
        failure_reason: r.failure_reason,
        cancel_reason: r.cancel_reason,
        window_starts_at: r.window_starts_at,
        window_ends_at: r.window_ends_at,
        positions,
        version: r.version,
        created_at: r.created_at,
        assigned_at: r.assigned_at,
        picked_up_at: r.picked_up_at,
        finished_at: r.finished_at,
        updated_at: r.updated_at,
    }))
}
