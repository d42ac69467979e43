//! The cqrs-es adapter: a cart's rules need nothing from outside (the handler reads the
//! product's price and unit before).

use super::{Cart, CartCommand, CartError, CartEvent};

crate::adapter::cqrs_aggregate!(
    Cart,
    schemas::aggregate_types::CART,
    CartCommand,
    CartEvent,
    CartError
);
