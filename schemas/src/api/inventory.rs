//! Stock batches: receipts, reservations, spoilage, expiry, stock alerts.

use super::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/inventory/batches`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveBatchBody {
    /// The product (must be listed by `supplier_id`).
    pub product_id: Uuid,
    /// The supplier who delivered it.
    pub supplier_id: Uuid,
    /// The receiving warehouse.
    pub warehouse_id: Uuid,
    /// Quantity in the product's unit (at most 3 decimals; whole for pieces, bunches, boxes).
    #[schema(value_type = f64)]
    #[schema(exclusive_minimum = 0, maximum = 1_000_000_000, multiple_of = 0.001)]
    pub quantity: serde_json::Number,
    /// When it arrived (RFC 3339).
    pub received_at: DateTime<Utc>,
    /// When it expires; after `received_at`.
    pub expires_at: DateTime<Utc>,
    /// Needs refrigeration all the way.
    #[serde(default)]
    pub cold_chain: bool,
    /// Procurement price per unit.
    pub procurement_price: MoneyBody,
}

/// `POST /v1/inventory/batches/{id}/reservations`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveBody {
    /// The order.
    pub order_id: Uuid,
    /// Quantity (positive, at most 3 decimals).
    #[schema(value_type = f64)]
    #[schema(exclusive_minimum = 0, maximum = 1_000_000_000, multiple_of = 0.001)]
    pub quantity: serde_json::Number,
}

/// `POST /v1/inventory/batches/{id}/spoilage`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpoilageBody {
    /// Quantity written off (at most what is available).
    #[schema(value_type = f64)]
    #[schema(exclusive_minimum = 0, maximum = 1_000_000_000, multiple_of = 0.001)]
    pub quantity: serde_json::Number,
    /// `damaged`, `temperature_breach`, `quality`, `pest` or `other`.
    #[schema(format = "spoilage-reason")]
    pub reason: String,
}

/// `POST /v1/inventory/batches/{id}/expiring-soon`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpiringSoonBody {
    /// The alert horizon in hours (1-720; the scheduler's default is 48).
    #[schema(minimum = 1, maximum = 720)]
    #[serde(deserialize_with = "super::whole")]
    pub horizon_hours: i64,
}

/// `POST /v1/inventory/batches/bulk`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkReceiveBody {
    /// 1 to 100 receipts (and the body within the 64 KiB limit).
    #[schema(min_items = 1, max_items = 100)]
    pub batches: Vec<ReceiveBatchBody>,
}

/// `POST /v1/inventory/stock-alerts`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessBody {
    /// The product.
    pub product_id: Uuid,
    /// The warehouse.
    pub warehouse_id: Uuid,
    /// Available now.
    #[schema(value_type = f64)]
    #[schema(minimum = 0, maximum = 1_000_000_000, multiple_of = 0.001)]
    pub available: serde_json::Number,
    /// The product's threshold.
    #[schema(value_type = f64)]
    #[schema(minimum = 0, maximum = 1_000_000_000, multiple_of = 0.001)]
    pub threshold: serde_json::Number,
}
