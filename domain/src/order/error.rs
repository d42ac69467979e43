use super::OrderStatus;
use crate::supplier::SupplierStatus;

/// Why an order command was refused. Each variant has a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// No order with that id.
    #[error("no such order")]
    NotFound,
    /// Placing an id that already holds another order.
    #[error("an order with this id already exists")]
    AlreadyExists,
    /// An order needs at least one line.
    #[error("an order needs at least one line")]
    NoLines,
    /// More lines than an order may have.
    #[error("an order has at most {max} lines")]
    TooManyLines {
        /// The limit.
        max: usize,
    },
    /// The same product twice.
    #[error("lines[{index}]: the product is already on line {first}")]
    DuplicateProduct {
        /// The repeated line.
        index: usize,
        /// Where it first appears.
        first: usize,
    },
    /// A line's product does not exist.
    #[error("lines[{index}]: no such product")]
    UnknownProduct {
        /// The line.
        index: usize,
    },
    /// A line's product is discontinued.
    #[error("lines[{index}]: the product is discontinued")]
    ProductDiscontinued {
        /// The line.
        index: usize,
    },
    /// A line's supplier is not approved (pending, rejected or suspended).
    #[error("lines[{index}]: the product's supplier is {status}, not approved")]
    SupplierNotActive {
        /// The line.
        index: usize,
        /// The supplier's status.
        status: SupplierStatus,
    },
    /// A line's quantity does not suit its product's unit.
    #[error("lines[{index}].quantity: {message}")]
    QuantityNotInUnit {
        /// The line.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// Lines priced in different currencies.
    #[error("lines[{index}]: priced in {found}, the order is in {expected}")]
    MixedCurrencies {
        /// The line.
        index: usize,
        /// The order's currency.
        expected: String,
        /// The line's.
        found: String,
    },
    /// The total does not fit.
    #[error("the order's total is too large")]
    TotalTooLarge,
    /// The chosen slot has already ended.
    #[error("the delivery slot has already ended")]
    SlotOver,
    /// Paying by card needs a card token.
    #[error("payment.card_token is required for card payments")]
    CardTokenMissing,
    /// A customer acting on another customer's order.
    #[error("the order belongs to another customer")]
    NotOwner,
    /// The command does not apply in the current status.
    #[error("cannot {attempted} an order that is {current}")]
    InvalidTransition {
        /// Where the order is.
        current: OrderStatus,
        /// What was tried.
        attempted: &'static str,
    },
    /// The payment recorded is not the order's.
    #[error("the payment does not belong to this order")]
    WrongPayment,
    /// Refunds recorded beyond what was paid.
    #[error("refunds would exceed the {paid} minor units paid")]
    RefundExceedsPaid {
        /// What was paid.
        paid: i64,
    },
}

impl crate::Refusal for OrderError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::UnknownProduct { .. }
            | Self::NoLines
            | Self::TooManyLines { .. }
            | Self::DuplicateProduct { .. }
            | Self::QuantityNotInUnit { .. }
            | Self::MixedCurrencies { .. }
            | Self::TotalTooLarge
            | Self::CardTokenMissing => "validation_failed",
            Self::ProductDiscontinued { .. } => "product_discontinued",
            Self::SupplierNotActive { .. } => "supplier_not_active",
            Self::SlotOver => "slot_closed",
            Self::NotOwner => "not_owner",
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::WrongPayment => "wrong_payment",
            Self::RefundExceedsPaid { .. } => "refund_exceeds_paid",
        }
    }

    fn kind(&self) -> crate::RefusalKind {
        use crate::RefusalKind as K;
        let line = |index: &usize, part: &str| format!("lines[{index}].{part}");
        match self {
            Self::NotFound => K::NotFound,
            Self::NotOwner => K::Forbidden,
            Self::UnknownProduct { index } => K::Invalid {
                field: line(index, "product_id"),
                message: "no such product".to_owned(),
            },
            Self::DuplicateProduct { index, .. } | Self::MixedCurrencies { index, .. } => {
                K::invalid(line(index, "product_id"), self)
            }
            Self::QuantityNotInUnit { index, message } => K::Invalid {
                field: line(index, "quantity"),
                message: message.clone(),
            },
            Self::NoLines | Self::TooManyLines { .. } | Self::TotalTooLarge => {
                K::invalid("lines", self)
            }
            Self::CardTokenMissing => K::invalid("payment.card_token", self),
            Self::AlreadyExists
            | Self::ProductDiscontinued { .. }
            | Self::SupplierNotActive { .. }
            | Self::SlotOver
            | Self::InvalidTransition { .. }
            | Self::WrongPayment
            | Self::RefundExceedsPaid { .. } => K::Conflict,
        }
    }

    fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        use crate::detail;
        match self {
            Self::SupplierNotActive { index, status } => vec![
                detail("supplier_status", status.as_str()),
                detail("index", *index),
            ],
            Self::ProductDiscontinued { index } => vec![detail("index", *index)],
            Self::InvalidTransition { current, .. } => {
                vec![detail("current_status", current.as_str())]
            }
            Self::RefundExceedsPaid { paid } => vec![detail("paid_minor", *paid)],
            _ => Vec::new(),
        }
    }
}
