//! Payment events on the wire (topic [`crate::topics::PAYMENT`]). One payment per order; money
//! is [`MoneyV1`]. What a gateway said is recorded here; the gateway's own state is its own.

use crate::common::MoneyV1;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

crate::wire_events! {
    /// A payment event in its current wire version, tagged with its event type.
    PaymentEvent {
        /// `PaymentInitiated`: a payment was opened for an order.
        INITIATED = PaymentInitiated(PaymentInitiatedV1),
        /// `PaymentAuthorized`: the card gateway authorised the amount.
        AUTHORIZED = PaymentAuthorized(PaymentAuthorizedV1),
        /// `PaymentCaptured`: money was taken (card capture, or cash collected at delivery).
        CAPTURED = PaymentCaptured(PaymentCapturedV1),
        /// `PaymentDeclined`: the gateway refused, or gave no answer in time (final).
        DECLINED = PaymentDeclined(PaymentDeclinedV1),
        /// `PaymentCancelled`: given up before capture (order cancelled); no money moved.
        CANCELLED = PaymentCancelled(PaymentCancelledV1),
        /// `RefundRequested`: part or all of the captured amount is to go back.
        REFUND_REQUESTED = RefundRequested(RefundRequestedV1),
        /// `RefundCompleted`: the gateway paid a requested refund back.
        REFUND_COMPLETED = RefundCompleted(RefundCompletedV1),
    }
}

/// `PaymentInitiated` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentInitiatedV1 {
    /// The order paid for.
    pub order_id: Uuid,
    /// The customer account.
    pub customer: String,
    /// `card` or `cash_on_delivery`.
    pub method: String,
    /// The amount due.
    pub amount: MoneyV1,
    /// Who is owed what of it once captured: each supplier's share before commission (the
    /// shares add up to `amount`).
    pub payees: Vec<PayeeV1>,
    /// The platform's commission on each share, in basis points (1000 = 10 %).
    pub commission_bps: u32,
}

/// A supplier's share of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PayeeV1 {
    /// The supplier.
    pub supplier_id: Uuid,
    /// Their lines' total.
    pub amount: MoneyV1,
}

/// `PaymentAuthorized` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentAuthorizedV1 {
    /// The gateway's authorisation reference.
    pub gateway_ref: String,
    /// Amount authorised.
    pub amount: MoneyV1,
}

/// `PaymentCaptured` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentCapturedV1 {
    /// The gateway's capture reference (`cod:` and the delivery id for cash).
    pub gateway_ref: String,
    /// Amount captured.
    pub amount: MoneyV1,
}

/// `PaymentDeclined` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentDeclinedV1 {
    /// `card_declined`, `timeout` or the gateway's code.
    pub code: String,
    /// What the gateway said.
    pub reason: String,
}

/// `PaymentCancelled` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaymentCancelledV1 {
    /// Why.
    pub reason: String,
}

/// `RefundRequested` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefundRequestedV1 {
    /// The refund.
    pub refund_id: Uuid,
    /// How much (never more than captured minus refunds already requested).
    pub amount: MoneyV1,
    /// Why.
    pub reason: String,
}

/// `RefundCompleted` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RefundCompletedV1 {
    /// The refund.
    pub refund_id: Uuid,
    /// How much went back.
    pub amount: MoneyV1,
    /// The gateway's refund reference.
    pub gateway_ref: String,
}
