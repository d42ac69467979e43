//! Integration tests of the sagas crate, one binary: `helpers` builds the inputs, `support`
//! reaches the real PostgreSQL, Kafka and SMTP sink, each other module covers one part of the
//! crate.

mod gateway;
mod helpers;
mod images;
mod notifier;
mod support;
