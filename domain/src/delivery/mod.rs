//! A delivery, one per order: scheduled in its slot, given the nearest available rider,
//! picked up, tracked with an ETA, delivered or failed; cancelled with its order before pickup.
//!
//! ```text
//! (none) -schedule-> scheduled -assign rider-> assigned -pick up-> picked_up -deliver-> delivered
//!                      |                         |                    |
//!                      +-cancel-> cancelled <----+                    |
//!                      +-fail---> failed <-------+--------------------+
//! ```
//!
//! Who may act: the assigned rider for pickup, tracking, delivery and failure; the delivery
//! service, the sagas or an administrator for everything.

mod aggregate;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use command::{DeliveryCaller, DeliveryCommand};
pub use error::DeliveryError;
pub use event::DeliveryEvent;

use crate::catalog_values::{wire_enum, OrderId, WarehouseId};
use crate::fulfilment_values::{DeliveryAddress, GeoPoint, RiderId, SlotId};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// The riders' assumed average speed for ETAs, in metres per second (18 km/h, a cargo bike in
/// a city).
pub const RIDER_SPEED_M_PER_S: u32 = 5;

wire_enum!(
    /// Where a delivery is.
    DeliveryStatus {
        /// Scheduled, waiting for a rider.
        Scheduled => "scheduled",
        /// A rider is on the way to the warehouse.
        Assigned => "assigned",
        /// With the rider.
        PickedUp => "picked_up",
        /// Handed over (final).
        Delivered => "delivered",
        /// Could not be delivered (final).
        Failed => "failed",
        /// The order was cancelled before pickup (final).
        Cancelled => "cancelled",
    }
);

/// A delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    /// The order.
    pub order_id: OrderId,
    /// The slot.
    pub slot_id: SlotId,
    /// The warehouse.
    pub warehouse_id: WarehouseId,
    /// Where the warehouse is.
    pub pickup: GeoPoint,
    /// Where it goes.
    pub destination: DeliveryAddress,
    /// Needs the cold chain.
    pub cold_chain: bool,
    /// Window start.
    pub window_starts_at: DateTime<Utc>,
    /// Window end.
    pub window_ends_at: DateTime<Utc>,
    /// Where it is.
    pub status: DeliveryStatus,
    /// The rider.
    pub rider_id: Option<RiderId>,
    /// The rider's last reported position.
    pub last_location: Option<GeoPoint>,
}

/// The delivery aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    state: Option<DeliveryState>,
}

impl Delivery {
    /// The current state.
    pub fn state(&self) -> Option<&DeliveryState> {
        self.state.as_ref()
    }

    /// Decides a delivery command. Repeating what is done (the same rider, a second pickup,
    /// delivery, failure or cancellation) produces nothing.
    ///
    /// # Errors
    /// A [`DeliveryError`].
    pub fn decide(&self, command: DeliveryCommand) -> Result<Vec<DeliveryEvent>, DeliveryError> {
        let Some(s) = &self.state else {
            return match command {
                DeliveryCommand::Schedule(d) => {
                    Ok(vec![DeliveryEvent::Scheduled(Box::new(DeliveryState {
                        status: DeliveryStatus::Scheduled,
                        rider_id: None,
                        last_location: None,
                        ..*d
                    }))])
                }
                _ => Err(DeliveryError::NotFound),
            };
        };
        use DeliveryStatus as S;
        let refuse = |attempted| {
            Err(DeliveryError::InvalidTransition {
                current: s.status,
                attempted,
            })
        };
        let rider_check = |by: &DeliveryCaller| match by {
            DeliveryCaller::Rider { assigned: false } => Err(DeliveryError::NotOwner),
            _ => Ok(()),
        };
        match command {
            DeliveryCommand::Schedule(d) => {
                if d.order_id == s.order_id && d.slot_id == s.slot_id {
                    Ok(vec![])
                } else {
                    Err(DeliveryError::AlreadyExists)
                }
            }
            DeliveryCommand::AssignRider {
                rider_id,
                distance_m,
            } => match (s.status, s.rider_id) {
                (_, Some(current)) if current == rider_id => Ok(vec![]),
                (_, Some(current)) => Err(DeliveryError::AlreadyAssigned { rider_id: current }),
                (S::Scheduled, None) => Ok(vec![DeliveryEvent::RiderAssigned {
                    rider_id,
                    distance_m,
                }]),
                _ => refuse("assign a rider to"),
            },
            DeliveryCommand::PickUp { by } => {
                rider_check(&by)?;
                match s.status {
                    S::Assigned => Ok(vec![DeliveryEvent::PickedUp]),
                    S::PickedUp | S::Delivered => Ok(vec![]),
                    _ => refuse("pick up"),
                }
            }
            DeliveryCommand::UpdateLocation { location, now, by } => {
                rider_check(&by)?;
                match s.status {
                    S::Assigned | S::PickedUp => {
                        let eta = s.destination.location.and_then(|dest| {
                            // Before pickup the rider still rides to the warehouse first.
                            let metres = if s.status == S::Assigned {
                                location.distance_m(s.pickup) + s.pickup.distance_m(dest)
                            } else {
                                location.distance_m(dest)
                            };
                            now.checked_add_signed(TimeDelta::seconds(i64::from(
                                metres / RIDER_SPEED_M_PER_S,
                            )))
                        });
                        Ok(vec![DeliveryEvent::LocationUpdated { location, eta }])
                    }
                    _ => refuse("track"),
                }
            }
            DeliveryCommand::Deliver { by } => {
                rider_check(&by)?;
                match s.status {
                    S::PickedUp => Ok(vec![DeliveryEvent::Completed]),
                    S::Delivered => Ok(vec![]),
                    _ => refuse("deliver"),
                }
            }
            DeliveryCommand::Fail { reason, by } => {
                rider_check(&by)?;
                match s.status {
                    S::Scheduled | S::Assigned | S::PickedUp => {
                        Ok(vec![DeliveryEvent::Failed { reason }])
                    }
                    S::Failed => Ok(vec![]),
                    S::Delivered | S::Cancelled => refuse("fail"),
                }
            }
            DeliveryCommand::Cancel { reason } => match s.status {
                S::Scheduled | S::Assigned => Ok(vec![DeliveryEvent::Cancelled { reason }]),
                S::Cancelled | S::Failed => Ok(vec![]),
                S::PickedUp | S::Delivered => refuse("cancel"),
            },
        }
    }

    /// Applies an event.
    pub fn evolve(&mut self, event: DeliveryEvent) {
        if let DeliveryEvent::Scheduled(d) = event {
            self.state = Some(*d);
            return;
        }
        let Some(s) = self.state.as_mut() else {
            return;
        };
        match event {
            DeliveryEvent::Scheduled(_) => {}
            DeliveryEvent::RiderAssigned { rider_id, .. } => {
                s.rider_id = Some(rider_id);
                s.status = DeliveryStatus::Assigned;
            }
            DeliveryEvent::PickedUp => s.status = DeliveryStatus::PickedUp,
            DeliveryEvent::LocationUpdated { location, .. } => s.last_location = Some(location),
            DeliveryEvent::Completed => s.status = DeliveryStatus::Delivered,
            DeliveryEvent::Failed { .. } => s.status = DeliveryStatus::Failed,
            DeliveryEvent::Cancelled { .. } => s.status = DeliveryStatus::Cancelled,
        }
    }
}
