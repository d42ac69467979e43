//! Payments: the port sagas use to move money ([`PaymentGateway`]) and its HTTP adapter
//! ([`HttpCardGateway`]). The simulated card gateway it talks to in local runs and tests (a
//! payment provider's test mode) is `simulators::card_gateway`.
//!
//! Every call carries an idempotency key chosen by the caller (saga id + step): a call that
//! failed with [`GatewayError::Transient`] is retried with the **same** key, and the gateway then
//! answers what it answered the first time instead of acting again. A
//! [`GatewayOutcome::Declined`] is the provider's "no" (final for that payment);
//! [`GatewayError::Rejected`] is a contract error (refund more than captured, capture of an
//! unknown or voided authorization): retrying it cannot help.

mod http;
pub mod wire;

pub use http::{HttpCardGateway, HttpCardGatewayConfig};

use async_trait::async_trait;
use uuid::Uuid;

/// What an authorisation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// The caller's key for this attempt; the same key on a retry.
    pub idempotency_key: String,
    /// The payment being paid.
    pub payment_id: Uuid,
    /// The provider's card token (never a card number).
    pub card_token: String,
    /// Amount in the currency's minor unit, more than zero.
    pub amount_minor: i64,
    /// ISO 4217 code (`EUR`).
    pub currency: String,
}

/// What the gateway decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayOutcome {
    /// Done: the gateway's reference of what it did (authorisation, capture or refund).
    Approved {
        /// The gateway's reference.
        reference: String,
    },
    /// The provider refused (the card was declined, the token is invalid): final.
    Declined {
        /// `card_declined`, `invalid_token`, ...
        code: String,
        /// What the provider said.
        reason: String,
    },
}

/// Why a call gave no outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// Network, timeout, 408, 429 or 5xx: worth retrying with the same idempotency key.
    #[error("payment gateway unavailable: {0}")]
    Transient(String),
    /// A 4xx contract error: the request can never succeed as it is.
    #[error("payment gateway rejected the request: {code}: {reason}")]
    Rejected {
        /// Stable code (`refund_exceeds_captured`, `authorization_not_found`, ...).
        code: String,
        /// What the gateway said.
        reason: String,
    },
}

impl GatewayError {
    /// Whether trying again (with the same key) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// A payment provider, as sagas see it.
#[async_trait]
pub trait PaymentGateway: Send + Sync + std::fmt::Debug {
    /// Reserves `amount_minor` on the card.
    ///
    /// # Errors
    /// [`GatewayError::Transient`] to retry with the same key, [`GatewayError::Rejected`] for a
    /// request the gateway will never accept.
    async fn authorize(&self, req: AuthorizeRequest) -> Result<GatewayOutcome, GatewayError>;

    /// Takes up to the authorised amount (at most one capture per authorisation).
    ///
    /// # Errors
    /// As for [`PaymentGateway::authorize`]; e.g. `Rejected` for an unknown or voided
    /// authorisation or more than authorised.
    async fn capture(
        &self,
        idempotency_key: &str,
        authorization_ref: &str,
        amount_minor: i64,
    ) -> Result<GatewayOutcome, GatewayError>;

    /// Releases an authorisation that was not captured.
    ///
    /// # Errors
    /// As for [`PaymentGateway::authorize`]; e.g. `Rejected` once captured.
    async fn void(
        &self,
        idempotency_key: &str,
        authorization_ref: &str,
    ) -> Result<GatewayOutcome, GatewayError>;

    /// Pays part or all of a capture back (never more than captured minus refunded).
    ///
    /// # Errors
    /// As for [`PaymentGateway::authorize`]; e.g. `Rejected` for more than is refundable.
    async fn refund(
        &self,
        idempotency_key: &str,
        capture_ref: &str,
        amount_minor: i64,
    ) -> Result<GatewayOutcome, GatewayError>;
}
