//! Order fulfilment queries: an order with its payment, delivery and timeline (with
//! `min_version` read-your-writes), orders by customer and status, a supplier's incoming
//! orders, deliveries with positions, delivery slots with their remaining capacity, riders,
//! payments with refunds, ledger balances and sales analytics.
//!
//! Every route needs `orders:read`. A customer sees only their own orders, payments and
//! deliveries (another's answers 404, so existence does not leak); a rider sees only the
//! deliveries assigned to them; a supplier sees only the
//! incoming orders of suppliers it owns; riders, the ledger and analytics are for admins,
//! auditors and services.

use crate::catalog_query::Money;
use crate::query::{db_problem, parse_id, query_params, QueryState};
use crate::read_your_writes::{read_your_writes, Stream};
use axum::extract::{Path, Query, State};
use axum::Json;
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use platform::auth::{Actor, Principal, Role};
use platform::http::{ApiError, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

type Params<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// Order statuses.
pub const ORDER_STATUSES: &[&str] = &[
    "created",
    "paid",
    "packed",
    "shipped",
    "delivered",
    "cancelled",
];
/// Statuses counted as sales: paid and not cancelled.
const SOLD: &[&str] = &["paid", "packed", "shipped", "delivered"];
const GROUPS: &[&str] = &["day", "category", "supplier"];

/// A customer sees only what belongs to them (their token subject).
fn customer_filter(p: &Principal) -> Option<String> {
    matches!(p.actor, Actor::Person(Role::Customer)).then(|| p.subject.clone())
}

/// A keyset position: newest first by time, then id.
fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}.{id}", at.timestamp_micros()))
}

fn decode_cursor(c: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (micros, id) = text.split_once('.')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        Uuid::parse_str(id).ok()?,
    ))
}

/// `limit` (1-500, default 50) and `cursor`, with their field errors.
fn page_params(
    limit: Option<i64>,
    cursor: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> (i64, Option<(DateTime<Utc>, Uuid)>) {
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "between 1 and 500"));
    }
    let after = cursor.and_then(|c| {
        let d = decode_cursor(c);
        if d.is_none() {
            errors.push(FieldError::new("cursor", "not a cursor from this API"));
        }
        d
    });
    (limit, after)
}

fn one_of(field: &str, v: Option<&str>, allowed: &[&str], errors: &mut Vec<FieldError>) {
    if let Some(v) = v {
        if !allowed.contains(&v) {
            errors.push(FieldError::new(
                field,
                format!("one of {}", allowed.join(", ")),
            ));
        }
    }
}

fn parse_date(field: &str, v: Option<&str>, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let v = v?;
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if v.len() == 10 => Some(d),
        _ => {
            errors.push(FieldError::new(field, "a date as YYYY-MM-DD"));
            None
        }
    }
}

fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn limit_usize(limit: i64) -> usize {
    usize::try_from(limit).unwrap_or(0)
}

/// A point in integer microdegrees.
#[derive(Debug, Serialize, ToSchema)]
pub struct GeoPoint {
    /// Latitude, millionths of a degree.
    pub lat_e6: i32,
    /// Longitude, millionths of a degree.
    pub lon_e6: i32,
}

fn point(lat: Option<i32>, lon: Option<i32>) -> Option<GeoPoint> {
    Some(GeoPoint {
        lat_e6: lat?,
        lon_e6: lon?,
    })
}

/// An order's payment, in short.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentSummary {
    /// Payment id.
    pub id: Uuid,
    /// `card` or `cash_on_delivery`.
    pub method: String,
    /// The payment's status; absent until its stream is projected.
    pub status: Option<String>,
    /// Captured so far, minor units.
    pub captured_minor: i64,
    /// Refunded so far, minor units.
    pub refunded_minor: i64,
    /// Refunds (`refund_id`, `amount_minor`, `reason`, `status` requested|completed, ...).
    #[schema(value_type = Vec<Object>)]
    pub refunds: serde_json::Value,
}

/// An order's delivery, in short.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliverySummary {
    /// Delivery id.
    pub id: Uuid,
    /// `scheduled`, `assigned`, `picked_up`, `delivered`, `failed` or `cancelled`.
    pub status: String,
    /// The rider, once assigned.
    pub rider_id: Option<Uuid>,
    /// Expected arrival, once known.
    pub eta: Option<DateTime<Utc>>,
    /// Whether it travels cold.
    pub cold_chain: bool,
}

/// One step of an order, from any stream that names it.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct TimelineEntry {
    /// The stream: `Order`, `Payment`, `Delivery`, `DeliverySlot` or `InventoryBatch`.
    pub aggregate_type: String,
    /// The stream's id (the batch id for stock reservations).
    pub aggregate_id: String,
    /// Position in that stream.
    pub sequence: i64,
    /// Event type.
    pub event_type: String,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Who: `sub` and `role`, or `service`.
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
    /// The reason given with the command.
    pub reason: Option<String>,
    /// Correlation id of the request.
    pub correlation_id: Option<String>,
    /// The event's payload (with `batch_id` for reservations).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    /// Id.
    pub id: Uuid,
    /// The customer account.
    pub customer: String,
    /// `created`, `paid`, `packed`, `shipped`, `delivered` or `cancelled`.
    pub status: String,
    /// Why it was cancelled (`payment_failed`, `out_of_stock`, `customer_request`, ...).
    pub cancel_reason: Option<String>,
    /// Free text given with the cancellation.
    pub cancel_detail: Option<String>,
    /// The lines as placed (`product_id`, `supplier_id`, `name`, `category`, `unit`,
    /// `quantity`, `unit_price`, `line_total`).
    #[schema(value_type = Vec<Object>)]
    pub lines: serde_json::Value,
    /// Sum of the line totals.
    pub total: Money,
    /// Captured, minor units.
    pub paid_minor: i64,
    /// Refunded, minor units.
    pub refunded_minor: i64,
    /// The warehouse it is served from.
    pub warehouse_id: Uuid,
    /// The delivery slot.
    pub slot_id: Uuid,
    /// The slot's zone.
    pub zone: String,
    /// The slot's start.
    pub slot_starts_at: DateTime<Utc>,
    /// The slot's end.
    pub slot_ends_at: DateTime<Utc>,
    /// Where it goes.
    #[schema(value_type = Object)]
    pub delivery_address: serde_json::Value,
    /// Where notifications go.
    pub contact_email: Option<String>,
    /// The payment.
    pub payment: PaymentSummary,
    /// The delivery, once scheduled.
    pub delivery: Option<DeliverySummary>,
    /// Every step, by time (only in single-order answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineEntry>>,
    /// The order stream's version.
    pub version: i64,
    /// Placed at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    customer: String,
    status: String,
    cancel_reason: Option<String>,
    cancel_detail: Option<String>,
    lines: serde_json::Value,
    total_minor: i64,
    currency: String,
    paid_minor: i64,
    refunded_minor: i64,
    warehouse_id: Uuid,
    slot_id: Uuid,
    zone: String,
    slot_starts_at: DateTime<Utc>,
    slot_ends_at: DateTime<Utc>,
    delivery_address: serde_json::Value,
    contact_email: Option<String>,
    payment_id: Uuid,
    payment_method: String,
    payment_status: Option<String>,
    payment_captured_minor: Option<i64>,
    payment_refunded_minor: Option<i64>,
    payment_refunds: Option<serde_json::Value>,
    delivery_id: Option<Uuid>,
    delivery_status: Option<String>,
    delivery_rider_id: Option<Uuid>,
    delivery_eta: Option<DateTime<Utc>>,
    delivery_cold_chain: Option<bool>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<OrderRow> for OrderView {
    fn from(r: OrderRow) -> Self {
        let delivery = match (r.delivery_id, r.delivery_status) {
            (Some(id), Some(status)) => Some(DeliverySummary {
                id,
                status,
                rider_id: r.delivery_rider_id,
                eta: r.delivery_eta,
                cold_chain: r.delivery_cold_chain.unwrap_or(false),
            }),
            _ => None,
        };
        Self {
            id: r.id,
            customer: r.customer,
            status: r.status,
            cancel_reason: r.cancel_reason,
            cancel_detail: r.cancel_detail,
            lines: r.lines,
            total: Money {
                amount_minor: r.total_minor,
                currency: r.currency,
            },
            paid_minor: r.paid_minor,
            refunded_minor: r.refunded_minor,
            warehouse_id: r.warehouse_id,
            slot_id: r.slot_id,
            zone: r.zone,
            slot_starts_at: r.slot_starts_at,
            slot_ends_at: r.slot_ends_at,
            delivery_address: r.delivery_address,
            contact_email: r.contact_email,
            payment: PaymentSummary {
                id: r.payment_id,
                method: r.payment_method,
                status: r.payment_status,
                captured_minor: r.payment_captured_minor.unwrap_or(0),
                refunded_minor: r.payment_refunded_minor.unwrap_or(0),
                refunds: r
                    .payment_refunds
                    .unwrap_or_else(|| serde_json::Value::Array(Vec::new())),
            },
            delivery,
            timeline: None,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn order_select(schema: &str) -> String {
    format!(
        "SELECT o.id, o.customer, o.status, o.cancel_reason, o.cancel_detail, o.lines,
                o.total_minor, o.currency, o.paid_minor, o.refunded_minor, o.warehouse_id,
                o.slot_id, o.zone, o.slot_starts_at, o.slot_ends_at, o.delivery_address,
                o.contact_email, o.payment_id, o.payment_method, p.status AS payment_status,
                p.captured_minor AS payment_captured_minor,
                p.refunded_minor AS payment_refunded_minor, p.refunds AS payment_refunds,
                d.id AS delivery_id, d.status AS delivery_status, d.rider_id AS delivery_rider_id,
                d.eta AS delivery_eta, d.cold_chain AS delivery_cold_chain, o.version,
                o.created_at, o.updated_at
           FROM {schema}.orders o
           LEFT JOIN {schema}.payments p ON p.id = o.payment_id
           LEFT JOIN {schema}.deliveries d ON d.id = o.delivery_id"
    )
}

/// Options of a single read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionParams {
    /// Wait until the read model has reached this version of the stream (read-your-writes).
    #[param(minimum = 0)]
    pub min_version: Option<i64>,
}

/// An order with its lines, totals, payment, delivery and timeline.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"), VersionParams),
    responses((status = 200, body = OrderView), (status = 404, body = platform::http::Problem),
              (status = 503, description = "`min_version` not reached in time; retry after `Retry-After`", body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn get_order(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
    params: Params<VersionParams>,
) -> Result<Json<OrderView>, ApiError> {
    let id = parse_id(&raw)?;
    let p = query_params(params)?;
    let customer = customer_filter(&principal);
    let sql = format!(
        "{} WHERE o.id = $1 AND ($2::text IS NULL OR o.customer = $2)",
        order_select(&s.schema)
    );
    let row = read_your_writes(
        &s.fresh,
        &principal.subject,
        Stream {
            aggregate_type: schemas::aggregate_types::ORDER,
            id,
            what: "order",
        },
        p.min_version,
        || async {
            let row: Option<OrderRow> = sqlx::query_as(&sql)
                .bind(id)
                .bind(&customer)
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
    let mut view = OrderView::from(row);
    let timeline: Vec<TimelineEntry> = sqlx::query_as(&format!(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, occurred_at, actor, reason,
                correlation_id, detail
           FROM {}.order_timeline WHERE order_id = $1
          ORDER BY occurred_at, aggregate_type, aggregate_id, sequence",
        s.schema
    ))
    .bind(id)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    view.timeline = Some(timeline);
    Ok(Json(view))
}

/// Filters of the order list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrderListParams {
    /// The customer account (a customer always sees only their own).
    #[param(max_length = 200)]
    pub customer_id: Option<String>,
    /// `created`, `paid`, `packed`, `shipped`, `delivered` or `cancelled`.
    #[param(pattern = "^(created|paid|packed|shipped|delivered|cancelled)$")]
    pub status: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// From `next_cursor`.
    pub cursor: Option<String>,
}

/// A page of orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    /// The orders, newest first.
    pub items: Vec<OrderView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Orders, newest first.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", params(OrderListParams),
    responses((status = 200, body = OrderPage), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn list_orders(
    State(s): State<QueryState>,
    principal: Principal,
    params: Params<OrderListParams>,
) -> Result<Json<OrderPage>, ApiError> {
    let p = query_params(params)?;
    let mut errors = Vec::new();
    one_of("status", p.status.as_deref(), ORDER_STATUSES, &mut errors);
    if p.customer_id.as_ref().is_some_and(|c| c.len() > 200) {
        errors.push(FieldError::new("customer_id", "at most 200 characters"));
    }
    let (limit, after) = page_params(p.limit, p.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let customer = customer_filter(&principal).or(p.customer_id);
    let rows: Vec<OrderRow> = sqlx::query_as(&format!(
        "{} WHERE ($1::text IS NULL OR o.customer = $1) AND ($2::text IS NULL OR o.status = $2)
              AND ($3::timestamptz IS NULL OR (o.created_at, o.id) < ($3, $4))
            ORDER BY o.created_at DESC, o.id DESC LIMIT $5",
        order_select(&s.schema)
    ))
    .bind(&customer)
    .bind(&p.status)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let more = rows.len() > limit_usize(limit);
    let items: Vec<OrderView> = rows
        .into_iter()
        .take(limit_usize(limit))
        .map(OrderView::from)
        .collect();
    let next_cursor = if more {
        items.last().map(|o| encode_cursor(o.created_at, o.id))
    } else {
        None
    };
    Ok(Json(OrderPage { items, next_cursor }))
}

/// Filters of a supplier's incoming orders.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SupplierOrderParams {
    /// `created`, `paid`, `packed`, `shipped`, `delivered` or `cancelled`.
    #[param(pattern = "^(created|paid|packed|shipped|delivered|cancelled)$")]
    pub status: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// From `next_cursor`.
    pub cursor: Option<String>,
}

/// An order as its supplier sees it: only that supplier's lines.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct SupplierOrderView {
    /// The order.
    pub order_id: Uuid,
    /// The order's status.
    pub status: String,
    /// Placed at.
    pub placed_at: DateTime<Utc>,
    /// The warehouse it is served from.
    pub warehouse_id: Uuid,
    /// The delivery zone.
    pub zone: String,
    /// The delivery slot.
    pub slot_id: Uuid,
    /// The slot's start.
    pub slot_starts_at: DateTime<Utc>,
    /// The supplier's lines (`line_no`, `product_id`, `name`, `category`, `unit`, `quantity`
    /// (decimal string), `unit_price_minor`, `line_total_minor`, `currency`).
    #[schema(value_type = Vec<Object>)]
    pub lines: serde_json::Value,
    /// Sum of those lines, minor units.
    pub total_minor: i64,
    /// Currency.
    pub currency: String,
}

/// A page of a supplier's orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierOrderPage {
    /// The supplier.
    pub supplier_id: Uuid,
    /// Its orders, newest first.
    pub items: Vec<SupplierOrderView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A supplier's incoming orders, newest first, each with just that supplier's lines.
#[utoipa::path(get, path = "/v1/suppliers/{id}/orders", tag = "orders",
    params(("id" = Uuid, Path, description = "Supplier id"), SupplierOrderParams),
    responses((status = 200, body = SupplierOrderPage), (status = 404, body = platform::http::Problem),
              (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn supplier_orders(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
    params: Params<SupplierOrderParams>,
) -> Result<Json<SupplierOrderPage>, ApiError> {
    let id = parse_id(&raw)?;
    let p = query_params(params)?;
    let mut errors = Vec::new();
    one_of("status", p.status.as_deref(), ORDER_STATUSES, &mut errors);
    let (limit, after) = page_params(p.limit, p.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let schema = &s.schema;
    if matches!(principal.actor, Actor::Person(Role::Supplier)) {
        let owns: bool = sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM {schema}.suppliers WHERE id = $1 AND owner = $2)"
        ))
        .bind(id)
        .bind(&principal.subject)
        .fetch_one(&s.pool)
        .await
        .map_err(|e| db_problem(&e))?;
        if !owns {
            return Err(ApiError::not_found("no supplier with this id"));
        }
    }
    let rows: Vec<SupplierOrderView> = sqlx::query_as(&format!(
        "WITH page AS (
            SELECT l.order_id, l.placed_at, jsonb_agg(jsonb_build_object(
                       'line_no', l.line_no, 'product_id', l.product_id, 'name', l.name,
                       'category', l.category, 'unit', l.unit,
                       'quantity', trim_scale(l.quantity)::text,
                       'unit_price_minor', l.unit_price_minor,
                       'line_total_minor', l.line_total_minor, 'currency', l.currency)
                     ORDER BY l.line_no) AS lines,
                   sum(l.line_total_minor)::int8 AS total_minor, min(l.currency) AS currency
              FROM {schema}.order_lines l
             WHERE l.supplier_id = $1 AND ($2::text IS NULL OR l.status = $2)
               AND ($3::timestamptz IS NULL OR (l.placed_at, l.order_id) < ($3, $4))
             GROUP BY l.order_id, l.placed_at
             ORDER BY l.placed_at DESC, l.order_id DESC LIMIT $5)
         SELECT p.order_id, o.status, p.placed_at, o.warehouse_id, o.zone, o.slot_id,
                o.slot_starts_at, p.lines, p.total_minor, p.currency
           FROM page p JOIN {schema}.orders o ON o.id = p.order_id
          ORDER BY p.placed_at DESC, p.order_id DESC"
    ))
    .bind(id)
    .bind(&p.status)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let more = rows.len() > limit_usize(limit);
    let items: Vec<SupplierOrderView> = rows.into_iter().take(limit_usize(limit)).collect();
    let next_cursor = if more {
        items.last().map(|o| encode_cursor(o.placed_at, o.order_id))
    } else {
        None
    };
    Ok(Json(SupplierOrderPage {
        supplier_id: id,
        items,
        next_cursor,
    }))
}

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
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "between 1 and 500"));
    }
    let after = match &p.cursor {
        None => None,
        Some(c) => {
            let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| Uuid::from_slice(&b).ok());
            if id.is_none() {
                errors.push(FieldError::new("cursor", "not a cursor from this API"));
            }
            id
        }
    };
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
    .bind(after)
    .bind(limit + 1)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let more = rows.len() > limit_usize(limit);
    let items: Vec<RiderView> = rows
        .into_iter()
        .take(limit_usize(limit))
        .map(RiderView::from)
        .collect();
    let next_cursor = if more {
        items
            .last()
            .map(|r| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r.id.as_bytes()))
    } else {
        None
    };
    Ok(Json(RiderPage { items, next_cursor }))
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

/// A payment with its refunds.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct PaymentView {
    /// Id.
    pub id: Uuid,
    /// The order paid for.
    pub order_id: Uuid,
    /// The customer account.
    pub customer: String,
    /// `card` or `cash_on_delivery`.
    pub method: String,
    /// `pending`, `authorized`, `captured`, `declined`, `cancelled`, `partially_refunded` or
    /// `refunded`.
    pub status: String,
    /// Amount due, minor units.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Authorised, minor units.
    pub authorized_minor: i64,
    /// Captured, minor units.
    pub captured_minor: i64,
    /// Paid back, minor units.
    pub refunded_minor: i64,
    /// Asked to be paid back (completed or not), minor units.
    pub refund_requested_minor: i64,
    /// The gateway's authorisation reference.
    pub authorization_ref: Option<String>,
    /// The gateway's capture reference.
    pub capture_ref: Option<String>,
    /// Why declined: code.
    pub decline_code: Option<String>,
    /// Why declined: what the gateway said.
    pub decline_reason: Option<String>,
    /// Why cancelled.
    pub cancel_reason: Option<String>,
    /// Refunds: `refund_id`, `amount_minor`, `reason`, `status` (`requested` or `completed`),
    /// `gateway_ref`, `requested_at`, `completed_at`.
    #[schema(value_type = Vec<Object>)]
    pub refunds: serde_json::Value,
    /// Suppliers' shares before commission: `supplier_id`, `amount_minor`, `currency`.
    #[schema(value_type = Vec<Object>)]
    pub payees: serde_json::Value,
    /// The platform's commission on each share, basis points.
    pub commission_bps: i32,
    /// The payment stream's version.
    pub version: i64,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A payment with its refunds.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Payment id"), VersionParams),
    responses((status = 200, body = PaymentView), (status = 404, body = platform::http::Problem),
              (status = 503, description = "`min_version` not reached in time", body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn get_payment(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
    params: Params<VersionParams>,
) -> Result<Json<PaymentView>, ApiError> {
    let id = parse_id(&raw)?;
    let p = query_params(params)?;
    let customer = customer_filter(&principal);
    let sql = format!(
        "SELECT id, order_id, customer, method, status, amount_minor, currency, authorized_minor,
                captured_minor, refunded_minor, refund_requested_minor, authorization_ref,
                capture_ref, decline_code, decline_reason, cancel_reason, refunds, payees,
                commission_bps, version, created_at, updated_at
           FROM {}.payments WHERE id = $1 AND ($2::text IS NULL OR customer = $2)",
        s.schema
    );
    let view = read_your_writes(
        &s.fresh,
        &principal.subject,
        Stream {
            aggregate_type: schemas::aggregate_types::PAYMENT,
            id,
            what: "payment",
        },
        p.min_version,
        || async {
            let row: Option<PaymentView> = sqlx::query_as(&sql)
                .bind(id)
                .bind(&customer)
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
    Ok(Json(view))
}

/// Filters of the ledger balances.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LedgerParams {
    /// Only accounts whose name starts with this (`supplier_payable:`).
    pub account_prefix: Option<String>,
}

/// An account's balance in one currency.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AccountBalance {
    /// `customers`, `platform_revenue`, `refunds`, `supplier_payable:<supplier id>` or
    /// `unallocated`.
    pub account: String,
    /// Currency.
    pub currency: String,
    /// Sum of its postings, minor units (signed).
    pub balance_minor: i64,
}

/// The sum over every account in one currency: 0 when double entry holds.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct CurrencyTotal {
    /// Currency.
    pub currency: String,
    /// Sum of every posting, minor units.
    pub sum_minor: i64,
}

/// Ledger balances.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerBalances {
    /// Accounts (filtered by `account_prefix`), by name and currency.
    pub accounts: Vec<AccountBalance>,
    /// Per currency, the sum over the whole ledger (not only the accounts shown).
    pub totals: Vec<CurrencyTotal>,
}

/// Double-entry balances of captures and refunds; per currency they sum to zero.
#[utoipa::path(get, path = "/v1/ledger/balances", tag = "analytics", params(LedgerParams),
    responses((status = 200, body = LedgerBalances), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn ledger_balances(
    State(s): State<QueryState>,
    params: Params<LedgerParams>,
) -> Result<Json<LedgerBalances>, ApiError> {
    let p = query_params(params)?;
    if p.account_prefix.as_ref().is_some_and(|a| a.len() > 200) {
        return Err(ApiError::validation(vec![FieldError::new(
            "account_prefix",
            "at most 200 characters",
        )]));
    }
    let schema = &s.schema;
    let accounts: Vec<AccountBalance> = sqlx::query_as(&format!(
        "SELECT account, currency, sum(amount_minor)::int8 AS balance_minor
           FROM {schema}.ledger_entries
          WHERE ($1::text IS NULL OR starts_with(account, $1))
          GROUP BY account, currency ORDER BY account, currency"
    ))
    .bind(&p.account_prefix)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let totals: Vec<CurrencyTotal> = sqlx::query_as(&format!(
        "SELECT currency, sum(amount_minor)::int8 AS sum_minor
           FROM {schema}.ledger_entries GROUP BY currency ORDER BY currency"
    ))
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(LedgerBalances { accounts, totals }))
}

/// Sales analytics parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SalesParams {
    /// First day (UTC, `YYYY-MM-DD`, inclusive); default: all time.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last day (UTC, `YYYY-MM-DD`, inclusive); default: all time.
    #[param(format = Date)]
    pub to: Option<String>,
    /// `day` (default), `category` or `supplier`.
    #[param(pattern = "^(day|category|supplier)$")]
    pub group_by: Option<String>,
}

/// Sales of one group in one currency.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct SalesGroup {
    /// The day (`YYYY-MM-DD`), the category, or the supplier id.
    pub key: String,
    /// Currency.
    pub currency: String,
    /// Orders with lines in the group.
    pub orders: i64,
    /// Quantity sold (decimal string; units as each product's).
    pub quantity: String,
    /// Line totals, minor units (before refunds).
    pub revenue_minor: i64,
}

/// Sales.
#[derive(Debug, Serialize, ToSchema)]
pub struct SalesReport {
    /// `day`, `category` or `supplier`.
    pub group_by: String,
    /// First day included, when given.
    pub from: Option<NaiveDate>,
    /// Last day included, when given.
    pub to: Option<NaiveDate>,
    /// The groups, by key and currency.
    pub groups: Vec<SalesGroup>,
}

/// Sales of orders paid and not cancelled (status paid, packed, shipped or delivered), by day
/// placed, category or supplier.
#[utoipa::path(get, path = "/v1/analytics/sales", tag = "analytics", params(SalesParams),
    responses((status = 200, body = SalesReport), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn sales(
    State(s): State<QueryState>,
    params: Params<SalesParams>,
) -> Result<Json<SalesReport>, ApiError> {
    let p = query_params(params)?;
    let mut errors = Vec::new();
    one_of("group_by", p.group_by.as_deref(), GROUPS, &mut errors);
    let from = parse_date("from", p.from.as_deref(), &mut errors);
    let to = parse_date("to", p.to.as_deref(), &mut errors);
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            errors.push(FieldError::new("to", "not before from"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let group_by = p.group_by.unwrap_or_else(|| "day".to_owned());
    let key = match group_by.as_str() {
        "category" => "l.category",
        "supplier" => "l.supplier_id::text",
        _ => "to_char(l.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    };
    let sold: Vec<String> = SOLD.iter().map(|s| (*s).to_owned()).collect();
    let groups: Vec<SalesGroup> = sqlx::query_as(&format!(
        "SELECT {key} AS key, l.currency, count(DISTINCT l.order_id) AS orders,
                trim_scale(sum(l.quantity))::text AS quantity,
                sum(l.line_total_minor)::int8 AS revenue_minor
           FROM {}.order_lines l
          WHERE l.status = ANY($1)
            AND ($2::timestamptz IS NULL OR l.placed_at >= $2)
            AND ($3::timestamptz IS NULL OR l.placed_at < $3)
          GROUP BY 1, 2 ORDER BY 1, 2",
        s.schema
    ))
    .bind(&sold)
    .bind(from.map(day_start))
    .bind(to.map(|t| day_start(t) + chrono::Duration::days(1)))
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(SalesReport {
        group_by,
        from,
        to,
        groups,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_the_position_it_was_made_from() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).expect("time");
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(at, id)), Some((at, id)));
        assert_eq!(decode_cursor("nope"), None);
    }

    #[test]
    fn dates_are_plain_days() {
        let mut errors = Vec::new();
        assert!(parse_date("from", Some("2026-11-21"), &mut errors).is_some());
        assert!(parse_date("from", Some("2026-13-01"), &mut errors).is_none());
        assert!(parse_date("to", Some("2026-1-1"), &mut errors).is_none());
        assert_eq!(errors.len(), 2);
    }
}
