use super::{DocumentKind, SupplierId, SuspensionCode};
use crate::values::{
    Address, AddressLine, City, CountryCode, DocumentReference, Email, LegalName, Note, Phone,
    PostalCode, ProductCategory, Reason, RegistrationNumber,
};
use chrono::NaiveDate;
use schemas::supplier::{self as wire, AddressV1};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Something that happened to a supplier.
///
/// Serialised through its wire form ([`schemas::supplier::SupplierEvent`]): the event store
/// keeps exactly what is published, and the conversions below are the only mapping.
#[expect(
    clippy::large_enum_variant,
    reason = "events are short-lived values; the registration is simply the largest fact"
)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "wire::SupplierEvent", try_from = "wire::SupplierEvent")]
pub enum SupplierEvent {
    /// Registered; now `pending`.
    Registered {
        /// Its id.
        supplier_id: SupplierId,
        /// Subject of the owning supplier account.
        owner: Option<String>,
        /// Legal name.
        legal_name: LegalName,
        /// Registration number.
        registration_number: RegistrationNumber,
        /// Contact e-mail.
        contact_email: Email,
        /// Contact phone.
        phone: Phone,
        /// Address.
        address: Address,
        /// What it sells.
        categories: BTreeSet<ProductCategory>,
    },
    /// A verification document was filed.
    DocumentSubmitted {
        /// What it certifies.
        kind: DocumentKind,
        /// Issuer's reference.
        reference: DocumentReference,
        /// Last valid day.
        expires_on: NaiveDate,
    },
    /// `pending` -> `approved`.
    Approved {
        /// Optional note.
        note: Option<Note>,
    },
    /// `pending` -> `rejected`.
    Rejected {
        /// Why.
        reason: Reason,
    },
    /// `approved` -> `suspended`.
    Suspended {
        /// Why.
        reason: Reason,
        /// The kind of reason.
        code: SuspensionCode,
    },
    /// `suspended` -> `approved`.
    Reinstated {
        /// Optional note.
        note: Option<Note>,
    },
}

impl SupplierEvent {
    /// The reason recorded with the event, if it has one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Rejected { reason } | Self::Suspended { reason, .. } => Some(reason.as_str()),
            Self::Approved { note } | Self::Reinstated { note } => note.as_ref().map(Note::as_str),
            _ => None,
        }
    }
}

impl From<SupplierEvent> for wire::SupplierEvent {
    fn from(e: SupplierEvent) -> Self {
        match e {
            SupplierEvent::Registered {
                supplier_id,
                owner,
                legal_name,
                registration_number,
                contact_email,
                phone,
                address,
                categories,
            } => Self::Registered(wire::RegisteredV1 {
                supplier_id: supplier_id.0,
                owner,
                legal_name: legal_name.as_str().to_owned(),
                registration_number: registration_number.as_str().to_owned(),
                contact_email: contact_email.as_str().to_owned(),
                phone: phone.as_str().to_owned(),
                address: AddressV1 {
                    line1: address.line1.as_str().to_owned(),
                    city: address.city.as_str().to_owned(),
                    postal_code: address.postal_code.as_str().to_owned(),
                    country: address.country.as_str().to_owned(),
                },
                categories: categories.iter().map(|c| c.as_str().to_owned()).collect(),
            }),
            SupplierEvent::DocumentSubmitted {
                kind,
                reference,
                expires_on,
            } => Self::DocumentSubmitted(wire::DocumentSubmittedV1 {
                kind: kind.as_str().to_owned(),
                reference: reference.as_str().to_owned(),
                expires_on,
            }),
            SupplierEvent::Approved { note } => Self::Approved(wire::NoteV1 {
                note: note.map(|n| n.as_str().to_owned()),
            }),
            SupplierEvent::Rejected { reason } => Self::Rejected(wire::ReasonV1 {
                reason: reason.as_str().to_owned(),
            }),
            SupplierEvent::Suspended { reason, code } => Self::Suspended(wire::SuspendedV2 {
                reason: reason.as_str().to_owned(),
                reason_code: code.as_str().to_owned(),
            }),
            SupplierEvent::Reinstated { note } => Self::Reinstated(wire::NoteV1 {
                note: note.map(|n| n.as_str().to_owned()),
            }),
        }
    }
}

/// A stored event naming a category or document kind this version does not know.
#[derive(Debug, thiserror::Error)]
#[error("stored supplier event has an unknown {what}: {value}")]
pub struct UnknownStoredValue {
    what: &'static str,
    value: String,
}

impl TryFrom<wire::SupplierEvent> for SupplierEvent {
    type Error = UnknownStoredValue;

    fn try_from(e: wire::SupplierEvent) -> Result<Self, UnknownStoredValue> {
        Ok(match e {
            wire::SupplierEvent::Registered(r) => Self::Registered {
                supplier_id: SupplierId(r.supplier_id),
                owner: r.owner,
                legal_name: LegalName::trusted(r.legal_name),
                registration_number: RegistrationNumber::trusted(r.registration_number),
                contact_email: Email::trusted(r.contact_email),
                phone: Phone::trusted(r.phone),
                address: Address {
                    line1: AddressLine::trusted(r.address.line1),
                    city: City::trusted(r.address.city),
                    postal_code: PostalCode::trusted(r.address.postal_code),
                    country: CountryCode::trusted(r.address.country),
                },
                categories: r
                    .categories
                    .into_iter()
                    .map(|c| {
                        ProductCategory::parse(&c).ok_or(UnknownStoredValue {
                            what: "category",
                            value: c,
                        })
                    })
                    .collect::<Result<_, _>>()?,
            },
            wire::SupplierEvent::DocumentSubmitted(d) => Self::DocumentSubmitted {
                kind: DocumentKind::parse(&d.kind).ok_or(UnknownStoredValue {
                    what: "document kind",
                    value: d.kind.clone(),
                })?,
                reference: DocumentReference::trusted(d.reference),
                expires_on: d.expires_on,
            },
            wire::SupplierEvent::Approved(n) => Self::Approved {
                note: n.note.map(Note::trusted),
            },
            wire::SupplierEvent::Rejected(r) => Self::Rejected {
                reason: Reason::trusted(r.reason),
            },
            wire::SupplierEvent::Suspended(r) => Self::Suspended {
                code: SuspensionCode::parse(&r.reason_code).ok_or(UnknownStoredValue {
                    what: "suspension reason code",
                    value: r.reason_code.clone(),
                })?,
                reason: Reason::trusted(r.reason),
            },
            wire::SupplierEvent::Reinstated(n) => Self::Reinstated {
                note: n.note.map(Note::trusted),
            },
        })
    }
}

impl cqrs_es::DomainEvent for SupplierEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Registered { .. } => wire::REGISTERED,
            Self::DocumentSubmitted { .. } => wire::DOCUMENT_SUBMITTED,
            Self::Approved { .. } => wire::APPROVED,
            Self::Rejected { .. } => wire::REJECTED,
            Self::Suspended { .. } => wire::SUSPENDED,
            Self::Reinstated { .. } => wire::REINSTATED,
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        wire::current_version(&self.event_type())
            .unwrap_or(1)
            .to_string()
    }
}
