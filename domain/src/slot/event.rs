use super::SlotState;
use crate::catalog_values::{OrderId, WarehouseId};
use schemas::slot as swire;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Something that happened to a slot, serialised through [`schemas::slot::SlotEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "swire::SlotEvent", from = "swire::SlotEvent")]
pub enum SlotEvent {
    /// Opened (nothing booked).
    Created(Box<SlotState>),
    /// An order took a place.
    Booked {
        /// The order.
        order_id: OrderId,
    },
    /// An order gave its place back.
    Released {
        /// The order.
        order_id: OrderId,
    },
}

impl From<SlotEvent> for swire::SlotEvent {
    fn from(e: SlotEvent) -> Self {
        match e {
            SlotEvent::Created(s) => Self::DeliverySlotCreated(swire::SlotCreatedV1 {
                zone: s.zone,
                warehouse_id: s.warehouse_id.0,
                warehouse_location: s.warehouse_location.into(),
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                capacity: s.capacity,
            }),
            SlotEvent::Booked { order_id } => Self::DeliverySlotBooked(swire::SlotOrderV1 {
                order_id: order_id.0,
            }),
            SlotEvent::Released { order_id } => Self::DeliverySlotReleased(swire::SlotOrderV1 {
                order_id: order_id.0,
            }),
        }
    }
}

impl From<swire::SlotEvent> for SlotEvent {
    fn from(e: swire::SlotEvent) -> Self {
        match e {
            swire::SlotEvent::DeliverySlotCreated(c) => Self::Created(Box::new(SlotState {
                zone: c.zone,
                warehouse_id: WarehouseId(c.warehouse_id),
                warehouse_location: c.warehouse_location.into(),
                starts_at: c.starts_at,
                ends_at: c.ends_at,
                capacity: c.capacity,
                booked: BTreeSet::new(),
            })),
            swire::SlotEvent::DeliverySlotBooked(b) => Self::Booked {
                order_id: OrderId(b.order_id),
            },
            swire::SlotEvent::DeliverySlotReleased(r) => Self::Released {
                order_id: OrderId(r.order_id),
            },
        }
    }
}

crate::adapter::domain_event!(SlotEvent, swire::SlotEvent);
