//! The cqrs-es adapter: the catalog facts a placement needs arrive in the command, read by the
//! handler, so `handle` only calls the pure rules.

use super::{Order, OrderCommand, OrderError, OrderEvent};

crate::adapter::cqrs_aggregate!(
    Order,
    schemas::aggregate_types::ORDER,
    OrderCommand,
    OrderEvent,
    OrderError
);
