//! The cqrs-es adapter. A batch's decisions need nothing from outside (the clock arrives in the
//! commands that need it), so `handle` only calls the pure rules.

use super::{InventoryBatch, InventoryCommand, InventoryError, InventoryEvent};

crate::adapter::cqrs_aggregate!(
    InventoryBatch,
    schemas::aggregate_types::INVENTORY_BATCH,
    InventoryCommand,
    InventoryEvent,
    InventoryError
);
