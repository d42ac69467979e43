//! Wire shapes shared by several event types: money and decimal quantities.
//!
//! Neither ever travels as a JSON float. Money is an integer count of the currency's minor unit
//! (cents for EUR); quantities and other decimals are JSON strings of a plain decimal number
//! with at most 3 decimals (`"12.5"`, `"0.125"`, `"40"`), so a reader parses them into its own
//! exact decimal type and no binary float ever rounds stock.

use serde::{Deserialize, Serialize};

/// The shape of every decimal string on the wire: digits, then optionally a point and 1 to 3
/// digits. No sign (nothing on the wire is negative), no exponent, no float.
pub const DECIMAL_PATTERN: &str = r"^[0-9]+(\.[0-9]{1,3})?$";

/// An amount of money: `{"amount_minor": 1299, "currency": "EUR"}` is EUR 12.99.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MoneyV1 {
    /// The amount in the currency's minor unit (cents for EUR), never negative.
    #[schemars(range(min = 0))]
    pub amount_minor: i64,
    /// ISO 4217 currency code, three upper-case letters (`EUR`).
    #[schemars(pattern(r"^[A-Z]{3}$"))]
    pub currency: String,
}

/// A point on Earth in integer microdegrees (`52370216` is 52.370216°): exact, and no JSON
/// float on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GeoPointV1 {
    /// Latitude in millionths of a degree, -90000000 to 90000000.
    #[schemars(range(min = -90_000_000, max = 90_000_000))]
    pub lat_e6: i32,
    /// Longitude in millionths of a degree, -180000000 to 180000000.
    #[schemars(range(min = -180_000_000, max = 180_000_000))]
    pub lon_e6: i32,
}

/// A delivery address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AddressV1 {
    /// Street and number.
    pub line1: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166 alpha-2 country code.
    pub country: String,
    /// Where it is, when known (riders' ETAs are computed to it).
    pub location: Option<GeoPointV1>,
}

/// True when `s` has the shape of [`DECIMAL_PATTERN`].
pub fn is_wire_decimal(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| (1..=3).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_decimals_are_plain_numbers_with_at_most_three_decimals() {
        for ok in ["0", "12", "12.5", "0.125", "1000000"] {
            assert!(is_wire_decimal(ok), "{ok} refused");
        }
        for bad in [
            "", ".5", "5.", "1.2345", "-1", "+1", "1e3", "1,5", " 1", "NaN",
        ] {
            assert!(!is_wire_decimal(bad), "{bad} accepted");
        }
    }
}
