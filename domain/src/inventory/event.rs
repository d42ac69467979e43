use super::SpoilageReason;
use crate::catalog_values::{
    stored, stored_positive, stored_quantity, BatchId, Money, OrderId, PositiveQuantity, ProductId,
    Quantity, StoredValueError, WarehouseId,
};
use crate::supplier::SupplierId;
use chrono::{DateTime, Utc};
use schemas::inventory::{self as wire, OrderQuantityV1};
use serde::{Deserialize, Serialize};

/// Something that happened to an inventory batch.
///
/// Serialised through its wire form ([`schemas::inventory::InventoryEvent`]): the event store
/// keeps exactly what is published, and the conversions below are the only mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "wire::InventoryEvent", try_from = "wire::InventoryEvent")]
pub enum InventoryEvent {
    /// The batch arrived; all of it is on hand and available.
    Received {
        /// Its id.
        batch_id: BatchId,
        /// The product it is stock of.
        product_id: ProductId,
        /// The supplier who delivered it.
        supplier_id: SupplierId,
        /// The warehouse holding it.
        warehouse_id: WarehouseId,
        /// How much arrived.
        quantity: PositiveQuantity,
        /// When it arrived.
        received_at: DateTime<Utc>,
        /// When it expires.
        expires_at: DateTime<Utc>,
        /// Whether it must be kept cold.
        cold_chain: bool,
        /// Procurement price per unit.
        procurement_price: Money,
    },
    /// Stock set aside for an order (still on hand, no longer available).
    StockReserved {
        /// The order.
        order_id: OrderId,
        /// How much.
        quantity: PositiveQuantity,
    },
    /// An order's reservation went back to available stock.
    ReservationReleased {
        /// The order.
        order_id: OrderId,
        /// How much.
        quantity: PositiveQuantity,
    },
    /// An order's reserved stock left the warehouse.
    ReservationCommitted {
        /// The order.
        order_id: OrderId,
        /// How much.
        quantity: PositiveQuantity,
    },
    /// Available stock was written off as spoiled.
    SpoilageRecorded {
        /// How much.
        quantity: PositiveQuantity,
        /// Why.
        reason: SpoilageReason,
        /// Its procurement value.
        value_lost: Money,
    },
    /// The batch expires within the scheduler's horizon (raised once).
    ExpiringSoon {
        /// When it expires.
        expires_at: DateTime<Utc>,
        /// Available when raised.
        available: Quantity,
    },
    /// The batch expired; everything still on hand was written off.
    Expired {
        /// How much was written off.
        quantity: Quantity,
        /// Its procurement value.
        value_lost: Money,
    },
}

impl InventoryEvent {
    /// The reason recorded with the event, if it has one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::SpoilageRecorded { reason, .. } => Some(reason.as_str()),
            _ => None,
        }
    }
}

fn order_quantity(order_id: OrderId, quantity: PositiveQuantity) -> OrderQuantityV1 {
    OrderQuantityV1 {
        order_id: order_id.0,
        quantity: quantity.to_string(),
    }
}

impl From<InventoryEvent> for wire::InventoryEvent {
    fn from(e: InventoryEvent) -> Self {
        match e {
            InventoryEvent::Received {
                batch_id,
                product_id,
                supplier_id,
                warehouse_id,
                quantity,
                received_at,
                expires_at,
                cold_chain,
                procurement_price,
            } => Self::BatchReceived(wire::BatchReceivedV1 {
                batch_id: batch_id.0,
                product_id: product_id.0,
                supplier_id: supplier_id.0,
                warehouse_id: warehouse_id.0,
                quantity: quantity.to_string(),
                received_at,
                expires_at,
                cold_chain,
                procurement_price: procurement_price.into(),
            }),
            InventoryEvent::StockReserved { order_id, quantity } => {
                Self::StockReserved(order_quantity(order_id, quantity))
            }
            InventoryEvent::ReservationReleased { order_id, quantity } => {
                Self::ReservationReleased(order_quantity(order_id, quantity))
            }
            InventoryEvent::ReservationCommitted { order_id, quantity } => {
                Self::ReservationCommitted(order_quantity(order_id, quantity))
            }
            InventoryEvent::SpoilageRecorded {
                quantity,
                reason,
                value_lost,
            } => Self::SpoilageRecorded(wire::SpoilageRecordedV1 {
                quantity: quantity.to_string(),
                reason: reason.as_str().to_owned(),
                value_lost: value_lost.into(),
            }),
            InventoryEvent::ExpiringSoon {
                expires_at,
                available,
            } => Self::BatchExpiringSoon(wire::BatchExpiringSoonV1 {
                expires_at,
                available: available.to_string(),
            }),
            InventoryEvent::Expired {
                quantity,
                value_lost,
            } => Self::BatchExpired(wire::BatchExpiredV1 {
                quantity: quantity.to_string(),
                value_lost: value_lost.into(),
            }),
        }
    }
}

impl TryFrom<wire::InventoryEvent> for InventoryEvent {
    type Error = StoredValueError;

    fn try_from(e: wire::InventoryEvent) -> Result<Self, StoredValueError> {
        Ok(match e {
            wire::InventoryEvent::BatchReceived(r) => Self::Received {
                batch_id: BatchId(r.batch_id),
                product_id: ProductId(r.product_id),
                supplier_id: SupplierId(r.supplier_id),
                warehouse_id: WarehouseId(r.warehouse_id),
                quantity: stored_positive(r.quantity)?,
                received_at: r.received_at,
                expires_at: r.expires_at,
                cold_chain: r.cold_chain,
                procurement_price: r.procurement_price.into(),
            },
            wire::InventoryEvent::StockReserved(o) => Self::StockReserved {
                order_id: OrderId(o.order_id),
                quantity: stored_positive(o.quantity)?,
            },
            wire::InventoryEvent::ReservationReleased(o) => Self::ReservationReleased {
                order_id: OrderId(o.order_id),
                quantity: stored_positive(o.quantity)?,
            },
            wire::InventoryEvent::ReservationCommitted(o) => Self::ReservationCommitted {
                order_id: OrderId(o.order_id),
                quantity: stored_positive(o.quantity)?,
            },
            wire::InventoryEvent::SpoilageRecorded(s) => Self::SpoilageRecorded {
                quantity: stored_positive(s.quantity)?,
                reason: stored("spoilage reason", s.reason, SpoilageReason::parse)?,
                value_lost: s.value_lost.into(),
            },
            wire::InventoryEvent::BatchExpiringSoon(s) => Self::ExpiringSoon {
                expires_at: s.expires_at,
                available: stored_quantity(s.available)?,
            },
            wire::InventoryEvent::BatchExpired(x) => Self::Expired {
                quantity: stored_quantity(x.quantity)?,
                value_lost: x.value_lost.into(),
            },
        })
    }
}

impl cqrs_es::DomainEvent for InventoryEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Received { .. } => wire::BATCH_RECEIVED,
            Self::StockReserved { .. } => wire::STOCK_RESERVED,
            Self::ReservationReleased { .. } => wire::RESERVATION_RELEASED,
            Self::ReservationCommitted { .. } => wire::RESERVATION_COMMITTED,
            Self::SpoilageRecorded { .. } => wire::SPOILAGE_RECORDED,
            Self::ExpiringSoon { .. } => wire::BATCH_EXPIRING_SOON,
            Self::Expired { .. } => wire::BATCH_EXPIRED,
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        wire::current_version(&self.event_type())
            .unwrap_or(1)
            .to_string()
    }
}
