//! A delivery slot: a window in a zone, served from one warehouse, with a capacity of orders.
//!
//! ```text
//! (none) --create--> open --book/release--> open ... (no booking once the window has ended,
//!                                                     none past the capacity)
//! ```

mod aggregate;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use command::SlotCommand;
pub use error::SlotError;
pub use event::SlotEvent;

use crate::catalog_values::{OrderId, WarehouseId};
use crate::fulfilment_values::GeoPoint;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The most orders one slot may take.
pub const MAX_SLOT_CAPACITY: u32 = 10_000;

/// A delivery slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotState {
    /// Zone.
    pub zone: String,
    /// Warehouse serving it.
    pub warehouse_id: WarehouseId,
    /// Where that warehouse is.
    pub warehouse_location: GeoPoint,
    /// Window start.
    pub starts_at: DateTime<Utc>,
    /// Window end.
    pub ends_at: DateTime<Utc>,
    /// Capacity in orders.
    pub capacity: u32,
    /// Orders holding a place.
    pub booked: BTreeSet<OrderId>,
}

impl SlotState {
    /// Places left.
    pub fn remaining(&self) -> u32 {
        self.capacity
            .saturating_sub(u32::try_from(self.booked.len()).unwrap_or(u32::MAX))
    }
}

/// The delivery slot aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverySlot {
    state: Option<SlotState>,
}

impl DeliverySlot {
    /// The current state.
    pub fn state(&self) -> Option<&SlotState> {
        self.state.as_ref()
    }

    /// Decides a slot command; booking an order already booked, or releasing one that holds
    /// no place, produces nothing.
    ///
    /// # Errors
    /// A [`SlotError`].
    pub fn decide(&self, command: SlotCommand) -> Result<Vec<SlotEvent>, SlotError> {
        match (&self.state, command) {
            (None, SlotCommand::Create(s)) => {
                if s.ends_at <= s.starts_at {
                    return Err(SlotError::EmptyWindow);
                }
                if s.capacity == 0 || s.capacity > MAX_SLOT_CAPACITY {
                    return Err(SlotError::BadCapacity {
                        max: MAX_SLOT_CAPACITY,
                    });
                }
                Ok(vec![SlotEvent::Created(Box::new(SlotState {
                    booked: BTreeSet::new(),
                    ..s
                }))])
            }
            (None, _) => Err(SlotError::NotFound),
            (Some(cur), SlotCommand::Create(s)) => {
                let same = cur.zone == s.zone
                    && cur.warehouse_id == s.warehouse_id
                    && cur.starts_at == s.starts_at
                    && cur.ends_at == s.ends_at
                    && cur.capacity == s.capacity;
                if same {
                    Ok(vec![])
                } else {
                    Err(SlotError::AlreadyExists)
                }
            }
            (Some(cur), SlotCommand::Book { order_id, now }) => {
                if cur.booked.contains(&order_id) {
                    return Ok(vec![]);
                }
                if now >= cur.ends_at {
                    return Err(SlotError::SlotClosed {
                        ends_at: cur.ends_at,
                    });
                }
                if cur.remaining() == 0 {
                    return Err(SlotError::SlotFull {
                        capacity: cur.capacity,
                    });
                }
                Ok(vec![SlotEvent::Booked { order_id }])
            }
            (Some(cur), SlotCommand::Release { order_id }) => {
                if cur.booked.contains(&order_id) {
                    Ok(vec![SlotEvent::Released { order_id }])
                } else {
                    Ok(vec![])
                }
            }
        }
    }

    /// Applies an event.
    pub fn evolve(&mut self, event: SlotEvent) {
        match event {
            SlotEvent::Created(s) => self.state = Some(*s),
            SlotEvent::Booked { order_id } => {
                if let Some(s) = self.state.as_mut() {
                    s.booked.insert(order_id);
                }
            }
            SlotEvent::Released { order_id } => {
                if let Some(s) = self.state.as_mut() {
                    s.booked.remove(&order_id);
                }
            }
        }
    }
}
