//! sagas: Freshline's process managers and policies — order fulfilment (stock, payment,
//! delivery, with compensation and deadlines), the expiry scheduler, notifications, and the
//! adapters to payment and delivery providers. Sagas act only by sending commands to
//! command-api with their own service token.
//! `images` turns uploaded product images into stored thumbnail and medium renditions.
//!
//! Not built yet: the fulfilment issue brings the first saga.

pub mod images;
