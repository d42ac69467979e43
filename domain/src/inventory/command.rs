use super::SpoilageReason;
use crate::catalog_values::{BatchId, Money, OrderId, PositiveQuantity, ProductId, WarehouseId};
use crate::supplier::SupplierId;
use chrono::{DateTime, TimeDelta, Utc};

/// Commands an inventory batch accepts. Who may give them is decided at the edge by scope
/// (`inventory:write` for warehouse staff and the scheduler, `inventory:reserve` for sagas);
/// the batch's own rules do not depend on the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryCommand {
    /// Record a batch arriving in a warehouse.
    Receive(ReceiveBatch),
    /// Set stock aside for an order.
    Reserve(ReserveStock),
    /// Give an order's reservation back.
    Release(ReleaseReservation),
    /// Let an order's reserved stock leave (the order was packed).
    Commit(CommitReservation),
    /// Write off available stock found spoiled.
    RecordSpoilage(RecordSpoilage),
    /// Write off what is left once the batch has expired.
    Expire(ExpireBatch),
    /// Raise `BatchExpiringSoon` when the batch expires within a horizon.
    FlagExpiringSoon(FlagExpiringSoon),
}

/// Record a batch arriving in a warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveBatch {
    /// The new batch's id (chosen by the service).
    pub batch_id: BatchId,
    /// The product it is stock of.
    pub product_id: ProductId,
    /// The supplier who delivered it.
    pub supplier_id: SupplierId,
    /// The warehouse holding it.
    pub warehouse_id: WarehouseId,
    /// How much arrived, in the product's unit.
    pub quantity: PositiveQuantity,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// When it expires; must be after `received_at`.
    pub expires_at: DateTime<Utc>,
    /// Whether it must be kept and carried cold.
    pub cold_chain: bool,
    /// What one unit cost to procure.
    pub procurement_price: Money,
}

/// Set `quantity` aside for `order_id`. Idempotent per order: the same order with the same
/// quantity again changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveStock {
    /// The order.
    pub order_id: OrderId,
    /// How much.
    pub quantity: PositiveQuantity,
    /// When the command is given: stock at or past its expiry is not reserved.
    pub now: DateTime<Utc>,
}

/// Give `order_id`'s reservation back to available stock; nothing if it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseReservation {
    /// The order.
    pub order_id: OrderId,
}

/// Let `order_id`'s reserved stock leave the warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitReservation {
    /// The order.
    pub order_id: OrderId,
}

/// Write off `quantity` of available (unreserved) stock found spoiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSpoilage {
    /// How much.
    pub quantity: PositiveQuantity,
    /// Why.
    pub reason: SpoilageReason,
}

/// Expire the batch: only at or after its `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpireBatch {
    /// When the command is given.
    pub now: DateTime<Utc>,
}

/// Raise `BatchExpiringSoon` if the batch expires within `horizon` of `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagExpiringSoon {
    /// When the command is given.
    pub now: DateTime<Utc>,
    /// How far ahead counts as soon.
    pub horizon: TimeDelta,
}
