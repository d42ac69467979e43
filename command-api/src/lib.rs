//! command-api: Freshline's write side. HTTP commands are authenticated (scopes and roles),
//! validated into domain commands, decided by the aggregates and appended to the postgres-es
//! event store; the store is also the outbox that `outbox-relay` publishes to Kafka.

pub mod carts;
pub mod context;
pub mod customers;
pub mod deliveries;
pub mod fulfilment;
pub mod image_quota;
pub mod images;
pub mod inventory;
pub mod orders;
pub mod payments;
pub mod products;
pub mod registry;
pub mod request;
pub mod response;
pub mod schema;
pub mod settings;
pub mod streams;
pub mod suppliers;

use axum::extract::{DefaultBodyLimit, State};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put, MethodRouter};
use axum::Router;
use platform::auth::Verifier;
use platform::bus::{CommandBus, CommandMetrics, Snapshots};
use platform::idempotency::Idempotency;
use platform::metrics::HttpMetrics;
use platform::openapi::SharedProblems;
use prometheus::Registry;
use schema::{CausationHeader, FieldRules};
use sqlx::PgPool;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// Supplier commands.
    pub suppliers: Arc<suppliers::SupplierService>,
    /// Product commands.
    pub products: Arc<products::ProductService>,
    /// Inventory commands.
    pub inventory: Arc<inventory::InventoryService>,
    /// Order, payment and delivery commands.
    pub fulfilment: Arc<fulfilment::FulfilmentService>,
    /// Customers' own records.
    pub customers: Arc<customers::CustomerService>,
    /// Customers' carts.
    pub carts: Arc<carts::CartService>,
    /// Where uploaded images are kept.
    pub blobs: images::SharedBlobs,
    /// Each supplier's image quota.
    pub image_limits: image_quota::ImageLimits,
    /// The database (readiness).
    pub pool: PgPool,
    /// This instance's metrics.
    pub registry: Registry,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// Why the app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Metrics registration failed.
    #[error("metrics")]
    Metrics(#[from] prometheus::Error),
}

/// The OpenAPI description served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "Freshline command API", version = "1", description = "Commands of the fresh-food marketplace. Every command answers `{id, version}`; errors are RFC 9457 problem+json with a stable `code`."),
    paths(
        suppliers::register, suppliers::submit_document, suppliers::approve,
        suppliers::reject, suppliers::suspend, suppliers::reinstate,
        products::list, products::update, products::discontinue,
        products::image_processed, products::image_failed, images::upload, products::list_bulk,
        inventory::receive_bulk,
        inventory::receive, inventory::reserve, inventory::release, inventory::commit,
        inventory::spoilage, inventory::expire, inventory::expiring_soon, inventory::assess,
        orders::place, orders::cancel, orders::pack, orders::paid, orders::ship, orders::deliver,
        orders::compensate, orders::record_refund, orders::force_compensation, orders::force_saga_compensation,
        payments::initiate, payments::authorized, payments::captured, payments::declined,
        payments::cancel, payments::request_refund, payments::refund, payments::refund_completed,
        deliveries::create_slot, deliveries::book_slot, deliveries::release_slot,
        deliveries::register_rider, deliveries::availability, deliveries::assign_rider,
        deliveries::release_rider, deliveries::schedule, deliveries::assign, deliveries::cancel,
        deliveries::pickup, deliveries::location, deliveries::deliver, deliveries::fail,
        customers::register, customers::add_address, customers::update_address,
        customers::remove_address, customers::preferences, customers::consent, customers::device,
        carts::set_line, carts::checkout, carts::abandon, streams::ticket
    ),
    components(schemas(platform::http::Problem, platform::http::FieldError, response::CommandAccepted, response::BulkCreated, streams::StreamTicket)),
    modifiers(&CausationHeader, &SharedProblems, &FieldRules),
    tags((name = "suppliers", description = "Supplier onboarding and lifecycle"),
         (name = "catalog", description = "Products and their images"),
         (name = "inventory", description = "Perishable stock batches"),
         (name = "orders", description = "Orders, from placement to delivery or cancellation"),
         (name = "payments", description = "Payments, captures and refunds"),
         (name = "deliveries", description = "Slots, riders and deliveries"),
         (name = "customers", description = "A customer's own profile, address book, preferences, consent and devices"),
         (name = "carts", description = "A customer's cart and checkout"),
         (name = "streams", description = "Tickets for live streams (query-api serves the streams)"))
)]
#[derive(Debug)]
pub struct ApiDoc;

/// How the command API runs: limits, snapshots, how long answers are kept. The binary fills it
/// from its settings; tests start from [`Options::default`].
#[derive(Debug)]
pub struct Options {
    /// The largest request body taken (except image uploads).
    pub max_body_bytes: usize,
    /// Requests per subject.
    pub limiter: Arc<platform::ratelimit::RateLimiter>,
    /// When every aggregate's bus writes and reads snapshots.
    pub snapshots: Snapshots,
    /// How long an idempotent answer is kept.
    pub idempotency_ttl: std::time::Duration,
    /// Each supplier's image quota and cap on pending originals.
    pub image_limits: image_quota::ImageLimits,
    /// Whether sensitive operations (supplier approval, refunds, forced compensation) need a
    /// person's token to show a second factor.
    pub second_factor: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            limiter: platform::ratelimit::RateLimiter::new(10_000.0, 10_000.0),
            snapshots: Snapshots::default(),
            idempotency_ttl: platform::idempotency::DEFAULT_TTL,
            image_limits: image_quota::ImageLimits::default(),
            second_factor: true,
        }
    }
}

/// Builds the router with all middleware: panics become 500 problems, correlation ids,
/// authentication, idempotency, body limit, HTTP metrics; images go to `blobs`.
///
/// # Errors
/// When metrics cannot be registered.
pub fn router(
    pool: PgPool,
    verifier: Arc<Verifier>,
    registry: Registry,
    blobs: images::SharedBlobs,
    options: Options,
) -> Result<Router, BuildError> {
    let Options {
        max_body_bytes,
        limiter,
        snapshots,
        idempotency_ttl,
        image_limits,
        second_factor,
    } = options;
    let http_metrics = HttpMetrics::new(&registry)?;
    let command_metrics = CommandMetrics::new(&registry)?;
    let registration = registry::PgRegistrationRegistry::new(pool.clone());
    let supplier_bus = CommandBus::new(
        pool.clone(),
        domain::SupplierServices {
            registry: Arc::new(registration.clone()),
        },
        command_metrics.clone(),
        domain::supplier::supplier_upcasters(),
    )
    .with_snapshots(snapshots)
    .with_claims(registry::claims);
    let product_bus = CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![])
        .with_snapshots(snapshots);
    let supplier_reads = CommandBus::new(
        pool.clone(),
        domain::SupplierServices {
            registry: Arc::new(registration.clone()),
        },
        command_metrics.clone(),
        domain::supplier::supplier_upcasters(),
    )
    .with_snapshots(snapshots);
    let inventory = Arc::new(inventory::InventoryService {
        bus: CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![])
            .with_snapshots(snapshots),
        products: CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![])
            .with_snapshots(snapshots),
        alerts: CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![])
            .with_snapshots(snapshots),
    });
    let fulfilment = Arc::new(fulfilment::FulfilmentService {
        orders: CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![])
            .with_snapshots(snapshots),
        payments: CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![])
            .with_snapshots(snapshots),
        deliveries: CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![])
            .with_snapshots(snapshots),
        slots: CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![])
            .with_snapshots(snapshots),
        riders: CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![])
            .with_snapshots(snapshots),
        products: CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![])
            .with_snapshots(snapshots),
        suppliers: CommandBus::new(
            pool.clone(),
            domain::SupplierServices {
                registry: Arc::new(registration.clone()),
            },
            command_metrics.clone(),
            domain::supplier::supplier_upcasters(),
        )
        .with_snapshots(snapshots),
    });
    let state = AppState {
        blobs,
        image_limits,
        inventory,
        fulfilment,
        customers: Arc::new(customers::CustomerService {
            bus: CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![])
                .with_snapshots(snapshots),
        }),
        carts: Arc::new(carts::CartService {
            bus: CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![])
                .with_snapshots(snapshots),
        }),
        products: Arc::new(products::ProductService {
            bus: product_bus,
            suppliers: supplier_reads,
        }),
        suppliers: Arc::new(suppliers::SupplierService::new(supplier_bus)),
        pool: pool.clone(),
        registry,
    };
    use platform::auth::{scopes, Role};
    use platform::http::{require, Requirement};
    const WRITERS: &[Role] = &[Role::Admin, Role::Supplier];
    const APPROVERS: &[Role] = &[Role::Admin];
    // Image outcomes come from the image worker (a service); no person records them.
    const NOBODY: &[Role] = &[];
    const STOCK_KEEPERS: &[Role] = &[Role::Admin, Role::Warehouse];
    const CUSTOMERS: &[Role] = &[Role::Customer];
    const CANCELLERS: &[Role] = &[Role::Customer, Role::Admin];
    const OPERATORS: &[Role] = &[Role::Admin];
    const PACKERS: &[Role] = &[Role::Supplier, Role::Warehouse, Role::Admin];
    const RIDERS: &[Role] = &[Role::Rider, Role::Admin];
    // A customer's own record and cart: only the customer (nobody acts for it).
    const SHOPPERS: &[Role] = &[Role::Customer];
    let guard = |scope, roles, sensitive: bool| {
        from_fn_with_state(
            Requirement::new(scope, roles).sensitive(sensitive && second_factor),
            require,
        )
    };
    let idempotency = Idempotency {
        pool: pool.clone(),
        max_body_bytes,
        ttl: idempotency_ttl,
    };
    // Every command route names its scope (and the roles of people who may use it) here; the
    // check runs before anything reads the body, then the Idempotency-Key is taken (the
    // later route layer is the outer one).
    let guarded = |route: MethodRouter<AppState>, scope, roles, sensitive| {
        route
            .route_layer(from_fn_with_state(
                idempotency.clone(),
                platform::idempotency::idempotent,
            ))
            .route_layer(guard(scope, roles, sensitive))
    };
    let command = |route, scope, roles| guarded(route, scope, roles, false);
    // Sensitive operations: a person must also show a second factor (`mfa_required`).
    let sensitive = |route, scope, roles| guarded(route, scope, roles, true);
    let commands = Router::new()
        // Any authenticated caller (the stream checks its rights when it opens); keyed like
        // every POST, so a retried request answers the same ticket.
        .route(
            "/v1/streams/tickets",
            post(streams::ticket).route_layer(from_fn_with_state(
                idempotency.clone(),
                platform::idempotency::idempotent,
            )),
        )
        .route(
            "/v1/customers/me",
            command(post(customers::register), scopes::CUSTOMERS_WRITE, SHOPPERS),
        )
        .route(
            "/v1/customers/me/addresses",
            command(
                post(customers::add_address),
                scopes::CUSTOMERS_WRITE,
                SHOPPERS,
            ),
        )
        .route(
            "/v1/customers/me/addresses/{address_id}",
            command(
                patch(customers::update_address),
                scopes::CUSTOMERS_WRITE,
                SHOPPERS,
            ),
        )
        .route(
            "/v1/customers/me/addresses/{address_id}/remove",
            command(
                post(customers::remove_address),
                scopes::CUSTOMERS_WRITE,
                SHOPPERS,
            ),
        )
        .route(
            "/v1/customers/me/preferences",
            command(
                put(customers::preferences),
                scopes::CUSTOMERS_WRITE,
                SHOPPERS,
            ),
        )
        .route(
            "/v1/customers/me/consent",
            command(put(customers::consent), scopes::CUSTOMERS_WRITE, SHOPPERS),
        )
        .route(
            "/v1/customers/me/devices",
            command(post(customers::device), scopes::CUSTOMERS_WRITE, SHOPPERS),
        )
        .route(
            "/v1/carts/current/lines/{product_id}",
            command(put(carts::set_line), scopes::CARTS_WRITE, SHOPPERS),
        )
        .route(
            "/v1/carts/current/checkout",
            command(post(carts::checkout), scopes::CARTS_WRITE, SHOPPERS),
        )
        .route(
            "/v1/carts/{id}/abandon",
            command(post(carts::abandon), scopes::CARTS_MANAGE, NOBODY),
        )
        .route(
            "/v1/suppliers",
            command(
                post(suppliers::register),
                scopes::SUPPLIERS_REGISTER,
                WRITERS,
            ),
        )
        .route(
            "/v1/suppliers/{id}/documents",
            command(
                post(suppliers::submit_document),
                scopes::SUPPLIERS_WRITE,
                WRITERS,
            ),
        )
        .route(
            "/v1/suppliers/{id}/approve",
            sensitive(
                post(suppliers::approve),
                scopes::SUPPLIERS_APPROVE,
                APPROVERS,
            ),
        )
        .route(
            "/v1/suppliers/{id}/reject",
            sensitive(
                post(suppliers::reject),
                scopes::SUPPLIERS_APPROVE,
                APPROVERS,
            ),
        )
        .route(
            "/v1/suppliers/{id}/suspend",
            sensitive(
                post(suppliers::suspend),
                scopes::SUPPLIERS_APPROVE,
                APPROVERS,
            ),
        )
        .route(
            "/v1/suppliers/{id}/reinstate",
            sensitive(
                post(suppliers::reinstate),
                scopes::SUPPLIERS_APPROVE,
                APPROVERS,
            ),
        )
        .route(
            "/v1/suppliers/{id}/products",
            command(post(products::list), scopes::CATALOG_WRITE, WRITERS),
        )
        .route(
            "/v1/suppliers/{id}/products/bulk",
            command(post(products::list_bulk), scopes::CATALOG_WRITE, WRITERS),
        )
        .route(
            "/v1/inventory/batches/bulk",
            command(
                post(inventory::receive_bulk),
                scopes::INVENTORY_WRITE,
                STOCK_KEEPERS,
            ),
        )
        .route(
            "/v1/products/{id}",
            command(patch(products::update), scopes::CATALOG_WRITE, WRITERS),
        )
        .route(
            "/v1/products/{id}/discontinue",
            command(post(products::discontinue), scopes::CATALOG_WRITE, WRITERS),
        )
        .route(
            "/v1/products/{id}/images/{image_id}/processed",
            command(
                post(products::image_processed),
                scopes::CATALOG_IMAGES,
                NOBODY,
            ),
        )
        .route(
            "/v1/products/{id}/images/{image_id}/failed",
            command(post(products::image_failed), scopes::CATALOG_IMAGES, NOBODY),
        )
        .route(
            "/v1/inventory/batches",
            command(
                post(inventory::receive),
                scopes::INVENTORY_WRITE,
                STOCK_KEEPERS,
            ),
        )
        .route(
            "/v1/inventory/batches/{id}/reservations",
            command(post(inventory::reserve), scopes::INVENTORY_RESERVE, NOBODY),
        )
        .route(
            "/v1/inventory/batches/{id}/reservations/{order_id}/release",
            command(post(inventory::release), scopes::INVENTORY_RESERVE, NOBODY),
        )
        .route(
            "/v1/inventory/batches/{id}/reservations/{order_id}/commit",
            command(post(inventory::commit), scopes::INVENTORY_RESERVE, NOBODY),
        )
        .route(
            "/v1/inventory/batches/{id}/spoilage",
            command(
                post(inventory::spoilage),
                scopes::INVENTORY_WRITE,
                STOCK_KEEPERS,
            ),
        )
        .route(
            "/v1/inventory/batches/{id}/expire",
            command(
                post(inventory::expire),
                scopes::INVENTORY_WRITE,
                STOCK_KEEPERS,
            ),
        )
        .route(
            "/v1/inventory/stock-alerts",
            command(
                post(inventory::assess),
                scopes::INVENTORY_WRITE,
                STOCK_KEEPERS,
            ),
        )
        .route(
            "/v1/inventory/batches/{id}/expiring-soon",
            command(
                post(inventory::expiring_soon),
                scopes::INVENTORY_WRITE,
                STOCK_KEEPERS,
            ),
        )
        .route(
            "/v1/orders",
            command(post(orders::place), scopes::ORDERS_WRITE, CUSTOMERS),
        )
        .route(
            "/v1/orders/{id}/cancel",
            command(post(orders::cancel), scopes::ORDERS_WRITE, CANCELLERS),
        )
        .route(
            "/v1/orders/{id}/pack",
            command(post(orders::pack), scopes::ORDERS_FULFIL, PACKERS),
        )
        .route(
            "/v1/orders/{id}/paid",
            command(post(orders::paid), scopes::ORDERS_MANAGE, NOBODY),
        )
        .route(
            "/v1/orders/{id}/ship",
            command(post(orders::ship), scopes::ORDERS_MANAGE, NOBODY),
        )
        .route(
            "/v1/orders/{id}/deliver",
            command(post(orders::deliver), scopes::ORDERS_MANAGE, NOBODY),
        )
        .route(
            "/v1/orders/{id}/compensate",
            command(post(orders::compensate), scopes::ORDERS_MANAGE, NOBODY),
        )
        .route(
            "/v1/ops/orders/{id}/compensate",
            sensitive(
                post(orders::force_compensation),
                scopes::OPS_WRITE,
                OPERATORS,
            ),
        )
        .route(
            "/v1/ops/sagas/{order_id}/compensate",
            sensitive(
                post(orders::force_saga_compensation),
                scopes::OPS_WRITE,
                OPERATORS,
            ),
        )
        .route(
            "/v1/orders/{id}/refunds",
            command(post(orders::record_refund), scopes::ORDERS_MANAGE, NOBODY),
        )
        .route(
            "/v1/payments",
            command(post(payments::initiate), scopes::PAYMENTS_WRITE, NOBODY),
        )
        .route(
            "/v1/payments/{id}/authorized",
            command(post(payments::authorized), scopes::PAYMENTS_WRITE, NOBODY),
        )
        .route(
            "/v1/payments/{id}/captured",
            command(post(payments::captured), scopes::PAYMENTS_WRITE, NOBODY),
        )
        .route(
            "/v1/payments/{id}/declined",
            command(post(payments::declined), scopes::PAYMENTS_WRITE, NOBODY),
        )
        .route(
            "/v1/payments/{id}/cancel",
            command(post(payments::cancel), scopes::PAYMENTS_WRITE, NOBODY),
        )
        .route(
            "/v1/payments/{id}/refunds",
            command(
                post(payments::request_refund),
                scopes::PAYMENTS_WRITE,
                NOBODY,
            ),
        )
        .route(
            "/v1/payments/{id}/refunds/{refund_id}/completed",
            command(
                post(payments::refund_completed),
                scopes::PAYMENTS_WRITE,
                NOBODY,
            ),
        )
        .route(
            "/v1/payments/{id}/refund",
            sensitive(post(payments::refund), scopes::PAYMENTS_REFUND, APPROVERS),
        )
        .route(
            "/v1/delivery-slots",
            command(
                post(deliveries::create_slot),
                scopes::DELIVERIES_PLAN,
                APPROVERS,
            ),
        )
        .route(
            "/v1/delivery-slots/{id}/bookings",
            command(
                post(deliveries::book_slot),
                scopes::DELIVERIES_MANAGE,
                NOBODY,
            ),
        )
        .route(
            "/v1/delivery-slots/{id}/bookings/{order_id}/release",
            command(
                post(deliveries::release_slot),
                scopes::DELIVERIES_MANAGE,
                NOBODY,
            ),
        )
        .route(
            "/v1/riders",
            command(
                post(deliveries::register_rider),
                scopes::DELIVERIES_PLAN,
                APPROVERS,
            ),
        )
        .route(
            "/v1/riders/{id}/availability",
            command(
                post(deliveries::availability),
                scopes::DELIVERIES_UPDATE,
                RIDERS,
            ),
        )
        .route(
            "/v1/riders/{id}/assignments",
            command(
                post(deliveries::assign_rider),
                scopes::DELIVERIES_MANAGE,
                NOBODY,
            ),
        )
        .route(
            "/v1/riders/{id}/assignments/{delivery_id}/release",
            command(
                post(deliveries::release_rider),
                scopes::DELIVERIES_MANAGE,
                NOBODY,
            ),
        )
        .route(
            "/v1/deliveries",
            command(
                post(deliveries::schedule),
                scopes::DELIVERIES_MANAGE,
                NOBODY,
            ),
        )
        .route(
            "/v1/deliveries/{id}/assign",
            command(post(deliveries::assign), scopes::DELIVERIES_MANAGE, NOBODY),
        )
        .route(
            "/v1/deliveries/{id}/cancel",
            command(post(deliveries::cancel), scopes::DELIVERIES_MANAGE, NOBODY),
        )
        .route(
            "/v1/deliveries/{id}/pickup",
            command(post(deliveries::pickup), scopes::DELIVERIES_UPDATE, RIDERS),
        )
        .route(
            "/v1/deliveries/{id}/location",
            command(
                post(deliveries::location),
                scopes::DELIVERIES_UPDATE,
                RIDERS,
            ),
        )
        .route(
            "/v1/deliveries/{id}/deliver",
            command(post(deliveries::deliver), scopes::DELIVERIES_UPDATE, RIDERS),
        )
        .route(
            "/v1/deliveries/{id}/fail",
            command(post(deliveries::fail), scopes::DELIVERIES_UPDATE, RIDERS),
        )
        .layer(from_fn_with_state(
            limiter.clone(),
            platform::ratelimit::limit,
        ))
        .layer(from_fn_with_state(
            verifier.clone(),
            platform::http::authenticate,
        ));
    // Uploads stream up to 10 MiB and are idempotent by content (the image id derives from the
    // bytes), so they skip the JSON body limit and the Idempotency-Key store.
    let uploads = Router::new()
        .route(
            "/v1/products/{id}/images",
            post(images::upload).route_layer(guard(scopes::CATALOG_WRITE, WRITERS, false)),
        )
        .layer(DefaultBodyLimit::disable())
        .layer(from_fn_with_state(limiter, platform::ratelimit::limit))
        .layer(from_fn_with_state(verifier, platform::http::authenticate));
    Ok(Router::new()
        .merge(commands)
        .merge(uploads)
        .route("/healthz", get(platform::http::healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(platform::http::not_found_fallback)
        .method_not_allowed_fallback(platform::http::method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(from_fn_with_state(
            http_metrics,
            platform::metrics::track_http,
        ))
        .layer(from_fn(platform::http::correlate))
        .layer(CatchPanicLayer::custom(panic_problem))
        .with_state(state))
}

fn panic_problem(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    platform::http::ApiError::internal(
        "handler panicked",
        &std::io::Error::other("panic in request handler"),
    )
    .into_response()
}

async fn readyz(State(app): State<AppState>) -> Response {
    platform::http::readiness(&[("postgres", platform::db::ping(&app.pool).await)])
}

async fn metrics(State(app): State<AppState>) -> Response {
    platform::metrics::render(&app.registry)
}

async fn openapi() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}
pub mod serve;
