//! Signed evidence: a supplier's whole history as a JSON document an auditor can take away and
//! check offline, with nothing but the signer's public key (a JWKS).
//!
//! The document holds the envelopes exactly as stored (with their chain hashes, see
//! [`schemas::chain`]) and a `signature` object: Ed25519 over the canonical JSON
//! ([`schemas::chain::canonical_json`]) of the document without its `signature` member.
//! [`check`] verifies the signature, then recomputes the hash chain from the envelopes and
//! compares its head with the signed one.
//!
//! Evidence keys are kept apart from token-signing keys (their JWKS is separate), so a service
//! that signs evidence can never mint a token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use schemas::chain::{self, BrokenLink};
use schemas::Envelope;
use serde_json::{json, Value};
use std::path::Path;

/// The `format` of a supplier history export.
pub const HISTORY_FORMAT: &str = "freshline.supplier-history/v1";

/// Signs evidence documents.
#[derive(Clone)]
pub struct EvidenceSigner {
    kid: String,
    key: SigningKey,
}

impl std::fmt::Debug for EvidenceSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Why evidence could not be signed or does not check out.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The key file is missing or not an Ed25519 PKCS#8 PEM.
    #[error("evidence key: {0}")]
    Key(String),
    /// The document is not a signed evidence document.
    #[error("not a signed evidence document: {0}")]
    Malformed(String),
    /// No key with the document's `kid` in the JWKS.
    #[error("no Ed25519 key {0:?} in the JWKS")]
    UnknownKey(String),
    /// The signature does not verify: the document was changed or signed by someone else.
    #[error("the signature does not verify")]
    BadSignature,
    /// The events' hash chain is broken.
    #[error("the hash chain is broken: {0}")]
    Chain(#[from] BrokenLink),
    /// The chain's head is not the signed head.
    #[error("the signed head {signed} is not the head of the events {computed}")]
    HeadMismatch {
        /// Head in the document.
        signed: String,
        /// Head recomputed.
        computed: String,
    },
}

impl EvidenceSigner {
    /// From a PKCS#8 PEM Ed25519 private key.
    ///
    /// # Errors
    /// [`EvidenceError::Key`] when it is not one.
    pub fn from_pem(kid: &str, pem: &str) -> Result<Self, EvidenceError> {
        let key = SigningKey::from_pkcs8_pem(pem).map_err(|e| EvidenceError::Key(e.to_string()))?;
        Ok(Self {
            kid: kid.to_owned(),
            key,
        })
    }

    /// From `path` (PEM) and `path` with extension `kid` (its key id), as written by
    /// `freshline audit keygen`.
    ///
    /// # Errors
    /// [`EvidenceError::Key`] when either file is missing or wrong.
    pub fn from_file(path: &Path) -> Result<Self, EvidenceError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| EvidenceError::Key(format!("{}: {e}", p.display())))
        };
        let pem = read(path)?;
        let kid = read(&path.with_extension("kid"))?;
        Self::from_pem(kid.trim(), &pem)
    }

    /// Key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWKS with one key.
    pub fn jwks(&self) -> Value {
        json!({"keys": [crate::auth::public_jwk(&self.kid, self.key.verifying_key().as_bytes())]})
    }

    /// Adds a `signature` member to `document` (an object) signing everything else in it.
    ///
    /// # Errors
    /// [`EvidenceError::Malformed`] when `document` is not an object.
    pub fn sign(&self, mut document: Value) -> Result<Value, EvidenceError> {
        let obj = document
            .as_object_mut()
            .ok_or_else(|| EvidenceError::Malformed("not an object".into()))?;
        obj.remove("signature");
        let message = chain::canonical_json(&Value::Object(obj.clone()));
        let sig = self.key.sign(message.as_bytes());
        obj.insert(
            "signature".into(),
            json!({"alg": "EdDSA", "kid": self.kid, "value": URL_SAFE_NO_PAD.encode(sig.to_bytes())}),
        );
        Ok(document)
    }
}

/// A supplier's history as an unsigned evidence document.
pub fn history_document(
    supplier_id: &str,
    events: &[Envelope],
    exported_at: DateTime<Utc>,
    exported_by: &str,
) -> Value {
    let head = events
        .last()
        .map(|e| json!({"sequence": e.sequence, "hash": e.hash}));
    json!({
        "format": HISTORY_FORMAT,
        "aggregate_type": schemas::aggregate_types::SUPPLIER,
        "aggregate_id": supplier_id,
        "exported_at": chain::timestamp(exported_at),
        "exported_by": exported_by,
        "chain": "hash = SHA-256(previous hash || SHA-256(canonical envelope)); see schemas::chain",
        "events": events,
        "head": head,
    })
}

/// What [`check`] established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The signing key's id.
    pub kid: String,
    /// The aggregate.
    pub aggregate_id: String,
    /// Events in the document.
    pub events: usize,
    /// The head hash.
    pub head: Option<String>,
}

/// Verifies a signed evidence document against a JWKS: signature, then chain, then head.
///
/// # Errors
/// The first thing that does not hold.
pub fn check(document: &Value, jwks: &Value) -> Result<Checked, EvidenceError> {
    let malformed = |m: &str| EvidenceError::Malformed(m.to_owned());
    let mut unsigned = document
        .as_object()
        .ok_or_else(|| malformed("not an object"))?
        .clone();
    let signature = unsigned
        .remove("signature")
        .ok_or_else(|| malformed("no signature"))?;
    let kid = signature["kid"]
        .as_str()
        .ok_or_else(|| malformed("signature has no kid"))?;
    if signature["alg"] != "EdDSA" {
        return Err(malformed("signature alg is not EdDSA"));
    }
    let sig_bytes: [u8; 64] = signature["value"]
        .as_str()
        .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("signature value is not 64 bytes of base64url"))?;
    let key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"] == kid && k["kty"] == "OKP" && k["crv"] == "Ed25519")
        .and_then(|k| k["x"].as_str())
        .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| EvidenceError::UnknownKey(kid.to_owned()))?;
    let message = chain::canonical_json(&Value::Object(unsigned.clone()));
    key.verify_strict(
        message.as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig_bytes),
    )
    .map_err(|_| EvidenceError::BadSignature)?;

    let events: Vec<Envelope> = serde_json::from_value(unsigned["events"].clone())
        .map_err(|e| EvidenceError::Malformed(format!("events: {e}")))?;
    let aggregate_id = unsigned["aggregate_id"]
        .as_str()
        .ok_or_else(|| malformed("no aggregate_id"))?;
    if let Some(stray) = events.iter().find(|e| e.aggregate_id != aggregate_id) {
        return Err(EvidenceError::Malformed(format!(
            "event {} belongs to {}",
            stray.event_id, stray.aggregate_id
        )));
    }
    let computed = chain::verify_envelopes(&events)?;
    let head = unsigned["head"]["hash"].as_str().map(str::to_owned);
    if !events.is_empty() {
        let computed = chain::to_hex(&computed);
        if head.as_deref() != Some(computed.as_str()) {
            return Err(EvidenceError::HeadMismatch {
                signed: head.unwrap_or_default(),
                computed,
            });
        }
    }
    Ok(Checked {
        kid: kid.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        events: events.len(),
        head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(kid: &str) -> EvidenceSigner {
        let generated = crate::auth::generate_key(kid).expect("key");
        EvidenceSigner::from_pem(kid, &generated.private_pem).expect("signer")
    }

    fn events() -> Vec<Envelope> {
        let mut prev = chain::GENESIS;
        (1..=3)
            .map(|s| {
                let mut e = Envelope {
                    event_id: uuid::Uuid::now_v7(),
                    aggregate_type: "Supplier".into(),
                    aggregate_id: "s-1".into(),
                    sequence: s,
                    global_position: s,
                    event_type: "SupplierApproved".into(),
                    event_version: 1,
                    occurred_at: Utc::now(),
                    metadata: serde_json::Map::new(),
                    payload: json!({"note": format!("n{s}")}),
                    hash: None,
                };
                prev = chain::link(&prev, &chain::digest_envelope(&e));
                e.hash = Some(chain::to_hex(&prev));
                e
            })
            .collect()
    }

    #[test]
    fn a_signed_history_checks_out_and_any_edit_is_caught() {
        let s = signer("ev-1");
        let doc = s
            .sign(history_document("s-1", &events(), Utc::now(), "auditor-1"))
            .expect("signed");
        let checked = check(&doc, &s.jwks()).expect("checks out");
        assert_eq!(checked.events, 3);

        let mut edited = doc.clone();
        edited["events"][1]["payload"]["note"] = json!("changed");
        assert!(matches!(
            check(&edited, &s.jwks()),
            Err(EvidenceError::BadSignature)
        ));

        let other = signer("ev-1");
        assert!(matches!(
            check(&doc, &other.jwks()),
            Err(EvidenceError::BadSignature)
        ));
        assert!(matches!(
            check(&doc, &signer("ev-2").jwks()),
            Err(EvidenceError::UnknownKey(_))
        ));
    }

    #[test]
    fn a_re_signed_document_with_a_rewritten_event_fails_on_the_chain() {
        let s = signer("ev-1");
        let mut evs = events();
        evs[0].payload = json!({"note": "forged"});
        let doc = s
            .sign(history_document("s-1", &evs, Utc::now(), "x"))
            .expect("signed");
        assert!(matches!(
            check(&doc, &s.jwks()),
            Err(EvidenceError::Chain(BrokenLink::Mismatch {
                sequence: 1,
                ..
            }))
        ));
    }
}
