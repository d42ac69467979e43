use super::{DocumentKind, SupplierStatus};
use chrono::NaiveDate;

/// Why a supplier command was refused.
#[derive(Debug, thiserror::Error)]
pub enum SupplierError {
    /// No supplier with that id.
    #[error("no such supplier")]
    NotFound,
    /// Registration of an id that already exists.
    #[error("a supplier with this id is already registered")]
    AlreadyRegistered,
    /// The command is not allowed in the current status.
    #[error("cannot {attempted} a supplier that is {current}")]
    InvalidTransition {
        /// The supplier's status now.
        current: SupplierStatus,
        /// What was attempted (`approve`, `suspend`, ...).
        attempted: &'static str,
    },
    /// Approval without the documents it needs.
    #[error("verification incomplete: a valid business_license document is required")]
    VerificationIncomplete {
        /// The document kinds still missing.
        missing: Vec<DocumentKind>,
    },
    /// The registration number belongs to another pending, approved or suspended supplier.
    #[error("this registration number is already registered")]
    DuplicateRegistration,
    /// The registration number belonged to a rejected supplier: it cannot be used again.
    #[error("this registration number belongs to a rejected supplier and cannot be used again")]
    CredentialsBlocked,
    /// A supplier account acting on a supplier it does not own.
    #[error("this supplier belongs to another account")]
    NotOwner,
    /// A document that has already expired.
    #[error("the document expired on {expires_on}")]
    DocumentExpired {
        /// Its expiry date.
        expires_on: NaiveDate,
    },
    /// A registration decided without asking who holds its number first (a wiring fault).
    #[error("the registration number was not checked before registering")]
    RegistrationNotReserved,
    /// A fact the decision needs could not be gathered (e.g. the registry is unreachable).
    #[error("a fact needed for this decision is unavailable")]
    FactsUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl crate::Refusal for SupplierError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyRegistered => "already_exists",
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::VerificationIncomplete { .. } => "verification_incomplete",
            Self::DuplicateRegistration => "duplicate_registration",
            Self::CredentialsBlocked => "credentials_blocked",
            Self::NotOwner => "not_owner",
            Self::DocumentExpired { .. } => "validation_failed",
            Self::FactsUnavailable(_) => "unavailable",
            Self::RegistrationNotReserved => "internal",
        }
    }

    fn kind(&self) -> crate::RefusalKind {
        use crate::RefusalKind as K;
        match self {
            Self::NotFound => K::NotFound,
            Self::NotOwner => K::Forbidden,
            Self::DocumentExpired { .. } => K::invalid("expires_on", self),
            Self::FactsUnavailable(_) => K::Unavailable,
            Self::RegistrationNotReserved => K::Fault,
            Self::AlreadyRegistered
            | Self::InvalidTransition { .. }
            | Self::VerificationIncomplete { .. }
            | Self::DuplicateRegistration
            | Self::CredentialsBlocked => K::Conflict,
        }
    }

    fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::InvalidTransition { current, .. } => {
                vec![crate::detail("current_status", current.as_str())]
            }
            Self::VerificationIncomplete { missing } => vec![crate::detail(
                "missing_documents",
                missing.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            )],
            _ => Vec::new(),
        }
    }
}
