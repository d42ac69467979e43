//! Stock alerts: one stream per product and warehouse (`StockAlert`), so that a shortage is
//! announced once per condition — `LowStock` when available stock falls below the product's
//! threshold, then nothing however often it is assessed, until `StockRecovered` re-arms it.

use crate::catalog_values::{stored_quantity, ProductId, Quantity, StoredValueError, WarehouseId};
use schemas::inventory::{self as wire, LowStockV1};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The id of a product's alert stream in a warehouse: derived, so every assessor finds it.
pub fn stock_alert_id(product: ProductId, warehouse: WarehouseId) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("freshline:stock-alert:{}:{}", product.0, warehouse.0).as_bytes(),
    )
}

/// Assess a product's available stock in a warehouse against its threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssessStock {
    /// The product.
    pub product_id: ProductId,
    /// The warehouse.
    pub warehouse_id: WarehouseId,
    /// Available now (on hand minus reserved over active batches).
    pub available: Quantity,
    /// The product's threshold.
    pub threshold: Quantity,
}

/// What happened to a product's stock level in a warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "wire::StockAlertEvent", try_from = "wire::StockAlertEvent")]
pub enum StockAlertEvent {
    /// Fell below the threshold.
    LowStock(Level),
    /// Back at or above it.
    StockRecovered(Level),
}

/// The figures of an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// The product.
    pub product_id: ProductId,
    /// The warehouse.
    pub warehouse_id: WarehouseId,
    /// Available at the time.
    pub available: Quantity,
    /// The threshold.
    pub threshold: Quantity,
}

impl From<Level> for LowStockV1 {
    fn from(l: Level) -> Self {
        Self {
            product_id: l.product_id.0,
            warehouse_id: l.warehouse_id.0,
            available: l.available.to_string(),
            threshold: l.threshold.to_string(),
        }
    }
}

impl TryFrom<LowStockV1> for Level {
    type Error = StoredValueError;
    fn try_from(w: LowStockV1) -> Result<Self, StoredValueError> {
        Ok(Self {
            product_id: ProductId(w.product_id),
            warehouse_id: WarehouseId(w.warehouse_id),
            available: stored_quantity(w.available)?,
            threshold: stored_quantity(w.threshold)?,
        })
    }
}

impl From<StockAlertEvent> for wire::StockAlertEvent {
    fn from(e: StockAlertEvent) -> Self {
        match e {
            StockAlertEvent::LowStock(l) => Self::LowStock(l.into()),
            StockAlertEvent::StockRecovered(l) => Self::StockRecovered(l.into()),
        }
    }
}

impl TryFrom<wire::StockAlertEvent> for StockAlertEvent {
    type Error = StoredValueError;
    fn try_from(e: wire::StockAlertEvent) -> Result<Self, StoredValueError> {
        Ok(match e {
            wire::StockAlertEvent::LowStock(l) => Self::LowStock(l.try_into()?),
            wire::StockAlertEvent::StockRecovered(l) => Self::StockRecovered(l.try_into()?),
        })
    }
}

impl cqrs_es::DomainEvent for StockAlertEvent {
    fn event_type(&self) -> String {
        match self {
            Self::LowStock(_) => wire::LOW_STOCK,
            Self::StockRecovered(_) => wire::STOCK_RECOVERED,
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Stock alerts never refuse an assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stock alerts refuse nothing")]
pub struct NoRejection;

impl crate::Refusal for NoRejection {
    fn code(&self) -> &'static str {
        "internal"
    }

    fn kind(&self) -> crate::RefusalKind {
        crate::RefusalKind::Fault
    }
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

crate::adapter::cqrs_aggregate!(
    StockAlert,
    schemas::aggregate_types::STOCK_ALERT,
    AssessStock,
    StockAlertEvent,
    NoRejection
);

#[cfg(test)]
mod tests {
    use super::*;

    fn assess(available: &str) -> AssessStock {
        AssessStock {
            product_id: ProductId(Uuid::from_u128(1)),
            warehouse_id: WarehouseId(Uuid::from_u128(2)),
            available: Quantity::try_from(available).expect("quantity"),
            threshold: Quantity::try_from("10").expect("quantity"),
        }
    }

    fn run(levels: &[&str]) -> Vec<&'static str> {
        let mut alert = StockAlert::default();
        let mut out = Vec::new();
        for l in levels {
            for e in alert.decide(assess(l)).expect("never refused") {
                out.push(match e {
                    StockAlertEvent::LowStock(_) => "low",
                    StockAlertEvent::StockRecovered(_) => "recovered",
                });
                alert.evolve(e);
            }
        }
        out
    }

    #[test]
    fn a_shortage_alerts_once_until_stock_recovers() {
        assert_eq!(run(&["12", "9.5", "3", "0", "9.999"]), ["low"]);
        assert_eq!(run(&["5", "10", "11", "4"]), ["low", "recovered", "low"]);
        assert_eq!(run(&["10", "25"]), Vec::<&str>::new());
    }

    #[test]
    fn the_stored_form_round_trips() {
        let e = StockAlert::default()
            .decide(assess("2.5"))
            .expect("never refused")
            .remove(0);
        let stored = serde_json::to_value(&e).expect("serialise");
        assert_eq!(stored["LowStock"]["available"], "2.5");
        let back: StockAlertEvent = serde_json::from_value(stored).expect("deserialise");
        assert_eq!(back, e);
    }
}
