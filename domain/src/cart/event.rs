use super::CartLine;
use crate::catalog_values::{stored_quantity, ProductId, StoredValueError};
use chrono::{DateTime, Utc};
use schemas::customer::cart as wire;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened to a customer's carts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "wire::CartEvent", try_from = "wire::CartEvent")]
pub enum CartEvent {
    /// A cart was opened.
    Opened {
        /// Its id.
        cart_id: Uuid,
        /// When.
        opened_at: DateTime<Utc>,
        /// The customer.
        customer_id: Uuid,
        /// Its account.
        account: String,
    },
    /// A line was set.
    LineSet {
        /// The product.
        product_id: ProductId,
        /// Quantity and the price seen.
        line: CartLine,
        /// When.
        at: DateTime<Utc>,
    },
    /// A line was removed.
    LineRemoved {
        /// The product.
        product_id: ProductId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The cart became an order.
    CheckedOut {
        /// The cart.
        cart_id: Uuid,
        /// The order.
        order_id: Uuid,
    },
    /// The cart was abandoned.
    Abandoned {
        /// The cart.
        cart_id: Uuid,
        /// When it last changed.
        idle_since: DateTime<Utc>,
    },
}

impl From<CartEvent> for wire::CartEvent {
    fn from(e: CartEvent) -> Self {
        match e {
            CartEvent::Opened {
                cart_id,
                opened_at,
                customer_id,
                account,
            } => Self::CartOpened(wire::CartOpenedV1 {
                cart_id,
                opened_at,
                customer_id,
                account,
            }),
            CartEvent::LineSet {
                product_id,
                line,
                at,
            } => Self::CartLineSet(wire::CartLineV1 {
                product_id: product_id.0,
                quantity: line.quantity.to_string(),
                unit_price_seen: line.unit_price_seen.into(),
                at,
            }),
            CartEvent::LineRemoved { product_id, at } => {
                Self::CartLineRemoved(wire::CartLineRefV1 {
                    product_id: product_id.0,
                    at,
                })
            }
            CartEvent::CheckedOut { cart_id, order_id } => {
                Self::CartCheckedOut(wire::CartCheckedOutV1 { cart_id, order_id })
            }
            CartEvent::Abandoned {
                cart_id,
                idle_since,
            } => Self::CartAbandoned(wire::CartAbandonedV1 {
                cart_id,
                idle_since,
            }),
        }
    }
}

impl TryFrom<wire::CartEvent> for CartEvent {
    type Error = StoredValueError;

    fn try_from(e: wire::CartEvent) -> Result<Self, StoredValueError> {
        Ok(match e {
            wire::CartEvent::CartOpened(o) => Self::Opened {
                cart_id: o.cart_id,
                opened_at: o.opened_at,
                customer_id: o.customer_id,
                account: o.account,
            },
            wire::CartEvent::CartLineSet(l) => Self::LineSet {
                product_id: ProductId(l.product_id),
                line: CartLine {
                    quantity: stored_quantity(l.quantity)?,
                    unit_price_seen: l.unit_price_seen.into(),
                },
                at: l.at,
            },
            wire::CartEvent::CartLineRemoved(r) => Self::LineRemoved {
                product_id: ProductId(r.product_id),
                at: r.at,
            },
            wire::CartEvent::CartCheckedOut(c) => Self::CheckedOut {
                cart_id: c.cart_id,
                order_id: c.order_id,
            },
            wire::CartEvent::CartAbandoned(a) => Self::Abandoned {
                cart_id: a.cart_id,
                idle_since: a.idle_since,
            },
        })
    }
}

crate::adapter::domain_event!(CartEvent, wire::CartEvent);
