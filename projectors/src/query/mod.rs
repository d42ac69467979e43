//! The query API: one module per resource over the read models, one paging type
//! ([`page`]), one read-your-writes helper ([`crate::read_your_writes`]), and the router with
//! its OpenAPI document.

pub mod analytics;
pub mod attention;
pub mod common;
pub mod customers;
pub mod deliveries;
pub mod history;
pub mod inventory;
pub mod ops;
pub mod orders;
pub mod page;
pub mod payments;
pub mod products;
pub mod riders;
pub mod slots;
pub mod state;
pub mod streams;
pub mod suppliers;

pub use state::QueryState;

use crate::read_your_writes::MinPosition;
use axum::extract::{DefaultBodyLimit, State};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::auth::{scopes, Role, Verifier};
use platform::evidence::EvidenceSigner;
use platform::http::{require, Requirement};
use platform::metrics::HttpMetrics;
use platform::openapi::SharedProblems;
use prometheus::Registry;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi;

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

/// Operators: administrators (with `ops:read` / `ops:write`).
const OPERATORS: &[Role] = &[Role::Admin];

/// A supplier's incoming orders (its own suppliers only, checked in the handler).
const SUPPLIER_ORDER_READERS: &[Role] = &[Role::Admin, Role::Auditor, Role::Supplier];

const SHOPPERS: &[Role] = &[Role::Customer];

/// The OpenAPI description served at `/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Freshline query API", version = "1", description = "Read models of the fresh-food marketplace. Errors are RFC 9457 problem+json with a stable `code`."),
    paths(suppliers::list_suppliers, suppliers::get_supplier, history::supplier_history, history::export_supplier_history, history::evidence_keys,
        products::search_products, products::get_product, products::get_image,
        inventory::stock, inventory::batches, inventory::aging, inventory::spoilage,
        inventory::aging_report, inventory::spoilage_report,
        orders::get_order, orders::list_orders, orders::supplier_orders,
        deliveries::get_delivery, slots::delivery_slots, slots::get_slot,
        riders::riders, riders::get_rider,
        payments::get_payment, payments::ledger_balances, analytics::sales,
        ops::sagas, ops::saga, ops::retry_saga, ops::dead_events, ops::retry_dead, ops::skip_dead,
        customers::me, customers::get_customer, customers::list_customers, customers::current_cart,
        streams::order, streams::orders, streams::ops),
    components(schemas(suppliers::SupplierView, suppliers::SupplierPage, history::HistoryEntry, history::HistoryPage, platform::http::Problem, platform::http::FieldError,
        products::ProductView, products::ProductPage, products::ImageView, common::Money,
        inventory::StockView, inventory::BatchView, inventory::AgingBucket, inventory::SpoilageByReason,
        orders::OrderView, orders::OrderPage, orders::PaymentSummary,
        orders::DeliverySummary, orders::TimelineEntry, orders::SupplierOrderView,
        orders::SupplierOrderPage, deliveries::DeliveryView, deliveries::DeliveryRider,
        deliveries::PositionView, common::GeoPoint, slots::SlotView,
        slots::SlotList, riders::RiderView, riders::RiderPage,
        payments::PaymentView, payments::LedgerBalances, payments::AccountBalance,
        payments::CurrencyTotal, analytics::SalesReport, analytics::SalesGroup,
        ops::SagaView, ops::SagaPage, ops::SagaDetail, ops::OpsDone, ops::DeadEventView,
        ops::DeadEventPage, ops::RetriedView, ops::SkipBody,
        attention::Attention, attention::PendingSupplier, attention::TroubledSaga,
        attention::DeadEvent, attention::LowStock, attention::ExpiringBatch,
        customers::CustomerView, customers::AddressView, customers::CustomerList,
        customers::CustomerSummary, customers::CartView, customers::CartLineView,
        customers::CartWarning)),
    tags((name = "suppliers", description = "The supplier directory and history"),
         (name = "catalog", description = "Product search and images"),
         (name = "inventory", description = "Stock, batches, aging and spoilage"),
         (name = "orders", description = "Orders, payments, deliveries, slots and riders"),
         (name = "analytics", description = "Ledger balances and sales"),
         (name = "ops", description = "Operators' controls: sagas and dead events"),
         (name = "customers", description = "Customers: one's own record; staff search"),
         (name = "carts", description = "The caller's cart, priced from the catalog now")),
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
    let positions = |projection: &'static str| {
        from_fn_with_state(
            crate::read_your_writes::Positions {
                fresh: fresh.clone(),
                projection,
            },
            crate::read_your_writes::wait_for_position,
        )
    };
    let guard = from_fn_with_state(Requirement::new(scopes::SUPPLIERS_READ, READERS), require);
    let reads = Router::new()
        .route("/v1/suppliers", get(suppliers::list_suppliers))
        .route("/v1/suppliers/{id}", get(suppliers::get_supplier))
        .route("/v1/suppliers/{id}/history", get(history::supplier_history))
        .route_layer(positions("suppliers"))
        .route_layer(guard);
    let exports = Router::new()
        .route(
            "/v1/suppliers/{id}/history/export",
            get(history::export_supplier_history),
        )
        .route_layer(positions("suppliers"))
        .route_layer(from_fn_with_state(
            Requirement::new(scopes::AUDIT_EXPORT, AUDITORS),
            require,
        ));
    let catalog = Router::new()
        .route("/v1/products", get(products::search_products))
        .route("/v1/products/{id}", get(products::get_product))
        .route(
            "/v1/products/{id}/images/{image_id}",
            get(products::get_image),
        )
        .route_layer(positions("catalog"))
        // The public catalog: a storefront browses before anyone logs in.
        .route_layer(from_fn_with_state(
            Requirement::new(scopes::CATALOG_READ, CATALOG_READERS).public(),
            require,
        ));
    let inventory = Router::new()
        .route("/v1/inventory/stock", get(inventory::stock))
        .route("/v1/inventory/batches", get(inventory::batches))
        .route("/v1/inventory/aging", get(inventory::aging))
        .route("/v1/inventory/spoilage", get(inventory::spoilage))
        .route("/v1/analytics/spoilage", get(inventory::spoilage_report))
        .route(
            "/v1/analytics/inventory-aging",
            get(inventory::aging_report),
        )
        .route_layer(positions("catalog"))
        .route_layer(from_fn_with_state(
            Requirement::new(scopes::INVENTORY_READ, INVENTORY_READERS),
            require,
        ));
    let order_guard =
        |roles| from_fn_with_state(Requirement::new(scopes::ORDERS_READ, roles), require);
    let orders = Router::new()
        .route("/v1/orders", get(orders::list_orders))
        .route("/v1/orders/{id}", get(orders::get_order))
        .route("/v1/delivery-slots", get(slots::delivery_slots))
        .route("/v1/delivery-slots/{id}", get(slots::get_slot))
        .route("/v1/payments/{id}", get(payments::get_payment))
        .route_layer(positions("orders"))
        .route_layer(order_guard(ORDER_READERS));
    // A live order: who may read the order may follow it; a browser passes a ticket.
    let live = Router::new()
        .route("/v1/streams/orders/{id}", get(streams::order))
        .route_layer(positions("orders"))
        .route_layer(order_guard(ORDER_READERS))
        .route_layer(from_fn_with_state(state.clone(), streams::ticket));
    // Every order, live (the console's board): staff only.
    let board = Router::new()
        .route("/v1/streams/orders", get(streams::orders))
        .route_layer(positions("orders"))
        .route_layer(order_guard(AUDITORS))
        .route_layer(from_fn_with_state(state.clone(), streams::ticket));
    let deliveries = Router::new()
        .route("/v1/deliveries/{id}", get(deliveries::get_delivery))
        .route_layer(positions("orders"))
        .route_layer(order_guard(DELIVERY_READERS));
    let rider = Router::new()
        .route("/v1/riders/{id}", get(riders::get_rider))
        .route_layer(positions("orders"))
        .route_layer(order_guard(RIDER_READERS));
    let supplier_orders = Router::new()
        .route("/v1/suppliers/{id}/orders", get(orders::supplier_orders))
        .route_layer(positions("orders"))
        .route_layer(order_guard(SUPPLIER_ORDER_READERS));
    let back_office = Router::new()
        .route("/v1/riders", get(riders::riders))
        .route("/v1/ledger/balances", get(payments::ledger_balances))
        .route("/v1/analytics/sales", get(analytics::sales))
        .route_layer(positions("orders"))
        .route_layer(order_guard(AUDITORS));
    let shopper_guard = |scope| from_fn_with_state(Requirement::new(scope, SHOPPERS), require);
    let shoppers = Router::new()
        .route("/v1/customers/me", get(customers::me))
        .route_layer(positions("customers"))
        .route_layer(shopper_guard(scopes::CUSTOMERS_READ))
        .merge(
            Router::new()
                .route("/v1/carts/current", get(customers::current_cart))
                .route_layer(positions("customers"))
                .route_layer(shopper_guard(scopes::CARTS_WRITE)),
        );
    let customer_directory = Router::new()
        .route("/v1/customers", get(customers::list_customers))
        .route("/v1/customers/{id}", get(customers::get_customer))
        .route_layer(positions("customers"))
        .route_layer(from_fn_with_state(
            Requirement::new(scopes::CUSTOMERS_READ, AUDITORS),
            require,
        ));
    let ops_guard = |scope| from_fn_with_state(Requirement::new(scope, OPERATORS), require);
    let ops_reads = Router::new()
        .route("/v1/ops/sagas", get(ops::sagas))
        .route("/v1/ops/sagas/{order_id}", get(ops::saga))
        .route(
            "/v1/ops/projections/{name}/dead-events",
            get(ops::dead_events),
        )
        .route_layer(ops_guard(scopes::OPS_READ));
    // The operators' live picture: a browser passes a ticket.
    let ops_live = Router::new()
        .route("/v1/streams/ops", get(streams::ops))
        .route_layer(ops_guard(scopes::OPS_READ))
        .route_layer(from_fn_with_state(state.clone(), streams::ticket));
    let ops_writes = Router::new()
        .route("/v1/ops/sagas/{order_id}/retry", post(ops::retry_saga))
        .route(
            "/v1/ops/projections/{name}/dead-events/retry",
            post(ops::retry_dead),
        )
        .route(
            "/v1/ops/projections/{name}/dead-events/skip",
            post(ops::skip_dead),
        )
        .route_layer(ops_guard(scopes::OPS_WRITE));
    let authenticated = reads
        .merge(ops_reads)
        .merge(ops_writes)
        .merge(exports)
        .merge(catalog)
        .merge(inventory)
        .merge(orders)
        .merge(deliveries)
        .merge(rider)
        .merge(supplier_orders)
        .merge(back_office)
        .merge(shoppers)
        .merge(customer_directory)
        .merge(live)
        .merge(ops_live)
        .merge(board)
        .layer(from_fn(platform::http::refuse_control_characters))
        .layer(from_fn_with_state(limiter, platform::ratelimit::limit))
        .layer(from_fn_with_state(verifier, platform::http::authenticate));
    Ok(Router::new()
        .merge(authenticated)
        .route("/v1/audit/keys", get(history::evidence_keys))
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
