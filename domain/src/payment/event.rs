use super::{Payee, PaymentState, PaymentStatus};
use crate::catalog_values::{stored, Money, OrderId, StoredValueError};
use crate::fulfilment_values::{PaymentMethod, RefundId};
use crate::supplier::SupplierId;
use schemas::payment as wire;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Something that happened to a payment, serialised through [`schemas::payment::PaymentEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "wire::PaymentEvent", try_from = "wire::PaymentEvent")]
pub enum PaymentEvent {
    /// Opened (status `pending`).
    Initiated(Box<PaymentState>),
    /// Authorised by the gateway.
    Authorized {
        /// Reference.
        gateway_ref: String,
        /// How much.
        amount: Money,
    },
    /// Captured.
    Captured {
        /// Reference.
        gateway_ref: String,
        /// How much.
        amount: Money,
    },
    /// Declined.
    Declined {
        /// Code.
        code: String,
        /// What the gateway said.
        reason: String,
    },
    /// Cancelled before capture.
    Cancelled {
        /// Why.
        reason: String,
    },
    /// A refund was requested.
    RefundRequested {
        /// The refund.
        refund_id: RefundId,
        /// How much.
        amount: Money,
        /// Why.
        reason: String,
    },
    /// A refund was paid back.
    RefundCompleted {
        /// The refund.
        refund_id: RefundId,
        /// How much.
        amount: Money,
        /// The gateway's reference.
        gateway_ref: String,
    },
}

impl PaymentEvent {
    /// The reason recorded with the event, if it has one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Declined { reason, .. }
            | Self::Cancelled { reason }
            | Self::RefundRequested { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

impl From<PaymentEvent> for wire::PaymentEvent {
    fn from(e: PaymentEvent) -> Self {
        match e {
            PaymentEvent::Initiated(s) => Self::PaymentInitiated(wire::PaymentInitiatedV1 {
                order_id: s.order_id.0,
                customer: s.customer,
                method: s.method.as_str().to_owned(),
                amount: s.amount.into(),
                payees: s
                    .payees
                    .into_iter()
                    .map(|p| wire::PayeeV1 {
                        supplier_id: p.supplier_id.0,
                        amount: p.amount.into(),
                    })
                    .collect(),
                commission_bps: s.commission_bps,
            }),
            PaymentEvent::Authorized {
                gateway_ref,
                amount,
            } => Self::PaymentAuthorized(wire::PaymentAuthorizedV1 {
                gateway_ref,
                amount: amount.into(),
            }),
            PaymentEvent::Captured {
                gateway_ref,
                amount,
            } => Self::PaymentCaptured(wire::PaymentCapturedV1 {
                gateway_ref,
                amount: amount.into(),
            }),
            PaymentEvent::Declined { code, reason } => {
                Self::PaymentDeclined(wire::PaymentDeclinedV1 { code, reason })
            }
            PaymentEvent::Cancelled { reason } => {
                Self::PaymentCancelled(wire::PaymentCancelledV1 { reason })
            }
            PaymentEvent::RefundRequested {
                refund_id,
                amount,
                reason,
            } => Self::RefundRequested(wire::RefundRequestedV1 {
                refund_id: refund_id.0,
                amount: amount.into(),
                reason,
            }),
            PaymentEvent::RefundCompleted {
                refund_id,
                amount,
                gateway_ref,
            } => Self::RefundCompleted(wire::RefundCompletedV1 {
                refund_id: refund_id.0,
                amount: amount.into(),
                gateway_ref,
            }),
        }
    }
}

impl TryFrom<wire::PaymentEvent> for PaymentEvent {
    type Error = StoredValueError;

    fn try_from(e: wire::PaymentEvent) -> Result<Self, StoredValueError> {
        Ok(match e {
            wire::PaymentEvent::PaymentInitiated(i) => Self::Initiated(Box::new(PaymentState {
                order_id: OrderId(i.order_id),
                customer: i.customer,
                method: stored("payment method", i.method, PaymentMethod::parse)?,
                amount: i.amount.into(),
                payees: i
                    .payees
                    .into_iter()
                    .map(|p| Payee {
                        supplier_id: SupplierId(p.supplier_id),
                        amount: p.amount.into(),
                    })
                    .collect(),
                commission_bps: i.commission_bps,
                status: PaymentStatus::Pending,
                authorization_ref: None,
                capture_ref: None,
                captured_minor: 0,
                refunds: BTreeMap::new(),
            })),
            wire::PaymentEvent::PaymentAuthorized(a) => Self::Authorized {
                gateway_ref: a.gateway_ref,
                amount: a.amount.into(),
            },
            wire::PaymentEvent::PaymentCaptured(c) => Self::Captured {
                gateway_ref: c.gateway_ref,
                amount: c.amount.into(),
            },
            wire::PaymentEvent::PaymentDeclined(d) => Self::Declined {
                code: d.code,
                reason: d.reason,
            },
            wire::PaymentEvent::PaymentCancelled(c) => Self::Cancelled { reason: c.reason },
            wire::PaymentEvent::RefundRequested(r) => Self::RefundRequested {
                refund_id: RefundId(r.refund_id),
                amount: r.amount.into(),
                reason: r.reason,
            },
            wire::PaymentEvent::RefundCompleted(r) => Self::RefundCompleted {
                refund_id: RefundId(r.refund_id),
                amount: r.amount.into(),
                gateway_ref: r.gateway_ref,
            },
        })
    }
}

impl cqrs_es::DomainEvent for PaymentEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Initiated(_) => wire::INITIATED,
            Self::Authorized { .. } => wire::AUTHORIZED,
            Self::Captured { .. } => wire::CAPTURED,
            Self::Declined { .. } => wire::DECLINED,
            Self::Cancelled { .. } => wire::CANCELLED,
            Self::RefundRequested { .. } => wire::REFUND_REQUESTED,
            Self::RefundCompleted { .. } => wire::REFUND_COMPLETED,
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
