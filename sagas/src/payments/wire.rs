//! The card gateway's HTTP bodies, shaped like a provider's REST API: what
//! [`HttpCardGateway`](super::HttpCardGateway) sends and the simulated gateway reads.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /v1/authorizations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    /// The payment (one authorisation per payment).
    pub payment_id: Uuid,
    /// The card token from the checkout.
    pub card_token: String,
    /// How much, in minor units.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
}

/// `POST /v1/authorizations/{ref}/capture` and `POST /v1/captures/{ref}/refunds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountBody {
    /// How much, in minor units.
    pub amount_minor: i64,
}

/// `POST /v1/authorizations/{ref}/void`: nothing (an empty body reads as `{}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoidBody {}

/// What the gateway answers: `reference` when approved (2xx), `code` and `reason` when
/// declined (402), a problem's `code` and `detail` otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Answer {
    /// The authorisation's, capture's or refund's reference.
    pub reference: Option<String>,
    /// Why declined, or the problem's code.
    pub code: Option<String>,
    /// Why declined, in words.
    pub reason: Option<String>,
    /// The problem's detail.
    pub detail: Option<String>,
}
