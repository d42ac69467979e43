//! The cqrs-es adapter: what the gateway said arrives in the command, so `handle` only calls
//! the pure rules.

use super::{Payment, PaymentCommand, PaymentError, PaymentEvent};

crate::adapter::cqrs_aggregate!(
    Payment,
    schemas::aggregate_types::PAYMENT,
    PaymentCommand,
    PaymentEvent,
    PaymentError
);
