use super::SlotState;
use crate::catalog_values::OrderId;
use chrono::{DateTime, Utc};

/// Commands a slot accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotCommand {
    /// Open it.
    Create(SlotState),
    /// Take a place for an order.
    Book {
        /// The order.
        order_id: OrderId,
        /// When.
        now: DateTime<Utc>,
    },
    /// Give the order's place back.
    Release {
        /// The order.
        order_id: OrderId,
    },
}
