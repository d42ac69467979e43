//! Value types of order fulfilment: ids, payment methods, positions on Earth and delivery
//! addresses. Positions are integer microdegrees, so no float is stored or published; the
//! great-circle distance between two of them is [`GeoPoint::distance_m`].

use crate::catalog_values::wire_enum;
use crate::values::{Address, AddressLine, City, CountryCode, PostalCode, ValueError};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use schemas::common::{AddressV1, GeoPointV1};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::adapter::id_type;

id_type!(
    /// A payment's id (one per order, see [`PaymentId::of_order`]).
    PaymentId
);
id_type!(
    /// A delivery's id (one per order, see [`DeliveryId::of_order`]).
    DeliveryId
);
id_type!(
    /// A delivery slot's id.
    SlotId
);
id_type!(
    /// A rider's id.
    RiderId
);
id_type!(
    /// A refund's id.
    RefundId
);

/// Namespace of the ids derived from an order's.
const ORDER_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_0d2c_4b7e_4e0a_9f3d_2c8b_7a6e_5d40);

impl PaymentId {
    /// The payment of `order` (every order has exactly one).
    pub fn of_order(order: crate::OrderId) -> Self {
        Self(Uuid::new_v5(
            &ORDER_NAMESPACE,
            format!("payment:{}", order.0).as_bytes(),
        ))
    }
}

impl DeliveryId {
    /// The delivery of `order` (every order has at most one).
    pub fn of_order(order: crate::OrderId) -> Self {
        Self(Uuid::new_v5(
            &ORDER_NAMESPACE,
            format!("delivery:{}", order.0).as_bytes(),
        ))
    }
}

wire_enum!(
    /// How an order is paid.
    PaymentMethod {
        /// By card through the payment gateway, before packing.
        Card => "card",
        /// In cash to the rider, captured at delivery.
        CashOnDelivery => "cash_on_delivery",
    }
);

/// A position in integer microdegrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GeoPoint {
    lat_e6: i32,
    lon_e6: i32,
}

/// Mean Earth radius in metres (IUGG).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

impl GeoPoint {
    /// A point from microdegrees.
    ///
    /// # Errors
    /// [`ValueError::Format`] outside -90..90 latitude or -180..180 longitude.
    pub fn from_e6(lat_e6: i32, lon_e6: i32) -> Result<Self, ValueError> {
        if !(-90_000_000..=90_000_000).contains(&lat_e6)
            || !(-180_000_000..=180_000_000).contains(&lon_e6)
        {
            return Err(ValueError::Format {
                expected: "a latitude between -90 and 90 and a longitude between -180 and 180",
            });
        }
        Ok(Self { lat_e6, lon_e6 })
    }

    /// A point from decimal degrees as written in JSON (`52.370216`), to the microdegree
    /// (about 11 cm), rounding half away from zero.
    ///
    /// # Errors
    /// [`ValueError::Format`] when either is not a number or is out of range.
    pub fn from_degrees(lat: &str, lon: &str) -> Result<Self, ValueError> {
        let e6 = |s: &str| -> Option<i32> {
            let d: Decimal = s.trim().parse().ok()?;
            (d * Decimal::from(1_000_000))
                .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
                .to_i32()
        };
        match (e6(lat), e6(lon)) {
            (Some(la), Some(lo)) => Self::from_e6(la, lo),
            _ => Err(ValueError::Format {
                expected: "lat and lon as decimal degrees",
            }),
        }
    }

    /// Latitude in microdegrees.
    pub fn lat_e6(self) -> i32 {
        self.lat_e6
    }

    /// Longitude in microdegrees.
    pub fn lon_e6(self) -> i32 {
        self.lon_e6
    }

    /// Great-circle (haversine) distance to `other`, in whole metres.
    pub fn distance_m(self, other: GeoPoint) -> u32 {
        let rad = |e6: i32| (f64::from(e6) / 1e6).to_radians();
        let (p1, p2) = (rad(self.lat_e6), rad(other.lat_e6));
        let dp = p2 - p1;
        let dl = rad(other.lon_e6) - rad(self.lon_e6);
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        let c = 2.0 * a.sqrt().atan2((1.0 - a).sqrt());
        // At most half the Earth's circumference (~20,015 km): always fits.
        (EARTH_RADIUS_M * c).round().clamp(0.0, f64::from(u32::MAX)) as u32
    }
}

impl From<GeoPoint> for GeoPointV1 {
    fn from(p: GeoPoint) -> Self {
        Self {
            lat_e6: p.lat_e6,
            lon_e6: p.lon_e6,
        }
    }
}

impl From<GeoPointV1> for GeoPoint {
    fn from(p: GeoPointV1) -> Self {
        // Stored points were valid when recorded.
        Self {
            lat_e6: p.lat_e6,
            lon_e6: p.lon_e6,
        }
    }
}

/// Where an order goes: a postal address, and its position when the customer gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAddress {
    /// The postal address.
    pub address: Address,
    /// Its position, if known (ETAs are computed to it).
    pub location: Option<GeoPoint>,
}

impl From<DeliveryAddress> for AddressV1 {
    fn from(a: DeliveryAddress) -> Self {
        Self {
            line1: a.address.line1.as_str().to_owned(),
            city: a.address.city.as_str().to_owned(),
            postal_code: a.address.postal_code.as_str().to_owned(),
            country: a.address.country.as_str().to_owned(),
            location: a.location.map(Into::into),
        }
    }
}

impl From<AddressV1> for DeliveryAddress {
    fn from(a: AddressV1) -> Self {
        Self {
            address: Address {
                line1: AddressLine::trusted(a.line1),
                city: City::trusted(a.city),
                postal_code: PostalCode::trusted(a.postal_code),
                country: CountryCode::trusted(a.country),
            },
            location: a.location.map(Into::into),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_distance_between_amsterdam_and_rotterdam_is_about_57_km() {
        let ams = GeoPoint::from_degrees("52.3676", "4.9041").expect("point");
        let rtm = GeoPoint::from_degrees("51.9244", "4.4777").expect("point");
        let d = ams.distance_m(rtm);
        assert!((57_000..58_500).contains(&d), "{d}");
        assert_eq!(ams.distance_m(ams), 0);
        assert_eq!(ams.distance_m(rtm), rtm.distance_m(ams));
    }

    #[test]
    fn positions_are_kept_to_the_microdegree_and_refused_out_of_range() {
        let p = GeoPoint::from_degrees("-33.8688197", "151.2092955").expect("point");
        assert_eq!((p.lat_e6(), p.lon_e6()), (-33_868_820, 151_209_296));
        assert!(GeoPoint::from_degrees("90.5", "0").is_err());
        assert!(GeoPoint::from_degrees("0", "-181").is_err());
        assert!(GeoPoint::from_degrees("north", "0").is_err());
    }

    #[test]
    fn an_orders_payment_and_delivery_ids_are_fixed_by_the_order() {
        let order = crate::OrderId(Uuid::from_u128(7));
        assert_eq!(PaymentId::of_order(order), PaymentId::of_order(order));
        assert_ne!(PaymentId::of_order(order).0, DeliveryId::of_order(order).0);
        assert_ne!(
            PaymentId::of_order(order),
            PaymentId::of_order(crate::OrderId(Uuid::from_u128(8)))
        );
    }
}
