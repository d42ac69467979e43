//! The cqrs-es adapter: a slot's rules need nothing from outside.

use super::{DeliverySlot, SlotCommand, SlotError, SlotEvent};

crate::adapter::cqrs_aggregate!(
    DeliverySlot,
    schemas::aggregate_types::DELIVERY_SLOT,
    SlotCommand,
    SlotEvent,
    SlotError
);
