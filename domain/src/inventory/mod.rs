//! A perishable inventory batch: received into a warehouse with an expiry, reserved for orders,
//! committed when orders are packed, partly spoiled, and finally expired.
//!
//! Quantities (all exact decimals in the product's unit):
//!
//! ```text
//! on_hand   = received - committed - spoiled - written off at expiry
//! reserved  = sum of open reservations          (always <= on_hand)
//! available = on_hand - reserved                (never below zero)
//! ```
//!
//! Reservations are per order and idempotent: the same order and quantity again is a no-op, a
//! different quantity is refused. A reservation is open, then committed (its stock leaves) or
//! released (back to available; the order cannot reserve on this batch again).
//!
//! Expiry: at or after `expires_at` the batch is expired once. Open reservations are released
//! first (each its own `ReservationReleased`, so the sagas holding them see their stock go),
//! then everything still on hand is written off in `BatchExpired`. Committed stock has left
//! and is not touched. An expired batch takes no new reservations or spoilage.
//!
//! Allocation across a product's batches (first-expired-first-out) is in [`allocation`].

mod aggregate;
pub mod allocation;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use command::{
    CommitReservation, ExpireBatch, FlagExpiringSoon, InventoryCommand, ReceiveBatch,
    RecordSpoilage, ReleaseReservation, ReserveStock,
};
pub use error::InventoryError;
pub use event::InventoryEvent;

use crate::catalog_values::{
    wire_enum, BatchId, Money, OrderId, PositiveQuantity, ProductId, Quantity, WarehouseId,
};
use crate::supplier::SupplierId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

wire_enum!(
    /// Why stock was written off as spoiled.
    SpoilageReason {
        /// Physically damaged (dropped, crushed).
        Damaged => "damaged",
        /// The cold chain was broken.
        TemperatureBreach => "temperature_breach",
        /// Failed a quality check.
        Quality => "quality",
        /// Pests.
        Pest => "pest",
        /// Anything else.
        Other => "other",
    }
);

/// Where an order's reservation on a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Set aside, still on hand.
    Open,
    /// Left the warehouse with the order.
    Committed,
    /// Given back to available stock.
    Released,
}

/// An order's reservation on a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// How much.
    pub quantity: PositiveQuantity,
    /// Where it is.
    pub status: ReservationStatus,
}

/// Whether a batch can still be sold from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// In stock until its expiry.
    Active,
    /// Expired and written off.
    Expired,
}

impl BatchStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
        }
    }
}

impl fmt::Display for BatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything known about a received batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchState {
    /// Its id.
    pub id: BatchId,
    /// The product it is stock of.
    pub product_id: ProductId,
    /// The supplier who delivered it.
    pub supplier_id: SupplierId,
    /// The warehouse holding it.
    pub warehouse_id: WarehouseId,
    /// How much arrived.
    pub received: PositiveQuantity,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// Whether it must be kept cold.
    pub cold_chain: bool,
    /// Procurement price per unit.
    pub procurement_price: Money,
    /// Physically in the warehouse (reserved or not).
    pub on_hand: Quantity,
    /// Set aside for open reservations.
    pub reserved: Quantity,
    /// Left with packed orders, in total.
    pub committed: Quantity,
    /// Written off as spoiled, in total.
    pub spoiled: Quantity,
    /// Written off at expiry.
    pub written_off: Quantity,
    /// Reservations by order.
    pub reservations: BTreeMap<OrderId, Reservation>,
    /// Whether `BatchExpiringSoon` was raised.
    pub flagged_expiring_soon: bool,
    /// Active or expired.
    pub status: BatchStatus,
}

impl BatchState {
    /// On hand and not reserved: what can still be reserved or spoiled.
    pub fn available(&self) -> Quantity {
        self.on_hand.saturating_sub(self.reserved)
    }

    /// The procurement value of `quantity` of this batch.
    fn value_of(&self, quantity: Quantity) -> Result<Money, InventoryError> {
        // Receipt checked that the whole batch's value fits, so any part of it does too.
        self.procurement_price
            .times(quantity)
            .ok_or(InventoryError::ValueTooLarge)
    }
}

/// The inventory batch aggregate: `None` until received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryBatch {
    state: Option<BatchState>,
}

impl InventoryBatch {
    /// The current state, `None` before receipt.
    pub fn state(&self) -> Option<&BatchState> {
        self.state.as_ref()
    }

    /// On hand (zero before receipt).
    pub fn on_hand(&self) -> Quantity {
        self.state.as_ref().map_or(Quantity::ZERO, |s| s.on_hand)
    }

    /// Reserved (zero before receipt).
    pub fn reserved(&self) -> Quantity {
        self.state.as_ref().map_or(Quantity::ZERO, |s| s.reserved)
    }

    /// Available: on hand and not reserved (zero before receipt).
    pub fn available(&self) -> Quantity {
        self.state
            .as_ref()
            .map_or(Quantity::ZERO, BatchState::available)
    }

    /// Decides what happens when `command` is given to this batch. Repeating a command whose
    /// effect is already there (the same receipt, the same reservation, a second release,
    /// commit, expiry or flag) produces no events.
    ///
    /// # Errors
    /// An [`InventoryError`] naming the rule the command breaks; no events are produced then.
    pub fn decide(&self, command: InventoryCommand) -> Result<Vec<InventoryEvent>, InventoryError> {
        let Some(state) = &self.state else {
            return match command {
                InventoryCommand::Receive(cmd) => Self::decide_receive(cmd),
                _ => Err(InventoryError::NotFound),
            };
        };
        match command {
            InventoryCommand::Receive(cmd) if Self::same_receipt(state, &cmd) => Ok(vec![]),
            InventoryCommand::Receive(_) => Err(InventoryError::AlreadyReceived),
            InventoryCommand::Reserve(cmd) => Self::decide_reserve(state, cmd),
            InventoryCommand::Release(ReleaseReservation { order_id }) => {
                match state.reservations.get(&order_id) {
                    None => Ok(vec![]),
                    Some(r) => match r.status {
                        ReservationStatus::Open => Ok(vec![InventoryEvent::ReservationReleased {
                            order_id,
                            quantity: r.quantity,
                        }]),
                        ReservationStatus::Released => Ok(vec![]),
                        ReservationStatus::Committed => {
                            Err(InventoryError::ReservationCommitted { order_id })
                        }
                    },
                }
            }
            InventoryCommand::Commit(CommitReservation { order_id }) => {
                match state.reservations.get(&order_id) {
                    None => Err(InventoryError::NoReservation { order_id }),
                    Some(r) => match r.status {
                        ReservationStatus::Open => Ok(vec![InventoryEvent::ReservationCommitted {
                            order_id,
                            quantity: r.quantity,
                        }]),
                        ReservationStatus::Committed => Ok(vec![]),
                        ReservationStatus::Released => {
                            Err(InventoryError::ReservationReleased { order_id })
                        }
                    },
                }
            }
            InventoryCommand::RecordSpoilage(cmd) => {
                if state.status == BatchStatus::Expired {
                    return Err(InventoryError::BatchExpired {
                        expires_at: state.expires_at,
                    });
                }
                let available = state.available();
                if cmd.quantity.get() > available {
                    return Err(InventoryError::InsufficientStock {
                        available,
                        requested: cmd.quantity,
                    });
                }
                Ok(vec![InventoryEvent::SpoilageRecorded {
                    quantity: cmd.quantity,
                    reason: cmd.reason,
                    value_lost: state.value_of(cmd.quantity.get())?,
                }])
            }
            InventoryCommand::Expire(ExpireBatch { now }) => {
                if state.status == BatchStatus::Expired {
                    return Ok(vec![]);
                }
                if now < state.expires_at {
                    return Err(InventoryError::NotYetExpired {
                        expires_at: state.expires_at,
                    });
                }
                let mut events: Vec<InventoryEvent> = state
                    .reservations
                    .iter()
                    .filter(|(_, r)| r.status == ReservationStatus::Open)
                    .map(|(order_id, r)| InventoryEvent::ReservationReleased {
                        order_id: *order_id,
                        quantity: r.quantity,
                    })
                    .collect();
                events.push(InventoryEvent::Expired {
                    quantity: state.on_hand,
                    value_lost: state.value_of(state.on_hand)?,
                });
                Ok(events)
            }
            InventoryCommand::FlagExpiringSoon(FlagExpiringSoon { now, horizon }) => {
                if state.status == BatchStatus::Expired || state.flagged_expiring_soon {
                    return Ok(vec![]);
                }
                // A horizon too far to represent reaches past any expiry.
                let within = now
                    .checked_add_signed(horizon)
                    .is_none_or(|limit| state.expires_at <= limit);
                if !within {
                    return Err(InventoryError::NotExpiringWithin {
                        expires_at: state.expires_at,
                    });
                }
                Ok(vec![InventoryEvent::ExpiringSoon {
                    expires_at: state.expires_at,
                    available: state.available(),
                }])
            }
        }
    }

    fn decide_receive(cmd: ReceiveBatch) -> Result<Vec<InventoryEvent>, InventoryError> {
        if cmd.expires_at <= cmd.received_at {
            return Err(InventoryError::ExpiryNotAfterReceipt {
                received_at: cmd.received_at,
                expires_at: cmd.expires_at,
            });
        }
        if cmd.procurement_price.times(cmd.quantity.get()).is_none() {
            return Err(InventoryError::ValueTooLarge);
        }
        Ok(vec![InventoryEvent::Received {
            batch_id: cmd.batch_id,
            product_id: cmd.product_id,
            supplier_id: cmd.supplier_id,
            warehouse_id: cmd.warehouse_id,
            quantity: cmd.quantity,
            received_at: cmd.received_at,
            expires_at: cmd.expires_at,
            cold_chain: cmd.cold_chain,
            procurement_price: cmd.procurement_price,
        }])
    }

    fn decide_reserve(
        state: &BatchState,
        cmd: ReserveStock,
    ) -> Result<Vec<InventoryEvent>, InventoryError> {
        let ReserveStock {
            order_id,
            quantity,
            now,
        } = cmd;
        // The order's own history first: a retried reservation must not be refused (or
        // granted twice) because stock or time moved on since.
        if let Some(existing) = state.reservations.get(&order_id) {
            return match existing.status {
                ReservationStatus::Open | ReservationStatus::Committed
                    if existing.quantity == quantity =>
                {
                    Ok(vec![])
                }
                ReservationStatus::Open | ReservationStatus::Committed => {
                    Err(InventoryError::ReservationMismatch {
                        order_id,
                        reserved: existing.quantity,
                        requested: quantity,
                    })
                }
                ReservationStatus::Released => {
                    Err(InventoryError::ReservationReleased { order_id })
                }
            };
        }
        if state.status == BatchStatus::Expired || now >= state.expires_at {
            return Err(InventoryError::BatchExpired {
                expires_at: state.expires_at,
            });
        }
        let available = state.available();
        if quantity.get() > available {
            return Err(InventoryError::InsufficientStock {
                available,
                requested: quantity,
            });
        }
        Ok(vec![InventoryEvent::StockReserved { order_id, quantity }])
    }

    fn same_receipt(state: &BatchState, cmd: &ReceiveBatch) -> bool {
        state.id == cmd.batch_id
            && state.product_id == cmd.product_id
            && state.supplier_id == cmd.supplier_id
            && state.warehouse_id == cmd.warehouse_id
            && state.received == cmd.quantity
            && state.received_at == cmd.received_at
            && state.expires_at == cmd.expires_at
            && state.cold_chain == cmd.cold_chain
            && state.procurement_price == cmd.procurement_price
    }

    /// Applies an event that has happened. Never fails: events are facts.
    pub fn evolve(&mut self, event: InventoryEvent) {
        if let InventoryEvent::Received {
            batch_id,
            product_id,
            supplier_id,
            warehouse_id,
            quantity,
            received_at,
            expires_at,
            cold_chain,
            procurement_price,
        } = event
        {
            self.state = Some(BatchState {
                id: batch_id,
                product_id,
                supplier_id,
                warehouse_id,
                received: quantity,
                received_at,
                expires_at,
                cold_chain,
                procurement_price,
                on_hand: quantity.get(),
                reserved: Quantity::ZERO,
                committed: Quantity::ZERO,
                spoiled: Quantity::ZERO,
                written_off: Quantity::ZERO,
                reservations: BTreeMap::new(),
                flagged_expiring_soon: false,
                status: BatchStatus::Active,
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        match event {
            InventoryEvent::Received { .. } => {}
            InventoryEvent::StockReserved { order_id, quantity } => {
                state.reserved = state.reserved.saturating_add(quantity.get());
                state.reservations.insert(
                    order_id,
                    Reservation {
                        quantity,
                        status: ReservationStatus::Open,
                    },
                );
            }
            InventoryEvent::ReservationReleased { order_id, quantity } => {
                if let Some(r) = state.reservations.get_mut(&order_id) {
                    r.status = ReservationStatus::Released;
                }
                state.reserved = state.reserved.saturating_sub(quantity.get());
            }
            InventoryEvent::ReservationCommitted { order_id, quantity } => {
                if let Some(r) = state.reservations.get_mut(&order_id) {
                    r.status = ReservationStatus::Committed;
                }
                state.reserved = state.reserved.saturating_sub(quantity.get());
                state.on_hand = state.on_hand.saturating_sub(quantity.get());
                state.committed = state.committed.saturating_add(quantity.get());
            }
            InventoryEvent::SpoilageRecorded { quantity, .. } => {
                state.on_hand = state.on_hand.saturating_sub(quantity.get());
                state.spoiled = state.spoiled.saturating_add(quantity.get());
            }
            InventoryEvent::ExpiringSoon { .. } => state.flagged_expiring_soon = true,
            InventoryEvent::Expired { quantity, .. } => {
                state.on_hand = state.on_hand.saturating_sub(quantity);
                state.written_off = state.written_off.saturating_add(quantity);
                state.status = BatchStatus::Expired;
            }
        }
    }
}
