//! projectors: Freshline's read side — projections (Kafka consumer groups writing read models
//! in PostgreSQL, exactly-once in effect), the query API over them, and the replay, export and
//! rebuild tools.
//!
//! Not built yet: the supplier read models and the query API are the read-side issue's work.
//! The write side is complete without it: events are in the store and on
//! `freshline.supplier.v1`.
