//! The envelope every event travels in on Kafka (the record value, JSON).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One event as published: identity, position, type and version, metadata, payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Envelope {
    /// Unique id of the event (UUIDv7, so ids sort by time).
    pub event_id: Uuid,
    /// Aggregate type (`Supplier`, ...).
    pub aggregate_type: String,
    /// Aggregate id.
    pub aggregate_id: String,
    /// Position of the event in its aggregate's stream, from 1.
    pub sequence: i64,
    /// Position in the whole store (commit order may differ; use `sequence` per aggregate).
    pub global_position: i64,
    /// Event type (`SupplierRegistered`, ...).
    pub event_type: String,
    /// Version of the event type's payload schema.
    pub event_version: u32,
    /// When it was recorded.
    pub occurred_at: DateTime<Utc>,
    /// Actor, reason, correlation and causation ids, idempotency key (see `metadata_keys`).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The payload, as defined for this event type and version.
    pub payload: serde_json::Value,
    /// The event's link in its stream's hash chain (lower-case hex SHA-256): see
    /// [`crate::chain`]. Absent on events published before the chain existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// A stored or published event that does not fit the envelope.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The stored payload is not `{"<EventType>": {...}}` with the row's event type.
    #[error("stored payload is not tagged with its event type {event_type}")]
    Untagged {
        /// The event type the row claims.
        event_type: String,
    },
    /// The event version is not a positive integer.
    #[error("event version {0:?} is not a positive integer")]
    BadVersion(String),
    /// A payload that does not match its schema.
    #[error("payload of {event_type} v{event_version} does not match its schema")]
    Payload {
        /// Event type.
        event_type: String,
        /// Event version.
        event_version: u32,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// An event type this crate does not know.
    #[error("unknown event type {event_type} v{event_version}")]
    UnknownEventType {
        /// Event type.
        event_type: String,
        /// Event version.
        event_version: u32,
    },
}

/// Takes the payload out of a stored, tagged payload (`{"SupplierApproved": {...}}`).
///
/// # Errors
/// [`EnvelopeError::Untagged`] when the stored value is not tagged with `event_type`.
pub fn untag_stored_payload(
    event_type: &str,
    stored: serde_json::Value,
) -> Result<serde_json::Value, EnvelopeError> {
    match stored {
        serde_json::Value::Object(mut map) if map.len() == 1 => {
            map.remove(event_type)
                .ok_or_else(|| EnvelopeError::Untagged {
                    event_type: event_type.to_owned(),
                })
        }
        _ => Err(EnvelopeError::Untagged {
            event_type: event_type.to_owned(),
        }),
    }
}

/// Parses a stored event version (`"1"`).
///
/// # Errors
/// [`EnvelopeError::BadVersion`] unless it is a positive integer.
pub fn parse_version(raw: &str) -> Result<u32, EnvelopeError> {
    match raw.parse::<u32>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(EnvelopeError::BadVersion(raw.to_owned())),
    }
}
