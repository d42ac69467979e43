//! Bodies several resources take: a category, a reason, money, a position.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A supplier category.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CategoryBody {
    /// Fruit.
    Fruit,
    /// Vegetables.
    Vegetable,
    /// Herbs.
    Herb,
    /// Dairy.
    Dairy,
    /// Bakery.
    Bakery,
    /// Other.
    Other,
}

/// `POST /v1/suppliers/{id}/reject` (and `/v1/products/{id}/discontinue`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why (required, 3-1000 characters).
    #[schema(format = "domain-reason")]
    pub reason: String,
}

/// Money: `{"amount_minor": 1299, "currency": "EUR"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyBody {
    /// Minor units (cents), not negative.
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "super::whole")]
    pub amount_minor: i64,
    /// ISO 4217 code.
    #[schema(format = "currency")]
    pub currency: String,
}

/// A position in decimal degrees: `{"lat": 52.370216, "lon": 4.895168}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GeoBody {
    /// Latitude, -90 to 90.
    #[schema(value_type = f64)]
    #[schema(minimum = -90, maximum = 90)]
    pub lat: serde_json::Number,
    /// Longitude, -180 to 180.
    #[schema(value_type = f64)]
    #[schema(minimum = -180, maximum = 180)]
    pub lon: serde_json::Number,
}
