//! Supplier events on the wire (topic [`crate::topics::SUPPLIER`]).
//!
//! Published versions are never edited: a change that breaks a reader gets a new version and
//! an upcaster from the old one.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

crate::wire_events! {
    /// A supplier event in its current wire version, tagged with its event type. This is also
    /// the exact form kept in the event store's `payload` column.
    SupplierEvent {
        /// `SupplierRegistered`: a supplier registered and is `pending`.
        REGISTERED = "SupplierRegistered" => Registered(RegisteredV1),
        /// `SupplierDocumentSubmitted`: a verification document was filed.
        DOCUMENT_SUBMITTED = "SupplierDocumentSubmitted" => DocumentSubmitted(DocumentSubmittedV1),
        /// `SupplierApproved`: `pending` -> `approved`.
        APPROVED = "SupplierApproved" => Approved(NoteV1),
        /// `SupplierRejected`: `pending` -> `rejected` (final).
        REJECTED = "SupplierRejected" => Rejected(ReasonV1),
        /// `SupplierSuspended`: `approved` -> `suspended` (v2; v1 is upcast).
        SUSPENDED = "SupplierSuspended" => Suspended(SuspendedV2) @ 2 {
            1 => ReasonV1 => upcast_suspended_v1
        },
        /// `SupplierReinstated`: `suspended` -> `approved`.
        REINSTATED = "SupplierReinstated" => Reinstated(NoteV1),
    }
}

/// Postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressV1 {
    /// Street and number.
    pub line1: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

/// `SupplierRegistered` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegisteredV1 {
    /// The supplier's id.
    pub supplier_id: Uuid,
    /// Subject of the owning supplier account, if any.
    pub owner: Option<String>,
    /// Legal name.
    pub legal_name: String,
    /// Registration number, normalised (upper-case, no spaces).
    pub registration_number: String,
    /// Contact e-mail.
    pub contact_email: String,
    /// Contact phone (`+` and digits).
    pub phone: String,
    /// Business address.
    pub address: AddressV1,
    /// Product categories it sells (`fruit`, `vegetable`, `herb`, `dairy`, `bakery`, `other`).
    pub categories: Vec<String>,
}

/// `SupplierDocumentSubmitted` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DocumentSubmittedV1 {
    /// `business_license`, `tax_certificate`, `food_safety_certificate` or `organic_certificate`.
    pub kind: String,
    /// The issuer's reference.
    pub reference: String,
    /// Last day the document is valid.
    pub expires_on: NaiveDate,
}

/// `SupplierApproved` v1 and `SupplierReinstated` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NoteV1 {
    /// An optional note for the record.
    pub note: Option<String>,
}

/// `SupplierRejected` v1 and `SupplierSuspended` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReasonV1 {
    /// Why.
    pub reason: String,
}

/// Why a supplier was suspended, as a code reports and dashboards can group by.
pub const SUSPENSION_REASON_CODES: &[&str] =
    &["food_safety", "quality", "compliance", "payment", "other"];

/// `SupplierSuspended` v2: v1's free-text reason plus a required `reason_code`.
///
/// v1 events are upcast with `reason_code: "other"` (see [`upcast_suspended_v1`]): v1 never
/// asked for a code, so none can be inferred from the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendedV2 {
    /// Why, in words.
    pub reason: String,
    /// One of [`SUSPENSION_REASON_CODES`].
    pub reason_code: String,
}

/// Reads a `SupplierSuspended` v1 payload as v2.
pub fn upcast_suspended_v1(v1: ReasonV1) -> SuspendedV2 {
    SuspendedV2 {
        reason: v1.reason,
        reason_code: "other".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::EnvelopeError;

    #[test]
    fn stored_form_is_the_payload_tagged_with_its_event_type() {
        let e = SupplierEvent::Rejected(ReasonV1 {
            reason: "forged licence".into(),
        });
        let stored = serde_json::to_value(&e).expect("serialise");
        assert_eq!(
            stored,
            serde_json::json!({"SupplierRejected": {"reason": "forged licence"}})
        );
        let payload =
            crate::envelope::untag_stored_payload(e.event_type(), stored).expect("tagged");
        assert_eq!(
            SupplierEvent::decode(e.event_type(), 1, payload).expect("decodes"),
            e
        );
    }

    #[test]
    fn suspended_v1_is_read_as_v2_with_reason_code_other() {
        let v1 = serde_json::json!({"reason": "late deliveries"});
        let expected = SuspendedV2 {
            reason: "late deliveries".into(),
            reason_code: "other".into(),
        };
        assert_eq!(
            SupplierEvent::decode(SUSPENDED, 1, v1.clone()).expect("v1 decodes"),
            SupplierEvent::Suspended(expected.clone())
        );
        let (version, payload) = upcast_payload(SUSPENDED, 1, v1).expect("upcasts");
        assert_eq!(version, 2);
        assert_eq!(
            SupplierEvent::decode(SUSPENDED, 2, payload).expect("v2 decodes"),
            SupplierEvent::Suspended(expected)
        );
    }

    #[test]
    fn a_v2_payload_is_not_accepted_as_v1_nor_a_v1_payload_as_v2() {
        let v2 = serde_json::json!({"reason": "x", "reason_code": "quality"});
        assert!(SupplierEvent::decode(SUSPENDED, 2, v2).is_ok());
        let v1 = serde_json::json!({"reason": "x"});
        assert!(SupplierEvent::decode(SUSPENDED, 2, v1).is_err());
    }

    #[test]
    fn unknown_versions_are_refused_not_guessed() {
        let err = SupplierEvent::decode(REJECTED, 9, serde_json::json!({"reason": "x"}));
        assert!(matches!(err, Err(EnvelopeError::UnknownEventType { .. })));
    }
}
