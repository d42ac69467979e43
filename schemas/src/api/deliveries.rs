//! Delivery slots, riders and deliveries.

use super::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/delivery-slots`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotBody {
    /// The delivery zone (`AMS-CENTRE`).
    #[schema(format = "zone")]
    pub zone: String,
    /// The warehouse serving it.
    pub warehouse_id: Uuid,
    /// Where that warehouse is.
    pub warehouse_location: GeoBody,
    /// Window start.
    pub starts_at: DateTime<Utc>,
    /// Window end (after the start).
    pub ends_at: DateTime<Utc>,
    /// How many orders it takes (1-10000).
    #[schema(minimum = 1, maximum = 10_000)]
    #[serde(deserialize_with = "super::whole")]
    pub capacity: u32,
}

/// `POST /v1/delivery-slots/{id}/bookings`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingBody {
    /// The order.
    pub order_id: Uuid,
}

/// `POST /v1/riders`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiderBody {
    /// Display name.
    #[schema(format = "rider-name")]
    pub name: String,
    /// The rider's account (token subject).
    #[schema(format = "account")]
    pub account: String,
    /// Carries a refrigerated box.
    #[serde(default)]
    pub cold_chain_capable: bool,
}

/// `POST /v1/riders/{id}/availability`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityBody {
    /// On shift and taking deliveries.
    pub available: bool,
    /// Where the rider is now.
    pub location: Option<GeoBody>,
}

/// `POST /v1/riders/{id}/assignments`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentBody {
    /// The delivery.
    pub delivery_id: Uuid,
    /// Its order.
    pub order_id: Uuid,
    /// Whether it needs a refrigerated box.
    #[serde(default)]
    pub cold_chain: bool,
}

/// `POST /v1/deliveries`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// The order (its slot, warehouse and address are taken from it).
    pub order_id: Uuid,
    /// Whether any of its stock must be kept cold.
    #[serde(default)]
    pub cold_chain: bool,
}

/// `POST /v1/deliveries/{id}/assign`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The rider (already assigned on the rider's side).
    pub rider_id: Uuid,
    /// Their distance to the warehouse when chosen, in metres.
    #[serde(deserialize_with = "super::whole")]
    pub distance_m: u32,
}

/// `POST /v1/deliveries/{id}/cancel` and `.../fail`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreeReasonBody {
    /// Why.
    #[schema(format = "reason")]
    pub reason: String,
}
