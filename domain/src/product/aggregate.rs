//! The cqrs-es adapter. A product's decisions need no lookup of their own: the one outside fact
//! (the supplier's status and owner, for a listing) arrives in the command, looked up by the
//! handler, so `handle` only calls the pure rules.

use super::{Product, ProductCommand, ProductError, ProductEvent};

crate::adapter::cqrs_aggregate!(
    Product,
    schemas::aggregate_types::PRODUCT,
    ProductCommand,
    ProductEvent,
    ProductError
);
