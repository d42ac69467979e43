use super::DeliveryState;
use crate::fulfilment_values::{GeoPoint, RiderId};
use chrono::{DateTime, Utc};

/// Who updates a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryCaller {
    /// A rider: only the one assigned. `assigned` says whether the caller's account is the
    /// assigned rider's (the service reads the rider to know).
    Rider {
        /// Whether the caller is the assigned rider.
        assigned: bool,
    },
    /// The delivery service, the sagas or an administrator.
    Operator,
}

/// Commands a delivery accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryCommand {
    /// Set it up.
    Schedule(Box<DeliveryState>),
    /// Give it a rider.
    AssignRider {
        /// The rider.
        rider_id: RiderId,
        /// Distance to the warehouse when chosen.
        distance_m: u32,
    },
    /// The rider took it.
    PickUp {
        /// Who.
        by: DeliveryCaller,
    },
    /// The rider is here now.
    UpdateLocation {
        /// Where.
        location: GeoPoint,
        /// When.
        now: DateTime<Utc>,
        /// Who.
        by: DeliveryCaller,
    },
    /// Handed over.
    Deliver {
        /// Who.
        by: DeliveryCaller,
    },
    /// Could not be delivered.
    Fail {
        /// Why.
        reason: String,
        /// Who.
        by: DeliveryCaller,
    },
    /// The order was cancelled.
    Cancel {
        /// Why.
        reason: String,
    },
}
