use super::DeliveryStatus;
use crate::fulfilment_values::RiderId;

/// Why a delivery command was refused. Each variant has a stable
/// [`code`](crate::Refusal::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// No such delivery.
    #[error("no such delivery")]
    NotFound,
    /// Scheduling a delivery id that exists for another order or slot.
    #[error("the delivery already exists with other details")]
    AlreadyExists,
    /// A rider acting on a delivery assigned to someone else.
    #[error("only the assigned rider may do this")]
    NotOwner,
    /// The delivery already has another rider.
    #[error("the delivery already has rider {rider_id}")]
    AlreadyAssigned {
        /// Its rider.
        rider_id: RiderId,
    },
    /// The command does not apply in the current status.
    #[error("cannot {attempted} a delivery that is {current}")]
    InvalidTransition {
        /// Where it is.
        current: DeliveryStatus,
        /// What was tried.
        attempted: &'static str,
    },
}

impl crate::Refusal for DeliveryError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::NotOwner => "not_owner",
            Self::AlreadyAssigned { .. } => "already_assigned",
            Self::InvalidTransition { .. } => "invalid_transition",
        }
    }

    fn kind(&self) -> crate::RefusalKind {
        use crate::RefusalKind as K;
        match self {
            Self::NotFound => K::NotFound,
            Self::NotOwner => K::Forbidden,
            Self::AlreadyExists | Self::AlreadyAssigned { .. } | Self::InvalidTransition { .. } => {
                K::Conflict
            }
        }
    }

    fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::InvalidTransition { current, .. } => {
                vec![crate::detail("current_status", current.as_str())]
            }
            Self::AlreadyAssigned { rider_id } => {
                vec![crate::detail("rider_id", rider_id.0.to_string())]
            }
            _ => Vec::new(),
        }
    }
}
