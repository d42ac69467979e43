//! Integration tests of the write side against the real PostgreSQL and Apache Kafka that
//! `infra/local` starts. Each test has its own database and its own topic prefix.

// Tests report figures (relay duplicates after a kill) on stderr.
#![allow(clippy::print_stderr)]

mod crash;
mod fuzz;
mod helpers;
mod identity;
mod images;
mod inventory;
mod observability;
mod orders;
mod products;
mod relay;
mod security;
mod snapshots;
mod suppliers;
