use crate::catalog_values::{Money, ProductId, Quantity};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What happens to a customer's carts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartCommand {
    /// Set a product's quantity in the open cart (0 removes it); opens a cart if none is.
    SetLine {
        /// The customer.
        customer_id: Uuid,
        /// Its account (token subject): only it changes its carts.
        account: String,
        /// The id a cart opened now gets.
        new_cart_id: Uuid,
        /// The product.
        product_id: ProductId,
        /// How much (already checked against the product's unit).
        quantity: Quantity,
        /// The catalog price per unit now.
        unit_price_seen: Money,
        /// Now.
        now: DateTime<Utc>,
    },
    /// The open cart became order `order_id` (the same again: nothing).
    CheckOut {
        /// The cart the customer checked out (it must still be the open one).
        cart_id: Uuid,
        /// The order.
        order_id: Uuid,
    },
    /// Close the open cart if it has been idle for [`super::IDLE_DAYS`].
    Abandon {
        /// Now.
        now: DateTime<Utc>,
    },
}
