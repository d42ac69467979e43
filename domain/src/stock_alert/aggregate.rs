//! The cqrs-es adapter: an assessment carries the figures it is decided on.

use super::{AssessStock, NoRejection, StockAlert, StockAlertEvent};

crate::adapter::cqrs_aggregate!(
    StockAlert,
    schemas::aggregate_types::STOCK_ALERT,
    AssessStock,
    StockAlertEvent,
    NoRejection
);
