//! Orders: placement, payment, shipping, delivery, cancellation, refunds, compensation.

use super::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One requested line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBody {
    /// The product.
    pub product_id: Uuid,
    /// Quantity in the product's unit (at most 3 decimals; whole for pieces, bunches, boxes).
    #[schema(value_type = f64)]
    #[schema(exclusive_minimum = 0, maximum = 1_000_000_000, multiple_of = 0.001)]
    pub quantity: serde_json::Number,
}

/// A delivery address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryAddressBody {
    /// Street and number.
    #[schema(format = "address-line")]
    pub line1: String,
    /// City.
    #[schema(format = "city")]
    pub city: String,
    /// Postal code.
    #[schema(format = "postal-code")]
    pub postal_code: String,
    /// ISO 3166 alpha-2 country.
    #[schema(format = "country")]
    pub country: String,
    /// Where it is, for ETAs (optional).
    pub location: Option<GeoBody>,
}

/// Delivery of a new order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryBody {
    /// Where.
    pub address: DeliveryAddressBody,
    /// The slot (from `GET /v1/delivery-slots`).
    pub slot_id: Uuid,
    /// Where order notifications go (optional).
    #[schema(format = "email")]
    pub contact_email: Option<String>,
}

/// `card` or `cash_on_delivery`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MethodBody {
    /// Card, through the payment gateway.
    Card,
    /// Cash to the rider.
    CashOnDelivery,
}

/// Payment of a new order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    /// How.
    pub method: MethodBody,
    /// The gateway's card token (required for `card`).
    #[schema(format = "printable")]
    pub card_token: Option<String>,
}

/// `POST /v1/orders`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderBody {
    /// 1 to 50 lines, one per product.
    #[schema(min_items = 1, max_items = 50)]
    pub lines: Vec<LineBody>,
    /// Delivery.
    pub delivery: DeliveryBody,
    /// Payment.
    pub payment: PaymentBody,
}

/// `POST /v1/orders/{id}/cancel`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why (free text, optional).
    #[schema(format = "reason")]
    pub reason: Option<String>,
}

/// `POST /v1/orders/{id}/paid`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaidBody {
    /// The order's payment.
    pub payment_id: Uuid,
    /// What was captured (zero for cash on delivery, captured at delivery).
    pub amount: MoneyBody,
}

/// `POST /v1/orders/{id}/ship`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipBody {
    /// The delivery.
    pub delivery_id: Uuid,
    /// The rider.
    pub rider_id: Uuid,
}

/// `POST /v1/orders/{id}/deliver`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverBody {
    /// The delivery.
    pub delivery_id: Uuid,
}

/// `POST /v1/orders/{id}/compensate`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompensateBody {
    /// `out_of_stock`, `payment_failed`, `no_delivery_capacity` or `delivery_failed`.
    #[schema(format = "compensation")]
    pub reason: String,
    /// Free text.
    #[schema(format = "reason")]
    pub detail: Option<String>,
}

/// `POST /v1/orders/{id}/refunds`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRefundBody {
    /// The payment.
    pub payment_id: Uuid,
    /// The refund.
    pub refund_id: Uuid,
    /// How much went back.
    pub amount: MoneyBody,
    /// Why.
    #[schema(format = "reason")]
    pub reason: String,
}

/// `POST /v1/ops/orders/{id}/compensate`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForceCompensationBody {
    /// Why the operator gives the order up (recorded on the order's cancellation).
    #[schema(format = "reason", min_length = 1, max_length = 500)]
    pub reason: String,
}
