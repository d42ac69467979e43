//! Freshline's wire formats, defined once: the event envelope published to Kafka, topic names,
//! aggregate and event type names, the versioned payload of every event type, and the bodies
//! of command-api's routes ([`api`]), which command-api reads and its callers send.
//!
//! No IO and no dependency on `domain`: consumers (projections, analysts' tools) read events
//! through this crate alone. The event store holds exactly these payloads, tagged with their
//! event type (`{"SupplierRegistered": {...}}`), so the store, the topics and the JSON Schemas
//! describe one format.

pub mod api;
pub mod chain;
pub mod common;
pub mod compat;
pub mod customer;
pub mod delivery;
pub mod envelope;
pub mod inventory;
pub mod order;
pub mod payment;
pub mod product;
pub mod rider;
pub mod slot;
pub mod stock_alert;
pub mod supplier;
pub mod topics;
mod wire;

pub use envelope::{Envelope, EnvelopeError};

/// Every JSON Schema this crate publishes, as `(file name, schema)`: the envelope and each
/// event type's payload per version (`SupplierApproved.v1.schema.json`). Checked in under
/// `schemas/json/`; a test fails when they drift from the Rust types.
pub fn json_schema_files() -> Vec<(String, serde_json::Value)> {
    let mut files = vec![(
        "envelope.schema.json".to_owned(),
        schemars::schema_for!(Envelope).to_value(),
    )];
    let events = supplier::json_schemas()
        .into_iter()
        .chain(product::json_schemas())
        .chain(inventory::json_schemas())
        .chain(stock_alert::json_schemas())
        .chain(order::json_schemas())
        .chain(payment::json_schemas())
        .chain(delivery::json_schemas())
        .chain(slot::json_schemas())
        .chain(rider::json_schemas())
        .chain(customer::json_schemas())
        .chain(customer::cart::json_schemas());
    for (event_type, version, mut schema) in events {
        if let Some(obj) = schema.as_object_mut() {
            obj.insert("title".into(), event_type.into());
            obj.insert(
                "description".into(),
                format!("Payload of {event_type} version {version} (the envelope's `payload`).")
                    .into(),
            );
        }
        files.push((format!("{event_type}.v{version}.schema.json"), schema));
    }
    files
}

/// Kafka header carrying the event type.
pub const HEADER_EVENT_TYPE: &str = "event_type";
/// Kafka header carrying the event version.
pub const HEADER_EVENT_VERSION: &str = "event_version";
/// Kafka header carrying the correlation id of the request that caused the event.
pub const HEADER_CORRELATION_ID: &str = "correlation_id";

/// Aggregate type names, as stored in the event store's `aggregate_type` column.
pub mod aggregate_types {
    /// Suppliers.
    pub const SUPPLIER: &str = "Supplier";
    /// Catalog products.
    pub const PRODUCT: &str = "Product";
    /// Perishable stock batches.
    pub const INVENTORY_BATCH: &str = "InventoryBatch";
    /// Stock alerts, one stream per product and warehouse.
    pub const STOCK_ALERT: &str = "StockAlert";
    /// Customer orders.
    pub const ORDER: &str = "Order";
    /// Payments, one per order.
    pub const PAYMENT: &str = "Payment";
    /// Deliveries, one per order.
    pub const DELIVERY: &str = "Delivery";
    /// Delivery slots (a window, a zone, a capacity).
    pub const DELIVERY_SLOT: &str = "DeliverySlot";
    /// Riders.
    pub const RIDER: &str = "Rider";
    /// Customers: profile, address book, preferences, consent, devices.
    pub const CUSTOMER: &str = "Customer";
    /// Carts, one open at a time per customer.
    pub const CART: &str = "Cart";

    /// Every aggregate type.
    pub const ALL: &[&str] = &[
        SUPPLIER,
        PRODUCT,
        INVENTORY_BATCH,
        STOCK_ALERT,
        ORDER,
        PAYMENT,
        DELIVERY,
        DELIVERY_SLOT,
        RIDER,
        CUSTOMER,
        CART,
    ];
}

/// Keys of the event metadata object (all values are strings).
pub mod metadata_keys {
    /// The subject (`sub`) of the token that gave the command.
    pub const ACTOR_SUB: &str = "actor_sub";
    /// The person's role (`admin`, `supplier`, ...) when a person gave the command.
    pub const ACTOR_ROLE: &str = "actor_role";
    /// The service identity when a service gave the command.
    pub const ACTOR_SERVICE: &str = "actor_service";
    /// The reason given with the command, if any.
    pub const REASON: &str = "reason";
    /// Correlation id: one id for everything one request caused.
    pub const CORRELATION_ID: &str = "correlation_id";
    /// Causation id: the id of the request or event that directly caused this one.
    pub const CAUSATION_ID: &str = "causation_id";
    /// The `Idempotency-Key` of the request, if it had one.
    pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
    /// When the command was accepted (RFC 3339 UTC).
    pub const RECORDED_AT: &str = "recorded_at";
}
