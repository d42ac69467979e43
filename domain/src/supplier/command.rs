use super::{DocumentKind, SupplierId, SuspensionCode};
use crate::values::{
    Address, DocumentReference, Email, LegalName, Note, Phone, ProductCategory, Reason,
    RegistrationNumber,
};
use chrono::NaiveDate;
use std::collections::BTreeSet;

/// Who gives a command, as far as the rules care (scopes are checked before, at the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A platform administrator.
    Admin,
    /// A supplier account, identified by its token subject.
    Supplier {
        /// The token's `sub`.
        subject: String,
    },
    /// A service acting with its own identity.
    Service {
        /// The service identity (`svc` claim).
        name: String,
    },
}

/// Commands a supplier accepts.
#[expect(
    clippy::large_enum_variant,
    reason = "one command per request, moved once; boxing buys nothing"
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupplierCommand {
    /// Register a new supplier.
    Register(RegisterSupplier),
    /// File a verification document.
    SubmitDocument(SubmitDocument),
    /// Approve a pending supplier.
    Approve(ApproveSupplier),
    /// Reject a pending supplier, for good.
    Reject(RejectSupplier),
    /// Suspend an approved supplier.
    Suspend(SuspendSupplier),
    /// Reinstate a suspended supplier.
    Reinstate(ReinstateSupplier),
}

/// Register a new supplier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterSupplier {
    /// Who registers.
    pub caller: Caller,
    /// The new supplier's id (chosen by the service).
    pub supplier_id: SupplierId,
    /// The owning supplier account when an admin registers on its behalf.
    pub owner: Option<String>,
    /// Legal name.
    pub legal_name: LegalName,
    /// Registration number.
    pub registration_number: RegistrationNumber,
    /// Contact e-mail.
    pub contact_email: Email,
    /// Contact phone.
    pub phone: Phone,
    /// Business address.
    pub address: Address,
    /// What it sells.
    pub categories: BTreeSet<ProductCategory>,
}

/// File a verification document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitDocument {
    /// Who submits.
    pub caller: Caller,
    /// What it certifies.
    pub kind: DocumentKind,
    /// The issuer's reference.
    pub reference: DocumentReference,
    /// Last day it is valid.
    pub expires_on: NaiveDate,
    /// The date the command is given (expired documents are refused).
    pub today: NaiveDate,
}

/// Approve a pending supplier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproveSupplier {
    /// An optional note for the record.
    pub note: Option<Note>,
    /// The date the command is given (the licence must be valid on it).
    pub today: NaiveDate,
}

/// Reject a pending supplier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectSupplier {
    /// Why (required).
    pub reason: Reason,
}

/// Suspend an approved supplier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspendSupplier {
    /// Why (required).
    pub reason: Reason,
    /// The kind of reason.
    pub code: super::SuspensionCode,
}

/// Reinstate a suspended supplier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReinstateSupplier {
    /// An optional note for the record.
    pub note: Option<Note>,
}

impl From<schemas::api::DocumentKindBody> for DocumentKind {
    fn from(k: schemas::api::DocumentKindBody) -> Self {
        use schemas::api::DocumentKindBody as B;
        match k {
            B::BusinessLicense => Self::BusinessLicense,
            B::TaxCertificate => Self::TaxCertificate,
            B::FoodSafetyCertificate => Self::FoodSafetyCertificate,
            B::OrganicCertificate => Self::OrganicCertificate,
        }
    }
}

impl From<schemas::api::SuspensionCodeBody> for SuspensionCode {
    fn from(c: schemas::api::SuspensionCodeBody) -> Self {
        use schemas::api::SuspensionCodeBody as B;
        match c {
            B::FoodSafety => Self::FoodSafety,
            B::Quality => Self::Quality,
            B::Compliance => Self::Compliance,
            B::Payment => Self::Payment,
            B::Other => Self::Other,
        }
    }
}
