//! A customer's cart. A customer's carts are one stream (its id derives from the customer),
//! so there is never more than one open cart: the first line opens one (with its own id, the
//! id an order placed from it records), checkout or abandonment closes it, and the next line
//! opens the next.
//!
//! ```text
//! (none or closed) --set line--> open --set line / remove--> open
//!                                  |--check out--> closed (order id)
//!                                  |--abandon (idle 7 days)--> closed
//! ```
//!
//! Each line keeps the catalog price the customer saw when setting it; the cart is priced
//! again from the catalog whenever it is read, and a different price is a warning then.

mod aggregate;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use command::CartCommand;
pub use error::CartError;
pub use event::CartEvent;

use crate::catalog_values::{Money, ProductId, Quantity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The most lines a cart holds.
pub const MAX_LINES: usize = 100;
/// How long a cart may stay untouched before the scheduler abandons it.
pub const IDLE_DAYS: i64 = 7;

pub use schemas::customer::cart::stream_id as cart_stream_id;

/// A line: how much, and the price per unit the customer saw when setting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    /// Quantity in the product's unit.
    pub quantity: Quantity,
    /// Catalog price per unit then.
    pub unit_price_seen: Money,
}

/// The open cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenCart {
    /// This cart's id.
    pub cart_id: Uuid,
    /// Lines by product.
    pub lines: BTreeMap<ProductId, CartLine>,
    /// When it last changed.
    pub last_changed: DateTime<Utc>,
}

/// A cart that was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedCart {
    /// Its id.
    pub cart_id: Uuid,
    /// The order placed from it (none when abandoned).
    pub order_id: Option<Uuid>,
}

/// A customer's carts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    customer: Option<(Uuid, String)>,
    open: Option<OpenCart>,
    last_closed: Option<ClosedCart>,
}

impl Cart {
    /// The open cart, if any.
    pub fn open(&self) -> Option<&OpenCart> {
        self.open.as_ref()
    }

    /// The cart closed last.
    pub fn last_closed(&self) -> Option<ClosedCart> {
        self.last_closed
    }

    /// The customer (id, account), once a cart was opened.
    pub fn customer(&self) -> Option<&(Uuid, String)> {
        self.customer.as_ref()
    }

    /// Decides what a command records.
    ///
    /// # Errors
    /// [`CartError`] when it breaks a rule.
    pub fn decide(&self, command: CartCommand) -> Result<Vec<CartEvent>, CartError> {
        match command {
            CartCommand::SetLine {
                customer_id,
                account,
                new_cart_id,
                product_id,
                quantity,
                unit_price_seen,
                now,
            } => {
                if let Some((_, owner)) = &self.customer {
                    if *owner != account {
                        return Err(CartError::NotOwner);
                    }
                }
                let current = self.open.as_ref().and_then(|c| c.lines.get(&product_id));
                if quantity.is_zero() {
                    return Ok(match current {
                        Some(_) => vec![CartEvent::LineRemoved {
                            product_id,
                            at: now,
                        }],
                        None => vec![],
                    });
                }
                if current.is_some_and(|l| l.quantity == quantity) {
                    return Ok(vec![]);
                }
                let mut events = Vec::new();
                match &self.open {
                    None => events.push(CartEvent::Opened {
                        cart_id: new_cart_id,
                        opened_at: now,
                        customer_id,
                        account,
                    }),
                    Some(open) if current.is_none() && open.lines.len() >= MAX_LINES => {
                        return Err(CartError::TooManyLines { max: MAX_LINES });
                    }
                    Some(_) => {}
                }
                events.push(CartEvent::LineSet {
                    product_id,
                    line: CartLine {
                        quantity,
                        unit_price_seen,
                    },
                    at: now,
                });
                Ok(events)
            }
            CartCommand::CheckOut { cart_id, order_id } => {
                if self
                    .last_closed
                    .is_some_and(|c| c.cart_id == cart_id && c.order_id == Some(order_id))
                {
                    return Ok(vec![]);
                }
                let open = self.open.as_ref().ok_or(CartError::NoOpenCart)?;
                if open.cart_id != cart_id {
                    return Err(CartError::CartChanged);
                }
                if open.lines.is_empty() {
                    return Err(CartError::Empty);
                }
                Ok(vec![CartEvent::CheckedOut { cart_id, order_id }])
            }
            CartCommand::Abandon { now } => {
                let Some(open) = &self.open else {
                    return Ok(vec![]);
                };
                if now - open.last_changed < chrono::Duration::days(IDLE_DAYS) {
                    return Err(CartError::NotIdle {
                        idle_since: open.last_changed,
                    });
                }
                Ok(vec![CartEvent::Abandoned {
                    cart_id: open.cart_id,
                    idle_since: open.last_changed,
                }])
            }
        }
    }

    /// Applies what happened.
    pub fn evolve(&mut self, event: CartEvent) {
        match event {
            CartEvent::Opened {
                cart_id,
                opened_at,
                customer_id,
                account,
            } => {
                self.customer = Some((customer_id, account));
                self.open = Some(OpenCart {
                    cart_id,
                    lines: BTreeMap::new(),
                    last_changed: opened_at,
                });
            }
            CartEvent::LineSet {
                product_id,
                line,
                at,
            } => {
                if let Some(open) = self.open.as_mut() {
                    open.lines.insert(product_id, line);
                    open.last_changed = at;
                }
            }
            CartEvent::LineRemoved { product_id, at } => {
                if let Some(open) = self.open.as_mut() {
                    open.lines.remove(&product_id);
                    open.last_changed = at;
                }
            }
            CartEvent::CheckedOut { cart_id, order_id } => {
                self.open = None;
                self.last_closed = Some(ClosedCart {
                    cart_id,
                    order_id: Some(order_id),
                });
            }
            CartEvent::Abandoned { cart_id, .. } => {
                self.open = None;
                self.last_closed = Some(ClosedCart {
                    cart_id,
                    order_id: None,
                });
            }
        }
    }
}
