//! projectors: Freshline's read side. Projections are Kafka consumer groups that apply events
//! to read models in PostgreSQL with exactly-once effect (see [`runtime`]); the supplier
//! directory and history are built here ([`suppliers`]).
//!
//! The query API ([`query`], binary `query-api`) serves them. Still to come (read-side issue):
//! rebuilding a projection into fresh tables with an atomic swap.

pub mod query;
pub mod rebuild;
pub mod runtime;
pub mod suppliers;
