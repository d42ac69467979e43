use super::{Consent, Preferences, Profile, SavedAddress};
use crate::fulfilment_values::DeliveryAddress;
use uuid::Uuid;

/// What a customer (always for itself) asks of its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerCommand {
    /// Create the profile (again with the same details: nothing; with others: a change).
    Register(Profile),
    /// Add an address; the first one, or one marked default, becomes the default.
    AddAddress {
        /// The address.
        address: SavedAddress,
        /// Make it the default.
        make_default: bool,
    },
    /// Change an address's label or place, or make it the default.
    UpdateAddress {
        /// Which.
        address_id: Uuid,
        /// A new label.
        label: Option<String>,
        /// A new place.
        address: Option<DeliveryAddress>,
        /// Make it the default.
        make_default: bool,
    },
    /// Remove an address (the default passes to the oldest remaining one).
    RemoveAddress {
        /// Which.
        address_id: Uuid,
    },
    /// Replace the preferences.
    SetPreferences(Preferences),
    /// Replace the consent.
    SetConsent(Consent),
    /// Register a device for push messages.
    RegisterDevice {
        /// The push provider's token.
        push_token: String,
        /// `ios`, `android`, `web`.
        platform: String,
    },
    /// Stop push messages to a device.
    RemoveDevice {
        /// The push provider's token.
        push_token: String,
    },
}
