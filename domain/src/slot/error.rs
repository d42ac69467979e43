use chrono::{DateTime, Utc};

/// Why a slot command was refused. Each variant has a stable [`code`](crate::Refusal::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    /// No such slot.
    #[error("no such delivery slot")]
    NotFound,
    /// Creating a slot id that exists with other details.
    #[error("the slot already exists with other details")]
    AlreadyExists,
    /// A slot that ends before it starts.
    #[error("ends_at must be after starts_at")]
    EmptyWindow,
    /// A capacity of zero or too large.
    #[error("capacity must be between 1 and {max}")]
    BadCapacity {
        /// The limit.
        max: u32,
    },
    /// The slot has no place left.
    #[error("the slot is full ({capacity} orders)")]
    SlotFull {
        /// Its capacity.
        capacity: u32,
    },
    /// The slot has already ended.
    #[error("the slot ended at {ends_at}")]
    SlotClosed {
        /// When.
        ends_at: DateTime<Utc>,
    },
}

impl crate::Refusal for SlotError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::EmptyWindow | Self::BadCapacity { .. } => "validation_failed",
            Self::SlotFull { .. } => "slot_full",
            Self::SlotClosed { .. } => "slot_closed",
        }
    }

    fn kind(&self) -> crate::RefusalKind {
        use crate::RefusalKind as K;
        match self {
            Self::NotFound => K::NotFound,
            Self::EmptyWindow => K::invalid("ends_at", self),
            Self::BadCapacity { .. } => K::invalid("capacity", self),
            Self::AlreadyExists | Self::SlotFull { .. } | Self::SlotClosed { .. } => K::Conflict,
        }
    }
}
