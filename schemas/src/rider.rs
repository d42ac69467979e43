//! Rider events on the wire (topic [`crate::topics::RIDER`]): registration, availability with
//! position, and which delivery a rider is carrying.

use crate::common::GeoPointV1;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

crate::wire_events! {
    /// A rider event in its current wire version, tagged with its event type.
    RiderEvent {
        /// `RiderRegistered`: a rider joined.
        REGISTERED = RiderRegistered(RiderRegisteredV1),
        /// `RiderAvailabilityChanged`: the rider went on or off shift, or moved.
        AVAILABILITY_CHANGED = RiderAvailabilityChanged(RiderAvailabilityV1),
        /// `RiderAssigned`: the rider took a delivery (one at a time).
        ASSIGNED = RiderAssigned(RiderDeliveryV1),
        /// `RiderReleased`: the rider's delivery ended; free again.
        RELEASED = RiderReleased(RiderDeliveryV1),
    }
}

/// `RiderRegistered` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RiderRegisteredV1 {
    /// Display name.
    pub name: String,
    /// The rider's account (token subject), who may update their deliveries.
    pub account: String,
    /// Whether the rider carries a refrigerated box.
    pub cold_chain_capable: bool,
}

/// `RiderAvailabilityChanged` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RiderAvailabilityV1 {
    /// On shift and taking deliveries.
    pub available: bool,
    /// Where the rider is, when known.
    pub location: Option<GeoPointV1>,
}

/// `RiderAssigned` v1 and `RiderReleased` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RiderDeliveryV1 {
    /// The delivery.
    pub delivery_id: Uuid,
    /// Its order.
    pub order_id: Uuid,
}
