//! A payment: one per order, by card (authorised, then captured, through the gateway the
//! sagas talk to) or cash on delivery (captured when the rider hands the order over). What
//! the gateway said is recorded here; refunds are requested against what was captured and
//! never exceed it.
//!
//! ```text
//! pending ──authorize──▶ authorized ──capture──▶ captured ──refunds (≤ captured)
//!    │  └──(cash) capture at delivery ─────────▶ captured
//!    └──decline / cancel──▶ declined / cancelled
//! ```

mod aggregate;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use command::PaymentCommand;
pub use error::PaymentError;
pub use event::PaymentEvent;

use crate::catalog_values::{wire_enum, Money, OrderId};
use crate::fulfilment_values::{PaymentMethod, RefundId};
use crate::supplier::SupplierId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The platform's commission on each supplier's share, in basis points.
pub const COMMISSION_BPS: u32 = 1000;

wire_enum!(
    /// Where a payment is.
    PaymentStatus {
        /// Opened; nothing authorised yet (cash: waiting for delivery).
        Pending => "pending",
        /// The card gateway authorised it.
        Authorized => "authorized",
        /// Money taken.
        Captured => "captured",
        /// Refused, or no answer in time (final).
        Declined => "declined",
        /// Given up before capture (final).
        Cancelled => "cancelled",
    }
);

/// A supplier's share of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payee {
    /// The supplier.
    pub supplier_id: SupplierId,
    /// Their lines' total.
    pub amount: Money,
}

/// A refund of part of a captured payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// How much.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// The gateway's reference once paid back.
    pub gateway_ref: Option<String>,
}

/// Everything known about a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentState {
    /// The order.
    pub order_id: OrderId,
    /// The customer account.
    pub customer: String,
    /// Card or cash.
    pub method: PaymentMethod,
    /// What is due.
    pub amount: Money,
    /// Who is owed what.
    pub payees: Vec<Payee>,
    /// Commission in basis points.
    pub commission_bps: u32,
    /// Where it is.
    pub status: PaymentStatus,
    /// The gateway's authorisation.
    pub authorization_ref: Option<String>,
    /// The capture's reference.
    pub capture_ref: Option<String>,
    /// What was captured (minor units).
    pub captured_minor: i64,
    /// Refunds by id.
    pub refunds: BTreeMap<RefundId, Refund>,
}

impl PaymentState {
    /// Captured minus every refund requested: what may still be refunded.
    pub fn refundable_minor(&self) -> i64 {
        self.captured_minor
            - self
                .refunds
                .values()
                .map(|r| r.amount.amount_minor())
                .sum::<i64>()
    }
}

/// The payment aggregate: `None` until initiated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    state: Option<PaymentState>,
}

impl Payment {
    /// The current state.
    pub fn state(&self) -> Option<&PaymentState> {
        self.state.as_ref()
    }

    /// Decides what happens when `command` is given. Recording what is already recorded (the
    /// same authorisation, capture, decline, cancellation, refund) produces no events.
    ///
    /// # Errors
    /// A [`PaymentError`] naming the rule the command breaks.
    pub fn decide(&self, command: PaymentCommand) -> Result<Vec<PaymentEvent>, PaymentError> {
        let Some(s) = &self.state else {
            return match command {
                PaymentCommand::Initiate {
                    order_id,
                    customer,
                    method,
                    amount,
                    payees,
                } => {
                    let sum: Option<i64> = payees.iter().try_fold(0i64, |acc, p| {
                        (p.amount.currency() == amount.currency())
                            .then(|| acc.checked_add(p.amount.amount_minor()))
                            .flatten()
                    });
                    if sum != Some(amount.amount_minor()) {
                        return Err(PaymentError::PayeesMismatch);
                    }
                    Ok(vec![PaymentEvent::Initiated(Box::new(PaymentState {
                        order_id,
                        customer,
                        method,
                        amount,
                        payees,
                        commission_bps: COMMISSION_BPS,
                        status: PaymentStatus::Pending,
                        authorization_ref: None,
                        capture_ref: None,
                        captured_minor: 0,
                        refunds: BTreeMap::new(),
                    }))])
                }
                _ => Err(PaymentError::NotFound),
            };
        };
        use PaymentStatus as S;
        let refuse = |attempted| {
            Err(PaymentError::InvalidTransition {
                current: s.status,
                attempted,
            })
        };
        let same_currency = |m: &Money| {
            if m.currency() == s.amount.currency() {
                Ok(())
            } else {
                Err(PaymentError::WrongCurrency {
                    expected: s.amount.currency().to_string(),
                })
            }
        };
        match command {
            PaymentCommand::Initiate {
                order_id,
                method,
                amount,
                ..
            } => {
                if order_id == s.order_id && method == s.method && amount == s.amount {
                    Ok(vec![])
                } else {
                    Err(PaymentError::AlreadyExists)
                }
            }
            PaymentCommand::RecordAuthorization {
                gateway_ref,
                amount,
            } => {
                same_currency(&amount)?;
                match (s.status, s.method) {
                    (S::Pending, PaymentMethod::Card) => {
                        if amount.amount_minor() > s.amount.amount_minor() {
                            return Err(PaymentError::CaptureExceedsAmount {
                                due: s.amount.amount_minor(),
                                requested: amount.amount_minor(),
                            });
                        }
                        Ok(vec![PaymentEvent::Authorized {
                            gateway_ref,
                            amount,
                        }])
                    }
                    (S::Authorized | S::Captured, _)
                        if s.authorization_ref.as_deref() == Some(gateway_ref.as_str()) =>
                    {
                        Ok(vec![])
                    }
                    _ => refuse("authorize"),
                }
            }
            PaymentCommand::RecordCapture {
                gateway_ref,
                amount,
            } => {
                same_currency(&amount)?;
                if s.status == S::Captured {
                    return if s.capture_ref.as_deref() == Some(gateway_ref.as_str()) {
                        Ok(vec![])
                    } else {
                        refuse("capture again")
                    };
                }
                let ready = matches!(
                    (s.status, s.method),
                    (S::Authorized, PaymentMethod::Card)
                        | (S::Pending, PaymentMethod::CashOnDelivery)
                );
                if !ready {
                    return refuse("capture");
                }
                if amount.amount_minor() > s.amount.amount_minor() {
                    return Err(PaymentError::CaptureExceedsAmount {
                        due: s.amount.amount_minor(),
                        requested: amount.amount_minor(),
                    });
                }
                Ok(vec![PaymentEvent::Captured {
                    gateway_ref,
                    amount,
                }])
            }
            PaymentCommand::RecordDecline { code, reason } => match s.status {
                S::Pending | S::Authorized => Ok(vec![PaymentEvent::Declined { code, reason }]),
                S::Declined => Ok(vec![]),
                S::Captured | S::Cancelled => refuse("decline"),
            },
            PaymentCommand::Cancel { reason } => match s.status {
                S::Pending | S::Authorized => Ok(vec![PaymentEvent::Cancelled { reason }]),
                S::Cancelled | S::Declined => Ok(vec![]),
                S::Captured => refuse("cancel (refund it instead)"),
            },
            PaymentCommand::RequestRefund {
                refund_id,
                amount,
                reason,
            } => {
                same_currency(&amount)?;
                if let Some(existing) = s.refunds.get(&refund_id) {
                    return if existing.amount == amount {
                        Ok(vec![])
                    } else {
                        Err(PaymentError::RefundMismatch { refund_id })
                    };
                }
                if s.status != S::Captured {
                    return refuse("refund");
                }
                if amount.amount_minor() <= 0 {
                    return Err(PaymentError::EmptyRefund);
                }
                let refundable = s.refundable_minor();
                if amount.amount_minor() > refundable {
                    return Err(PaymentError::RefundExceedsCaptured { refundable });
                }
                Ok(vec![PaymentEvent::RefundRequested {
                    refund_id,
                    amount,
                    reason,
                }])
            }
            PaymentCommand::CompleteRefund {
                refund_id,
                gateway_ref,
            } => match s.refunds.get(&refund_id) {
                None => Err(PaymentError::UnknownRefund { refund_id }),
                Some(r) if r.gateway_ref.is_some() => Ok(vec![]),
                Some(r) => Ok(vec![PaymentEvent::RefundCompleted {
                    refund_id,
                    amount: r.amount.clone(),
                    gateway_ref,
                }]),
            },
        }
    }

    /// Applies an event that has happened.
    pub fn evolve(&mut self, event: PaymentEvent) {
        if let PaymentEvent::Initiated(s) = event {
            self.state = Some(*s);
            return;
        }
        let Some(s) = self.state.as_mut() else {
            return;
        };
        match event {
            PaymentEvent::Initiated(_) => {}
            PaymentEvent::Authorized { gateway_ref, .. } => {
                s.status = PaymentStatus::Authorized;
                s.authorization_ref = Some(gateway_ref);
            }
            PaymentEvent::Captured {
                gateway_ref,
                amount,
            } => {
                s.status = PaymentStatus::Captured;
                s.capture_ref = Some(gateway_ref);
                s.captured_minor = amount.amount_minor();
            }
            PaymentEvent::Declined { .. } => s.status = PaymentStatus::Declined,
            PaymentEvent::Cancelled { .. } => s.status = PaymentStatus::Cancelled,
            PaymentEvent::RefundRequested {
                refund_id,
                amount,
                reason,
            } => {
                s.refunds.insert(
                    refund_id,
                    Refund {
                        amount,
                        reason,
                        gateway_ref: None,
                    },
                );
            }
            PaymentEvent::RefundCompleted {
                refund_id,
                gateway_ref,
                ..
            } => {
                if let Some(r) = s.refunds.get_mut(&refund_id) {
                    r.gateway_ref = Some(gateway_ref);
                }
            }
        }
    }
}
