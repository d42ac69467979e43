use chrono::{DateTime, Utc};

/// Why a cart command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    /// Another account's cart.
    #[error("only the customer changes its cart")]
    NotOwner,
    /// Too many lines.
    #[error("a cart holds at most {max} products")]
    TooManyLines {
        /// The limit.
        max: usize,
    },
    /// Nothing to check out.
    #[error("there is no open cart")]
    NoOpenCart,
    /// The cart checked out is no longer the open one.
    #[error("the cart changed: it was checked out or abandoned meanwhile")]
    CartChanged,
    /// An empty cart.
    #[error("the cart is empty")]
    Empty,
    /// Not idle long enough to abandon.
    #[error("the cart changed less than 7 days ago")]
    NotIdle {
        /// When it last changed.
        idle_since: DateTime<Utc>,
    },
}

impl crate::Refusal for CartError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotOwner => "not_owner",
            Self::TooManyLines { .. } => "too_many_lines",
            Self::NoOpenCart => "no_open_cart",
            Self::CartChanged => "cart_changed",
            Self::Empty => "cart_empty",
            Self::NotIdle { .. } => "cart_not_idle",
        }
    }

    fn kind(&self) -> crate::RefusalKind {
        use crate::RefusalKind as K;
        match self {
            Self::NotOwner => K::Forbidden,
            _ => K::Conflict,
        }
    }
}
