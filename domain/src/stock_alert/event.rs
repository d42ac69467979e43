use crate::catalog_values::{stored_quantity, ProductId, Quantity, StoredValueError, WarehouseId};
use schemas::stock_alert::{self as wire, LowStockV1};
use serde::{Deserialize, Serialize};

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
