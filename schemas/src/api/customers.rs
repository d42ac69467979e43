//! Customers and carts: a customer's own profile, address book, preferences, consent and
//! devices; its cart, checkout; the scheduler abandons idle carts.

use super::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/customers/me`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    /// How the customer is addressed (1 to 120 characters).
    pub display_name: String,
    /// E-mail for messages.
    #[schema(format = "email")]
    pub email: String,
    /// Phone for SMS (E.164: `+31612345678`), optional.
    pub phone: Option<String>,
}

/// An address of the book: where it is, and its location (riders' ETAs are computed to it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SavedAddressBody {
    /// Street and number.
    #[schema(format = "address-line")]
    pub line1: String,
    /// City.
    #[schema(format = "city")]
    pub city: String,
    /// Postal code.
    #[schema(format = "postal-code")]
    pub postal_code: String,
    /// ISO 3166 alpha-2 country.
    #[schema(format = "country")]
    pub country: String,
    /// Where it is.
    pub location: GeoBody,
}

/// `POST /v1/customers/me/addresses`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddAddressBody {
    /// The customer's name for it (`Home`, `Work`; 1 to 60 characters).
    pub label: String,
    /// The address.
    pub address: SavedAddressBody,
    /// Make it the default (the first address always is).
    #[serde(default)]
    pub default: bool,
}

/// `PATCH /v1/customers/me/addresses/{address_id}`: any of the fields.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAddressBody {
    /// A new label.
    pub label: Option<String>,
    /// A new address.
    pub address: Option<SavedAddressBody>,
    /// Make it the default.
    #[serde(default)]
    pub default: bool,
}

/// `PUT /v1/customers/me/preferences`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesBody {
    /// Favoured tags: `organic`, `seasonal`, `local`, `imported`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Dietary notes (at most 500 characters).
    pub dietary: Option<String>,
    /// The language of messages: `en` or `nl`.
    pub language: String,
}

/// Which channels messages may use.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelsBody {
    /// E-mail.
    pub email: bool,
    /// SMS (needs a phone).
    pub sms: bool,
    /// Push (needs a device).
    pub push: bool,
}

/// `PUT /v1/customers/me/consent`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// Marketing messages (abandoned carts, offers).
    pub marketing: bool,
    /// Channels.
    pub channels: ChannelsBody,
}

/// `POST /v1/customers/me/devices`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceBody {
    /// The push provider's token for the device (1 to 400 printable characters).
    #[schema(format = "printable")]
    pub push_token: String,
    /// `ios`, `android` or `web`.
    pub platform: String,
}

/// `PUT /v1/carts/current/lines/{product_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartLineBody {
    /// Quantity in the product's unit; 0 removes the line.
    #[schema(value_type = f64)]
    #[schema(minimum = 0, maximum = 1_000_000_000, multiple_of = 0.001)]
    pub quantity: serde_json::Number,
}

/// `POST /v1/carts/current/checkout`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// An address of the customer's book (default: the default address).
    pub address_id: Option<Uuid>,
    /// The delivery slot.
    pub slot_id: Uuid,
    /// Card (with a token) or cash.
    pub payment: PaymentBody,
    /// The total the customer last saw; a different total now answers `409 price_changed`.
    pub expected_total: Option<MoneyBody>,
    /// A promotion code (no promotions exist yet: any code answers `422`).
    pub promo_code: Option<String>,
    /// Loyalty points to redeem (no points exist yet: more than 0 answers `422`).
    pub redeem_points: Option<u64>,
}

/// `POST /v1/carts/{id}/abandon` (the scheduler).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbandonCartBody {
    /// The cart the scheduler found idle (a cart opened since is left alone).
    pub cart_id: Uuid,
}

/// `POST /v1/streams/tickets`: a ticket for a browser's `EventSource`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamTicketBody {
    /// The stream to open: `/v1/streams/orders/{id}` or `/v1/streams/ops`.
    #[schema(
        pattern = "^/v1/streams/(ops|orders/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
    )]
    pub stream: String,
}
