use super::{CancelReason, OrderDelivery};
use crate::catalog_values::{Money, OrderId, PositiveQuantity, ProductId, Unit};
use crate::fulfilment_values::{DeliveryId, PaymentId, PaymentMethod, RefundId, RiderId};
use crate::supplier::{SupplierId, SupplierStatus};
use chrono::{DateTime, Utc};

/// What the catalog says of a line's product when the order is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFacts {
    /// The supplier.
    pub supplier_id: SupplierId,
    /// The supplier's status now.
    pub supplier_status: SupplierStatus,
    /// Name.
    pub name: String,
    /// Category.
    pub category: String,
    /// Unit.
    pub unit: Unit,
    /// Price per unit now.
    pub price: Money,
    /// Still sold.
    pub active: bool,
}

/// A requested line with the facts read for it (`None`: no such product).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedLine {
    /// The product asked for.
    pub product_id: ProductId,
    /// How much.
    pub quantity: PositiveQuantity,
    /// What the catalog says of it.
    pub product: Option<ProductFacts>,
}

/// Place an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    /// The new order's id.
    pub order_id: OrderId,
    /// The customer account.
    pub customer: String,
    /// The cart checked out, when the order comes from one.
    pub cart_id: Option<uuid::Uuid>,
    /// The lines with their catalog facts.
    pub lines: Vec<RequestedLine>,
    /// Delivery.
    pub delivery: OrderDelivery,
    /// Payment method and token.
    pub method: PaymentMethod,
    /// The card token, for cards.
    pub card_token: Option<String>,
    /// When the command is given.
    pub now: DateTime<Utc>,
}

/// Who cancels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canceller {
    /// The customer with this subject: only their own order.
    Customer(String),
    /// An administrator.
    Admin,
    /// A service (the fulfilment saga compensating).
    Service,
}

/// Commands an order accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    /// Place it.
    Place(Box<PlaceOrder>),
    /// Its payment was captured (or cash on delivery accepted, `amount` zero).
    MarkPaid {
        /// The payment.
        payment_id: PaymentId,
        /// What was captured.
        amount: Money,
    },
    /// The warehouse packed it.
    Pack,
    /// A rider picked it up.
    Ship {
        /// The delivery.
        delivery_id: DeliveryId,
        /// The rider.
        rider_id: RiderId,
    },
    /// It was handed over.
    Deliver {
        /// The delivery.
        delivery_id: DeliveryId,
    },
    /// Cancel it (before it ships).
    Cancel {
        /// Why.
        reason: CancelReason,
        /// Free text.
        detail: Option<String>,
        /// Who.
        by: Canceller,
    },
    /// Money went back for it.
    RecordRefund {
        /// The payment.
        payment_id: PaymentId,
        /// The refund.
        refund_id: RefundId,
        /// How much.
        amount: Money,
        /// Why.
        reason: String,
    },
}
