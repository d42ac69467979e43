//! Values the aggregates' tests are written with.

use crate::catalog_values::{Currency, Money, OrderId};
use crate::fulfilment_values::{DeliveryAddress, GeoPoint};
use crate::values::{Address, AddressLine, City, CountryCode, PostalCode};
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

/// 2026-12-01 08:00 UTC plus `hours`.
pub fn at(hours: i64) -> DateTime<Utc> {
    "2026-12-01T08:00:00Z"
        .parse::<DateTime<Utc>>()
        .expect("time")
        + TimeDelta::hours(hours)
}

/// A point from micro-degrees.
pub fn point(lat: i32, lon: i32) -> GeoPoint {
    GeoPoint::from_e6(lat, lon).expect("point")
}

/// Order `n`.
pub fn order(n: u128) -> OrderId {
    OrderId(Uuid::from_u128(n))
}

/// `minor` euro cents.
pub fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::try_from("EUR").expect("eur")).expect("money")
}

/// An address in Amsterdam, with a location when given.
pub fn address(location: Option<GeoPoint>) -> DeliveryAddress {
    DeliveryAddress {
        address: Address {
            line1: AddressLine::try_from("Dam 1").expect("l"),
            city: City::try_from("Amsterdam").expect("c"),
            postal_code: PostalCode::try_from("1012 JS").expect("p"),
            country: CountryCode::try_from("NL").expect("cc"),
        },
        location,
    }
}
