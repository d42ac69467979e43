use crate::catalog_values::{OrderId, PositiveQuantity, Quantity};
use chrono::{DateTime, Utc};

/// Why an inventory batch command was refused. Each variant has a stable
/// [`code`](Self::code) for the problem body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// No batch with that id.
    #[error("no such batch")]
    NotFound,
    /// Receiving an id that was already received (with other details).
    #[error("a batch with this id was already received")]
    AlreadyReceived,
    /// A batch whose expiry is not after its receipt.
    #[error("expires_at ({expires_at}) must be after received_at ({received_at})")]
    ExpiryNotAfterReceipt {
        /// When it was received.
        received_at: DateTime<Utc>,
        /// When it expires.
        expires_at: DateTime<Utc>,
    },
    /// The batch's procurement value (unit price times quantity) does not fit in an `i64` of
    /// minor units.
    #[error("the batch's procurement value is too large")]
    ValueTooLarge,
    /// More than is available (on hand and not reserved).
    #[error("only {available} available, {requested} requested")]
    InsufficientStock {
        /// Available now.
        available: Quantity,
        /// What was asked for.
        requested: PositiveQuantity,
    },
    /// The order already holds a reservation (open or committed) of another quantity.
    #[error("order {order_id} already reserved {reserved}, not {requested}")]
    ReservationMismatch {
        /// The order.
        order_id: OrderId,
        /// What it holds.
        reserved: PositiveQuantity,
        /// What was asked for now.
        requested: PositiveQuantity,
    },
    /// The order's reservation was released (cancelled, or the batch expired): it is not
    /// reserved or committed again.
    #[error("the reservation of order {order_id} was released")]
    ReservationReleased {
        /// The order.
        order_id: OrderId,
    },
    /// The order's reservation was committed: its stock has left and cannot be released.
    #[error("the reservation of order {order_id} was already committed")]
    ReservationCommitted {
        /// The order.
        order_id: OrderId,
    },
    /// Committing for an order that holds no reservation on this batch.
    #[error("order {order_id} has no reservation on this batch")]
    NoReservation {
        /// The order.
        order_id: OrderId,
    },
    /// The batch has expired (or reached its expiry): nothing is reserved or written off
    /// from it any more except by expiry.
    #[error("the batch expired at {expires_at}")]
    BatchExpired {
        /// When it expired.
        expires_at: DateTime<Utc>,
    },
    /// Expiring a batch before its expiry.
    #[error("the batch expires only at {expires_at}")]
    NotYetExpired {
        /// When it expires.
        expires_at: DateTime<Utc>,
    },
    /// Flagging a batch that does not expire within the horizon.
    #[error("the batch expires at {expires_at}, beyond the horizon")]
    NotExpiringWithin {
        /// When it expires.
        expires_at: DateTime<Utc>,
    },
}

impl crate::Refusal for InventoryError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyReceived => "already_exists",
            Self::ExpiryNotAfterReceipt { .. } | Self::ValueTooLarge => "validation_failed",
            Self::InsufficientStock { .. } => "insufficient_stock",
            Self::ReservationMismatch { .. } => "reservation_mismatch",
            Self::ReservationReleased { .. } => "reservation_released",
            Self::ReservationCommitted { .. } => "reservation_committed",
            Self::NoReservation { .. } => "no_reservation",
            Self::BatchExpired { .. } => "batch_expired",
            Self::NotYetExpired { .. } => "not_yet_expired",
            Self::NotExpiringWithin { .. } => "not_expiring_soon",
        }
    }

    fn kind(&self) -> crate::RefusalKind {
        use crate::RefusalKind as K;
        match self {
            Self::NotFound | Self::NoReservation { .. } => K::NotFound,
            Self::ExpiryNotAfterReceipt { .. } => K::invalid("expires_at", self),
            Self::ValueTooLarge => K::invalid("quantity", self),
            _ => K::Conflict,
        }
    }

    fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::InsufficientStock {
                available,
                requested,
            } => vec![
                crate::detail("available", available.to_string()),
                crate::detail("requested", requested.to_string()),
            ],
            _ => Vec::new(),
        }
    }
}
