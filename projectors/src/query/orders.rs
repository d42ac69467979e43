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

use super::common::{
    customer_filter, db_problem, one_of, parse_id, query_params, Money, Params, VersionParams,
};
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

/// Order statuses.
pub const ORDER_STATUSES: &[&str] = &[
    "created",
    "paid",
    "packed",
    "shipped",
    "delivered",
    "cancelled",
];

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
    /// What caused the command that appended it: the id of the event a saga or worker acted
    /// on, or the request's correlation id for a command a person gave.
    pub causation_id: Option<String>,
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
                correlation_id, causation_id, detail
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
    let page: PageRequest<(DateTime<Utc>, Uuid)> =
        PageRequest::new(p.limit, 50, p.cursor.as_deref(), &mut errors);
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
    .bind(page.after.map(|a| a.0))
    .bind(page.after.map(|a| a.1))
    .bind(page.fetch())
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let rows: Vec<OrderView> = rows.into_iter().map(OrderView::from).collect();
    let (items, next_cursor) = page.page(rows, |o| (o.created_at, o.id));
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
    let page: PageRequest<(DateTime<Utc>, Uuid)> =
        PageRequest::new(p.limit, 50, p.cursor.as_deref(), &mut errors);
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
    .bind(page.after.map(|a| a.0))
    .bind(page.after.map(|a| a.1))
    .bind(page.fetch())
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let (items, next_cursor) = page.page(rows, |o| (o.placed_at, o.order_id));
    Ok(Json(SupplierOrderPage {
        supplier_id: id,
        items,
        next_cursor,
    }))
}
