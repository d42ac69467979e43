//! Inventory batch events on the wire (topic [`crate::topics::INVENTORY`]); the stock-alert
//! events are in [`crate::stock_alert`].
//!
//! Every quantity is a JSON **string** holding a decimal number with at most 3 decimals, in
//! the product's unit (`"12.5"` kg, `"40"` pieces; see [`crate::common::DECIMAL_PATTERN`]):
//! stock never passes through a binary float, so a reader sums it exactly. Money is
//! [`MoneyV1`] (integer minor units). Published versions are never edited: a change that breaks
//! a reader gets a new version and an upcaster from the old one.

use crate::common::{MoneyV1, DECIMAL_PATTERN};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

crate::wire_events! {
    /// An inventory batch event in its current wire version, tagged with its event type. This
    /// is also the exact form kept in the event store's `payload` column.
    InventoryEvent {
        /// `BatchReceived`: a perishable batch arrived in a warehouse.
        BATCH_RECEIVED = BatchReceived(BatchReceivedV1),
        /// `StockReserved`: part of a batch was set aside for an order.
        STOCK_RESERVED = StockReserved(OrderQuantityV1),
        /// `ReservationReleased`: an order's reservation was given back to available stock.
        RESERVATION_RELEASED = ReservationReleased(OrderQuantityV1),
        /// `ReservationCommitted`: an order's reserved stock left the warehouse (order packed).
        RESERVATION_COMMITTED = ReservationCommitted(OrderQuantityV1),
        /// `SpoilageRecorded`: available stock was found spoiled and written off.
        SPOILAGE_RECORDED = SpoilageRecorded(SpoilageRecordedV1),
        /// `BatchExpiringSoon`: the batch expires within the scheduler's horizon (raised once).
        BATCH_EXPIRING_SOON = BatchExpiringSoon(BatchExpiringSoonV1),
        /// `BatchExpired`: the batch reached its expiry; what remained on hand was written off.
        BATCH_EXPIRED = BatchExpired(BatchExpiredV1),
    }
}

// The stock-alert stream's events (computed across a product's batches) have their own wire
// module; their names stay reachable from here.
pub use crate::stock_alert::{
    LowStockV1, StockAlertEvent, EVENT_TYPES as ALERT_EVENT_TYPES, LOW_STOCK, STOCK_RECOVERED,
};

/// `BatchReceived` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BatchReceivedV1 {
    /// The batch's id.
    pub batch_id: Uuid,
    /// The product it is stock of.
    pub product_id: Uuid,
    /// The supplier who delivered it.
    pub supplier_id: Uuid,
    /// The warehouse holding it.
    pub warehouse_id: Uuid,
    /// Quantity received, in the product's unit: a decimal string such as `"120.5"`.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub quantity: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// When it expires (always after `received_at`).
    pub expires_at: DateTime<Utc>,
    /// Whether it must be kept and carried cold.
    pub cold_chain: bool,
    /// What one unit cost to procure.
    pub procurement_price: MoneyV1,
}

/// `StockReserved` v1, `ReservationReleased` v1 and `ReservationCommitted` v1: an order and the
/// quantity its reservation is (or was) for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderQuantityV1 {
    /// The order.
    pub order_id: Uuid,
    /// The reservation's quantity, a decimal string such as `"2.5"`.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub quantity: String,
}

/// `SpoilageRecorded` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpoilageRecordedV1 {
    /// Quantity written off, a decimal string.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub quantity: String,
    /// `damaged`, `temperature_breach`, `quality`, `pest` or `other`.
    pub reason: String,
    /// Procurement value of the quantity lost (unit price times quantity, rounded half away
    /// from zero to the minor unit).
    pub value_lost: MoneyV1,
}

/// `BatchExpiringSoon` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BatchExpiringSoonV1 {
    /// When the batch expires.
    pub expires_at: DateTime<Utc>,
    /// Quantity available (on hand, not reserved) when the alert was raised, a decimal string.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub available: String,
}

/// `BatchExpired` v1. Open reservations were released (each its own `ReservationReleased`
/// just before this event) and everything still on hand was written off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BatchExpiredV1 {
    /// Quantity written off, a decimal string (may be `"0"`).
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub quantity: String,
    /// Procurement value of the quantity written off (rounded half away from zero).
    pub value_lost: MoneyV1,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::EnvelopeError;

    #[test]
    fn stored_form_is_the_payload_tagged_with_its_event_type() {
        let e = InventoryEvent::StockReserved(OrderQuantityV1 {
            order_id: Uuid::from_u128(42),
            quantity: "2.5".into(),
        });
        let stored = serde_json::to_value(&e).expect("serialise");
        assert_eq!(
            stored,
            serde_json::json!({"StockReserved": {
                "order_id": "00000000-0000-0000-0000-00000000002a",
                "quantity": "2.5"
            }})
        );
        let payload =
            crate::envelope::untag_stored_payload(e.event_type(), stored).expect("tagged");
        assert_eq!(
            InventoryEvent::decode(e.event_type(), 1, payload).expect("decodes"),
            e
        );
    }

    #[test]
    fn a_quantity_sent_as_a_json_number_is_refused() {
        let err = InventoryEvent::decode(
            STOCK_RESERVED,
            1,
            serde_json::json!({"order_id": Uuid::from_u128(1), "quantity": 2.5}),
        );
        assert!(matches!(err, Err(EnvelopeError::Payload { .. })), "{err:?}");
    }

    #[test]
    fn low_stock_is_an_alert_not_a_batch_event() {
        let payload = serde_json::json!({
            "product_id": Uuid::from_u128(1),
            "warehouse_id": Uuid::from_u128(2),
            "available": "3.5",
            "threshold": "10"
        });
        assert!(InventoryEvent::decode(LOW_STOCK, 1, payload.clone()).is_err());
        let alert = LowStockV1::decode(LOW_STOCK, 1, payload).expect("decodes");
        assert_eq!(alert.available, "3.5");
        assert_eq!(crate::stock_alert::current_version(LOW_STOCK), Some(1));
    }
}
