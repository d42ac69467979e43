use super::{DeliveryState, DeliveryStatus, SlotState};
use crate::catalog_values::{OrderId, WarehouseId};
use crate::fulfilment_values::{DeliveryId, GeoPoint, RiderId, SlotId};
use chrono::{DateTime, Utc};
use schemas::{delivery as dwire, rider as rwire, slot as swire};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Something that happened to a slot, serialised through [`schemas::slot::SlotEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "swire::SlotEvent", from = "swire::SlotEvent")]
pub enum SlotEvent {
    /// Opened (nothing booked).
    Created(Box<SlotState>),
    /// An order took a place.
    Booked {
        /// The order.
        order_id: OrderId,
    },
    /// An order gave its place back.
    Released {
        /// The order.
        order_id: OrderId,
    },
}

impl From<SlotEvent> for swire::SlotEvent {
    fn from(e: SlotEvent) -> Self {
        match e {
            SlotEvent::Created(s) => Self::DeliverySlotCreated(swire::SlotCreatedV1 {
                zone: s.zone,
                warehouse_id: s.warehouse_id.0,
                warehouse_location: s.warehouse_location.into(),
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                capacity: s.capacity,
            }),
            SlotEvent::Booked { order_id } => Self::DeliverySlotBooked(swire::SlotOrderV1 {
                order_id: order_id.0,
            }),
            SlotEvent::Released { order_id } => Self::DeliverySlotReleased(swire::SlotOrderV1 {
                order_id: order_id.0,
            }),
        }
    }
}

impl From<swire::SlotEvent> for SlotEvent {
    fn from(e: swire::SlotEvent) -> Self {
        match e {
            swire::SlotEvent::DeliverySlotCreated(c) => Self::Created(Box::new(SlotState {
                zone: c.zone,
                warehouse_id: WarehouseId(c.warehouse_id),
                warehouse_location: c.warehouse_location.into(),
                starts_at: c.starts_at,
                ends_at: c.ends_at,
                capacity: c.capacity,
                booked: BTreeSet::new(),
            })),
            swire::SlotEvent::DeliverySlotBooked(b) => Self::Booked {
                order_id: OrderId(b.order_id),
            },
            swire::SlotEvent::DeliverySlotReleased(r) => Self::Released {
                order_id: OrderId(r.order_id),
            },
        }
    }
}

/// Something that happened to a rider, serialised through [`schemas::rider::RiderEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "rwire::RiderEvent", from = "rwire::RiderEvent")]
pub enum RiderEvent {
    /// Registered (off shift).
    Registered {
        /// Name.
        name: String,
        /// Account.
        account: String,
        /// Refrigerated box.
        cold_chain_capable: bool,
    },
    /// On or off shift, or moved.
    AvailabilityChanged {
        /// On shift.
        available: bool,
        /// Where.
        location: Option<GeoPoint>,
    },
    /// Took a delivery.
    Assigned {
        /// The delivery.
        delivery_id: DeliveryId,
        /// Its order.
        order_id: OrderId,
    },
    /// The delivery ended.
    Released {
        /// The delivery.
        delivery_id: DeliveryId,
        /// Its order.
        order_id: OrderId,
    },
}

impl From<RiderEvent> for rwire::RiderEvent {
    fn from(e: RiderEvent) -> Self {
        let pair = |d: DeliveryId, o: OrderId| rwire::RiderDeliveryV1 {
            delivery_id: d.0,
            order_id: o.0,
        };
        match e {
            RiderEvent::Registered {
                name,
                account,
                cold_chain_capable,
            } => Self::RiderRegistered(rwire::RiderRegisteredV1 {
                name,
                account,
                cold_chain_capable,
            }),
            RiderEvent::AvailabilityChanged {
                available,
                location,
            } => Self::RiderAvailabilityChanged(rwire::RiderAvailabilityV1 {
                available,
                location: location.map(Into::into),
            }),
            RiderEvent::Assigned {
                delivery_id,
                order_id,
            } => Self::RiderAssigned(pair(delivery_id, order_id)),
            RiderEvent::Released {
                delivery_id,
                order_id,
            } => Self::RiderReleased(pair(delivery_id, order_id)),
        }
    }
}

impl From<rwire::RiderEvent> for RiderEvent {
    fn from(e: rwire::RiderEvent) -> Self {
        match e {
            rwire::RiderEvent::RiderRegistered(r) => Self::Registered {
                name: r.name,
                account: r.account,
                cold_chain_capable: r.cold_chain_capable,
            },
            rwire::RiderEvent::RiderAvailabilityChanged(a) => Self::AvailabilityChanged {
                available: a.available,
                location: a.location.map(Into::into),
            },
            rwire::RiderEvent::RiderAssigned(a) => Self::Assigned {
                delivery_id: DeliveryId(a.delivery_id),
                order_id: OrderId(a.order_id),
            },
            rwire::RiderEvent::RiderReleased(a) => Self::Released {
                delivery_id: DeliveryId(a.delivery_id),
                order_id: OrderId(a.order_id),
            },
        }
    }
}

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

macro_rules! domain_event {
    ($event:ty, $wire:ty) => {
        impl cqrs_es::DomainEvent for $event {
            fn event_type(&self) -> String {
                <$wire>::from(self.clone()).event_type().to_owned()
            }

            fn event_version(&self) -> String {
                "1".to_owned()
            }
        }
    };
}

domain_event!(SlotEvent, swire::SlotEvent);
domain_event!(RiderEvent, rwire::RiderEvent);
domain_event!(DeliveryEvent, dwire::DeliveryEvent);
