//! projectors: Freshline's read side. Projections are Kafka consumer groups that apply events
//! to read models in PostgreSQL with exactly-once effect (see [`runtime`]): the supplier
//! directory and history ([`suppliers`]), the catalog with stock, batches and spoilage
//! ([`catalog`]), and order fulfilment: orders, payments and their ledger, deliveries, slots
//! and riders ([`orders`]); customers and their carts ([`customers`]). Any projection is rebuilt into fresh tables and swapped in atomically
//! ([`rebuild`]).
//!
//! The query API ([`query`], one module per resource; binary `query-api`) serves them.

pub mod catalog;
pub mod customers;
pub mod guard;
pub mod orders;
pub mod projection;
pub mod query;
pub mod read_your_writes;
pub mod rebuild;
pub mod runtime;
pub mod suppliers;
mod watermark;

/// Every projection, by name.
pub fn all() -> Vec<std::sync::Arc<dyn runtime::Projection>> {
    vec![
        std::sync::Arc::new(suppliers::SupplierProjection),
        std::sync::Arc::new(catalog::CatalogProjection),
        std::sync::Arc::new(orders::OrdersProjection),
        std::sync::Arc::new(customers::CustomerProjection),
    ]
}

/// The projection called `name`.
pub fn by_name(name: &str) -> Option<std::sync::Arc<dyn runtime::Projection>> {
    all().into_iter().find(|p| p.name() == name)
}
pub mod serve;
pub mod settings;
