//! Delivering orders: [`DeliverySlot`]s (a window in a zone, served from one warehouse, with a
//! capacity of orders), [`Rider`]s (registered, on or off shift, carrying one delivery at a
//! time) and [`Delivery`] (one per order: scheduled in its slot, given the nearest available
//! rider, picked up, tracked, delivered or failed).
//!
//! Choosing the rider is [`nearest_rider`]: pure, over the candidates a read model supplies;
//! the rider's own aggregate then refuses a rider who is already busy, so two deliveries never
//! share one.

mod event;
#[cfg(test)]
mod tests;

pub use event::{DeliveryEvent, RiderEvent, SlotEvent};

use crate::catalog_values::{wire_enum, OrderId, WarehouseId};
use crate::fulfilment_values::{DeliveryAddress, DeliveryId, GeoPoint, RiderId, SlotId};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The most orders one slot may take.
pub const MAX_SLOT_CAPACITY: u32 = 10_000;
/// The riders' assumed average speed for ETAs, in metres per second (18 km/h, a cargo bike in
/// a city).
pub const RIDER_SPEED_M_PER_S: u32 = 5;

/// Why a delivery command was refused. Each variant has a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// No such slot, rider or delivery.
    #[error("not found")]
    NotFound,
    /// Creating an id that exists with other details.
    #[error("it already exists with other details")]
    AlreadyExists,
    /// A slot that ends before it starts.
    #[error("ends_at must be after starts_at")]
    EmptyWindow,
    /// A capacity of zero or too large.
    #[error("capacity must be between 1 and {max}")]
    BadCapacity {
        /// The limit.
        max: u32,
    },
    /// The slot has no place left.
    #[error("the slot is full ({capacity} orders)")]
    SlotFull {
        /// Its capacity.
        capacity: u32,
    },
    /// The slot has already ended.
    #[error("the slot ended at {ends_at}")]
    SlotClosed {
        /// When.
        ends_at: DateTime<Utc>,
    },
    /// The rider is off shift.
    #[error("the rider is not available")]
    RiderUnavailable,
    /// The rider carries another delivery.
    #[error("the rider is busy with delivery {current}")]
    RiderBusy {
        /// What they carry.
        current: DeliveryId,
    },
    /// The delivery needs a refrigerated box the rider lacks.
    #[error("the delivery needs a cold-chain capable rider")]
    NotColdChainCapable,
    /// A rider acting on another rider's record or delivery.
    #[error("only the assigned rider may do this")]
    NotOwner,
    /// The delivery already has another rider.
    #[error("the delivery already has rider {rider_id}")]
    AlreadyAssigned {
        /// Its rider.
        rider_id: RiderId,
    },
    /// The command does not apply in the current status.
    #[error("cannot {attempted} a delivery that is {current}")]
    InvalidTransition {
        /// Where it is.
        current: DeliveryStatus,
        /// What was tried.
        attempted: &'static str,
    },
}

impl crate::Refusal for DeliveryError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::EmptyWindow | Self::BadCapacity { .. } => "validation_failed",
            Self::SlotFull { .. } => "slot_full",
            Self::SlotClosed { .. } => "slot_closed",
            Self::RiderUnavailable => "rider_unavailable",
            Self::RiderBusy { .. } => "rider_busy",
            Self::NotColdChainCapable => "not_cold_chain_capable",
            Self::NotOwner => "not_owner",
            Self::AlreadyAssigned { .. } => "already_assigned",
            Self::InvalidTransition { .. } => "invalid_transition",
        }
    }

    fn kind(&self) -> crate::RefusalKind {
        use crate::RefusalKind as K;
        match self {
            Self::NotFound => K::NotFound,
            Self::NotOwner => K::Forbidden,
            Self::EmptyWindow => K::invalid("ends_at", self),
            Self::BadCapacity { .. } => K::invalid("capacity", self),
            _ => K::Conflict,
        }
    }

    fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::InvalidTransition { current, .. } => {
                vec![crate::detail("current_status", current.as_str())]
            }
            Self::AlreadyAssigned { rider_id } => {
                vec![crate::detail("rider_id", rider_id.0.to_string())]
            }
            _ => Vec::new(),
        }
    }
}

// --- slots --------------------------------------------------------------------------------

/// A delivery slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotState {
    /// Zone.
    pub zone: String,
    /// Warehouse serving it.
    pub warehouse_id: WarehouseId,
    /// Where that warehouse is.
    pub warehouse_location: GeoPoint,
    /// Window start.
    pub starts_at: DateTime<Utc>,
    /// Window end.
    pub ends_at: DateTime<Utc>,
    /// Capacity in orders.
    pub capacity: u32,
    /// Orders holding a place.
    pub booked: BTreeSet<OrderId>,
}

impl SlotState {
    /// Places left.
    pub fn remaining(&self) -> u32 {
        self.capacity
            .saturating_sub(u32::try_from(self.booked.len()).unwrap_or(u32::MAX))
    }
}

/// Commands a slot accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotCommand {
    /// Open it.
    Create(SlotState),
    /// Take a place for an order.
    Book {
        /// The order.
        order_id: OrderId,
        /// When.
        now: DateTime<Utc>,
    },
    /// Give the order's place back.
    Release {
        /// The order.
        order_id: OrderId,
    },
}

/// The delivery slot aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverySlot {
    state: Option<SlotState>,
}

impl DeliverySlot {
    /// The current state.
    pub fn state(&self) -> Option<&SlotState> {
        self.state.as_ref()
    }

    /// Decides a slot command; booking an order already booked, or releasing one that holds
    /// no place, produces nothing.
    ///
    /// # Errors
    /// A [`DeliveryError`].
    pub fn decide(&self, command: SlotCommand) -> Result<Vec<SlotEvent>, DeliveryError> {
        match (&self.state, command) {
            (None, SlotCommand::Create(s)) => {
                if s.ends_at <= s.starts_at {
                    return Err(DeliveryError::EmptyWindow);
                }
                if s.capacity == 0 || s.capacity > MAX_SLOT_CAPACITY {
                    return Err(DeliveryError::BadCapacity {
                        max: MAX_SLOT_CAPACITY,
                    });
                }
                Ok(vec![SlotEvent::Created(Box::new(SlotState {
                    booked: BTreeSet::new(),
                    ..s
                }))])
            }
            (None, _) => Err(DeliveryError::NotFound),
            (Some(cur), SlotCommand::Create(s)) => {
                let same = cur.zone == s.zone
                    && cur.warehouse_id == s.warehouse_id
                    && cur.starts_at == s.starts_at
                    && cur.ends_at == s.ends_at
                    && cur.capacity == s.capacity;
                if same {
                    Ok(vec![])
                } else {
                    Err(DeliveryError::AlreadyExists)
                }
            }
            (Some(cur), SlotCommand::Book { order_id, now }) => {
                if cur.booked.contains(&order_id) {
                    return Ok(vec![]);
                }
                if now >= cur.ends_at {
                    return Err(DeliveryError::SlotClosed {
                        ends_at: cur.ends_at,
                    });
                }
                if cur.remaining() == 0 {
                    return Err(DeliveryError::SlotFull {
                        capacity: cur.capacity,
                    });
                }
                Ok(vec![SlotEvent::Booked { order_id }])
            }
            (Some(cur), SlotCommand::Release { order_id }) => {
                if cur.booked.contains(&order_id) {
                    Ok(vec![SlotEvent::Released { order_id }])
                } else {
                    Ok(vec![])
                }
            }
        }
    }

    /// Applies an event.
    pub fn evolve(&mut self, event: SlotEvent) {
        match event {
            SlotEvent::Created(s) => self.state = Some(*s),
            SlotEvent::Booked { order_id } => {
                if let Some(s) = self.state.as_mut() {
                    s.booked.insert(order_id);
                }
            }
            SlotEvent::Released { order_id } => {
                if let Some(s) = self.state.as_mut() {
                    s.booked.remove(&order_id);
                }
            }
        }
    }
}

// --- riders -------------------------------------------------------------------------------

/// A rider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiderState {
    /// Display name.
    pub name: String,
    /// The rider's account (token subject).
    pub account: String,
    /// Carries a refrigerated box.
    pub cold_chain_capable: bool,
    /// On shift.
    pub available: bool,
    /// Last known position.
    pub location: Option<GeoPoint>,
    /// The delivery carried, if any.
    pub current: Option<(DeliveryId, OrderId)>,
}

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

/// The rider aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rider {
    state: Option<RiderState>,
}

impl Rider {
    /// The current state.
    pub fn state(&self) -> Option<&RiderState> {
        self.state.as_ref()
    }

    /// Decides a rider command. Assigning the delivery already carried, or releasing one not
    /// carried, produces nothing.
    ///
    /// # Errors
    /// A [`DeliveryError`].
    pub fn decide(&self, command: RiderCommand) -> Result<Vec<RiderEvent>, DeliveryError> {
        let Some(s) = &self.state else {
            return match command {
                RiderCommand::Register {
                    name,
                    account,
                    cold_chain_capable,
                } => Ok(vec![RiderEvent::Registered {
                    name,
                    account,
                    cold_chain_capable,
                }]),
                _ => Err(DeliveryError::NotFound),
            };
        };
        match command {
            RiderCommand::Register {
                name,
                account,
                cold_chain_capable,
            } => {
                if s.name == name
                    && s.account == account
                    && s.cold_chain_capable == cold_chain_capable
                {
                    Ok(vec![])
                } else {
                    Err(DeliveryError::AlreadyExists)
                }
            }
            RiderCommand::SetAvailability {
                available,
                location,
                by,
            } => {
                if let RiderCaller::Rider(account) = &by {
                    if *account != s.account {
                        return Err(DeliveryError::NotOwner);
                    }
                }
                let location = location.or(s.location);
                if available == s.available && location == s.location {
                    return Ok(vec![]);
                }
                Ok(vec![RiderEvent::AvailabilityChanged {
                    available,
                    location,
                }])
            }
            RiderCommand::Assign {
                delivery_id,
                order_id,
                cold_chain,
            } => {
                if let Some((current, _)) = s.current {
                    return if current == delivery_id {
                        Ok(vec![])
                    } else {
                        Err(DeliveryError::RiderBusy { current })
                    };
                }
                if !s.available {
                    return Err(DeliveryError::RiderUnavailable);
                }
                if cold_chain && !s.cold_chain_capable {
                    return Err(DeliveryError::NotColdChainCapable);
                }
                Ok(vec![RiderEvent::Assigned {
                    delivery_id,
                    order_id,
                }])
            }
            RiderCommand::Release { delivery_id } => match s.current {
                Some((current, order_id)) if current == delivery_id => {
                    Ok(vec![RiderEvent::Released {
                        delivery_id,
                        order_id,
                    }])
                }
                _ => Ok(vec![]),
            },
        }
    }

    /// Applies an event.
    pub fn evolve(&mut self, event: RiderEvent) {
        if let RiderEvent::Registered {
            name,
            account,
            cold_chain_capable,
        } = event
        {
            self.state = Some(RiderState {
                name,
                account,
                cold_chain_capable,
                available: false,
                location: None,
                current: None,
            });
            return;
        }
        let Some(s) = self.state.as_mut() else {
            return;
        };
        match event {
            RiderEvent::Registered { .. } => {}
            RiderEvent::AvailabilityChanged {
                available,
                location,
            } => {
                s.available = available;
                s.location = location;
            }
            RiderEvent::Assigned {
                delivery_id,
                order_id,
            } => s.current = Some((delivery_id, order_id)),
            RiderEvent::Released { .. } => s.current = None,
        }
    }
}

/// A rider who could take a delivery, as a read model shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiderCandidate {
    /// The rider.
    pub rider_id: RiderId,
    /// Where they are.
    pub location: GeoPoint,
    /// Refrigerated box.
    pub cold_chain_capable: bool,
}

/// The available riders for a pickup at `warehouse`, nearest first (great-circle distance,
/// ties by id), with their distance in metres; riders without a refrigerated box are left out
/// when the delivery needs one.
pub fn nearest_rider(
    warehouse: GeoPoint,
    cold_chain: bool,
    candidates: &[RiderCandidate],
) -> Vec<(RiderId, u32)> {
    let mut ranked: Vec<(RiderId, u32)> = candidates
        .iter()
        .filter(|c| !cold_chain || c.cold_chain_capable)
        .map(|c| (c.rider_id, c.location.distance_m(warehouse)))
        .collect();
    ranked.sort_by_key(|(id, d)| (*d, *id));
    ranked.dedup_by_key(|(id, _)| *id);
    ranked
}

// --- deliveries ---------------------------------------------------------------------------

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

use crate::adapter::cqrs_aggregate;

cqrs_aggregate!(
    DeliverySlot,
    schemas::aggregate_types::DELIVERY_SLOT,
    SlotCommand,
    SlotEvent,
    DeliveryError
);
cqrs_aggregate!(
    Rider,
    schemas::aggregate_types::RIDER,
    RiderCommand,
    RiderEvent,
    DeliveryError
);
cqrs_aggregate!(
    Delivery,
    schemas::aggregate_types::DELIVERY,
    DeliveryCommand,
    DeliveryEvent,
    DeliveryError
);
