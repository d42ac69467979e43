//! Supplier registration, documents, review and suspension.

use super::*;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A document kind.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKindBody {
    /// Business licence (required for approval).
    BusinessLicense,
    /// Tax certificate.
    TaxCertificate,
    /// Food safety certificate.
    FoodSafetyCertificate,
    /// Organic certificate.
    OrganicCertificate,
}

/// A postal address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    /// Street and number (1-200 characters).
    #[schema(format = "address-line")]
    pub line1: String,
    /// City (1-100 characters).
    #[schema(format = "city")]
    pub city: String,
    /// Postal code (2-12 letters, digits, spaces, dashes).
    #[schema(format = "postal-code")]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    #[schema(example = "NL")]
    #[schema(format = "country")]
    pub country: String,
}

/// `POST /v1/suppliers`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterSupplierBody {
    /// Legal name (2-200 characters).
    #[schema(format = "legal-name")]
    pub legal_name: String,
    /// Company registration number (3-32 of A-Z 0-9 - / .; case and spaces ignored).
    #[schema(format = "registration-number")]
    pub registration_number: String,
    /// Contact e-mail.
    #[schema(format = "email")]
    pub contact_email: String,
    /// Contact phone: optional `+`, then 7-15 digits.
    #[schema(format = "phone")]
    pub phone: String,
    /// Business address.
    pub address: AddressBody,
    /// What the supplier sells (1-6 categories).
    #[schema(min_items = 1, max_items = 6)]
    pub categories: Vec<CategoryBody>,
    /// Admins only: the subject of the supplier account that will own this supplier.
    #[serde(default)]
    #[schema(format = "subject")]
    pub owner_subject: Option<String>,
}

/// `POST /v1/suppliers/{id}/documents`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitDocumentBody {
    /// What the document certifies.
    pub kind: DocumentKindBody,
    /// The issuer's reference (1-100 characters).
    #[schema(format = "document-reference")]
    pub reference: String,
    /// Last day the document is valid (YYYY-MM-DD); must not be in the past.
    pub expires_on: NaiveDate,
}

/// `POST /v1/suppliers/{id}/approve` and `/reinstate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// An optional note for the record (1-1000 characters).
    #[serde(default)]
    #[schema(format = "note")]
    pub note: Option<String>,
}

/// What kind of reason a suspension has.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuspensionCodeBody {
    /// A food safety incident.
    FoodSafety,
    /// Repeated quality complaints.
    Quality,
    /// Licences, certificates, legal obligations.
    Compliance,
    /// Payment or invoicing disputes.
    Payment,
    /// Anything else (the default).
    #[default]
    Other,
}

/// `POST /v1/suppliers/{id}/suspend`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendBody {
    /// Why (required, 3-1000 characters).
    #[schema(format = "domain-reason")]
    pub reason: String,
    /// The kind of reason (default `other`).
    #[serde(default)]
    pub reason_code: SuspensionCodeBody,
}
