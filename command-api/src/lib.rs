//! command-api: Freshline's write side. HTTP commands are authenticated (scopes and roles),
//! validated into domain commands, decided by the aggregates and appended to the postgres-es
//! event store; the store is also the outbox that `outbox-relay` publishes to Kafka.

pub mod bus;
pub mod context;
pub mod images;
pub mod inventory;
pub mod products;
pub mod registry;
pub mod response;
pub mod settings;
pub mod suppliers;

use axum::extract::{DefaultBodyLimit, State};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Router;
use platform::auth::Verifier;
use platform::idempotency::Idempotency;
use platform::metrics::HttpMetrics;
use prometheus::Registry;
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
    /// Where uploaded images are kept.
    pub blobs: images::SharedBlobs,
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
        inventory::spoilage, inventory::expire, inventory::expiring_soon, inventory::assess
    ),
    components(schemas(platform::http::Problem, platform::http::FieldError, response::CommandAccepted)),
    modifiers(&BearerAuth),
    tags((name = "suppliers", description = "Supplier onboarding and lifecycle"),
         (name = "catalog", description = "Products and their images"),
         (name = "inventory", description = "Perishable stock batches"))
)]
#[derive(Debug)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT (EdDSA)")
                    .build(),
            ),
        );
    }
}

/// Builds the router with all middleware: panics become 500 problems, correlation ids,
/// authentication, idempotency, body limit, HTTP metrics.
///
/// # Errors
/// When metrics cannot be registered.
pub fn router(
    pool: PgPool,
    verifier: Arc<Verifier>,
    registry: Registry,
    max_body_bytes: usize,
    limiter: Arc<platform::ratelimit::RateLimiter>,
    blobs: images::SharedBlobs,
) -> Result<Router, BuildError> {
    let http_metrics = HttpMetrics::new(&registry)?;
    let command_metrics = bus::CommandMetrics::new(&registry)?;
    let registration = registry::PgRegistrationRegistry::new(pool.clone());
    let supplier_bus = bus::CommandBus::new(
        pool.clone(),
        domain::SupplierServices {
            registry: Arc::new(registration.clone()),
        },
        command_metrics.clone(),
        domain::supplier::supplier_upcasters(),
    );
    let product_bus = bus::CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![]);
    let supplier_reads = bus::CommandBus::new(
        pool.clone(),
        domain::SupplierServices {
            registry: Arc::new(registration.clone()),
        },
        command_metrics.clone(),
        domain::supplier::supplier_upcasters(),
    );
    let inventory = Arc::new(inventory::InventoryService {
        bus: bus::CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![]),
        products: bus::CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![]),
        alerts: bus::CommandBus::new(pool.clone(), (), command_metrics.clone(), vec![]),
    });
    let state = AppState {
        blobs,
        inventory,
        products: Arc::new(products::ProductService {
            bus: product_bus,
            suppliers: supplier_reads,
        }),
        suppliers: Arc::new(suppliers::SupplierService::new(supplier_bus, registration)),
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
    let guard = |scope, roles| from_fn_with_state(Requirement { scope, roles }, require);
    // Every command route names its scope (and the roles of people who may use it) here; the
    // check runs before the handler reads the body.
    let commands = Router::new()
        .route(
            "/v1/suppliers",
            post(suppliers::register).route_layer(guard(scopes::SUPPLIERS_REGISTER, WRITERS)),
        )
        .route(
            "/v1/suppliers/{id}/documents",
            post(suppliers::submit_document).route_layer(guard(scopes::SUPPLIERS_WRITE, WRITERS)),
        )
        .route(
            "/v1/suppliers/{id}/approve",
            post(suppliers::approve).route_layer(guard(scopes::SUPPLIERS_APPROVE, APPROVERS)),
        )
        .route(
            "/v1/suppliers/{id}/reject",
            post(suppliers::reject).route_layer(guard(scopes::SUPPLIERS_APPROVE, APPROVERS)),
        )
        .route(
            "/v1/suppliers/{id}/suspend",
            post(suppliers::suspend).route_layer(guard(scopes::SUPPLIERS_APPROVE, APPROVERS)),
        )
        .route(
            "/v1/suppliers/{id}/reinstate",
            post(suppliers::reinstate).route_layer(guard(scopes::SUPPLIERS_APPROVE, APPROVERS)),
        )
        .route(
            "/v1/suppliers/{id}/products",
            post(products::list).route_layer(guard(scopes::CATALOG_WRITE, WRITERS)),
        )
        .route(
            "/v1/suppliers/{id}/products/bulk",
            post(products::list_bulk).route_layer(guard(scopes::CATALOG_WRITE, WRITERS)),
        )
        .route(
            "/v1/inventory/batches/bulk",
            post(inventory::receive_bulk)
                .route_layer(guard(scopes::INVENTORY_WRITE, STOCK_KEEPERS)),
        )
        .route(
            "/v1/products/{id}",
            patch(products::update).route_layer(guard(scopes::CATALOG_WRITE, WRITERS)),
        )
        .route(
            "/v1/products/{id}/discontinue",
            post(products::discontinue).route_layer(guard(scopes::CATALOG_WRITE, WRITERS)),
        )
        .route(
            "/v1/products/{id}/images/{image_id}/processed",
            post(products::image_processed).route_layer(guard(scopes::CATALOG_IMAGES, NOBODY)),
        )
        .route(
            "/v1/products/{id}/images/{image_id}/failed",
            post(products::image_failed).route_layer(guard(scopes::CATALOG_IMAGES, NOBODY)),
        )
        .route(
            "/v1/inventory/batches",
            post(inventory::receive).route_layer(guard(scopes::INVENTORY_WRITE, STOCK_KEEPERS)),
        )
        .route(
            "/v1/inventory/batches/{id}/reservations",
            post(inventory::reserve).route_layer(guard(scopes::INVENTORY_RESERVE, NOBODY)),
        )
        .route(
            "/v1/inventory/batches/{id}/reservations/{order_id}/release",
            post(inventory::release).route_layer(guard(scopes::INVENTORY_RESERVE, NOBODY)),
        )
        .route(
            "/v1/inventory/batches/{id}/reservations/{order_id}/commit",
            post(inventory::commit).route_layer(guard(scopes::INVENTORY_RESERVE, NOBODY)),
        )
        .route(
            "/v1/inventory/batches/{id}/spoilage",
            post(inventory::spoilage).route_layer(guard(scopes::INVENTORY_WRITE, STOCK_KEEPERS)),
        )
        .route(
            "/v1/inventory/batches/{id}/expire",
            post(inventory::expire).route_layer(guard(scopes::INVENTORY_WRITE, STOCK_KEEPERS)),
        )
        .route(
            "/v1/inventory/stock-alerts",
            post(inventory::assess).route_layer(guard(scopes::INVENTORY_WRITE, STOCK_KEEPERS)),
        )
        .route(
            "/v1/inventory/batches/{id}/expiring-soon",
            post(inventory::expiring_soon)
                .route_layer(guard(scopes::INVENTORY_WRITE, STOCK_KEEPERS)),
        )
        .layer(from_fn_with_state(
            Idempotency {
                pool,
                max_body_bytes,
            },
            platform::idempotency::idempotent,
        ))
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
            post(images::upload).route_layer(guard(scopes::CATALOG_WRITE, WRITERS)),
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
