//! Given events, when a command, then events or a rejection; the choice of the nearest rider;
//! and a property: no sequence of commands gives a rider two deliveries, a delivery while off
//! shift, or a cold-chain delivery without a cold box.

use super::*;
use crate::testing::{order, point};
use cqrs_es::test::TestFramework;
use uuid::Uuid;

fn framework() -> TestFramework<Rider> {
    TestFramework::with(())
}

fn register(cold: bool) -> RiderCommand {
    RiderCommand::Register {
        name: "Sanne".into(),
        account: "rider-1".into(),
        cold_chain_capable: cold,
    }
}

fn registered(cold: bool) -> RiderEvent {
    RiderEvent::Registered {
        name: "Sanne".into(),
        account: "rider-1".into(),
        cold_chain_capable: cold,
    }
}

fn on_shift() -> RiderEvent {
    RiderEvent::AvailabilityChanged {
        available: true,
        location: Some(point(52_360_000, 4_880_000)),
    }
}

fn delivery(n: u128) -> DeliveryId {
    DeliveryId(Uuid::from_u128(n))
}

fn assign(n: u128, cold_chain: bool) -> RiderCommand {
    RiderCommand::Assign {
        delivery_id: delivery(n),
        order_id: order(n),
        cold_chain,
    }
}

fn assigned(n: u128) -> RiderEvent {
    RiderEvent::Assigned {
        delivery_id: delivery(n),
        order_id: order(n),
    }
}

#[test]
fn a_rider_registers_off_shift_and_an_identical_retry_changes_nothing() {
    framework()
        .given_no_previous_events()
        .when(register(true))
        .then_expect_events(vec![registered(true)]);
    framework()
        .given(vec![registered(true)])
        .when(register(true))
        .then_expect_events(vec![]);
    framework()
        .given(vec![registered(true)])
        .when(register(false))
        .then_expect_error(RiderError::AlreadyExists);
    framework()
        .given_no_previous_events()
        .when(assign(1, false))
        .then_expect_error(RiderError::NotFound);
}

#[test]
fn only_the_rider_or_an_operator_changes_their_shift() {
    let set = |by| RiderCommand::SetAvailability {
        available: true,
        location: Some(point(52_360_000, 4_880_000)),
        by,
    };
    framework()
        .given(vec![registered(false)])
        .when(set(RiderCaller::Rider("rider-2".into())))
        .then_expect_error(RiderError::NotOwner);
    framework()
        .given(vec![registered(false)])
        .when(set(RiderCaller::Rider("rider-1".into())))
        .then_expect_events(vec![on_shift()]);
    framework()
        .given(vec![registered(false), on_shift()])
        .when(set(RiderCaller::Operator))
        .then_expect_events(vec![]);
}

#[test]
fn a_rider_carries_one_delivery_at_a_time_and_only_when_on_shift() {
    framework()
        .given(vec![registered(true)])
        .when(assign(1, false))
        .then_expect_error(RiderError::RiderUnavailable);
    framework()
        .given(vec![registered(false), on_shift()])
        .when(assign(1, true))
        .then_expect_error(RiderError::NotColdChainCapable);
    framework()
        .given(vec![registered(true), on_shift()])
        .when(assign(1, true))
        .then_expect_events(vec![assigned(1)]);
    let carrying = vec![registered(true), on_shift(), assigned(1)];
    framework()
        .given(carrying.clone())
        .when(assign(1, true))
        .then_expect_events(vec![]);
    framework()
        .given(carrying.clone())
        .when(assign(2, false))
        .then_expect_error(RiderError::RiderBusy {
            current: delivery(1),
        });
    framework()
        .given(carrying.clone())
        .when(RiderCommand::Release {
            delivery_id: delivery(2),
        })
        .then_expect_events(vec![]);
    framework()
        .given(carrying)
        .when(RiderCommand::Release {
            delivery_id: delivery(1),
        })
        .then_expect_events(vec![RiderEvent::Released {
            delivery_id: delivery(1),
            order_id: order(1),
        }]);
}

#[test]
fn the_nearest_available_rider_is_chosen_and_cold_chain_needs_a_cold_box() {
    let warehouse = point(52_370_000, 4_890_000);
    let c = |n: u128, lat, cold| RiderCandidate {
        rider_id: RiderId(Uuid::from_u128(n)),
        location: point(lat, 4_890_000),
        cold_chain_capable: cold,
    };
    let candidates = [
        c(1, 52_400_000, true),
        c(2, 52_371_000, false),
        c(3, 52_380_000, true),
    ];
    let ranked = nearest_rider(warehouse, false, &candidates);
    assert_eq!(ranked[0].0, RiderId(Uuid::from_u128(2)));
    assert!((100..125).contains(&ranked[0].1), "{:?}", ranked[0]);
    let cold = nearest_rider(warehouse, true, &candidates);
    assert_eq!(
        cold.iter()
            .map(|(id, _)| id.0.as_u128())
            .collect::<Vec<_>>(),
        vec![3, 1]
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_command() -> impl Strategy<Value = RiderCommand> {
        prop_oneof![
            any::<bool>().prop_map(register),
            (any::<bool>(), prop_oneof![Just("rider-1"), Just("rider-2")]).prop_map(
                |(available, account)| RiderCommand::SetAvailability {
                    available,
                    location: None,
                    by: RiderCaller::Rider(account.into()),
                }
            ),
            (1u128..4, any::<bool>()).prop_map(|(n, cold)| assign(n, cold)),
            (1u128..4).prop_map(|n| RiderCommand::Release {
                delivery_id: delivery(n)
            }),
        ]
    }

    proptest! {
        #[test]
        fn no_sequence_of_commands_gives_a_rider_two_deliveries_or_one_they_cannot_carry(
            commands in proptest::collection::vec(any_command(), 0..40)
        ) {
            let mut rider = Rider::default();
            for command in commands {
                let before = rider.clone();
                let cold = matches!(command, RiderCommand::Assign { cold_chain: true, .. });
                match rider.decide(command) {
                    Ok(events) => {
                        for e in events {
                            if matches!(e, RiderEvent::Assigned { .. }) {
                                let s = before.state().expect("registered");
                                prop_assert!(s.available, "assigned off shift");
                                prop_assert!(s.current.is_none(), "assigned a second delivery");
                                prop_assert!(!cold || s.cold_chain_capable, "cold chain without a cold box");
                            }
                            rider.evolve(e);
                        }
                    }
                    Err(_) => prop_assert_eq!(&rider, &before),
                }
                if let (Some(b), Some(s)) = (before.state(), rider.state()) {
                    prop_assert_eq!((&b.name, &b.account, b.cold_chain_capable), (&s.name, &s.account, s.cold_chain_capable));
                }
            }
        }
    }
}
