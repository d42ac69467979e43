use crate::catalog_values::OrderId;
use crate::fulfilment_values::{DeliveryId, GeoPoint};

/// Who changes a rider's availability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RiderCaller {
    /// The rider with this account: only their own record.
    Rider(String),
    /// An administrator or a service.
    Operator,
}

/// Commands a rider accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RiderCommand {
    /// Register (off shift until they say otherwise).
    Register {
        /// Name.
        name: String,
        /// Account.
        account: String,
        /// Refrigerated box.
        cold_chain_capable: bool,
    },
    /// Go on or off shift, or report a position.
    SetAvailability {
        /// On shift.
        available: bool,
        /// Where.
        location: Option<GeoPoint>,
        /// Who.
        by: RiderCaller,
    },
    /// Take a delivery.
    Assign {
        /// The delivery.
        delivery_id: DeliveryId,
        /// Its order.
        order_id: OrderId,
        /// Whether it needs a refrigerated box.
        cold_chain: bool,
    },
    /// The delivery ended.
    Release {
        /// The delivery.
        delivery_id: DeliveryId,
    },
}
