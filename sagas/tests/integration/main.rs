//! Integration tests of the sagas crate, one binary: `helpers` builds the inputs (the real
//! PostgreSQL, Kafka and SMTP sink are reached through `test_support`), each other module
//! covers one part of the crate.

mod helpers;
mod images;
mod notifier;
