//! The cqrs-es adapter: a rider's rules need nothing from outside.

use super::{Rider, RiderCommand, RiderError, RiderEvent};

crate::adapter::cqrs_aggregate!(
    Rider,
    schemas::aggregate_types::RIDER,
    RiderCommand,
    RiderEvent,
    RiderError
);
