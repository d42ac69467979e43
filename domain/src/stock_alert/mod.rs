//! Stock alerts: one stream per product and warehouse (`StockAlert`), so that a shortage is
//! announced once per condition — `LowStock` when available stock falls below the product's
//! threshold, then nothing however often it is assessed, until `StockRecovered` re-arms it.
//!
//! ```text
//! armed --assess below threshold--> low --assess at or above--> armed
//! ```

mod aggregate;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use command::AssessStock;
pub use error::NoRejection;
pub use event::{Level, StockAlertEvent};

use crate::catalog_values::{ProductId, WarehouseId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The id of a product's alert stream in a warehouse: derived, so every assessor finds it.
pub fn stock_alert_id(product: ProductId, warehouse: WarehouseId) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("freshline:stock-alert:{}:{}", product.0, warehouse.0).as_bytes(),
    )
}

/// A product's alert state in one warehouse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockAlert {
    low: bool,
}

impl StockAlert {
    /// Whether a `LowStock` is outstanding.
    pub fn is_low(&self) -> bool {
        self.low
    }

    /// An alert when the level crosses the threshold, nothing otherwise (never refused).
    ///
    /// # Errors
    /// None: the result is a `Result` only to fit the adapter every aggregate shares.
    pub fn decide(&self, cmd: AssessStock) -> Result<Vec<StockAlertEvent>, NoRejection> {
        let below = cmd.available < cmd.threshold;
        let level = Level {
            product_id: cmd.product_id,
            warehouse_id: cmd.warehouse_id,
            available: cmd.available,
            threshold: cmd.threshold,
        };
        Ok(match (self.low, below) {
            (false, true) => vec![StockAlertEvent::LowStock(level)],
            (true, false) => vec![StockAlertEvent::StockRecovered(level)],
            _ => vec![],
        })
    }

    /// Applies an event.
    pub fn evolve(&mut self, event: StockAlertEvent) {
        self.low = matches!(event, StockAlertEvent::LowStock(_));
    }
}
