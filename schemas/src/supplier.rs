//! Supplier events on the wire (topic [`crate::topics::SUPPLIER`]).
//!
//! Published versions are never edited: a change that breaks a reader gets a new version and
//! an upcaster from the old one.

use crate::envelope::EnvelopeError;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `SupplierRegistered`: a supplier registered and is `pending`.
pub const REGISTERED: &str = "SupplierRegistered";
/// `SupplierDocumentSubmitted`: a verification document was filed.
pub const DOCUMENT_SUBMITTED: &str = "SupplierDocumentSubmitted";
/// `SupplierApproved`: `pending` -> `approved`.
pub const APPROVED: &str = "SupplierApproved";
/// `SupplierRejected`: `pending` -> `rejected` (final).
pub const REJECTED: &str = "SupplierRejected";
/// `SupplierSuspended`: `approved` -> `suspended`.
pub const SUSPENDED: &str = "SupplierSuspended";
/// `SupplierReinstated`: `suspended` -> `approved`.
pub const REINSTATED: &str = "SupplierReinstated";

/// The JSON Schema of every supplier event type and version: `(event type, version, schema)`.
pub fn json_schemas() -> Vec<(&'static str, u32, serde_json::Value)> {
    use schemars::schema_for;
    let v = |s: schemars::Schema| s.to_value();
    vec![
        (REGISTERED, 1, v(schema_for!(RegisteredV1))),
        (DOCUMENT_SUBMITTED, 1, v(schema_for!(DocumentSubmittedV1))),
        (APPROVED, 1, v(schema_for!(NoteV1))),
        (REJECTED, 1, v(schema_for!(ReasonV1))),
        (SUSPENDED, 1, v(schema_for!(ReasonV1))),
        (SUSPENDED, 2, v(schema_for!(SuspendedV2))),
        (REINSTATED, 1, v(schema_for!(NoteV1))),
    ]
}

/// Every supplier event type with its current version.
pub const EVENT_TYPES: &[(&str, u32)] = &[
    (REGISTERED, 1),
    (DOCUMENT_SUBMITTED, 1),
    (APPROVED, 1),
    (REJECTED, 1),
    (SUSPENDED, 2),
    (REINSTATED, 1),
];

/// The current version of an event type.
pub fn current_version(event_type: &str) -> Option<u32> {
    EVENT_TYPES
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, v)| *v)
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

/// Brings a payload of any known version of `event_type` to the current version, as JSON:
/// `(current version, payload)`. Payloads already current are returned unchanged (not
/// validated); use [`SupplierEvent::decode`] to validate.
///
/// # Errors
/// [`EnvelopeError::Payload`] when an old payload does not match its own version's schema.
pub fn upcast_payload(
    event_type: &str,
    event_version: u32,
    payload: serde_json::Value,
) -> Result<(u32, serde_json::Value), EnvelopeError> {
    let bad = |source| EnvelopeError::Payload {
        event_type: event_type.to_owned(),
        event_version,
        source,
    };
    match (event_type, event_version) {
        (SUSPENDED, 1) => {
            let v1: ReasonV1 = serde_json::from_value(payload).map_err(bad)?;
            let v2 = serde_json::to_value(upcast_suspended_v1(v1)).map_err(bad)?;
            Ok((2, v2))
        }
        _ => Ok((event_version, payload)),
    }
}

/// A supplier event in its current wire version, tagged with its event type. This is also the
/// exact form kept in the event store's `payload` column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SupplierEvent {
    /// See [`REGISTERED`].
    #[serde(rename = "SupplierRegistered")]
    Registered(RegisteredV1),
    /// See [`DOCUMENT_SUBMITTED`].
    #[serde(rename = "SupplierDocumentSubmitted")]
    DocumentSubmitted(DocumentSubmittedV1),
    /// See [`APPROVED`].
    #[serde(rename = "SupplierApproved")]
    Approved(NoteV1),
    /// See [`REJECTED`].
    #[serde(rename = "SupplierRejected")]
    Rejected(ReasonV1),
    /// See [`SUSPENDED`] (v2; v1 is upcast).
    #[serde(rename = "SupplierSuspended")]
    Suspended(SuspendedV2),
    /// See [`REINSTATED`].
    #[serde(rename = "SupplierReinstated")]
    Reinstated(NoteV1),
}

impl SupplierEvent {
    /// The event type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Registered(_) => REGISTERED,
            Self::DocumentSubmitted(_) => DOCUMENT_SUBMITTED,
            Self::Approved(_) => APPROVED,
            Self::Rejected(_) => REJECTED,
            Self::Suspended(_) => SUSPENDED,
            Self::Reinstated(_) => REINSTATED,
        }
    }

    /// The version of this event type's payload.
    pub fn event_version(&self) -> u32 {
        current_version(self.event_type()).unwrap_or(1)
    }

    /// The payload in its current version, untagged (as in an envelope).
    pub fn payload(&self) -> serde_json::Value {
        let tagged = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        crate::envelope::untag_stored_payload(self.event_type(), tagged)
            .unwrap_or(serde_json::Value::Null)
    }

    /// Decodes an envelope's (untagged) payload of any known version; old versions are
    /// upcast, so the result is always the current version.
    ///
    /// # Errors
    /// [`EnvelopeError::UnknownEventType`] for a type or version this crate does not know,
    /// [`EnvelopeError::Payload`] when the payload does not match its schema.
    pub fn decode(
        event_type: &str,
        event_version: u32,
        payload: serde_json::Value,
    ) -> Result<Self, EnvelopeError> {
        let bad = |source| EnvelopeError::Payload {
            event_type: event_type.to_owned(),
            event_version,
            source,
        };
        match (event_type, event_version) {
            (REGISTERED, 1) => serde_json::from_value(payload)
                .map(Self::Registered)
                .map_err(bad),
            (DOCUMENT_SUBMITTED, 1) => serde_json::from_value(payload)
                .map(Self::DocumentSubmitted)
                .map_err(bad),
            (APPROVED, 1) => serde_json::from_value(payload)
                .map(Self::Approved)
                .map_err(bad),
            (REJECTED, 1) => serde_json::from_value(payload)
                .map(Self::Rejected)
                .map_err(bad),
            (SUSPENDED, 1) => serde_json::from_value(payload)
                .map(|v1| Self::Suspended(upcast_suspended_v1(v1)))
                .map_err(bad),
            (SUSPENDED, 2) => serde_json::from_value(payload)
                .map(Self::Suspended)
                .map_err(bad),
            (REINSTATED, 1) => serde_json::from_value(payload)
                .map(Self::Reinstated)
                .map_err(bad),
            _ => Err(EnvelopeError::UnknownEventType {
                event_type: event_type.to_owned(),
                event_version,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
