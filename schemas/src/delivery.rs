//! Delivery events on the wire (topic [`crate::topics::DELIVERY`]): one delivery per order,
//! from scheduling through rider assignment, pickup and position updates to delivered or
//! failed. Positions are [`GeoPointV1`] (integer microdegrees).

use crate::common::{AddressV1, GeoPointV1};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

crate::wire_events! {
    /// A delivery event in its current wire version, tagged with its event type.
    DeliveryEvent {
        /// `DeliveryScheduled`: a delivery was set up for an order in its booked slot.
        SCHEDULED = DeliveryScheduled(DeliveryScheduledV1),
        /// `DeliveryRiderAssigned`: the nearest available rider was assigned.
        RIDER_ASSIGNED = DeliveryRiderAssigned(DeliveryRiderAssignedV1),
        /// `DeliveryPickedUp`: the rider took the order at the warehouse.
        PICKED_UP = DeliveryPickedUp(DeliveryPickedUpV1),
        /// `DeliveryLocationUpdated`: where the rider is, and the ETA from there.
        LOCATION_UPDATED = DeliveryLocationUpdated(DeliveryLocationUpdatedV1),
        /// `DeliveryCompleted`: handed to the customer (final).
        COMPLETED = DeliveryCompleted(DeliveryCompletedV1),
        /// `DeliveryFailed`: could not be delivered, with a reason (final).
        FAILED = DeliveryFailed(DeliveryFailedV1),
        /// `DeliveryCancelled`: the order was cancelled before pickup (final).
        CANCELLED = DeliveryCancelled(DeliveryCancelledV1),
    }
}

/// `DeliveryScheduled` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeliveryScheduledV1 {
    /// The order delivered.
    pub order_id: Uuid,
    /// The booked slot.
    pub slot_id: Uuid,
    /// The warehouse it leaves from.
    pub warehouse_id: Uuid,
    /// Where the warehouse is.
    pub pickup: GeoPointV1,
    /// Where it goes.
    pub destination: AddressV1,
    /// Whether any of it must be kept cold.
    pub cold_chain: bool,
    /// The slot's start.
    pub window_starts_at: DateTime<Utc>,
    /// The slot's end.
    pub window_ends_at: DateTime<Utc>,
}

/// `DeliveryRiderAssigned` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeliveryRiderAssignedV1 {
    /// The rider.
    pub rider_id: Uuid,
    /// Great-circle distance from the rider to the warehouse when assigned, in metres.
    pub distance_m: u32,
}

/// `DeliveryPickedUp` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeliveryPickedUpV1 {}

/// `DeliveryLocationUpdated` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeliveryLocationUpdatedV1 {
    /// Where the rider is.
    pub location: GeoPointV1,
    /// Expected arrival, when the destination's location is known.
    pub eta: Option<DateTime<Utc>>,
}

/// `DeliveryCompleted` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeliveryCompletedV1 {}

/// `DeliveryFailed` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeliveryFailedV1 {
    /// Why (`customer_absent`, `address_not_found`, `damaged`, ... or free text).
    pub reason: String,
}

/// `DeliveryCancelled` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeliveryCancelledV1 {
    /// Why.
    pub reason: String,
}
