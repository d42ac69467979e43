//! Customer and cart events on the wire: a customer's profile, address book, preferences,
//! consent and push devices (topic [`crate::topics::CUSTOMER`]); a customer's cart, from its
//! first line to checkout or abandonment (topic [`crate::topics::CART`]).

use crate::common::{AddressV1, MoneyV1, DECIMAL_PATTERN};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The customer id of an account: the account itself when it is a UUID (Keycloak's subjects
/// are), else a UUID derived from it (v5), so every account has exactly one customer record.
/// The write side names streams with it and the read side finds them with it.
pub fn customer_id(account: &str) -> Uuid {
    Uuid::parse_str(account).unwrap_or_else(|_| {
        Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            format!("freshline:customer:{account}").as_bytes(),
        )
    })
}

crate::wire_events! {
    /// A customer event in its current wire version, tagged with its event type.
    CustomerEvent {
        /// `CustomerRegistered`: a person's customer profile was created (its account is the
        /// identity provider's subject).
        REGISTERED = CustomerRegistered(CustomerProfileV1),
        /// `CustomerProfileChanged`: name, e-mail or phone changed.
        PROFILE_CHANGED = CustomerProfileChanged(CustomerProfileV1),
        /// `CustomerAddressAdded`: a new address in the address book.
        ADDRESS_ADDED = CustomerAddressAdded(CustomerAddressV1),
        /// `CustomerAddressUpdated`: an address's label or place changed.
        ADDRESS_UPDATED = CustomerAddressUpdated(CustomerAddressV1),
        /// `CustomerAddressRemoved`: an address left the book.
        ADDRESS_REMOVED = CustomerAddressRemoved(CustomerAddressRefV1),
        /// `CustomerDefaultAddressSet`: the address checkout offers first.
        DEFAULT_ADDRESS_SET = CustomerDefaultAddressSet(CustomerAddressRefV1),
        /// `CustomerPreferencesSet`: tags, dietary notes, language.
        PREFERENCES_SET = CustomerPreferencesSet(CustomerPreferencesV1),
        /// `CustomerConsentSet`: marketing, and which channels messages may use.
        CONSENT_SET = CustomerConsentSet(CustomerConsentV1),
        /// `CustomerDeviceRegistered`: a device that receives push messages.
        DEVICE_REGISTERED = CustomerDeviceRegistered(CustomerDeviceV1),
        /// `CustomerDeviceRemoved`: a device no longer receives push messages.
        DEVICE_REMOVED = CustomerDeviceRemoved(CustomerDeviceRefV1),
    }
}

/// `CustomerRegistered` v1 and `CustomerProfileChanged` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerProfileV1 {
    /// The person's account at the identity provider (the token subject).
    pub account: String,
    /// How the customer is addressed.
    pub display_name: String,
    /// E-mail for messages.
    pub email: String,
    /// Phone for SMS, when given (E.164-like).
    pub phone: Option<String>,
}

/// `CustomerAddressAdded` v1 and `CustomerAddressUpdated` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerAddressV1 {
    /// The address's id in the book.
    pub address_id: Uuid,
    /// The customer's name for it (`Home`, `Work`).
    pub label: String,
    /// The address, with its location.
    pub address: AddressV1,
}

/// `CustomerAddressRemoved` v1 and `CustomerDefaultAddressSet` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerAddressRefV1 {
    /// The address's id in the book.
    pub address_id: Uuid,
}

/// `CustomerPreferencesSet` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerPreferencesV1 {
    /// Product tags the customer favours (`organic`, `seasonal`, `local`, `imported`).
    pub tags: Vec<String>,
    /// Dietary notes, free text.
    pub dietary: Option<String>,
    /// The language messages are written in (`en`, `nl`).
    pub language: String,
}

/// `CustomerConsentSet` v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerConsentV1 {
    /// Marketing messages (abandoned carts, offers).
    pub marketing: bool,
    /// Messages by e-mail.
    pub email: bool,
    /// Messages by SMS.
    pub sms: bool,
    /// Push messages to registered devices.
    pub push: bool,
}

/// `CustomerDeviceRegistered` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerDeviceV1 {
    /// The push provider's token for the device.
    pub push_token: String,
    /// `ios`, `android` or `web`.
    pub platform: String,
}

/// `CustomerDeviceRemoved` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerDeviceRefV1 {
    /// The push provider's token for the device.
    pub push_token: String,
}

/// Cart events.
pub mod cart {
    use super::{MoneyV1, Uuid, DECIMAL_PATTERN};
    use serde::{Deserialize, Serialize};

    /// The id of a customer's cart stream (all its carts, one open at a time).
    pub fn stream_id(customer_id: Uuid) -> Uuid {
        Uuid::new_v5(&customer_id, b"freshline:carts")
    }

    crate::wire_events! {
        /// A cart event in its current wire version, tagged with its event type.
        CartEvent {
            /// `CartOpened`: a customer's cart got its first line.
            OPENED = CartOpened(CartOpenedV1),
            /// `CartLineSet`: a product's quantity in the cart, with the price the customer
            /// saw then.
            LINE_SET = CartLineSet(CartLineV1),
            /// `CartLineRemoved`: a product left the cart.
            LINE_REMOVED = CartLineRemoved(CartLineRefV1),
            /// `CartCheckedOut`: the cart became an order; it is closed.
            CHECKED_OUT = CartCheckedOut(CartCheckedOutV1),
            /// `CartAbandoned`: idle too long; closed by the scheduler.
            ABANDONED = CartAbandoned(CartAbandonedV1),
        }
    }

    /// `CartOpened` v1. A customer's carts are one stream; each opened cart has its own id
    /// (the id an order placed from it records).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
    pub struct CartOpenedV1 {
        /// This cart's id.
        pub cart_id: Uuid,
        /// When it was opened.
        pub opened_at: chrono::DateTime<chrono::Utc>,
        /// The customer.
        pub customer_id: Uuid,
        /// The customer's account (token subject).
        pub account: String,
    }

    /// `CartLineSet` v1.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
    pub struct CartLineV1 {
        /// The product.
        pub product_id: Uuid,
        /// Quantity in the product's unit, a decimal string.
        #[schemars(pattern(DECIMAL_PATTERN))]
        pub quantity: String,
        /// The catalog price per unit when the line was set (a later price is a warning).
        pub unit_price_seen: MoneyV1,
        /// When the line was set.
        pub at: chrono::DateTime<chrono::Utc>,
    }

    /// `CartLineRemoved` v1.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
    pub struct CartLineRefV1 {
        /// The product.
        pub product_id: Uuid,
        /// When it was removed.
        pub at: chrono::DateTime<chrono::Utc>,
    }

    /// `CartCheckedOut` v1.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
    pub struct CartCheckedOutV1 {
        /// The cart.
        pub cart_id: Uuid,
        /// The order placed from the cart.
        pub order_id: Uuid,
    }

    /// `CartAbandoned` v1.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
    pub struct CartAbandonedV1 {
        /// The cart.
        pub cart_id: Uuid,
        /// When the cart last changed.
        pub idle_since: chrono::DateTime<chrono::Utc>,
    }
}
