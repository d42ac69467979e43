use crate::catalog_values::OrderId;
use crate::fulfilment_values::{DeliveryId, GeoPoint};
use schemas::rider as rwire;
use serde::{Deserialize, Serialize};

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

crate::adapter::domain_event!(RiderEvent, rwire::RiderEvent);
