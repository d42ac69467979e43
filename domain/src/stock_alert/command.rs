use crate::catalog_values::{ProductId, Quantity, WarehouseId};

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
