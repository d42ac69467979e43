//! Order events on the wire (topic [`crate::topics::ORDER`]). Prices are [`MoneyV1`], fixed at
//! placement from the catalog; quantities are decimal strings in the product's unit.

use crate::common::{AddressV1, MoneyV1, DECIMAL_PATTERN};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

crate::wire_events! {
    /// An order event in its current wire version, tagged with its event type (the form kept
    /// in the event store's `payload` column).
    OrderEvent {
        /// `OrderPlaced`: a customer placed an order; prices were taken from the catalog.
        PLACED = OrderPlaced(OrderPlacedV1),
        /// `OrderPaid`: the order's payment was captured (or cash on delivery accepted).
        PAID = OrderPaid(OrderPaidV1),
        /// `OrderPacked`: the warehouse packed the order; its reserved stock leaves.
        PACKED = OrderPacked(OrderPackedV1),
        /// `OrderShipped`: a rider picked the order up.
        SHIPPED = OrderShipped(OrderShippedV1),
        /// `OrderDelivered`: the order reached the customer (final).
        DELIVERED = OrderDelivered(OrderDeliveredV1),
        /// `OrderCancelled`: the order was cancelled, with a reason code (final).
        CANCELLED = OrderCancelled(OrderCancelledV1),
        /// `OrderRefundRecorded`: money went back to the customer for this order.
        REFUND_RECORDED = OrderRefundRecorded(OrderRefundRecordedV1),
    }
}

/// One line of an order, priced at placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderLineV1 {
    /// The product.
    pub product_id: Uuid,
    /// Its supplier (who is owed for it).
    pub supplier_id: Uuid,
    /// The product's name at placement.
    pub name: String,
    /// The product's category at placement.
    pub category: String,
    /// The product's unit (`kg`, `piece`, `bunch`, `box`).
    pub unit: String,
    /// Quantity in that unit, a decimal string.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub quantity: String,
    /// Catalog price per unit at placement.
    pub unit_price: MoneyV1,
    /// `unit_price` times `quantity`, rounded half away from zero to the minor unit.
    pub line_total: MoneyV1,
}

/// Where and when an order is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderDeliveryV1 {
    /// The delivery address.
    pub address: AddressV1,
    /// The delivery slot chosen.
    pub slot_id: Uuid,
    /// The warehouse the slot is served from (stock is reserved there).
    pub warehouse_id: Uuid,
    /// Where that warehouse is (riders are assigned nearest to it).
    pub warehouse_location: crate::common::GeoPointV1,
    /// The slot's zone.
    pub zone: String,
    /// When the slot starts.
    pub slot_starts_at: chrono::DateTime<chrono::Utc>,
    /// When the slot ends.
    pub slot_ends_at: chrono::DateTime<chrono::Utc>,
    /// Where notifications about the order go, when given.
    pub contact_email: Option<String>,
}

/// How an order is paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPaymentV1 {
    /// The payment's id (derived from the order's).
    pub payment_id: Uuid,
    /// `card` or `cash_on_delivery`.
    pub method: String,
    /// The payment provider's card token (never a card number), for `card`.
    pub card_token: Option<String>,
}

/// `OrderPlaced` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPlacedV1 {
    /// The customer account (token subject).
    pub customer: String,
    /// The cart the order was checked out from, when it was (added compatibly: absent on
    /// orders placed directly, and on every order placed before carts existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart_id: Option<Uuid>,
    /// The lines, at least one, one per product.
    pub lines: Vec<OrderLineV1>,
    /// Sum of the line totals.
    pub total: MoneyV1,
    /// Delivery.
    pub delivery: OrderDeliveryV1,
    /// Payment.
    pub payment: OrderPaymentV1,
}

/// `OrderPaid` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPaidV1 {
    /// The payment.
    pub payment_id: Uuid,
    /// What was captured (zero until delivery for cash on delivery).
    pub amount: MoneyV1,
}

/// `OrderPacked` v1 (who packed it is in the metadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPackedV1 {}

/// `OrderShipped` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderShippedV1 {
    /// The delivery carrying it.
    pub delivery_id: Uuid,
    /// The rider.
    pub rider_id: Uuid,
}

/// `OrderDelivered` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderDeliveredV1 {
    /// The delivery that brought it.
    pub delivery_id: Uuid,
}

/// `OrderCancelled` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderCancelledV1 {
    /// `customer_request`, `out_of_stock`, `payment_failed`, `no_delivery_capacity`,
    /// `delivery_failed` or `admin`.
    pub reason: String,
    /// Free text, when given.
    pub detail: Option<String>,
}

/// `OrderRefundRecorded` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderRefundRecordedV1 {
    /// The payment refunded.
    pub payment_id: Uuid,
    /// The refund.
    pub refund_id: Uuid,
    /// How much went back.
    pub amount: MoneyV1,
    /// Why.
    pub reason: String,
}
