use crate::fulfilment_values::DeliveryId;

/// Why a rider command was refused. Each variant has a stable [`code`](crate::Refusal::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiderError {
    /// No such rider.
    #[error("no such rider")]
    NotFound,
    /// Registering a rider id that exists with other details.
    #[error("the rider already exists with other details")]
    AlreadyExists,
    /// The rider is off shift.
    #[error("the rider is not available")]
    RiderUnavailable,
    /// The rider carries another delivery.
    #[error("the rider is busy with delivery {current}")]
    RiderBusy {
        /// What they carry.
        current: DeliveryId,
    },
    /// The delivery needs a refrigerated box the rider lacks.
    #[error("the delivery needs a cold-chain capable rider")]
    NotColdChainCapable,
    /// A rider acting on another rider's record.
    #[error("only the rider may change their own record")]
    NotOwner,
}

impl crate::Refusal for RiderError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::RiderUnavailable => "rider_unavailable",
            Self::RiderBusy { .. } => "rider_busy",
            Self::NotColdChainCapable => "not_cold_chain_capable",
            Self::NotOwner => "not_owner",
        }
    }

    fn kind(&self) -> crate::RefusalKind {
        use crate::RefusalKind as K;
        match self {
            Self::NotFound => K::NotFound,
            Self::NotOwner => K::Forbidden,
            Self::AlreadyExists
            | Self::RiderUnavailable
            | Self::RiderBusy { .. }
            | Self::NotColdChainCapable => K::Conflict,
        }
    }
}
