//! The cqrs-es adapter: a customer's rules need nothing from outside.

use super::{Customer, CustomerCommand, CustomerError, CustomerEvent};

crate::adapter::cqrs_aggregate!(
    Customer,
    schemas::aggregate_types::CUSTOMER,
    CustomerCommand,
    CustomerEvent,
    CustomerError
);
