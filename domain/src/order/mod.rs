//! A customer's order: placed with lines priced from the catalog at placement (never the
//! client's prices), then `paid`, `packed`, `shipped` and `delivered`, or `cancelled` with a
//! reason before it ships. Refunds are recorded against it as they are paid back.
//!
//! ```text
//! created ──paid──▶ paid ──pack──▶ packed ──ship──▶ shipped ──deliver──▶ delivered
//!    └──────────────┴──────────────┴──cancel──▶ cancelled
//! ```
//!
//! The catalog facts a placement needs (each product's supplier, name, unit, price, whether it
//! is still sold and whether its supplier is approved) arrive in the command: the service
//! reads them, the rules here decide. An order already placed goes on when its supplier is
//! suspended later: only placement checks the supplier.

mod aggregate;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use command::{Canceller, OrderCommand, PlaceOrder, ProductFacts, RequestedLine};
pub use error::OrderError;
pub use event::OrderEvent;

use crate::catalog_values::{wire_enum, Money, PositiveQuantity, ProductId, Unit};
use crate::fulfilment_values::{
    DeliveryAddress, GeoPoint, PaymentId, PaymentMethod, RefundId, SlotId,
};
use crate::supplier::{SupplierId, SupplierStatus};
use crate::WarehouseId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The most lines one order may have.
pub const MAX_LINES: usize = 50;

wire_enum!(
    /// Where an order is.
    OrderStatus {
        /// Placed; stock and payment are being arranged.
        Created => "created",
        /// Paid (or cash on delivery accepted).
        Paid => "paid",
        /// Packed at the warehouse; its stock has left.
        Packed => "packed",
        /// With a rider.
        Shipped => "shipped",
        /// Handed over (final).
        Delivered => "delivered",
        /// Cancelled (final).
        Cancelled => "cancelled",
    }
);

wire_enum!(
    /// Why an order was cancelled.
    CancelReason {
        /// The customer asked.
        CustomerRequest => "customer_request",
        /// Not enough stock for a line.
        OutOfStock => "out_of_stock",
        /// The payment was declined or never confirmed.
        PaymentFailed => "payment_failed",
        /// No slot place or rider to deliver it.
        NoDeliveryCapacity => "no_delivery_capacity",
        /// The delivery failed.
        DeliveryFailed => "delivery_failed",
        /// An administrator cancelled it.
        Admin => "admin",
    }
);

/// One priced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The product.
    pub product_id: ProductId,
    /// Its supplier.
    pub supplier_id: SupplierId,
    /// Its name at placement.
    pub name: String,
    /// Its category at placement.
    pub category: String,
    /// Its unit.
    pub unit: Unit,
    /// How much.
    pub quantity: PositiveQuantity,
    /// Catalog price per unit at placement.
    pub unit_price: Money,
    /// `unit_price` × `quantity`.
    pub line_total: Money,
}

/// Where and when an order is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDelivery {
    /// The address.
    pub address: DeliveryAddress,
    /// The slot chosen.
    pub slot_id: SlotId,
    /// The warehouse serving the slot.
    pub warehouse_id: WarehouseId,
    /// Where that warehouse is.
    pub warehouse_location: GeoPoint,
    /// The slot's zone.
    pub zone: String,
    /// Slot start.
    pub slot_starts_at: DateTime<Utc>,
    /// Slot end.
    pub slot_ends_at: DateTime<Utc>,
    /// Where notifications go.
    pub contact_email: Option<String>,
}

/// How an order is paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPayment {
    /// The payment's id.
    pub payment_id: PaymentId,
    /// Card or cash on delivery.
    pub method: PaymentMethod,
    /// The gateway's card token, for cards.
    pub card_token: Option<String>,
}

/// Everything known about a placed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderState {
    /// The customer account.
    pub customer: String,
    /// The cart it was checked out from.
    #[serde(default)]
    pub cart_id: Option<uuid::Uuid>,
    /// The lines.
    pub lines: Vec<OrderLine>,
    /// Their total.
    pub total: Money,
    /// Delivery.
    pub delivery: OrderDelivery,
    /// Payment.
    pub payment: OrderPayment,
    /// Where it is.
    pub status: OrderStatus,
    /// Why it was cancelled.
    pub cancel_reason: Option<CancelReason>,
    /// What was paid.
    pub paid: Option<Money>,
    /// Refunds recorded, by id, and their sum.
    pub refunds: BTreeSet<RefundId>,
    /// Sum of the refunds, in minor units.
    pub refunded_minor: i64,
}

/// The order aggregate: `None` until placed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    state: Option<OrderState>,
}

impl Order {
    /// The current state, `None` before placement.
    pub fn state(&self) -> Option<&OrderState> {
        self.state.as_ref()
    }

    /// Decides what happens when `command` is given to this order. A command whose effect is
    /// already there (the same placement, a second payment record, pack, ship, delivery or
    /// cancellation, a refund already recorded) produces no events.
    ///
    /// # Errors
    /// An [`OrderError`] naming the rule the command breaks.
    pub fn decide(&self, command: OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
        let Some(state) = &self.state else {
            return match command {
                OrderCommand::Place(cmd) => Self::decide_place(*cmd),
                _ => Err(OrderError::NotFound),
            };
        };
        use OrderStatus as S;
        let refuse = |attempted| {
            Err(OrderError::InvalidTransition {
                current: state.status,
                attempted,
            })
        };
        match command {
            OrderCommand::Place(cmd) => {
                let same = cmd.customer == state.customer
                    && cmd.lines.len() == state.lines.len()
                    && cmd
                        .lines
                        .iter()
                        .zip(&state.lines)
                        .all(|(r, l)| r.product_id == l.product_id && r.quantity == l.quantity);
                if same {
                    Ok(vec![])
                } else {
                    Err(OrderError::AlreadyExists)
                }
            }
            OrderCommand::MarkPaid { payment_id, amount } => {
                if payment_id != state.payment.payment_id {
                    return Err(OrderError::WrongPayment);
                }
                match state.status {
                    S::Created => Ok(vec![OrderEvent::Paid { payment_id, amount }]),
                    S::Cancelled => refuse("pay"),
                    _ => Ok(vec![]),
                }
            }
            OrderCommand::Pack => match state.status {
                S::Paid => Ok(vec![OrderEvent::Packed]),
                S::Packed | S::Shipped | S::Delivered => Ok(vec![]),
                S::Created | S::Cancelled => refuse("pack"),
            },
            OrderCommand::Ship {
                delivery_id,
                rider_id,
            } => match state.status {
                S::Packed => Ok(vec![OrderEvent::Shipped {
                    delivery_id,
                    rider_id,
                }]),
                S::Shipped | S::Delivered => Ok(vec![]),
                _ => refuse("ship"),
            },
            OrderCommand::Deliver { delivery_id } => match state.status {
                S::Shipped => Ok(vec![OrderEvent::Delivered { delivery_id }]),
                S::Delivered => Ok(vec![]),
                _ => refuse("deliver"),
            },
            OrderCommand::Cancel { reason, detail, by } => {
                if let Canceller::Customer(subject) = &by {
                    if *subject != state.customer {
                        return Err(OrderError::NotOwner);
                    }
                }
                match state.status {
                    S::Created | S::Paid | S::Packed => {
                        Ok(vec![OrderEvent::Cancelled { reason, detail }])
                    }
                    S::Cancelled => Ok(vec![]),
                    // A failed delivery cancels an order that had shipped.
                    S::Shipped if reason == CancelReason::DeliveryFailed => {
                        Ok(vec![OrderEvent::Cancelled { reason, detail }])
                    }
                    S::Shipped | S::Delivered => refuse("cancel"),
                }
            }
            OrderCommand::RecordRefund {
                payment_id,
                refund_id,
                amount,
                reason,
            } => {
                if payment_id != state.payment.payment_id {
                    return Err(OrderError::WrongPayment);
                }
                if state.refunds.contains(&refund_id) {
                    return Ok(vec![]);
                }
                // Cash is collected at the door, after the order was marked paid with nothing
                // captured; its payment bounds that collection (and its refunds) by the total.
                let paid = match state.payment.method {
                    PaymentMethod::CashOnDelivery => state.total.amount_minor(),
                    PaymentMethod::Card => state.paid.as_ref().map_or(0, Money::amount_minor),
                };
                let after = state.refunded_minor.saturating_add(amount.amount_minor());
                if after > paid {
                    return Err(OrderError::RefundExceedsPaid { paid });
                }
                Ok(vec![OrderEvent::RefundRecorded {
                    payment_id,
                    refund_id,
                    amount,
                    reason,
                }])
            }
        }
    }

    fn decide_place(cmd: PlaceOrder) -> Result<Vec<OrderEvent>, OrderError> {
        if cmd.lines.is_empty() {
            return Err(OrderError::NoLines);
        }
        if cmd.lines.len() > MAX_LINES {
            return Err(OrderError::TooManyLines { max: MAX_LINES });
        }
        if cmd.now >= cmd.delivery.slot_ends_at {
            return Err(OrderError::SlotOver);
        }
        if cmd.method == PaymentMethod::Card
            && cmd
                .card_token
                .as_deref()
                .is_none_or(|t| t.trim().is_empty())
        {
            return Err(OrderError::CardTokenMissing);
        }
        let mut lines = Vec::with_capacity(cmd.lines.len());
        let mut total: Option<Money> = None;
        for (index, line) in cmd.lines.into_iter().enumerate() {
            if let Some(first) = lines
                .iter()
                .position(|l: &OrderLine| l.product_id == line.product_id)
            {
                return Err(OrderError::DuplicateProduct { index, first });
            }
            let Some(p) = line.product else {
                return Err(OrderError::UnknownProduct { index });
            };
            if !p.active {
                return Err(OrderError::ProductDiscontinued { index });
            }
            if p.supplier_status != SupplierStatus::Approved {
                return Err(OrderError::SupplierNotActive {
                    index,
                    status: p.supplier_status,
                });
            }
            p.unit
                .check(line.quantity.get())
                .map_err(|e| OrderError::QuantityNotInUnit {
                    index,
                    message: e.to_string(),
                })?;
            let line_total = p
                .price
                .times(line.quantity.get())
                .ok_or(OrderError::TotalTooLarge)?;
            total = Some(match total {
                None => line_total.clone(),
                Some(t) if t.currency() != line_total.currency() => {
                    return Err(OrderError::MixedCurrencies {
                        index,
                        expected: t.currency().to_string(),
                        found: line_total.currency().to_string(),
                    })
                }
                Some(t) => t
                    .amount_minor()
                    .checked_add(line_total.amount_minor())
                    .and_then(|sum| Money::new(sum, t.currency().clone()).ok())
                    .ok_or(OrderError::TotalTooLarge)?,
            });
            lines.push(OrderLine {
                product_id: line.product_id,
                supplier_id: p.supplier_id,
                name: p.name,
                category: p.category,
                unit: p.unit,
                quantity: line.quantity,
                unit_price: p.price,
                line_total,
            });
        }
        let total = total.ok_or(OrderError::NoLines)?;
        Ok(vec![OrderEvent::Placed(Box::new(OrderState {
            customer: cmd.customer,
            cart_id: cmd.cart_id,
            lines,
            total,
            delivery: cmd.delivery,
            payment: OrderPayment {
                payment_id: PaymentId::of_order(cmd.order_id),
                method: cmd.method,
                card_token: match cmd.method {
                    PaymentMethod::Card => cmd.card_token,
                    PaymentMethod::CashOnDelivery => None,
                },
            },
            status: OrderStatus::Created,
            cancel_reason: None,
            paid: None,
            refunds: BTreeSet::new(),
            refunded_minor: 0,
        }))])
    }

    /// Applies an event that has happened. Never fails: events are facts.
    pub fn evolve(&mut self, event: OrderEvent) {
        if let OrderEvent::Placed(placed) = event {
            self.state = Some(*placed);
            return;
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        match event {
            OrderEvent::Placed(_) => {}
            OrderEvent::Paid { amount, .. } => {
                state.status = OrderStatus::Paid;
                state.paid = Some(amount);
            }
            OrderEvent::Packed => state.status = OrderStatus::Packed,
            OrderEvent::Shipped { .. } => state.status = OrderStatus::Shipped,
            OrderEvent::Delivered { .. } => state.status = OrderStatus::Delivered,
            OrderEvent::Cancelled { reason, .. } => {
                state.status = OrderStatus::Cancelled;
                state.cancel_reason = Some(reason);
            }
            OrderEvent::RefundRecorded {
                refund_id, amount, ..
            } => {
                state.refunds.insert(refund_id);
                state.refunded_minor = state.refunded_minor.saturating_add(amount.amount_minor());
            }
        }
    }
}
