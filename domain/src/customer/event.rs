use super::{Consent, Preferences, Profile, SavedAddress};
use schemas::customer as cwire;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened to a customer's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "cwire::CustomerEvent", from = "cwire::CustomerEvent")]
pub enum CustomerEvent {
    /// The profile was created.
    Registered(Profile),
    /// The profile changed.
    ProfileChanged(Profile),
    /// An address was added.
    AddressAdded(SavedAddress),
    /// An address changed.
    AddressUpdated(SavedAddress),
    /// An address was removed.
    AddressRemoved(Uuid),
    /// The default address.
    DefaultAddressSet(Uuid),
    /// Preferences.
    PreferencesSet(Preferences),
    /// Consent.
    ConsentSet(Consent),
    /// A push device.
    DeviceRegistered {
        /// Token.
        push_token: String,
        /// Platform.
        platform: String,
    },
    /// A push device removed.
    DeviceRemoved(String),
}

fn profile_wire(p: Profile) -> cwire::CustomerProfileV1 {
    cwire::CustomerProfileV1 {
        account: p.account,
        display_name: p.display_name,
        email: p.email,
        phone: p.phone,
    }
}

fn profile(p: cwire::CustomerProfileV1) -> Profile {
    Profile {
        account: p.account,
        display_name: p.display_name,
        email: p.email,
        phone: p.phone,
    }
}

fn address_wire(a: SavedAddress) -> cwire::CustomerAddressV1 {
    cwire::CustomerAddressV1 {
        address_id: a.address_id,
        label: a.label,
        address: a.address.into(),
    }
}

fn address(a: cwire::CustomerAddressV1) -> SavedAddress {
    SavedAddress {
        address_id: a.address_id,
        label: a.label,
        address: a.address.into(),
    }
}

impl From<CustomerEvent> for cwire::CustomerEvent {
    fn from(e: CustomerEvent) -> Self {
        use cwire::CustomerEvent as W;
        match e {
            CustomerEvent::Registered(p) => W::CustomerRegistered(profile_wire(p)),
            CustomerEvent::ProfileChanged(p) => W::CustomerProfileChanged(profile_wire(p)),
            CustomerEvent::AddressAdded(a) => W::CustomerAddressAdded(address_wire(a)),
            CustomerEvent::AddressUpdated(a) => W::CustomerAddressUpdated(address_wire(a)),
            CustomerEvent::AddressRemoved(address_id) => {
                W::CustomerAddressRemoved(cwire::CustomerAddressRefV1 { address_id })
            }
            CustomerEvent::DefaultAddressSet(address_id) => {
                W::CustomerDefaultAddressSet(cwire::CustomerAddressRefV1 { address_id })
            }
            CustomerEvent::PreferencesSet(p) => {
                W::CustomerPreferencesSet(cwire::CustomerPreferencesV1 {
                    tags: p.tags,
                    dietary: p.dietary,
                    language: p.language,
                })
            }
            CustomerEvent::ConsentSet(c) => W::CustomerConsentSet(cwire::CustomerConsentV1 {
                marketing: c.marketing,
                email: c.email,
                sms: c.sms,
                push: c.push,
            }),
            CustomerEvent::DeviceRegistered {
                push_token,
                platform,
            } => W::CustomerDeviceRegistered(cwire::CustomerDeviceV1 {
                push_token,
                platform,
            }),
            CustomerEvent::DeviceRemoved(push_token) => {
                W::CustomerDeviceRemoved(cwire::CustomerDeviceRefV1 { push_token })
            }
        }
    }
}

impl From<cwire::CustomerEvent> for CustomerEvent {
    fn from(e: cwire::CustomerEvent) -> Self {
        use cwire::CustomerEvent as W;
        match e {
            W::CustomerRegistered(p) => Self::Registered(profile(p)),
            W::CustomerProfileChanged(p) => Self::ProfileChanged(profile(p)),
            W::CustomerAddressAdded(a) => Self::AddressAdded(address(a)),
            W::CustomerAddressUpdated(a) => Self::AddressUpdated(address(a)),
            W::CustomerAddressRemoved(r) => Self::AddressRemoved(r.address_id),
            W::CustomerDefaultAddressSet(r) => Self::DefaultAddressSet(r.address_id),
            W::CustomerPreferencesSet(p) => Self::PreferencesSet(Preferences {
                tags: p.tags,
                dietary: p.dietary,
                language: p.language,
            }),
            W::CustomerConsentSet(c) => Self::ConsentSet(Consent {
                marketing: c.marketing,
                email: c.email,
                sms: c.sms,
                push: c.push,
            }),
            W::CustomerDeviceRegistered(d) => Self::DeviceRegistered {
                push_token: d.push_token,
                platform: d.platform,
            },
            W::CustomerDeviceRemoved(d) => Self::DeviceRemoved(d.push_token),
        }
    }
}

crate::adapter::domain_event!(CustomerEvent, cwire::CustomerEvent);
