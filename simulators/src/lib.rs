//! Test doubles of the parties outside Freshline, for local runs, tests and benchmarks; not
//! part of the product:
//! - [`card_gateway`] (binary `card-gateway`): a payment provider's test mode over HTTP, with
//!   its state in PostgreSQL; the fulfilment saga pays through it with
//!   `sagas::payments::HttpCardGateway`.
//! - [`delivery`] (binary `delivery-sim`): warehouse staff and riders acting on assignments
//!   through command-api, as the `warehouse` and `delivery` services.
//! - [`messaging`] (binary `messaging`): SMS and push providers over HTTP, keeping what they
//!   were sent readable; the notifier's SMS and push ports send to them.

pub mod card_gateway;
pub mod delivery;
pub mod messaging;
pub mod serve;
