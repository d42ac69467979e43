//! Inventory batch events on the wire (topic [`crate::topics::INVENTORY`]), and the `LowStock`
//! alert payload.
//!
//! Every quantity is a JSON **string** holding a decimal number with at most 3 decimals, in
//! the product's unit (`"12.5"` kg, `"40"` pieces; see [`crate::common::DECIMAL_PATTERN`]):
//! stock never passes through a binary float, so a reader sums it exactly. Money is
//! [`MoneyV1`] (integer minor units). Published versions are never edited: a change that breaks
//! a reader gets a new version and an upcaster from the old one.

use crate::common::{MoneyV1, DECIMAL_PATTERN};
use crate::envelope::EnvelopeError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `BatchReceived`: a perishable batch arrived in a warehouse.
pub const BATCH_RECEIVED: &str = "BatchReceived";
/// `StockReserved`: part of a batch was set aside for an order.
pub const STOCK_RESERVED: &str = "StockReserved";
/// `ReservationReleased`: an order's reservation was given back to available stock.
pub const RESERVATION_RELEASED: &str = "ReservationReleased";
/// `ReservationCommitted`: an order's reserved stock left the warehouse (order packed).
pub const RESERVATION_COMMITTED: &str = "ReservationCommitted";
/// `SpoilageRecorded`: available stock was found spoiled and written off.
pub const SPOILAGE_RECORDED: &str = "SpoilageRecorded";
/// `BatchExpiringSoon`: the batch expires within the scheduler's horizon (raised once).
pub const BATCH_EXPIRING_SOON: &str = "BatchExpiringSoon";
/// `BatchExpired`: the batch reached its expiry; what remained on hand was written off.
pub const BATCH_EXPIRED: &str = "BatchExpired";
/// `LowStock`: a product's available stock in a warehouse fell below its threshold. Not a
/// batch event: it belongs to the stock-alert stream computed across a product's batches.
pub const LOW_STOCK: &str = "LowStock";
/// `StockRecovered`: after a `LowStock`, available stock is back at or above the threshold
/// (so the next shortage alerts again).
pub const STOCK_RECOVERED: &str = "StockRecovered";

/// The JSON Schema of every inventory event type and version, the `LowStock` alert included:
/// `(event type, version, schema)`.
pub fn json_schemas() -> Vec<(&'static str, u32, serde_json::Value)> {
    use schemars::schema_for;
    let v = |s: schemars::Schema| s.to_value();
    vec![
        (BATCH_RECEIVED, 1, v(schema_for!(BatchReceivedV1))),
        (STOCK_RESERVED, 1, v(schema_for!(OrderQuantityV1))),
        (RESERVATION_RELEASED, 1, v(schema_for!(OrderQuantityV1))),
        (RESERVATION_COMMITTED, 1, v(schema_for!(OrderQuantityV1))),
        (SPOILAGE_RECORDED, 1, v(schema_for!(SpoilageRecordedV1))),
        (BATCH_EXPIRING_SOON, 1, v(schema_for!(BatchExpiringSoonV1))),
        (BATCH_EXPIRED, 1, v(schema_for!(BatchExpiredV1))),
        (LOW_STOCK, 1, v(schema_for!(LowStockV1))),
        (STOCK_RECOVERED, 1, v(schema_for!(LowStockV1))),
    ]
}

/// Every inventory batch event type with its current version (the `InventoryBatch`
/// aggregate's stream; see [`ALERT_EVENT_TYPES`] for `LowStock`).
pub const EVENT_TYPES: &[(&str, u32)] = &[
    (BATCH_RECEIVED, 1),
    (STOCK_RESERVED, 1),
    (RESERVATION_RELEASED, 1),
    (RESERVATION_COMMITTED, 1),
    (SPOILAGE_RECORDED, 1),
    (BATCH_EXPIRING_SOON, 1),
    (BATCH_EXPIRED, 1),
];

/// Stock alert event types with their current version (payload [`LowStockV1`]).
pub const ALERT_EVENT_TYPES: &[(&str, u32)] = &[(LOW_STOCK, 1), (STOCK_RECOVERED, 1)];

/// The current version of an inventory event type (batch events and alerts).
pub fn current_version(event_type: &str) -> Option<u32> {
    EVENT_TYPES
        .iter()
        .chain(ALERT_EVENT_TYPES)
        .find(|(t, _)| *t == event_type)
        .map(|(_, v)| *v)
}

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

/// `LowStock` v1: available stock of a product in a warehouse is below its threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LowStockV1 {
    /// The product.
    pub product_id: Uuid,
    /// The warehouse.
    pub warehouse_id: Uuid,
    /// Available quantity across the product's batches in that warehouse, a decimal string.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub available: String,
    /// The product's low-stock threshold, a decimal string.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub threshold: String,
}

/// An inventory batch event in its current wire version, tagged with its event type. This is
/// also the exact form kept in the event store's `payload` column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryEvent {
    /// See [`BATCH_RECEIVED`].
    #[serde(rename = "BatchReceived")]
    BatchReceived(BatchReceivedV1),
    /// See [`STOCK_RESERVED`].
    #[serde(rename = "StockReserved")]
    StockReserved(OrderQuantityV1),
    /// See [`RESERVATION_RELEASED`].
    #[serde(rename = "ReservationReleased")]
    ReservationReleased(OrderQuantityV1),
    /// See [`RESERVATION_COMMITTED`].
    #[serde(rename = "ReservationCommitted")]
    ReservationCommitted(OrderQuantityV1),
    /// See [`SPOILAGE_RECORDED`].
    #[serde(rename = "SpoilageRecorded")]
    SpoilageRecorded(SpoilageRecordedV1),
    /// See [`BATCH_EXPIRING_SOON`].
    #[serde(rename = "BatchExpiringSoon")]
    BatchExpiringSoon(BatchExpiringSoonV1),
    /// See [`BATCH_EXPIRED`].
    #[serde(rename = "BatchExpired")]
    BatchExpired(BatchExpiredV1),
}

impl InventoryEvent {
    /// The event type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::BatchReceived(_) => BATCH_RECEIVED,
            Self::StockReserved(_) => STOCK_RESERVED,
            Self::ReservationReleased(_) => RESERVATION_RELEASED,
            Self::ReservationCommitted(_) => RESERVATION_COMMITTED,
            Self::SpoilageRecorded(_) => SPOILAGE_RECORDED,
            Self::BatchExpiringSoon(_) => BATCH_EXPIRING_SOON,
            Self::BatchExpired(_) => BATCH_EXPIRED,
        }
    }

    /// The version of this event type's payload.
    pub fn event_version(&self) -> u32 {
        current_version(self.event_type()).unwrap_or(1)
    }

    /// Decodes an envelope's (untagged) payload.
    ///
    /// # Errors
    /// [`EnvelopeError::UnknownEventType`] for a type or version this crate does not know
    /// (`LowStock` included: it is not a batch event, see [`LowStockV1`]),
    /// [`EnvelopeError::Payload`] when the payload does not match its schema.
    pub fn decode(
        event_type: &str,
        event_version: u32,
        payload: serde_json::Value,
    ) -> Result<Self, EnvelopeError> {
        let bad = |source| EnvelopeError::Payload {
            event_type: event_type.to_owned(),
            event_version,
            source,
        };
        match (event_type, event_version) {
            (BATCH_RECEIVED, 1) => serde_json::from_value(payload)
                .map(Self::BatchReceived)
                .map_err(bad),
            (STOCK_RESERVED, 1) => serde_json::from_value(payload)
                .map(Self::StockReserved)
                .map_err(bad),
            (RESERVATION_RELEASED, 1) => serde_json::from_value(payload)
                .map(Self::ReservationReleased)
                .map_err(bad),
            (RESERVATION_COMMITTED, 1) => serde_json::from_value(payload)
                .map(Self::ReservationCommitted)
                .map_err(bad),
            (SPOILAGE_RECORDED, 1) => serde_json::from_value(payload)
                .map(Self::SpoilageRecorded)
                .map_err(bad),
            (BATCH_EXPIRING_SOON, 1) => serde_json::from_value(payload)
                .map(Self::BatchExpiringSoon)
                .map_err(bad),
            (BATCH_EXPIRED, 1) => serde_json::from_value(payload)
                .map(Self::BatchExpired)
                .map_err(bad),
            _ => Err(EnvelopeError::UnknownEventType {
                event_type: event_type.to_owned(),
                event_version,
            }),
        }
    }
}

impl LowStockV1 {
    /// Decodes an envelope's `LowStock` payload.
    ///
    /// # Errors
    /// [`EnvelopeError::UnknownEventType`] for another type or an unknown version,
    /// [`EnvelopeError::Payload`] when the payload does not match its schema.
    pub fn decode(
        event_type: &str,
        event_version: u32,
        payload: serde_json::Value,
    ) -> Result<Self, EnvelopeError> {
        match (event_type, event_version) {
            (LOW_STOCK, 1) => {
                serde_json::from_value(payload).map_err(|source| EnvelopeError::Payload {
                    event_type: event_type.to_owned(),
                    event_version,
                    source,
                })
            }
            _ => Err(EnvelopeError::UnknownEventType {
                event_type: event_type.to_owned(),
                event_version,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(current_version(LOW_STOCK), Some(1));
    }
}

/// A stock-alert event (aggregate `StockAlert`, one stream per product and warehouse), tagged
/// with its event type as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockAlertEvent {
    /// See [`LOW_STOCK`].
    #[serde(rename = "LowStock")]
    LowStock(LowStockV1),
    /// See [`STOCK_RECOVERED`].
    #[serde(rename = "StockRecovered")]
    StockRecovered(LowStockV1),
}

impl StockAlertEvent {
    /// The event type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::LowStock(_) => LOW_STOCK,
            Self::StockRecovered(_) => STOCK_RECOVERED,
        }
    }

    /// Decodes an envelope's (untagged) payload.
    ///
    /// # Errors
    /// [`EnvelopeError::UnknownEventType`] for another type or version,
    /// [`EnvelopeError::Payload`] when the payload does not match its schema.
    pub fn decode(
        event_type: &str,
        event_version: u32,
        payload: serde_json::Value,
    ) -> Result<Self, EnvelopeError> {
        let bad = |source| EnvelopeError::Payload {
            event_type: event_type.to_owned(),
            event_version,
            source,
        };
        match (event_type, event_version) {
            (LOW_STOCK, 1) => serde_json::from_value(payload)
                .map(Self::LowStock)
                .map_err(bad),
            (STOCK_RECOVERED, 1) => serde_json::from_value(payload)
                .map(Self::StockRecovered)
                .map_err(bad),
            _ => Err(EnvelopeError::UnknownEventType {
                event_type: event_type.to_owned(),
                event_version,
            }),
        }
    }
}
