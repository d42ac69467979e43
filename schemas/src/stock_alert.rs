//! Stock-alert events on the wire (topic [`crate::topics::STOCK_ALERT`]): aggregate
//! `StockAlert`, one stream per product and warehouse, computed across the product's batches.
//! Quantities are decimal strings, as in [`crate::inventory`].

use crate::common::DECIMAL_PATTERN;
use crate::envelope::EnvelopeError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

crate::wire_events! {
    /// A stock-alert event, tagged with its event type as stored.
    StockAlertEvent {
        /// `LowStock`: a product's available stock in a warehouse fell below its threshold. Not a
        /// batch event: it belongs to the stock-alert stream computed across a product's batches.
        LOW_STOCK = LowStock(LowStockV1),
        /// `StockRecovered`: after a `LowStock`, available stock is back at or above the threshold
        /// (so the next shortage alerts again).
        STOCK_RECOVERED = StockRecovered(LowStockV1),
    }
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
