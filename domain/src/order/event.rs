use super::{CancelReason, OrderDelivery, OrderLine, OrderPayment, OrderState, OrderStatus};
use crate::catalog_values::{stored, stored_positive, Money, StoredValueError, Unit};
use crate::fulfilment_values::{DeliveryId, PaymentId, PaymentMethod, RefundId, RiderId, SlotId};
use crate::supplier::SupplierId;
use crate::{ProductId, WarehouseId};
use schemas::order::{self as wire};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Something that happened to an order. Serialised through its wire form
/// ([`schemas::order::OrderEvent`]), which is what the store keeps and Kafka carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "wire::OrderEvent", try_from = "wire::OrderEvent")]
pub enum OrderEvent {
    /// Placed: the whole order as priced (status `created`).
    Placed(Box<OrderState>),
    /// Paid.
    Paid {
        /// The payment.
        payment_id: PaymentId,
        /// What was captured.
        amount: Money,
    },
    /// Packed.
    Packed,
    /// Shipped.
    Shipped {
        /// The delivery.
        delivery_id: DeliveryId,
        /// The rider.
        rider_id: RiderId,
    },
    /// Delivered.
    Delivered {
        /// The delivery.
        delivery_id: DeliveryId,
    },
    /// Cancelled.
    Cancelled {
        /// Why.
        reason: CancelReason,
        /// Free text.
        detail: Option<String>,
    },
    /// A refund was paid back.
    RefundRecorded {
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

impl OrderEvent {
    /// The reason recorded with the event, if it has one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Cancelled { reason, .. } => Some(reason.as_str()),
            Self::RefundRecorded { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

impl From<OrderEvent> for wire::OrderEvent {
    fn from(e: OrderEvent) -> Self {
        match e {
            OrderEvent::Placed(s) => {
                let s = *s;
                Self::OrderPlaced(wire::OrderPlacedV1 {
                    customer: s.customer,
                    cart_id: s.cart_id,
                    lines: s
                        .lines
                        .into_iter()
                        .map(|l| wire::OrderLineV1 {
                            product_id: l.product_id.0,
                            supplier_id: l.supplier_id.0,
                            name: l.name,
                            category: l.category,
                            unit: l.unit.as_str().to_owned(),
                            quantity: l.quantity.to_string(),
                            unit_price: l.unit_price.into(),
                            line_total: l.line_total.into(),
                        })
                        .collect(),
                    total: s.total.into(),
                    delivery: wire::OrderDeliveryV1 {
                        address: s.delivery.address.into(),
                        slot_id: s.delivery.slot_id.0,
                        warehouse_id: s.delivery.warehouse_id.0,
                        warehouse_location: s.delivery.warehouse_location.into(),
                        zone: s.delivery.zone,
                        slot_starts_at: s.delivery.slot_starts_at,
                        slot_ends_at: s.delivery.slot_ends_at,
                        contact_email: s.delivery.contact_email,
                    },
                    payment: wire::OrderPaymentV1 {
                        payment_id: s.payment.payment_id.0,
                        method: s.payment.method.as_str().to_owned(),
                        card_token: s.payment.card_token,
                    },
                })
            }
            OrderEvent::Paid { payment_id, amount } => Self::OrderPaid(wire::OrderPaidV1 {
                payment_id: payment_id.0,
                amount: amount.into(),
            }),
            OrderEvent::Packed => Self::OrderPacked(wire::OrderPackedV1 {}),
            OrderEvent::Shipped {
                delivery_id,
                rider_id,
            } => Self::OrderShipped(wire::OrderShippedV1 {
                delivery_id: delivery_id.0,
                rider_id: rider_id.0,
            }),
            OrderEvent::Delivered { delivery_id } => Self::OrderDelivered(wire::OrderDeliveredV1 {
                delivery_id: delivery_id.0,
            }),
            OrderEvent::Cancelled { reason, detail } => {
                Self::OrderCancelled(wire::OrderCancelledV1 {
                    reason: reason.as_str().to_owned(),
                    detail,
                })
            }
            OrderEvent::RefundRecorded {
                payment_id,
                refund_id,
                amount,
                reason,
            } => Self::OrderRefundRecorded(wire::OrderRefundRecordedV1 {
                payment_id: payment_id.0,
                refund_id: refund_id.0,
                amount: amount.into(),
                reason,
            }),
        }
    }
}

impl TryFrom<wire::OrderEvent> for OrderEvent {
    type Error = StoredValueError;

    fn try_from(e: wire::OrderEvent) -> Result<Self, StoredValueError> {
        Ok(match e {
            wire::OrderEvent::OrderPlaced(p) => {
                let lines = p
                    .lines
                    .into_iter()
                    .map(|l| {
                        Ok(OrderLine {
                            product_id: ProductId(l.product_id),
                            supplier_id: SupplierId(l.supplier_id),
                            name: l.name,
                            category: l.category,
                            unit: stored("unit", l.unit, Unit::parse)?,
                            quantity: stored_positive(l.quantity)?,
                            unit_price: l.unit_price.into(),
                            line_total: l.line_total.into(),
                        })
                    })
                    .collect::<Result<Vec<_>, StoredValueError>>()?;
                Self::Placed(Box::new(OrderState {
                    customer: p.customer,
                    cart_id: p.cart_id,
                    lines,
                    total: p.total.into(),
                    delivery: OrderDelivery {
                        address: p.delivery.address.into(),
                        slot_id: SlotId(p.delivery.slot_id),
                        warehouse_id: WarehouseId(p.delivery.warehouse_id),
                        warehouse_location: p.delivery.warehouse_location.into(),
                        zone: p.delivery.zone,
                        slot_starts_at: p.delivery.slot_starts_at,
                        slot_ends_at: p.delivery.slot_ends_at,
                        contact_email: p.delivery.contact_email,
                    },
                    payment: OrderPayment {
                        payment_id: PaymentId(p.payment.payment_id),
                        method: stored("payment method", p.payment.method, PaymentMethod::parse)?,
                        card_token: p.payment.card_token,
                    },
                    status: OrderStatus::Created,
                    cancel_reason: None,
                    paid: None,
                    refunds: BTreeSet::new(),
                    refunded_minor: 0,
                }))
            }
            wire::OrderEvent::OrderPaid(p) => Self::Paid {
                payment_id: PaymentId(p.payment_id),
                amount: p.amount.into(),
            },
            wire::OrderEvent::OrderPacked(_) => Self::Packed,
            wire::OrderEvent::OrderShipped(s) => Self::Shipped {
                delivery_id: DeliveryId(s.delivery_id),
                rider_id: RiderId(s.rider_id),
            },
            wire::OrderEvent::OrderDelivered(d) => Self::Delivered {
                delivery_id: DeliveryId(d.delivery_id),
            },
            wire::OrderEvent::OrderCancelled(c) => Self::Cancelled {
                reason: stored("cancel reason", c.reason, CancelReason::parse)?,
                detail: c.detail,
            },
            wire::OrderEvent::OrderRefundRecorded(r) => Self::RefundRecorded {
                payment_id: PaymentId(r.payment_id),
                refund_id: RefundId(r.refund_id),
                amount: r.amount.into(),
                reason: r.reason,
            },
        })
    }
}

impl cqrs_es::DomainEvent for OrderEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Placed(_) => wire::PLACED,
            Self::Paid { .. } => wire::PAID,
            Self::Packed => wire::PACKED,
            Self::Shipped { .. } => wire::SHIPPED,
            Self::Delivered { .. } => wire::DELIVERED,
            Self::Cancelled { .. } => wire::CANCELLED,
            Self::RefundRecorded { .. } => wire::REFUND_RECORDED,
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
