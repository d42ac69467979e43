use super::PaymentStatus;
use crate::fulfilment_values::RefundId;

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
