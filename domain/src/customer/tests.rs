//! Given events, when a command, then events or a refusal; and a property: whatever commands
//! arrive, the default address is always one in the book (none only when the book is empty),
//! the book never exceeds its limit, and a refused command changes nothing.

use super::*;
use crate::testing::{address, point};
use cqrs_es::test::TestFramework;

fn framework() -> TestFramework<Customer> {
    TestFramework::with(())
}

fn profile() -> Profile {
    Profile {
        account: "acct-1".into(),
        display_name: "Noor".into(),
        email: "noor@example.test".into(),
        phone: None,
    }
}

fn saved(n: u128, label: &str) -> SavedAddress {
    SavedAddress {
        address_id: Uuid::from_u128(n),
        label: label.into(),
        address: address(Some(point(52_370_000, 4_890_000))),
    }
}

#[test]
fn registering_again_with_the_same_details_records_nothing_and_other_details_are_a_change() {
    framework()
        .given(vec![CustomerEvent::Registered(profile())])
        .when(CustomerCommand::Register(profile()))
        .then_expect_events(vec![]);
    let renamed = Profile {
        display_name: "Noor B.".into(),
        ..profile()
    };
    framework()
        .given(vec![CustomerEvent::Registered(profile())])
        .when(CustomerCommand::Register(renamed.clone()))
        .then_expect_events(vec![CustomerEvent::ProfileChanged(renamed)]);
}

#[test]
fn nothing_but_registration_works_before_the_profile_exists() {
    framework()
        .given_no_previous_events()
        .when(CustomerCommand::SetConsent(Consent::default()))
        .then_expect_error(CustomerError::NotFound);
}

#[test]
fn the_first_address_becomes_the_default_and_a_later_one_only_when_asked() {
    framework()
        .given(vec![CustomerEvent::Registered(profile())])
        .when(CustomerCommand::AddAddress {
            address: saved(1, "Home"),
            make_default: false,
        })
        .then_expect_events(vec![
            CustomerEvent::AddressAdded(saved(1, "Home")),
            CustomerEvent::DefaultAddressSet(Uuid::from_u128(1)),
        ]);
    framework()
        .given(vec![
            CustomerEvent::Registered(profile()),
            CustomerEvent::AddressAdded(saved(1, "Home")),
            CustomerEvent::DefaultAddressSet(Uuid::from_u128(1)),
        ])
        .when(CustomerCommand::AddAddress {
            address: saved(2, "Work"),
            make_default: false,
        })
        .then_expect_events(vec![CustomerEvent::AddressAdded(saved(2, "Work"))]);
}

#[test]
fn removing_the_default_address_passes_the_default_to_the_next() {
    framework()
        .given(vec![
            CustomerEvent::Registered(profile()),
            CustomerEvent::AddressAdded(saved(1, "Home")),
            CustomerEvent::DefaultAddressSet(Uuid::from_u128(1)),
            CustomerEvent::AddressAdded(saved(2, "Work")),
        ])
        .when(CustomerCommand::RemoveAddress {
            address_id: Uuid::from_u128(1),
        })
        .then_expect_events(vec![
            CustomerEvent::AddressRemoved(Uuid::from_u128(1)),
            CustomerEvent::DefaultAddressSet(Uuid::from_u128(2)),
        ]);
}

#[test]
fn an_unknown_address_is_refused() {
    framework()
        .given(vec![CustomerEvent::Registered(profile())])
        .when(CustomerCommand::UpdateAddress {
            address_id: Uuid::from_u128(9),
            label: Some("x".into()),
            address: None,
            make_default: false,
        })
        .then_expect_error(CustomerError::UnknownAddress);
}

#[test]
fn the_same_device_twice_is_one_device() {
    framework()
        .given(vec![
            CustomerEvent::Registered(profile()),
            CustomerEvent::DeviceRegistered {
                push_token: "t".into(),
                platform: "web".into(),
            },
        ])
        .when(CustomerCommand::RegisterDevice {
            push_token: "t".into(),
            platform: "web".into(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn customer_ids_are_the_account_when_it_is_a_uuid_and_stable_otherwise() {
    let kc = "d2a54153-ec6f-4ae5-a4a5-b01e3cb5fa51";
    assert_eq!(customer_id(kc).to_string(), kc);
    assert_eq!(customer_id("alice"), customer_id("alice"));
    assert_ne!(customer_id("alice"), customer_id("bob"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_command() -> impl Strategy<Value = CustomerCommand> {
        let id = 0u128..6;
        prop_oneof![
            Just(CustomerCommand::Register(profile())),
            (id.clone(), any::<bool>()).prop_map(|(n, d)| CustomerCommand::AddAddress {
                address: saved(n, "A"),
                make_default: d,
            }),
            (id.clone(), any::<bool>()).prop_map(|(n, d)| CustomerCommand::UpdateAddress {
                address_id: Uuid::from_u128(n),
                label: Some(format!("L{n}")),
                address: None,
                make_default: d,
            }),
            id.prop_map(|n| CustomerCommand::RemoveAddress {
                address_id: Uuid::from_u128(n),
            }),
            (any::<bool>(), any::<bool>()).prop_map(|(m, s)| CustomerCommand::SetConsent(
                Consent {
                    marketing: m,
                    email: true,
                    sms: s,
                    push: false,
                }
            )),
        ]
    }

    proptest! {
        #[test]
        fn the_default_address_is_always_in_the_book(
            commands in proptest::collection::vec(any_command(), 0..50)
        ) {
            let mut customer = Customer::default();
            for command in commands {
                let before = customer.clone();
                match customer.decide(command) {
                    Ok(events) => events.into_iter().for_each(|e| customer.evolve(e)),
                    Err(_) => prop_assert_eq!(&customer, &before),
                }
                if let Some(s) = customer.state() {
                    prop_assert!(s.addresses.len() <= MAX_ADDRESSES);
                    match s.default_address {
                        Some(d) => prop_assert!(s.address(d).is_some(), "default not in the book"),
                        None => prop_assert!(s.addresses.is_empty(), "a book without a default"),
                    }
                }
            }
        }
    }
}
