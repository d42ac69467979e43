//! Delivery slot events on the wire (topic [`crate::topics::DELIVERY_SLOT`]): a window in a
//! zone, served from one warehouse, with a capacity of orders.

use crate::common::GeoPointV1;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

crate::wire_events! {
    /// A delivery slot event in its current wire version, tagged with its event type.
    SlotEvent {
        /// `DeliverySlotCreated`: a slot was opened.
        CREATED = DeliverySlotCreated(SlotCreatedV1),
        /// `DeliverySlotBooked`: an order took one place in the slot.
        BOOKED = DeliverySlotBooked(SlotOrderV1),
        /// `DeliverySlotReleased`: an order gave its place back.
        RELEASED = DeliverySlotReleased(SlotOrderV1),
    }
}

/// `DeliverySlotCreated` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlotCreatedV1 {
    /// The delivery zone.
    pub zone: String,
    /// The warehouse serving it.
    pub warehouse_id: Uuid,
    /// Where that warehouse is.
    pub warehouse_location: GeoPointV1,
    /// Start of the window.
    pub starts_at: DateTime<Utc>,
    /// End of the window (after the start).
    pub ends_at: DateTime<Utc>,
    /// How many orders it takes.
    pub capacity: u32,
}

/// `DeliverySlotBooked` v1 and `DeliverySlotReleased` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlotOrderV1 {
    /// The order.
    pub order_id: Uuid,
}
