//! sagas: Freshline's process managers and policies — order fulfilment (stock, payment,
//! delivery, with compensation and deadlines), the expiry scheduler, notifications, and the
//! adapters to payment and delivery providers. Sagas act only by sending commands to
//! command-api with their own service token.
//! - [`images`] turns uploaded product images into stored thumbnail and medium renditions;
//!   [`image_worker`] (binary `image-worker`) runs it for every upload, from Kafka;
//! - [`commands`] is how sagas act: command-api over HTTP with deterministic idempotency keys.
//! - [`payments`] is the payment gateway port and its HTTP adapter (the simulated card gateway
//!   that local runs and tests pay through is in the `simulators` crate).
//!
//! - [`scheduler`] (binary `scheduler`) expires batches, raises expiring-soon and low-stock
//!   alerts.
//!
//! - [`notifier`] (binary `notifier`) e-mails customers, suppliers and operations about orders,
//!   payments, deliveries, stock and supplier decisions, at least once and deduplicated per
//!   event.
//!
//! - [`fulfilment`] (binary `fulfilment-saga`) carries every order through stock, payment and
//!   delivery, and compensates when a step fails.

pub mod commands;
pub mod fulfilment;
pub mod image_worker;
pub mod images;
pub mod notifier;
pub mod payments;
pub mod scheduler;
pub mod serve;
pub mod settings;
