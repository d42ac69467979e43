/// Why a customer command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomerError {
    /// No profile yet (`POST /v1/customers/me` first).
    #[error("no customer profile yet: create it with POST /v1/customers/me")]
    NotFound,
    /// No such address in the book.
    #[error("no such address in the address book")]
    UnknownAddress,
    /// The book is full.
    #[error("an address book holds at most {max} addresses")]
    TooManyAddresses {
        /// The limit.
        max: usize,
    },
    /// Too many push devices.
    #[error("at most {max} devices receive push messages")]
    TooManyDevices {
        /// The limit.
        max: usize,
    },
}

impl crate::Refusal for CustomerError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "customer_not_found",
            Self::UnknownAddress => "address_not_found",
            Self::TooManyAddresses { .. } => "too_many_addresses",
            Self::TooManyDevices { .. } => "too_many_devices",
        }
    }

    fn kind(&self) -> crate::RefusalKind {
        use crate::RefusalKind as K;
        match self {
            Self::NotFound | Self::UnknownAddress => K::NotFound,
            Self::TooManyAddresses { .. } | Self::TooManyDevices { .. } => K::Conflict,
        }
    }
}
