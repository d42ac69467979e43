//! The hash chain that makes each aggregate's history tamper-evident.
//!
//! Every event carries `hash = SHA-256(previous hash ‖ SHA-256(canonical envelope))`, where the
//! previous hash is that of the event with the preceding `sequence` in the same stream (32 zero
//! bytes before the first event). Changing, removing or reordering any stored event breaks
//! every later link of its stream.
//!
//! The canonical envelope is the envelope as published minus the two fields that are not the
//! event's content: `global_position` (assigned by the store on insert, a position rather than
//! a fact) and `hash` itself. It is JSON with object keys sorted by their UTF-8 bytes, no
//! insignificant whitespace, `occurred_at` as RFC 3339 UTC with exactly six fractional digits,
//! and the payload exactly as stored (never upcast: the chain covers what was written).
//! Anyone can recompute it from an exported envelope, with no access to the store.

use crate::Envelope;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// The link before the first event of a stream.
pub const GENESIS: Hash = [0; 32];

/// The fields that are hashed, borrowed from wherever the event is (a row, an envelope).
#[derive(Debug, Clone, Copy)]
pub struct Content<'a> {
    /// Event id.
    pub event_id: uuid::Uuid,
    /// Aggregate type.
    pub aggregate_type: &'a str,
    /// Aggregate id.
    pub aggregate_id: &'a str,
    /// Sequence in the stream.
    pub sequence: i64,
    /// Event type.
    pub event_type: &'a str,
    /// Event version, as stored.
    pub event_version: u32,
    /// When it was recorded.
    pub occurred_at: DateTime<Utc>,
    /// Metadata (an object of strings).
    pub metadata: &'a serde_json::Map<String, Value>,
    /// Payload as stored (untagged, never upcast).
    pub payload: &'a Value,
}

impl<'a> From<&'a Envelope> for Content<'a> {
    fn from(e: &'a Envelope) -> Self {
        Self {
            event_id: e.event_id,
            aggregate_type: &e.aggregate_type,
            aggregate_id: &e.aggregate_id,
            sequence: e.sequence,
            event_type: &e.event_type,
            event_version: e.event_version,
            occurred_at: e.occurred_at,
            metadata: &e.metadata,
            payload: &e.payload,
        }
    }
}

impl Content<'_> {
    /// The canonical bytes (see the module documentation).
    pub fn canonical(&self) -> Vec<u8> {
        // Keys in byte order: aggregate_id, aggregate_type, event_id, event_type,
        // event_version, metadata, occurred_at, payload, sequence.
        let mut out = String::with_capacity(256);
        out.push_str("{\"aggregate_id\":");
        string_into(self.aggregate_id, &mut out);
        out.push_str(",\"aggregate_type\":");
        string_into(self.aggregate_type, &mut out);
        out.push_str(",\"event_id\":\"");
        out.push_str(&self.event_id.hyphenated().to_string());
        out.push_str("\",\"event_type\":");
        string_into(self.event_type, &mut out);
        out.push_str(",\"event_version\":");
        out.push_str(&self.event_version.to_string());
        out.push_str(",\"metadata\":");
        canonical_map_into(self.metadata, &mut out);
        out.push_str(",\"occurred_at\":\"");
        out.push_str(&timestamp(self.occurred_at));
        out.push_str("\",\"payload\":");
        canonical_into(self.payload, &mut out);
        out.push_str(",\"sequence\":");
        out.push_str(&self.sequence.to_string());
        out.push('}');
        out.into_bytes()
    }

    /// SHA-256 of the canonical bytes.
    pub fn digest(&self) -> Hash {
        Sha256::digest(self.canonical()).into()
    }
}

/// The canonical timestamp form: RFC 3339, UTC, six fractional digits (the store keeps
/// microseconds).
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The digest of an envelope's canonical form.
pub fn digest_envelope(e: &Envelope) -> Hash {
    Content::from(e).digest()
}

/// The next link: `SHA-256(prev ‖ digest)`.
pub fn link(prev: &Hash, digest: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(digest);
    h.finalize().into()
}

/// Lower-case hex.
pub fn to_hex(h: &Hash) -> String {
    hex::encode(h)
}

/// Parses lower- or upper-case hex of 32 bytes.
pub fn from_hex(s: &str) -> Option<Hash> {
    let bytes = hex::decode(s).ok()?;
    bytes.try_into().ok()
}

/// Why a stream's chain does not hold, at its first broken link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokenLink {
    /// The stored hash is not the one recomputed from the event and its predecessor.
    #[error("sequence {sequence}: stored hash {stored} != recomputed {recomputed}")]
    Mismatch {
        /// The event's sequence.
        sequence: i64,
        /// What is stored.
        stored: String,
        /// What the content and the previous link give.
        recomputed: String,
    },
    /// The event has no hash.
    #[error("sequence {sequence}: no hash stored")]
    Missing {
        /// The event's sequence.
        sequence: i64,
    },
    /// Sequences are not 1, 2, 3, ...
    #[error("sequence {found} where {expected} was expected")]
    Gap {
        /// The sequence that should come next.
        expected: i64,
        /// The sequence found.
        found: i64,
    },
}

/// Checks one stream link by link, carrying the previous hash: feed events in sequence order.
#[derive(Debug, Clone)]
pub struct Verifier {
    prev: Hash,
    next_sequence: i64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            prev: GENESIS,
            next_sequence: 1,
        }
    }
}

impl Verifier {
    /// Checks the next event from its digest and stored hash.
    ///
    /// # Errors
    /// The first broken link; the verifier then continues from the stored hash, so later
    /// links are judged on their own.
    pub fn check(
        &mut self,
        sequence: i64,
        digest: &Hash,
        stored: Option<&Hash>,
    ) -> Result<(), BrokenLink> {
        if sequence != self.next_sequence {
            let err = BrokenLink::Gap {
                expected: self.next_sequence,
                found: sequence,
            };
            self.next_sequence = sequence + 1;
            if let Some(s) = stored {
                self.prev = *s;
            }
            return Err(err);
        }
        self.next_sequence += 1;
        let recomputed = link(&self.prev, digest);
        let Some(stored) = stored else {
            self.prev = recomputed;
            return Err(BrokenLink::Missing { sequence });
        };
        self.prev = *stored;
        if *stored == recomputed {
            Ok(())
        } else {
            Err(BrokenLink::Mismatch {
                sequence,
                stored: to_hex(stored),
                recomputed: to_hex(&recomputed),
            })
        }
    }

    /// The last hash seen (the head of the stream so far).
    pub fn head(&self) -> Hash {
        self.prev
    }
}

/// Verifies a whole stream of envelopes (in sequence order); returns its head hash.
///
/// # Errors
/// The first broken link.
pub fn verify_envelopes<'a>(
    events: impl IntoIterator<Item = &'a Envelope>,
) -> Result<Hash, BrokenLink> {
    let mut v = Verifier::default();
    for e in events {
        let stored = e.hash.as_deref().and_then(from_hex);
        v.check(e.sequence, &digest_envelope(e), stored.as_ref())?;
    }
    Ok(v.head())
}

/// Canonical JSON of any value: keys sorted by their UTF-8 bytes, no whitespace.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    canonical_into(v, &mut out);
    out
}

fn canonical_into(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => canonical_map_into(m, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_into(item, out);
            }
            out.push(']');
        }
        Value::String(s) => string_into(s, out),
        // Numbers, booleans and null: serde_json's own (shortest round-trip) form.
        other => out.push_str(&other.to_string()),
    }
}

fn canonical_map_into(m: &serde_json::Map<String, Value>, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string_into(k, out);
        out.push(':');
        canonical_into(v, out);
    }
    out.push('}');
}

fn string_into(s: &str, out: &mut String) {
    out.push_str(&Value::String(s.to_owned()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(sequence: i64, payload: Value) -> Envelope {
        Envelope {
            event_id: uuid::Uuid::from_u128(u128::try_from(sequence).unwrap_or(0)),
            aggregate_type: "Supplier".into(),
            aggregate_id: "s-1".into(),
            sequence,
            global_position: 99,
            event_type: "SupplierApproved".into(),
            event_version: 1,
            occurred_at: DateTime::parse_from_rfc3339("2026-11-22T10:00:00.5Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            metadata: json!({"b": "2", "a": "1"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            payload,
            hash: None,
        }
    }

    fn chain(mut events: Vec<Envelope>) -> Vec<Envelope> {
        let mut prev = GENESIS;
        for e in &mut events {
            prev = link(&prev, &digest_envelope(e));
            e.hash = Some(to_hex(&prev));
        }
        events
    }

    #[test]
    fn canonical_form_sorts_keys_and_drops_position_and_hash() {
        let e = envelope(1, json!({"z": [1, {"y": true, "x": null}], "note": "é\"q"}));
        let text = String::from_utf8(Content::from(&e).canonical()).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"aggregate_id":"s-1","aggregate_type":"Supplier","event_id":"00000000-0000-0000-0000-000000000001","event_type":"SupplierApproved","event_version":1,"metadata":{"a":"1","b":"2"},"occurred_at":"2026-11-22T10:00:00.500000Z","payload":{"note":"é\"q","z":[1,{"x":null,"y":true}]},"sequence":1}"#
        );
        let mut moved = e.clone();
        moved.global_position = 12345;
        assert_eq!(digest_envelope(&moved), digest_envelope(&e));
    }

    #[test]
    fn an_intact_chain_verifies_and_any_change_is_named_at_its_sequence() {
        let events = chain((1..=4).map(|s| envelope(s, json!({"note": s}))).collect());
        assert!(verify_envelopes(&events).is_ok());

        let mut tampered = events.clone();
        tampered[2].payload = json!({"note": "rewritten"});
        assert!(matches!(
            verify_envelopes(&tampered),
            Err(BrokenLink::Mismatch { sequence: 3, .. })
        ));

        let mut tampered = events.clone();
        tampered[1]
            .metadata
            .insert("actor_sub".into(), "someone-else".into());
        assert!(matches!(
            verify_envelopes(&tampered),
            Err(BrokenLink::Mismatch { sequence: 2, .. })
        ));

        let mut dropped = events.clone();
        dropped.remove(1);
        assert!(matches!(
            verify_envelopes(&dropped),
            Err(BrokenLink::Gap {
                expected: 2,
                found: 3
            })
        ));
    }

    #[test]
    fn a_recomputed_hash_for_a_rewritten_event_still_breaks_the_next_link() {
        let mut events = chain((1..=3).map(|s| envelope(s, json!({"note": s}))).collect());
        events[0].payload = json!({"note": "forged"});
        let forged = link(&GENESIS, &digest_envelope(&events[0]));
        events[0].hash = Some(to_hex(&forged));
        assert!(matches!(
            verify_envelopes(&events),
            Err(BrokenLink::Mismatch { sequence: 2, .. })
        ));
    }
}
