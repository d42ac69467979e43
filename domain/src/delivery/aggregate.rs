//! The cqrs-es adapter: a delivery's rules need nothing from outside (whether a rider is the
//! assigned one arrives in the command, read by the handler).

use super::{Delivery, DeliveryCommand, DeliveryError, DeliveryEvent};

crate::adapter::cqrs_aggregate!(
    Delivery,
    schemas::aggregate_types::DELIVERY,
    DeliveryCommand,
    DeliveryEvent,
    DeliveryError
);
