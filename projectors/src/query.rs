//! The query API over the supplier read models: list (filters, cursor pagination), get (with
//! `min_version` for read-your-writes and `as_of` for the state at any past instant) and the
//! history auditors read. Suppliers see only their own records; admins, auditors and services
//! holding `suppliers:read` see all. The router also serves the catalog
//! ([`crate::catalog_query`]) and order fulfilment ([`crate::orders_query`]) routes.

use crate::read_your_writes::MinPosition;
use crate::suppliers::{evolve, History, Row};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use platform::auth::{scopes, Actor, Principal, Role, Verifier};
use platform::evidence::EvidenceSigner;
use platform::http::{require, ApiError, FieldError, Requirement};
use platform::metrics::HttpMetrics;
use platform::openapi::SharedProblems;
use prometheus::Registry;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

/// Shared state.
#[derive(Debug, Clone)]
pub struct QueryState {
    pub(crate) pool: PgPool,
    pub(crate) schema: String,
    registry: Registry,
    /// Signs history exports; none configured means exports answer 503.
    evidence: Option<Arc<EvidenceSigner>>,
    /// Reads waiting for a version or a position (see `read_your_writes`).
    pub(crate) fresh: Arc<crate::read_your_writes::Freshness>,
}

/// A supplier as the directory shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierView {
    /// Id.
    pub id: Uuid,
    /// Legal name.
    pub legal_name: String,
    /// Registration number (normalised).
    pub registration_number: String,
    /// `pending`, `approved`, `rejected` or `suspended`.
    pub status: String,
    /// Categories sold.
    pub categories: Vec<String>,
    /// Contact e-mail.
    pub contact_email: String,
    /// Contact phone.
    pub phone: String,
    /// Address (`line1`, `city`, `postal_code`, `country`).
    #[schema(value_type = Object)]
    pub address: serde_json::Value,
    /// Verification documents on file (`kind`, `reference`, `expires_on`).
    #[schema(value_type = Vec<Object>)]
    pub documents: serde_json::Value,
    /// Owning supplier account.
    pub owner: Option<String>,
    /// Version (the sequence of the last event applied).
    pub version: i64,
    /// Registered at.
    pub created_at: DateTime<Utc>,
    /// Last changed at.
    pub updated_at: DateTime<Utc>,
}

impl From<Row> for SupplierView {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            legal_name: r.legal_name,
            registration_number: r.registration_number,
            status: r.status,
            categories: r.categories,
            contact_email: r.contact_email,
            phone: r.phone,
            address: r.address,
            documents: r.documents,
            owner: r.owner,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A page of suppliers.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierPage {
    /// The suppliers, oldest first.
    pub items: Vec<SupplierView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One entry of a supplier's history.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct HistoryEntry {
    /// Position in the supplier's stream.
    pub sequence: i64,
    /// Event type.
    pub event_type: String,
    /// Version of `payload` (always the current one: older events are upcast).
    pub event_version: i32,
    /// Status before (absent for the registration).
    pub from_status: Option<String>,
    /// Status after.
    pub to_status: String,
    /// Who: `sub` and `role` or `service`.
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
    /// The reason or note given.
    pub reason: Option<String>,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Correlation id of the request.
    pub correlation_id: Option<String>,
    /// Event id.
    pub event_id: Uuid,
    /// The event's payload, in the current version of its type.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// The event's link in the supplier's hash chain (hex SHA-256 over the previous link and
    /// the canonical envelope as stored); `GET .../history/export` gives the stored envelopes
    /// to recompute it. Absent for events older than the chain.
    pub hash: Option<String>,
}

const HISTORY_COLUMNS: &str = "sequence, event_type, event_version, from_status, to_status, \
     actor, reason, occurred_at, correlation_id, event_id, payload, hash";

/// A supplier's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// The supplier.
    pub supplier_id: Uuid,
    /// Every event, in order.
    pub items: Vec<HistoryEntry>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `pending`, `approved`, `rejected` or `suspended`.
    #[param(pattern = "^(pending|approved|rejected|suspended)$")]
    pub status: Option<String>,
    /// A category the supplier sells.
    #[param(pattern = "^(fruit|vegetable|herb|dairy|bakery|other)$")]
    pub category: Option<String>,
    /// Words of the legal name.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// From `next_cursor`.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

/// Options of a get.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    /// Wait until the read model has reached this version (read-your-writes).
    #[param(minimum = 0)]
    pub min_version: Option<i64>,
    /// The state at this instant (RFC 3339).
    pub as_of: Option<DateTime<Utc>>,
}

const STATUSES: &[&str] = &["pending", "approved", "rejected", "suspended"];
const CATEGORIES: &[&str] = &["fruit", "vegetable", "herb", "dairy", "bakery", "other"];
const READERS: &[Role] = &[Role::Admin, Role::Auditor, Role::Supplier];
const AUDITORS: &[Role] = &[Role::Admin, Role::Auditor];
const CATALOG_READERS: &[Role] = &[
    Role::Admin,
    Role::Auditor,
    Role::Supplier,
    Role::Customer,
    Role::Warehouse,
];
const INVENTORY_READERS: &[Role] = &[Role::Admin, Role::Auditor, Role::Supplier, Role::Warehouse];
/// Orders, payments, deliveries and slots: a customer's own (filtered in the handlers).
const ORDER_READERS: &[Role] = &[Role::Admin, Role::Auditor, Role::Customer];
/// A delivery: its customer's, or its rider's (filtered in the handler).
const DELIVERY_READERS: &[Role] = &[Role::Admin, Role::Auditor, Role::Customer, Role::Rider];
/// One rider: the back office, or that rider (filtered in the handler).
const RIDER_READERS: &[Role] = &[Role::Admin, Role::Auditor, Role::Rider];
/// A supplier's incoming orders (its own suppliers only, checked in the handler).
const SUPPLIER_ORDER_READERS: &[Role] = &[Role::Admin, Role::Auditor, Role::Supplier];

/// The OpenAPI description served at `/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Freshline query API", version = "1", description = "Read models of the fresh-food marketplace. Errors are RFC 9457 problem+json with a stable `code`."),
    paths(list_suppliers, get_supplier, supplier_history, export_supplier_history, evidence_keys,
        crate::catalog_query::search_products, crate::catalog_query::get_product, crate::catalog_query::get_image,
        crate::catalog_query::stock, crate::catalog_query::batches, crate::catalog_query::aging, crate::catalog_query::spoilage,
        crate::catalog_query::aging_report, crate::catalog_query::spoilage_report,
        crate::orders_query::get_order, crate::orders_query::list_orders, crate::orders_query::supplier_orders,
        crate::orders_query::get_delivery, crate::orders_query::delivery_slots, crate::orders_query::get_slot,
        crate::orders_query::riders, crate::orders_query::get_rider,
        crate::orders_query::get_payment, crate::orders_query::ledger_balances, crate::orders_query::sales),
    components(schemas(SupplierView, SupplierPage, HistoryEntry, HistoryPage, platform::http::Problem, platform::http::FieldError,
        crate::catalog_query::ProductView, crate::catalog_query::ProductPage, crate::catalog_query::ImageView, crate::catalog_query::Money,
        crate::catalog_query::StockView, crate::catalog_query::BatchView, crate::catalog_query::AgingBucket, crate::catalog_query::SpoilageByReason,
        crate::orders_query::OrderView, crate::orders_query::OrderPage, crate::orders_query::PaymentSummary,
        crate::orders_query::DeliverySummary, crate::orders_query::TimelineEntry, crate::orders_query::SupplierOrderView,
        crate::orders_query::SupplierOrderPage, crate::orders_query::DeliveryView, crate::orders_query::DeliveryRider,
        crate::orders_query::PositionView, crate::orders_query::GeoPoint, crate::orders_query::SlotView,
        crate::orders_query::SlotList, crate::orders_query::RiderView, crate::orders_query::RiderPage,
        crate::orders_query::PaymentView, crate::orders_query::LedgerBalances, crate::orders_query::AccountBalance,
        crate::orders_query::CurrencyTotal, crate::orders_query::SalesReport, crate::orders_query::SalesGroup)),
    tags((name = "suppliers", description = "The supplier directory and history"),
         (name = "catalog", description = "Product search and images"),
         (name = "inventory", description = "Stock, batches, aging and spoilage"),
         (name = "orders", description = "Orders, payments, deliveries, slots and riders"),
         (name = "analytics", description = "Ledger balances and sales")),
    modifiers(&MinPosition, &SharedProblems)
)]
pub struct QueryDoc;

/// Reads of one subject that may wait for a version or position at once; more: `429`.
pub const MAX_WAITING_READS: usize = 64;

/// The query API router.
///
/// # Errors
/// When metrics cannot be registered.
pub fn router(
    pool: PgPool,
    schema: &str,
    verifier: Arc<Verifier>,
    registry: Registry,
    read_your_writes_wait: Duration,
    limiter: Arc<platform::ratelimit::RateLimiter>,
    evidence: Option<Arc<EvidenceSigner>>,
) -> Result<Router, prometheus::Error> {
    let http_metrics = HttpMetrics::new(&registry)?;
    let fresh = crate::read_your_writes::Freshness::start(
        pool.clone(),
        schema,
        read_your_writes_wait,
        MAX_WAITING_READS,
    );
    let state = QueryState {
        pool,
        schema: schema.to_owned(),
        registry,
        evidence,
        fresh: fresh.clone(),
    };
    // `min_position`: runs after each group's access check (route layers added later run
    // first, so it is added before them).
    let positions = from_fn_with_state(fresh, crate::read_your_writes::wait_for_position);
    let guard = from_fn_with_state(
        Requirement {
            scope: scopes::SUPPLIERS_READ,
            roles: READERS,
        },
        require,
    );
    let reads = Router::new()
        .route("/v1/suppliers", get(list_suppliers))
        .route("/v1/suppliers/{id}", get(get_supplier))
        .route("/v1/suppliers/{id}/history", get(supplier_history))
        .route_layer(positions.clone())
        .route_layer(guard);
    let exports = Router::new()
        .route(
            "/v1/suppliers/{id}/history/export",
            get(export_supplier_history),
        )
        .route_layer(positions.clone())
        .route_layer(from_fn_with_state(
            Requirement {
                scope: scopes::AUDIT_EXPORT,
                roles: AUDITORS,
            },
            require,
        ));
    use crate::catalog_query as cq;
    let catalog = Router::new()
        .route("/v1/products", get(cq::search_products))
        .route("/v1/products/{id}", get(cq::get_product))
        .route("/v1/products/{id}/images/{image_id}", get(cq::get_image))
        .route_layer(positions.clone())
        .route_layer(from_fn_with_state(
            Requirement {
                scope: scopes::CATALOG_READ,
                roles: CATALOG_READERS,
            },
            require,
        ));
    let inventory = Router::new()
        .route("/v1/inventory/stock", get(cq::stock))
        .route("/v1/inventory/batches", get(cq::batches))
        .route("/v1/inventory/aging", get(cq::aging))
        .route("/v1/inventory/spoilage", get(cq::spoilage))
        .route("/v1/analytics/spoilage", get(cq::spoilage_report))
        .route("/v1/analytics/inventory-aging", get(cq::aging_report))
        .route_layer(positions.clone())
        .route_layer(from_fn_with_state(
            Requirement {
                scope: scopes::INVENTORY_READ,
                roles: INVENTORY_READERS,
            },
            require,
        ));
    use crate::orders_query as oq;
    let order_guard = |roles| {
        from_fn_with_state(
            Requirement {
                scope: scopes::ORDERS_READ,
                roles,
            },
            require,
        )
    };
    let orders = Router::new()
        .route("/v1/orders", get(oq::list_orders))
        .route("/v1/orders/{id}", get(oq::get_order))
        .route("/v1/delivery-slots", get(oq::delivery_slots))
        .route("/v1/delivery-slots/{id}", get(oq::get_slot))
        .route("/v1/payments/{id}", get(oq::get_payment))
        .route_layer(positions.clone())
        .route_layer(order_guard(ORDER_READERS));
    let deliveries = Router::new()
        .route("/v1/deliveries/{id}", get(oq::get_delivery))
        .route_layer(positions.clone())
        .route_layer(order_guard(DELIVERY_READERS));
    let rider = Router::new()
        .route("/v1/riders/{id}", get(oq::get_rider))
        .route_layer(positions.clone())
        .route_layer(order_guard(RIDER_READERS));
    let supplier_orders = Router::new()
        .route("/v1/suppliers/{id}/orders", get(oq::supplier_orders))
        .route_layer(positions.clone())
        .route_layer(order_guard(SUPPLIER_ORDER_READERS));
    let back_office = Router::new()
        .route("/v1/riders", get(oq::riders))
        .route("/v1/ledger/balances", get(oq::ledger_balances))
        .route("/v1/analytics/sales", get(oq::sales))
        .route_layer(positions.clone())
        .route_layer(order_guard(AUDITORS));
    let authenticated = reads
        .merge(exports)
        .merge(catalog)
        .merge(inventory)
        .merge(orders)
        .merge(deliveries)
        .merge(rider)
        .merge(supplier_orders)
        .merge(back_office)
        .layer(from_fn(platform::http::refuse_control_characters))
        .layer(from_fn_with_state(limiter, platform::ratelimit::limit))
        .layer(from_fn_with_state(verifier, platform::http::authenticate));
    Ok(Router::new()
        .merge(authenticated)
        .route("/v1/audit/keys", get(evidence_keys))
        .route("/healthz", get(platform::http::healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { Json(QueryDoc::openapi()) }))
        .fallback(platform::http::not_found_fallback)
        .method_not_allowed_fallback(platform::http::method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(from_fn_with_state(
            http_metrics,
            platform::metrics::track_http,
        ))
        .layer(from_fn(platform::http::correlate))
        .with_state(state))
}

async fn readyz(State(s): State<QueryState>) -> Response {
    platform::http::readiness(&[("postgres", platform::db::ping(&s.pool).await)])
}

async fn metrics(State(s): State<QueryState>) -> Response {
    platform::metrics::render(&s.registry)
}

/// A supplier account sees only suppliers it owns.
/// A supplier account sees only what its suppliers own (its token subject is their owner).
pub(crate) fn owner_filter(p: &Principal) -> Option<String> {
    matches!(p.actor, Actor::Person(Role::Supplier)).then(|| p.subject.clone())
}

pub(crate) fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::validation(vec![FieldError::new("id", "must be a UUID")]))
}

pub(crate) fn query_params<T: serde::de::DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| {
        let text = e.body_text();
        let field = text.split('`').nth(1).unwrap_or("query").to_owned();
        ApiError::validation(vec![FieldError::new(field, text)])
    })
}

const ROW_COLUMNS: &str =
    "id, owner, legal_name, registration_number, status, categories, contact_email,
     phone, address, city, country, documents, version, created_at, updated_at";

/// List suppliers.
#[utoipa::path(get, path = "/v1/suppliers", tag = "suppliers", params(ListParams),
    responses((status = 200, body = SupplierPage), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["suppliers:read"])))]
pub async fn list_suppliers(
    State(s): State<QueryState>,
    principal: Principal,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SupplierPage>, ApiError> {
    let p = query_params(params)?;
    let mut errors = Vec::new();
    if let Some(st) = &p.status {
        if !STATUSES.contains(&st.as_str()) {
            errors.push(FieldError::new(
                "status",
                format!("one of {}", STATUSES.join(", ")),
            ));
        }
    }
    if let Some(c) = &p.category {
        if !CATEGORIES.contains(&c.as_str()) {
            errors.push(FieldError::new(
                "category",
                format!("one of {}", CATEGORIES.join(", ")),
            ));
        }
    }
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "between 1 and 500"));
    }
    if p.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        errors.push(FieldError::new("q", "at most 200 characters"));
    }
    let after = match &p.cursor {
        None => None,
        Some(c) => match base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| Uuid::from_slice(&b).ok())
        {
            Some(id) => Some(id),
            None => {
                errors.push(FieldError::new("cursor", "not a cursor from this API"));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM {}.suppliers
          WHERE ($1::text IS NULL OR status = $1)
            AND ($2::text IS NULL OR categories @> ARRAY[$2::text])
            AND ($3::text IS NULL OR to_tsvector('simple', legal_name) @@ plainto_tsquery('simple', $3))
            AND ($4::uuid IS NULL OR id > $4)
            AND ($5::text IS NULL OR owner = $5)
          ORDER BY id LIMIT $6",
        s.schema
    ))
    .bind(&p.status)
    .bind(&p.category)
    .bind(p.q.as_deref().filter(|q| !q.trim().is_empty()))
    .bind(after)
    .bind(owner_filter(&principal))
    .bind(limit + 1)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
    let mut items: Vec<SupplierView> = rows.into_iter().map(SupplierView::from).collect();
    if more {
        items.truncate(usize::try_from(limit).unwrap_or(0));
    }
    let next_cursor = if more {
        items
            .last()
            .map(|r| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r.id.as_bytes()))
    } else {
        None
    };
    Ok(Json(SupplierPage { items, next_cursor }))
}

pub(crate) fn db_problem(e: &sqlx::Error) -> ApiError {
    ApiError::database("query", e)
}

/// Get one supplier.
#[utoipa::path(get, path = "/v1/suppliers/{id}", tag = "suppliers",
    params(("id" = Uuid, Path, description = "Supplier id"), GetParams),
    responses((status = 200, body = SupplierView), (status = 404, body = platform::http::Problem),
              (status = 503, description = "`min_version` not reached in time; retry after `Retry-After`", body = platform::http::Problem)),
    security(("bearer" = ["suppliers:read"])))]
pub async fn get_supplier(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
    params: Result<Query<GetParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SupplierView>, ApiError> {
    let id = parse_id(&raw)?;
    let p = query_params(params)?;
    crate::read_your_writes::check_min_version(p.min_version)?;
    let owner = owner_filter(&principal);
    if let Some(at) = p.as_of {
        let row = state_as_of(&s, id, at).await?;
        return match row {
            Some(r) if owner.is_none() || r.owner == owner => Ok(Json(r.into())),
            _ => Err(ApiError::not_found("no supplier with this id at that time")),
        };
    }
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM {}.suppliers WHERE id = $1 AND ($2::text IS NULL OR owner = $2)",
        s.schema
    );
    let stream = crate::read_your_writes::Stream {
        aggregate_type: schemas::aggregate_types::SUPPLIER,
        id,
        what: "supplier",
    };
    let row = crate::read_your_writes::read_your_writes(
        &s.fresh,
        &principal.subject,
        stream,
        p.min_version,
        || async {
            let row: Option<Row> = sqlx::query_as(&sql)
                .bind(id)
                .bind(&owner)
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

/// The supplier's state at `at`, replayed from its history with the projection's own rules:
/// the stream up to its first event recorded after `at`. (The writer records a stream's
/// events at non-decreasing times; events written before it did, by hosts with skewed clocks,
/// may not be, and a gap in the replayed sequence must never reach `evolve`.)
async fn state_as_of(s: &QueryState, id: Uuid, at: DateTime<Utc>) -> Result<Option<Row>, ApiError> {
    let entries: Vec<HistoryEntry> = sqlx::query_as(&format!(
        "SELECT {HISTORY_COLUMNS}
           FROM {0}.supplier_history
          WHERE supplier_id = $1
            AND sequence < coalesce((SELECT min(sequence) FROM {0}.supplier_history
                                      WHERE supplier_id = $1 AND occurred_at > $2),
                                    9223372036854775807)
          ORDER BY sequence",
        s.schema
    ))
    .bind(id)
    .bind(at)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let mut rows = HashMap::new();
    let mut scratch = History::default();
    for e in entries {
        let envelope = schemas::Envelope {
            event_id: e.event_id,
            aggregate_type: schemas::aggregate_types::SUPPLIER.to_owned(),
            aggregate_id: id.to_string(),
            sequence: e.sequence,
            global_position: 0,
            event_type: e.event_type,
            event_version: u32::try_from(e.event_version).unwrap_or(0),
            occurred_at: e.occurred_at,
            metadata: serde_json::Map::new(),
            payload: e.payload,
            hash: None,
        };
        if let Err(reason) = evolve(&mut rows, &mut scratch, &envelope) {
            return Err(ApiError::internal(
                "as_of replay",
                &std::io::Error::other(reason),
            ));
        }
    }
    Ok(rows.remove(&id))
}

/// A supplier's history, every event in order.
#[utoipa::path(get, path = "/v1/suppliers/{id}/history", tag = "suppliers",
    params(("id" = Uuid, Path, description = "Supplier id")),
    responses((status = 200, body = HistoryPage), (status = 404, body = platform::http::Problem)),
    security(("bearer" = ["suppliers:read"])))]
pub async fn supplier_history(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<Json<HistoryPage>, ApiError> {
    let id = parse_id(&raw)?;
    let visible: bool = sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {}.suppliers WHERE id = $1 AND ($2::text IS NULL OR owner = $2))",
        s.schema
    ))
    .bind(id)
    .bind(owner_filter(&principal))
    .fetch_one(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    if !visible {
        return Err(ApiError::not_found("no supplier with this id"));
    }
    let items: Vec<HistoryEntry> = sqlx::query_as(&format!(
        "SELECT {HISTORY_COLUMNS}
           FROM {}.supplier_history WHERE supplier_id = $1 ORDER BY sequence",
        s.schema
    ))
    .bind(id)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(HistoryPage {
        supplier_id: id,
        items,
    }))
}

/// A supplier's whole history as stored, signed: the envelopes with their hash chain, the
/// chain's head, who exported it and when, and an Ed25519 signature (`kid` included) over the
/// canonical JSON of the rest. `freshline audit check FILE --jwks KEYS` verifies it offline
/// (keys from `GET /v1/audit/keys`). Read from the event store itself, not a read model, and
/// signed only after its chain has been verified.
#[utoipa::path(get, path = "/v1/suppliers/{id}/history/export", tag = "suppliers",
    params(("id" = Uuid, Path, description = "Supplier id")),
    responses(
        (status = 200, description = "The signed history document", body = Object),
        (status = 404, body = platform::http::Problem),
        (status = 409, description = "`chain_broken`: the stored history fails its hash chain; nothing is signed", body = platform::http::Problem),
        (status = 503, description = "`evidence_unavailable`: no signing key configured", body = platform::http::Problem),
    ),
    security(("bearer" = ["audit:export"])))]
pub async fn export_supplier_history(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    use axum::response::IntoResponse;
    let id = parse_id(&raw)?;
    let Some(signer) = s.evidence.as_ref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "evidence_unavailable",
            "Evidence signing unavailable",
            "no evidence signing key is configured (FRESHLINE_EVIDENCE_KEY)",
        ));
    };
    let events =
        platform::store::load_stream(&s.pool, schemas::aggregate_types::SUPPLIER, &id.to_string())
            .await
            .map_err(|e| match e {
                platform::store::StoreError::Db(e) => {
                    ApiError::database("loading a supplier stream", &e)
                }
                other => ApiError::internal("loading a supplier stream", &other),
            })?;
    if events.is_empty() {
        return Err(ApiError::not_found("no supplier with this id"));
    }
    if let Err(link) = schemas::chain::verify_envelopes(&events) {
        tracing::error!(supplier_id = %id, %link, "refusing to sign a broken history");
        return Err(ApiError::conflict(
            "chain_broken",
            format!("the stored history of this supplier fails its hash chain at {link}"),
        ));
    }
    let document = platform::evidence::history_document(
        &id.to_string(),
        &events,
        Utc::now(),
        &principal.subject,
    );
    let signed = signer
        .sign(document)
        .map_err(|e| ApiError::internal("signing evidence", &e))?;
    let disposition = format!("attachment; filename=\"supplier-{id}-history.json\"");
    Ok((
        [(axum::http::header::CONTENT_DISPOSITION, disposition)],
        Json(signed),
    )
        .into_response())
}

/// The public keys that sign history exports (a JWKS). Keep a copy: an export is checked
/// against the keys an auditor trusts, not against whatever a server says later.
#[utoipa::path(get, path = "/v1/audit/keys", tag = "suppliers",
    responses((status = 200, description = "JWKS", body = Object), (status = 503, body = platform::http::Problem)))]
pub async fn evidence_keys(
    State(s): State<QueryState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    match s.evidence.as_ref() {
        Some(signer) => Ok(Json(signer.jwks())),
        None => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "evidence_unavailable",
            "Evidence signing unavailable",
            "no evidence signing key is configured (FRESHLINE_EVIDENCE_KEY)",
        )),
    }
}
