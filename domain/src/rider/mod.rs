//! A rider: registered, on or off shift, carrying one delivery at a time; and the choice of
//! the nearest available rider for a pickup ([`nearest_rider`]: pure, over the candidates a
//! read model supplies; the rider's own aggregate then refuses a rider who is already busy,
//! so two deliveries never share one).
//!
//! ```text
//! (none) --register--> off shift <--set availability--> on shift --assign--> carrying
//!                                                          ^                    |
//!                                                          +------release-------+
//! ```

mod aggregate;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use command::{RiderCaller, RiderCommand};
pub use error::RiderError;
pub use event::RiderEvent;

use crate::catalog_values::OrderId;
use crate::fulfilment_values::{DeliveryId, GeoPoint, RiderId};
use serde::{Deserialize, Serialize};

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
    /// A [`RiderError`].
    pub fn decide(&self, command: RiderCommand) -> Result<Vec<RiderEvent>, RiderError> {
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
                _ => Err(RiderError::NotFound),
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
                    Err(RiderError::AlreadyExists)
                }
            }
            RiderCommand::SetAvailability {
                available,
                location,
                by,
            } => {
                if let RiderCaller::Rider(account) = &by {
                    if *account != s.account {
                        return Err(RiderError::NotOwner);
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
                        Err(RiderError::RiderBusy { current })
                    };
                }
                if !s.available {
                    return Err(RiderError::RiderUnavailable);
                }
                if cold_chain && !s.cold_chain_capable {
                    return Err(RiderError::NotColdChainCapable);
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
