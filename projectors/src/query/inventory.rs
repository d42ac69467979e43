//! Stock by product and warehouse, batches (optionally expiring within N hours), inventory
//! aging and spoilage, and their analytics over a period. A supplier account reads only its own
//! suppliers' batches (procurement prices included).

use super::common::{db_problem, owner_filter, query_params, Params};
use super::state::QueryState;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use platform::auth::Principal;
use platform::http::{ApiError, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Stock filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StockParams {
    /// Product.
    pub product_id: Option<Uuid>,
    /// Warehouse.
    pub warehouse_id: Option<Uuid>,
}

/// Stock of a product in a warehouse.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct StockView {
    /// Product.
    pub product_id: Uuid,
    /// Warehouse.
    pub warehouse_id: Uuid,
    /// On hand (decimal string).
    pub on_hand: String,
    /// Reserved for orders.
    pub reserved: String,
    /// On hand minus reserved.
    pub available: String,
    /// Active batches.
    pub batches: i64,
    /// Earliest expiry among them.
    pub next_expiry: Option<DateTime<Utc>>,
}

/// Stock by product and warehouse (active batches only).
#[utoipa::path(get, path = "/v1/inventory/stock", tag = "inventory", params(StockParams),
    responses((status = 200, body = [StockView]), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["inventory:read"])))]
pub async fn stock(
    State(s): State<QueryState>,
    principal: Principal,
    params: Params<StockParams>,
) -> Result<Json<Vec<StockView>>, ApiError> {
    let p = query_params(params)?;
    if p.product_id.is_none() && p.warehouse_id.is_none() {
        return Err(ApiError::validation(vec![FieldError::new(
            "product_id",
            "give product_id, warehouse_id or both",
        )]));
    }
    let schema = &s.schema;
    let rows: Vec<StockView> = sqlx::query_as(&format!(
        "SELECT product_id, warehouse_id, trim_scale(sum(on_hand))::text AS on_hand,
                trim_scale(sum(reserved))::text AS reserved,
                trim_scale(sum(on_hand - reserved))::text AS available,
                count(*) AS batches, min(expires_at) AS next_expiry
           FROM {schema}.batches
          WHERE status = 'active' AND ($1::uuid IS NULL OR product_id = $1)
            AND ($2::uuid IS NULL OR warehouse_id = $2) AND {}
          GROUP BY product_id, warehouse_id ORDER BY product_id, warehouse_id LIMIT 1000",
        own_batches(schema, "supplier_id", 3)
    ))
    .bind(p.product_id)
    .bind(p.warehouse_id)
    .bind(owner_filter(&principal))
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(rows))
}

/// Batch filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BatchParams {
    /// Product.
    pub product_id: Option<Uuid>,
    /// Warehouse.
    pub warehouse_id: Option<Uuid>,
    /// Only active batches expiring within this many hours (1-8760).
    #[param(minimum = 1, maximum = 8760)]
    pub expiring_within: Option<i64>,
    /// Page size, 1-500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A batch.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct BatchView {
    /// Batch id.
    pub id: Uuid,
    /// Product.
    pub product_id: Uuid,
    /// Supplier.
    pub supplier_id: Uuid,
    /// Warehouse.
    pub warehouse_id: Uuid,
    /// Received quantity.
    pub received: String,
    /// On hand.
    pub on_hand: String,
    /// Reserved.
    pub reserved: String,
    /// Available.
    pub available: String,
    /// Received at.
    pub received_at: DateTime<Utc>,
    /// Expires at.
    pub expires_at: DateTime<Utc>,
    /// Needs the cold chain.
    pub cold_chain: bool,
    /// Procurement price per unit, minor units.
    pub procurement_price_minor: i64,
    /// Currency.
    pub currency: String,
    /// `active` or `expired`.
    pub status: String,
    /// Whether the expiring-soon alert was raised.
    pub expiring_soon: bool,
}

/// Batches, earliest expiry first.
#[utoipa::path(get, path = "/v1/inventory/batches", tag = "inventory", params(BatchParams),
    responses((status = 200, body = [BatchView]), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["inventory:read"])))]
pub async fn batches(
    State(s): State<QueryState>,
    principal: Principal,
    params: Params<BatchParams>,
) -> Result<Json<Vec<BatchView>>, ApiError> {
    let p = query_params(params)?;
    let mut errors = Vec::new();
    if p.expiring_within.is_some_and(|h| !(1..=8760).contains(&h)) {
        errors.push(FieldError::new(
            "expiring_within",
            "between 1 and 8760 hours",
        ));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "between 1 and 500"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let schema = &s.schema;
    let rows: Vec<BatchView> = sqlx::query_as(&format!(
        "SELECT id, product_id, supplier_id, warehouse_id, trim_scale(received)::text AS received,
                trim_scale(on_hand)::text AS on_hand, trim_scale(reserved)::text AS reserved,
                trim_scale(on_hand - reserved)::text AS available, received_at, expires_at,
                cold_chain, price_minor AS procurement_price_minor, currency, status, expiring_soon
           FROM {schema}.batches
          WHERE ($1::uuid IS NULL OR product_id = $1) AND ($2::uuid IS NULL OR warehouse_id = $2)
            AND ($3::int8 IS NULL OR (status = 'active'
                 AND expires_at <= now() + make_interval(hours => $3::int)))
            AND {}
          ORDER BY expires_at, id LIMIT $4",
        own_batches(schema, "supplier_id", 5)
    ))
    .bind(p.product_id)
    .bind(p.warehouse_id)
    .bind(p.expiring_within)
    .bind(limit)
    .bind(owner_filter(&principal))
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(rows))
}

/// Aging filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AgingParams {
    /// Warehouse (default: all).
    pub warehouse_id: Option<Uuid>,
}

/// Stock by days to expiry.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AgingBucket {
    /// `expired_pending` (past expiry, not yet written off), `0-1d`, `1-2d`, `2-3d`, `3-7d`,
    /// `7d+`.
    pub bucket: String,
    /// Batches in it.
    pub batches: i64,
    /// Quantity on hand (mixed units: a count of stock, per unit of each product).
    pub on_hand: String,
    /// Procurement value on hand, minor units.
    pub value_minor: i64,
}

/// Inventory aging: active stock by days to expiry.
#[utoipa::path(get, path = "/v1/inventory/aging", tag = "inventory", params(AgingParams),
    responses((status = 200, body = [AgingBucket])),
    security(("bearer" = ["inventory:read"])))]
pub async fn aging(
    State(s): State<QueryState>,
    principal: Principal,
    params: Params<AgingParams>,
) -> Result<Json<Vec<AgingBucket>>, ApiError> {
    let p = query_params(params)?;
    let schema = &s.schema;
    let rows: Vec<AgingBucket> = sqlx::query_as(&format!(
        "WITH b AS (
            SELECT on_hand, (on_hand * price_minor)::int8 AS value,
                   extract(epoch FROM expires_at - now()) / 86400 AS days
              FROM {schema}.batches
             WHERE status = 'active' AND on_hand > 0 AND ($1::uuid IS NULL OR warehouse_id = $1)
               AND {})
         SELECT bucket, count(*) AS batches, trim_scale(sum(on_hand))::text AS on_hand,
                sum(value)::int8 AS value_minor
           FROM (SELECT *, CASE WHEN days < 0 THEN 'expired_pending' WHEN days < 1 THEN '0-1d'
                                WHEN days < 2 THEN '1-2d' WHEN days < 3 THEN '2-3d'
                                WHEN days < 7 THEN '3-7d' ELSE '7d+' END AS bucket,
                        CASE WHEN days < 0 THEN 0 WHEN days < 1 THEN 1 WHEN days < 2 THEN 2
                             WHEN days < 3 THEN 3 WHEN days < 7 THEN 4 ELSE 5 END AS ord
                   FROM b) x
          GROUP BY bucket, ord ORDER BY ord",
        own_batches(schema, "supplier_id", 2)
    ))
    .bind(p.warehouse_id)
    .bind(owner_filter(&principal))
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(rows))
}

/// Spoilage filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SpoilageParams {
    /// Warehouse (default: all).
    pub warehouse_id: Option<Uuid>,
    /// From this instant (RFC 3339; default: all time).
    pub since: Option<DateTime<Utc>>,
}

/// Stock written off for one reason.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct SpoilageByReason {
    /// `damaged`, `temperature_breach`, `quality`, `pest`, `other`, or `expired`.
    pub reason: String,
    /// Write-offs.
    pub records: i64,
    /// Quantity written off.
    pub quantity: String,
    /// Procurement value lost, minor units.
    pub value_lost_minor: i64,
    /// Currency.
    pub currency: String,
}

/// Spoilage by reason, with the procurement value lost.
#[utoipa::path(get, path = "/v1/inventory/spoilage", tag = "inventory", params(SpoilageParams),
    responses((status = 200, body = [SpoilageByReason])),
    security(("bearer" = ["inventory:read"])))]
pub async fn spoilage(
    State(s): State<QueryState>,
    principal: Principal,
    params: Params<SpoilageParams>,
) -> Result<Json<Vec<SpoilageByReason>>, ApiError> {
    let p = query_params(params)?;
    spoilage_between(&s, &principal, p.warehouse_id, p.since, None).await
}

/// Spoilage between two days (API.md's analytics route).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SpoilageReportParams {
    /// First day (UTC, `YYYY-MM-DD`, inclusive); default: all time.
    #[param(format = Date)]
    pub from: Option<NaiveDate>,
    /// Last day (UTC, `YYYY-MM-DD`, inclusive); default: today.
    #[param(format = Date)]
    pub to: Option<NaiveDate>,
}

/// Quantity and procurement value lost, by reason, between two days (a supplier: its own).
#[utoipa::path(get, path = "/v1/analytics/spoilage", tag = "analytics", params(SpoilageReportParams),
    responses((status = 200, body = [SpoilageByReason]), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["inventory:read"])))]
pub async fn spoilage_report(
    State(s): State<QueryState>,
    principal: Principal,
    params: Params<SpoilageReportParams>,
) -> Result<Json<Vec<SpoilageByReason>>, ApiError> {
    let p = query_params(params)?;
    if let (Some(from), Some(to)) = (p.from, p.to) {
        if from > to {
            return Err(ApiError::validation(vec![FieldError::new(
                "to",
                "not before from",
            )]));
        }
    }
    let day = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
    let until = p.to.and_then(|d| d.succ_opt()).map(day);
    spoilage_between(&s, &principal, None, p.from.map(day), until).await
}

async fn spoilage_between(
    s: &QueryState,
    principal: &Principal,
    warehouse_id: Option<Uuid>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<Json<Vec<SpoilageByReason>>, ApiError> {
    let schema = &s.schema;
    let rows: Vec<SpoilageByReason> = sqlx::query_as(&format!(
        "SELECT reason, count(*) AS records, trim_scale(sum(quantity))::text AS quantity,
                sum(value_lost)::int8 AS value_lost_minor, currency
           FROM {schema}.spoilage
          WHERE ($1::uuid IS NULL OR warehouse_id = $1)
            AND ($2::timestamptz IS NULL OR occurred_at >= $2)
            AND ($3::timestamptz IS NULL OR occurred_at < $3)
            AND ($4::text IS NULL OR batch_id IN (
                 SELECT id FROM {schema}.batches WHERE {}))
          GROUP BY reason, currency ORDER BY value_lost_minor DESC, reason",
        own_batches(schema, "supplier_id", 4)
    ))
    .bind(warehouse_id)
    .bind(since)
    .bind(until)
    .bind(owner_filter(principal))
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(rows))
}

/// Stock by days to expiry (API.md's analytics route; the same as `/v1/inventory/aging`).
#[utoipa::path(get, path = "/v1/analytics/inventory-aging", tag = "analytics", params(AgingParams),
    responses((status = 200, body = [AgingBucket])),
    security(("bearer" = ["inventory:read"])))]
pub async fn aging_report(
    state: State<QueryState>,
    principal: Principal,
    params: Params<AgingParams>,
) -> Result<Json<Vec<AgingBucket>>, ApiError> {
    aging(state, principal, params).await
}

/// `column` names a batch of a supplier the account `$param` owns, or `$param` is null (every
/// batch): a supplier account reads only its own stock, batches and procurement prices.
fn own_batches(schema: &str, column: &str, param: u8) -> String {
    format!(
        "(${param}::text IS NULL OR {column} IN (SELECT id FROM {schema}.suppliers WHERE owner = ${param}))"
    )
}
