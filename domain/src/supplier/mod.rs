//! The supplier lifecycle: register -> `pending`; submit verification documents; approve (needs
//! a valid business licence), reject (final), suspend, reinstate.
//!
//! ```text
//!            approve              suspend
//! pending ----------> approved -----------> suspended
//!    |                   ^                      |
//!    | reject            +------ reinstate -----+
//!    v
//! rejected (final; its registration number is blocked for good)
//! ```

mod aggregate;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use aggregate::{
    supplier_upcasters, RegistrationAvailability, RegistrationRegistry, SupplierServices,
    SupplierUpcaster,
};
pub use command::{
    ApproveSupplier, Caller, RegisterSupplier, ReinstateSupplier, RejectSupplier, SubmitDocument,
    SupplierCommand, SuspendSupplier,
};
pub use error::SupplierError;
pub use event::SupplierEvent;

use crate::values::{
    Address, DocumentReference, Email, LegalName, Phone, ProductCategory, RegistrationNumber,
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

crate::adapter::id_type!(
    /// A supplier's id.
    SupplierId
);

/// Where a supplier is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupplierStatus {
    /// Registered, waiting for verification.
    Pending,
    /// Verified; may list products and receive orders.
    Approved,
    /// Refused for good.
    Rejected,
    /// Temporarily barred; data kept, no new orders.
    Suspended,
}

impl SupplierStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Suspended => "suspended",
        }
    }
}

impl fmt::Display for SupplierStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a supplier was suspended (for reports; the free-text reason says the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspensionCode {
    /// A food safety incident (contamination, cold chain).
    FoodSafety,
    /// Repeated quality complaints.
    Quality,
    /// Licences, certificates, legal obligations.
    Compliance,
    /// Payment or invoicing disputes.
    Payment,
    /// Anything else; also what suspensions recorded before codes existed read as.
    Other,
}

impl SuspensionCode {
    /// Every code, in a stable order.
    pub const ALL: [Self; 5] = [
        Self::FoodSafety,
        Self::Quality,
        Self::Compliance,
        Self::Payment,
        Self::Other,
    ];

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FoodSafety => "food_safety",
            Self::Quality => "quality",
            Self::Compliance => "compliance",
            Self::Payment => "payment",
            Self::Other => "other",
        }
    }
}

/// Kinds of verification document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// Business licence: required for approval.
    BusinessLicense,
    /// Tax registration certificate.
    TaxCertificate,
    /// Food safety certificate.
    FoodSafetyCertificate,
    /// Organic certification.
    OrganicCertificate,
}

impl DocumentKind {
    /// Every kind, in a stable order.
    pub const ALL: [Self; 4] = [
        Self::BusinessLicense,
        Self::TaxCertificate,
        Self::FoodSafetyCertificate,
        Self::OrganicCertificate,
    ];

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BusinessLicense => "business_license",
            Self::TaxCertificate => "tax_certificate",
            Self::FoodSafetyCertificate => "food_safety_certificate",
            Self::OrganicCertificate => "organic_certificate",
        }
    }
}

/// A verification document on file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// What it certifies.
    pub kind: DocumentKind,
    /// The issuer's reference.
    pub reference: DocumentReference,
    /// Last day it is valid.
    pub expires_on: NaiveDate,
}

/// Everything known about a registered supplier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplierState {
    /// Its id.
    pub id: SupplierId,
    /// The subject (token `sub`) of the supplier account that owns it, if any.
    pub owner: Option<String>,
    /// Legal name.
    pub legal_name: LegalName,
    /// Registration number (normalised).
    pub registration_number: RegistrationNumber,
    /// Contact e-mail.
    pub contact_email: Email,
    /// Contact phone.
    pub phone: Phone,
    /// Business address.
    pub address: Address,
    /// What it sells.
    pub categories: BTreeSet<ProductCategory>,
    /// Lifecycle status.
    pub status: SupplierStatus,
    /// Documents on file, the latest of each kind.
    pub documents: Vec<Document>,
}

/// The supplier aggregate: `None` until registered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supplier {
    state: Option<SupplierState>,
}

/// Facts from outside the aggregate that a decision needs; gathered by the cqrs-es adapter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// For a registration: whether its registration number could be reserved.
    pub registration: Option<RegistrationAvailability>,
}

impl Supplier {
    /// The current state, `None` before registration.
    pub fn state(&self) -> Option<&SupplierState> {
        self.state.as_ref()
    }

    /// The current status, `None` before registration.
    pub fn status(&self) -> Option<SupplierStatus> {
        self.state.as_ref().map(|s| s.status)
    }

    /// Decides what happens when `command` is given to this supplier.
    ///
    /// # Errors
    /// A [`SupplierError`] naming the rule the command breaks; no events are produced then.
    pub fn decide(
        &self,
        command: SupplierCommand,
        facts: &Facts,
    ) -> Result<Vec<SupplierEvent>, SupplierError> {
        use SupplierStatus::{Approved, Pending, Suspended};
        let Some(state) = &self.state else {
            return match command {
                SupplierCommand::Register(cmd) => Self::decide_register(cmd, facts),
                _ => Err(SupplierError::NotFound),
            };
        };
        let refuse = |attempted: &'static str| SupplierError::InvalidTransition {
            current: state.status,
            attempted,
        };
        match command {
            // The same registration again (a retried request): nothing new happened.
            SupplierCommand::Register(cmd) if Self::same_registration(state, &cmd) => Ok(vec![]),
            SupplierCommand::Register(_) => Err(SupplierError::AlreadyRegistered),
            SupplierCommand::SubmitDocument(cmd) => {
                Self::check_owner(state, &cmd.caller)?;
                if !matches!(state.status, Pending | Approved) {
                    return Err(refuse("submit_document"));
                }
                if cmd.expires_on < cmd.today {
                    return Err(SupplierError::DocumentExpired {
                        expires_on: cmd.expires_on,
                    });
                }
                Ok(vec![SupplierEvent::DocumentSubmitted {
                    kind: cmd.kind,
                    reference: cmd.reference,
                    expires_on: cmd.expires_on,
                }])
            }
            SupplierCommand::Approve(cmd) => {
                if state.status != Pending {
                    return Err(refuse("approve"));
                }
                let licensed = state
                    .documents
                    .iter()
                    .any(|d| d.kind == DocumentKind::BusinessLicense && d.expires_on >= cmd.today);
                if !licensed {
                    return Err(SupplierError::VerificationIncomplete {
                        missing: vec![DocumentKind::BusinessLicense],
                    });
                }
                Ok(vec![SupplierEvent::Approved { note: cmd.note }])
            }
            SupplierCommand::Reject(cmd) => match state.status {
                Pending => Ok(vec![SupplierEvent::Rejected { reason: cmd.reason }]),
                _ => Err(refuse("reject")),
            },
            SupplierCommand::Suspend(cmd) => match state.status {
                Approved => Ok(vec![SupplierEvent::Suspended {
                    reason: cmd.reason,
                    code: cmd.code,
                }]),
                _ => Err(refuse("suspend")),
            },
            SupplierCommand::Reinstate(cmd) => match state.status {
                Suspended => Ok(vec![SupplierEvent::Reinstated { note: cmd.note }]),
                _ => Err(refuse("reinstate")),
            },
        }
    }

    fn decide_register(
        cmd: RegisterSupplier,
        facts: &Facts,
    ) -> Result<Vec<SupplierEvent>, SupplierError> {
        match facts.registration {
            Some(RegistrationAvailability::Available) => {}
            Some(RegistrationAvailability::InUse) => {
                return Err(SupplierError::DuplicateRegistration)
            }
            Some(RegistrationAvailability::Blocked) => {
                return Err(SupplierError::CredentialsBlocked)
            }
            None => return Err(SupplierError::RegistrationNotReserved),
        }
        let owner = match cmd.caller {
            Caller::Supplier { subject } => Some(subject),
            Caller::Admin | Caller::Service { .. } => cmd.owner,
        };
        Ok(vec![SupplierEvent::Registered {
            supplier_id: cmd.supplier_id,
            owner,
            legal_name: cmd.legal_name,
            registration_number: cmd.registration_number,
            contact_email: cmd.contact_email,
            phone: cmd.phone,
            address: cmd.address,
            categories: cmd.categories,
        }])
    }

    fn same_registration(state: &SupplierState, cmd: &RegisterSupplier) -> bool {
        let owner = match &cmd.caller {
            Caller::Supplier { subject } => Some(subject.as_str()),
            Caller::Admin | Caller::Service { .. } => cmd.owner.as_deref(),
        };
        state.id == cmd.supplier_id
            && state.owner.as_deref() == owner
            && state.legal_name == cmd.legal_name
            && state.registration_number == cmd.registration_number
            && state.contact_email == cmd.contact_email
            && state.phone == cmd.phone
            && state.address == cmd.address
            && state.categories == cmd.categories
    }

    fn check_owner(state: &SupplierState, caller: &Caller) -> Result<(), SupplierError> {
        match caller {
            Caller::Supplier { subject } if state.owner.as_deref() != Some(subject) => {
                Err(SupplierError::NotOwner)
            }
            _ => Ok(()),
        }
    }

    /// Applies an event that has happened. Never fails: events are facts.
    pub fn evolve(&mut self, event: SupplierEvent) {
        match event {
            SupplierEvent::Registered {
                supplier_id,
                owner,
                legal_name,
                registration_number,
                contact_email,
                phone,
                address,
                categories,
            } => {
                self.state = Some(SupplierState {
                    id: supplier_id,
                    owner,
                    legal_name,
                    registration_number,
                    contact_email,
                    phone,
                    address,
                    categories,
                    status: SupplierStatus::Pending,
                    documents: Vec::new(),
                });
            }
            other => {
                let Some(state) = self.state.as_mut() else {
                    return;
                };
                match other {
                    SupplierEvent::Registered { .. } => {}
                    SupplierEvent::DocumentSubmitted {
                        kind,
                        reference,
                        expires_on,
                    } => {
                        state.documents.retain(|d| d.kind != kind);
                        state.documents.push(Document {
                            kind,
                            reference,
                            expires_on,
                        });
                    }
                    SupplierEvent::Approved { .. } | SupplierEvent::Reinstated { .. } => {
                        state.status = SupplierStatus::Approved;
                    }
                    SupplierEvent::Rejected { .. } => state.status = SupplierStatus::Rejected,
                    SupplierEvent::Suspended { .. } => state.status = SupplierStatus::Suspended,
                }
            }
        }
    }
}
