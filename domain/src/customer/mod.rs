//! A customer: the profile of a person who shops (its account is the identity provider's
//! subject, so a customer only ever changes its own record), an address book with a default
//! address (each with a location, for riders' ETAs), preferences (tags, dietary notes, the
//! language of messages), consent (marketing; which channels messages may use) and the devices
//! push messages go to.
//!
//! Every command is idempotent in effect: asking for what already holds records nothing.

mod aggregate;
mod command;
mod error;
mod event;
#[cfg(test)]
mod tests;

pub use command::CustomerCommand;
pub use error::CustomerError;
pub use event::CustomerEvent;

use crate::fulfilment_values::DeliveryAddress;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The most addresses a book holds.
pub const MAX_ADDRESSES: usize = 20;
/// The most push devices.
pub const MAX_DEVICES: usize = 10;

pub use schemas::customer::customer_id;

/// Name and contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The account (token subject).
    pub account: String,
    /// Display name.
    pub display_name: String,
    /// E-mail.
    pub email: String,
    /// Phone, when given.
    pub phone: Option<String>,
}

/// An address in the book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAddress {
    /// Its id.
    pub address_id: Uuid,
    /// The customer's name for it.
    pub label: String,
    /// The address and its location.
    pub address: DeliveryAddress,
}

/// Preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    /// Favoured product tags.
    pub tags: Vec<String>,
    /// Dietary notes.
    pub dietary: Option<String>,
    /// Language of messages.
    pub language: String,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            tags: Vec::new(),
            dietary: None,
            language: "en".to_owned(),
        }
    }
}

/// Consent to messages. Service messages about one's own orders go by e-mail unless refused;
/// SMS and push need a yes; marketing needs a yes too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Marketing messages.
    pub marketing: bool,
    /// E-mail.
    pub email: bool,
    /// SMS.
    pub sms: bool,
    /// Push.
    pub push: bool,
}

impl Default for Consent {
    fn default() -> Self {
        Self {
            marketing: false,
            email: true,
            sms: false,
            push: false,
        }
    }
}

/// A customer's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerState {
    /// Name and contact.
    pub profile: Profile,
    /// The address book, oldest first.
    pub addresses: Vec<SavedAddress>,
    /// The default address.
    pub default_address: Option<Uuid>,
    /// Preferences.
    pub preferences: Preferences,
    /// Consent.
    pub consent: Consent,
    /// Push devices: (token, platform).
    pub devices: Vec<(String, String)>,
}

impl CustomerState {
    /// The address with this id.
    pub fn address(&self, id: Uuid) -> Option<&SavedAddress> {
        self.addresses.iter().find(|a| a.address_id == id)
    }
}

/// The aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    state: Option<CustomerState>,
}

impl Customer {
    /// The record, once created.
    pub fn state(&self) -> Option<&CustomerState> {
        self.state.as_ref()
    }

    /// Decides what a command records.
    ///
    /// # Errors
    /// [`CustomerError`] when it breaks a rule.
    pub fn decide(&self, command: CustomerCommand) -> Result<Vec<CustomerEvent>, CustomerError> {
        let Some(s) = &self.state else {
            return match command {
                CustomerCommand::Register(p) => Ok(vec![CustomerEvent::Registered(p)]),
                _ => Err(CustomerError::NotFound),
            };
        };
        match command {
            CustomerCommand::Register(p) => Ok(if p == s.profile {
                vec![]
            } else {
                vec![CustomerEvent::ProfileChanged(Profile {
                    account: s.profile.account.clone(),
                    ..p
                })]
            }),
            CustomerCommand::AddAddress {
                address,
                make_default,
            } => {
                if let Some(existing) = s.address(address.address_id) {
                    // The same request again (the id derives from its key): nothing new.
                    return Ok(if *existing == address {
                        vec![]
                    } else {
                        vec![CustomerEvent::AddressUpdated(address)]
                    });
                }
                if s.addresses.len() >= MAX_ADDRESSES {
                    return Err(CustomerError::TooManyAddresses { max: MAX_ADDRESSES });
                }
                let id = address.address_id;
                let mut events = vec![CustomerEvent::AddressAdded(address)];
                if make_default || s.default_address.is_none() {
                    events.push(CustomerEvent::DefaultAddressSet(id));
                }
                Ok(events)
            }
            CustomerCommand::UpdateAddress {
                address_id,
                label,
                address,
                make_default,
            } => {
                let current = s.address(address_id).ok_or(CustomerError::UnknownAddress)?;
                let updated = SavedAddress {
                    address_id,
                    label: label.unwrap_or_else(|| current.label.clone()),
                    address: address.unwrap_or_else(|| current.address.clone()),
                };
                let mut events = Vec::new();
                if updated != *current {
                    events.push(CustomerEvent::AddressUpdated(updated));
                }
                if make_default && s.default_address != Some(address_id) {
                    events.push(CustomerEvent::DefaultAddressSet(address_id));
                }
                Ok(events)
            }
            CustomerCommand::RemoveAddress { address_id } => {
                if s.address(address_id).is_none() {
                    return Err(CustomerError::UnknownAddress);
                }
                let mut events = vec![CustomerEvent::AddressRemoved(address_id)];
                if s.default_address == Some(address_id) {
                    if let Some(next) = s.addresses.iter().find(|a| a.address_id != address_id) {
                        events.push(CustomerEvent::DefaultAddressSet(next.address_id));
                    }
                }
                Ok(events)
            }
            CustomerCommand::SetPreferences(p) => Ok(if p == s.preferences {
                vec![]
            } else {
                vec![CustomerEvent::PreferencesSet(p)]
            }),
            CustomerCommand::SetConsent(c) => Ok(if c == s.consent {
                vec![]
            } else {
                vec![CustomerEvent::ConsentSet(c)]
            }),
            CustomerCommand::RegisterDevice {
                push_token,
                platform,
            } => {
                if s.devices
                    .iter()
                    .any(|(t, p)| *t == push_token && *p == platform)
                {
                    return Ok(vec![]);
                }
                let known = s.devices.iter().any(|(t, _)| *t == push_token);
                if !known && s.devices.len() >= MAX_DEVICES {
                    return Err(CustomerError::TooManyDevices { max: MAX_DEVICES });
                }
                Ok(vec![CustomerEvent::DeviceRegistered {
                    push_token,
                    platform,
                }])
            }
            CustomerCommand::RemoveDevice { push_token } => {
                Ok(if s.devices.iter().any(|(t, _)| *t == push_token) {
                    vec![CustomerEvent::DeviceRemoved(push_token)]
                } else {
                    vec![]
                })
            }
        }
    }

    /// Applies what happened.
    pub fn evolve(&mut self, event: CustomerEvent) {
        if let CustomerEvent::Registered(profile) = event {
            self.state = Some(CustomerState {
                profile,
                addresses: Vec::new(),
                default_address: None,
                preferences: Preferences::default(),
                consent: Consent::default(),
                devices: Vec::new(),
            });
            return;
        }
        let Some(s) = self.state.as_mut() else {
            return;
        };
        match event {
            CustomerEvent::Registered(_) => {}
            CustomerEvent::ProfileChanged(p) => s.profile = p,
            CustomerEvent::AddressAdded(a) => s.addresses.push(a),
            CustomerEvent::AddressUpdated(a) => {
                if let Some(slot) = s
                    .addresses
                    .iter_mut()
                    .find(|x| x.address_id == a.address_id)
                {
                    *slot = a;
                }
            }
            CustomerEvent::AddressRemoved(id) => {
                s.addresses.retain(|a| a.address_id != id);
                if s.default_address == Some(id) {
                    s.default_address = None;
                }
            }
            CustomerEvent::DefaultAddressSet(id) => s.default_address = Some(id),
            CustomerEvent::PreferencesSet(p) => s.preferences = p,
            CustomerEvent::ConsentSet(c) => s.consent = c,
            CustomerEvent::DeviceRegistered {
                push_token,
                platform,
            } => {
                s.devices.retain(|(t, _)| *t != push_token);
                s.devices.push((push_token, platform));
            }
            CustomerEvent::DeviceRemoved(token) => s.devices.retain(|(t, _)| *t != token),
        }
    }
}
