use super::Payee;
use crate::catalog_values::{Money, OrderId};
use crate::fulfilment_values::{PaymentMethod, RefundId};

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
