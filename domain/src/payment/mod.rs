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

mod event;
#[cfg(test)]
mod tests;

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

/// Commands a payment accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentCommand {
    /// Open it.
    Initiate {
        /// The order.
        order_id: OrderId,
        /// The customer account.
        customer: String,
        /// Card or cash.
        method: PaymentMethod,
        /// What is due; the payees' shares add up to it.
        amount: Money,
        /// Who is owed what.
        payees: Vec<Payee>,
    },
    /// The gateway authorised it.
    RecordAuthorization {
        /// Its reference.
        gateway_ref: String,
        /// How much.
        amount: Money,
    },
    /// Money was taken.
    RecordCapture {
        /// Its reference.
        gateway_ref: String,
        /// How much.
        amount: Money,
    },
    /// The gateway refused, or never answered in time.
    RecordDecline {
        /// `card_declined`, `timeout`, ...
        code: String,
        /// What it said.
        reason: String,
    },
    /// Give up before capture.
    Cancel {
        /// Why.
        reason: String,
    },
    /// Ask for part or all of the capture back.
    RequestRefund {
        /// The refund's id (the caller's, so a retry is the same refund).
        refund_id: RefundId,
        /// How much.
        amount: Money,
        /// Why.
        reason: String,
    },
    /// The gateway paid a refund back.
    CompleteRefund {
        /// The refund.
        refund_id: RefundId,
        /// The gateway's reference.
        gateway_ref: String,
    },
}

/// Why a payment command was refused. Each variant has a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// No payment with that id.
    #[error("no such payment")]
    NotFound,
    /// Opening an id that holds another payment.
    #[error("a different payment with this id exists")]
    AlreadyExists,
    /// The payees' shares do not add up to the amount, or are in another currency.
    #[error("the payees' shares must add up to the amount, in its currency")]
    PayeesMismatch,
    /// An amount in another currency than the payment's.
    #[error("the amount must be in {expected}")]
    WrongCurrency {
        /// The payment's currency.
        expected: String,
    },
    /// Capturing more than is due.
    #[error("cannot capture {requested}: {due} is due")]
    CaptureExceedsAmount {
        /// Due.
        due: i64,
        /// Asked.
        requested: i64,
    },
    /// A zero or negative refund.
    #[error("a refund must be more than zero")]
    EmptyRefund,
    /// More back than is left of the capture.
    #[error("only {refundable} minor units can still be refunded")]
    RefundExceedsCaptured {
        /// What can still be refunded.
        refundable: i64,
    },
    /// The same refund id with another amount.
    #[error("refund {refund_id} was requested for another amount")]
    RefundMismatch {
        /// The refund.
        refund_id: RefundId,
    },
    /// Completing a refund never requested.
    #[error("no refund {refund_id} was requested")]
    UnknownRefund {
        /// The refund.
        refund_id: RefundId,
    },
    /// The command does not apply in the current status.
    #[error("cannot {attempted} a payment that is {current}")]
    InvalidTransition {
        /// Where it is.
        current: PaymentStatus,
        /// What was tried.
        attempted: &'static str,
    },
}

impl crate::Refusal for PaymentError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound | Self::UnknownRefund { .. } => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::PayeesMismatch | Self::WrongCurrency { .. } | Self::EmptyRefund => {
                "validation_failed"
            }
            Self::CaptureExceedsAmount { .. } => "capture_exceeds_amount",
            Self::RefundExceedsCaptured { .. } => "refund_exceeds_captured",
            Self::RefundMismatch { .. } => "refund_mismatch",
            Self::InvalidTransition { .. } => "invalid_transition",
        }
    }

    fn kind(&self) -> crate::RefusalKind {
        use crate::RefusalKind as K;
        match self {
            Self::NotFound | Self::UnknownRefund { .. } => K::NotFound,
            Self::PayeesMismatch | Self::WrongCurrency { .. } | Self::EmptyRefund => {
                K::invalid("amount", self)
            }
            Self::AlreadyExists
            | Self::CaptureExceedsAmount { .. }
            | Self::RefundExceedsCaptured { .. }
            | Self::RefundMismatch { .. }
            | Self::InvalidTransition { .. } => K::Conflict,
        }
    }

    fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::RefundExceedsCaptured { refundable } => {
                vec![crate::detail("refundable_minor", *refundable)]
            }
            Self::InvalidTransition { current, .. } => {
                vec![crate::detail("current_status", current.as_str())]
            }
            _ => Vec::new(),
        }
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

crate::adapter::cqrs_aggregate!(
    Payment,
    schemas::aggregate_types::PAYMENT,
    PaymentCommand,
    PaymentEvent,
    PaymentError
);
