use super::{DeliveryState, DeliveryStatus};
use crate::catalog_values::{OrderId, WarehouseId};
use crate::fulfilment_values::{GeoPoint, RiderId, SlotId};
use chrono::{DateTime, Utc};
use schemas::delivery as dwire;
use serde::{Deserialize, Serialize};

/// Something that happened to a delivery, serialised through
/// [`schemas::delivery::DeliveryEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "dwire::DeliveryEvent", from = "dwire::DeliveryEvent")]
pub enum DeliveryEvent {
    /// Scheduled (no rider yet).
    Scheduled(Box<DeliveryState>),
    /// A rider was assigned.
    RiderAssigned {
        /// The rider.
        rider_id: RiderId,
        /// Distance to the warehouse.
        distance_m: u32,
    },
    /// Picked up.
    PickedUp,
    /// The rider's position, with the ETA from there.
    LocationUpdated {
        /// Where.
        location: GeoPoint,
        /// Expected arrival.
        eta: Option<DateTime<Utc>>,
    },
    /// Delivered.
    Completed,
    /// Failed.
    Failed {
        /// Why.
        reason: String,
    },
    /// Cancelled.
    Cancelled {
        /// Why.
        reason: String,
    },
}

impl DeliveryEvent {
    /// The reason recorded with the event, if it has one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Failed { reason } | Self::Cancelled { reason } => Some(reason),
            _ => None,
        }
    }
}

impl From<DeliveryEvent> for dwire::DeliveryEvent {
    fn from(e: DeliveryEvent) -> Self {
        match e {
            DeliveryEvent::Scheduled(d) => Self::DeliveryScheduled(dwire::DeliveryScheduledV1 {
                order_id: d.order_id.0,
                slot_id: d.slot_id.0,
                warehouse_id: d.warehouse_id.0,
                pickup: d.pickup.into(),
                destination: d.destination.into(),
                cold_chain: d.cold_chain,
                window_starts_at: d.window_starts_at,
                window_ends_at: d.window_ends_at,
            }),
            DeliveryEvent::RiderAssigned {
                rider_id,
                distance_m,
            } => Self::DeliveryRiderAssigned(dwire::DeliveryRiderAssignedV1 {
                rider_id: rider_id.0,
                distance_m,
            }),
            DeliveryEvent::PickedUp => Self::DeliveryPickedUp(dwire::DeliveryPickedUpV1 {}),
            DeliveryEvent::LocationUpdated { location, eta } => {
                Self::DeliveryLocationUpdated(dwire::DeliveryLocationUpdatedV1 {
                    location: location.into(),
                    eta,
                })
            }
            DeliveryEvent::Completed => Self::DeliveryCompleted(dwire::DeliveryCompletedV1 {}),
            DeliveryEvent::Failed { reason } => {
                Self::DeliveryFailed(dwire::DeliveryFailedV1 { reason })
            }
            DeliveryEvent::Cancelled { reason } => {
                Self::DeliveryCancelled(dwire::DeliveryCancelledV1 { reason })
            }
        }
    }
}

impl From<dwire::DeliveryEvent> for DeliveryEvent {
    fn from(e: dwire::DeliveryEvent) -> Self {
        match e {
            dwire::DeliveryEvent::DeliveryScheduled(d) => {
                Self::Scheduled(Box::new(DeliveryState {
                    order_id: OrderId(d.order_id),
                    slot_id: SlotId(d.slot_id),
                    warehouse_id: WarehouseId(d.warehouse_id),
                    pickup: d.pickup.into(),
                    destination: d.destination.into(),
                    cold_chain: d.cold_chain,
                    window_starts_at: d.window_starts_at,
                    window_ends_at: d.window_ends_at,
                    status: DeliveryStatus::Scheduled,
                    rider_id: None,
                    last_location: None,
                }))
            }
            dwire::DeliveryEvent::DeliveryRiderAssigned(a) => Self::RiderAssigned {
                rider_id: RiderId(a.rider_id),
                distance_m: a.distance_m,
            },
            dwire::DeliveryEvent::DeliveryPickedUp(_) => Self::PickedUp,
            dwire::DeliveryEvent::DeliveryLocationUpdated(l) => Self::LocationUpdated {
                location: l.location.into(),
                eta: l.eta,
            },
            dwire::DeliveryEvent::DeliveryCompleted(_) => Self::Completed,
            dwire::DeliveryEvent::DeliveryFailed(f) => Self::Failed { reason: f.reason },
            dwire::DeliveryEvent::DeliveryCancelled(c) => Self::Cancelled { reason: c.reason },
        }
    }
}

crate::adapter::domain_event!(DeliveryEvent, dwire::DeliveryEvent);
