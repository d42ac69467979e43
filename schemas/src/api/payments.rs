//! Payments: initiation and what the card gateway answered.

use super::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/payments`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitiateBody {
    /// The order to pay for.
    pub order_id: Uuid,
}

/// `.../authorized` and `.../captured`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayResultBody {
    /// The gateway's reference.
    #[schema(format = "printable")]
    pub gateway_ref: String,
    /// The amount.
    pub amount: MoneyBody,
}

/// `.../declined`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclinedBody {
    /// `card_declined`, `timeout`, or the gateway's code.
    #[schema(format = "printable")]
    pub code: String,
    /// What the gateway said.
    #[schema(format = "reason")]
    pub reason: String,
}

/// `.../cancel`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelPaymentBody {
    /// Why.
    #[schema(format = "reason")]
    pub reason: String,
}

/// `POST /v1/payments/{id}/refunds` (the saga's, with its own refund id).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SagaRefundBody {
    /// The refund's id (deterministic, so a retry is the same refund).
    pub refund_id: Uuid,
    /// How much.
    pub amount: MoneyBody,
    /// Why.
    #[schema(format = "reason")]
    pub reason: String,
}

/// `POST /v1/payments/{id}/refund` (an administrator's).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// How much (at most what was captured minus earlier refunds).
    pub amount: MoneyBody,
    /// Why.
    #[schema(format = "reason")]
    pub reason: String,
}

/// `.../refunds/{refund_id}/completed`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundCompletedBody {
    /// The gateway's refund reference.
    #[schema(format = "printable")]
    pub gateway_ref: String,
}
