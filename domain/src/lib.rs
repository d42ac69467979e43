//! Freshline's domain: aggregates, their commands, events and rejections, and the value types
//! they are made of. Everything here is synchronous and pure: rules are functions over state
//! (`decide`, `evolve`); the facts a rule needs from outside (is this registration number
//! free?) arrive through traits declared here and implemented by the services, or, when the
//! handler has already read them (a supplier's status for a product listing, the clock), in
//! the command itself.
//!
//! Money is integer minor units and stock an exact decimal ([`Quantity`]); no float holds
//! either.
//!
//! The `cqrs_es::Aggregate` implementations are thin adapters that gather facts and call the
//! pure functions; the framework's own IO (the event store) lives in the services.

mod adapter;
pub mod cart;
pub mod catalog_values;
pub mod customer;
pub mod delivery;
pub mod fulfilment_values;
pub mod inventory;
pub mod order;
pub mod payment;
pub mod product;
pub mod refusal;
pub mod rider;
pub mod slot;
pub mod stock_alert;
pub mod supplier;
#[cfg(test)]
mod testing;
pub mod values;

pub use catalog_values::{
    BatchId, Currency, ImageId, Money, Nutrition, OrderId, PositiveQuantity, ProductId, ProductTag,
    Quantity, Unit, WarehouseId,
};
pub use inventory::{
    BatchState, BatchStatus, InventoryBatch, InventoryCommand, InventoryError, InventoryEvent,
};
pub use product::{
    Product, ProductCommand, ProductError, ProductEvent, ProductState, ProductStatus, SupplierFacts,
};
pub use refusal::{detail, Refusal, RefusalKind};
pub use supplier::{
    Caller, DocumentKind, Facts, RegistrationAvailability, RegistrationRegistry, Supplier,
    SupplierCommand, SupplierError, SupplierEvent, SupplierId, SupplierServices, SupplierState,
    SupplierStatus,
};
