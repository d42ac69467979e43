//! Given events, when a command, then events or a rejection; and a property: no sequence of
//! commands moves a delivery along a transition its state machine does not have, changes its
//! rider, or lets a rider who is not assigned act on it.

use super::*;
use crate::testing::{address, at, order, point};
use cqrs_es::test::TestFramework;
use uuid::Uuid;

fn framework() -> TestFramework<Delivery> {
    TestFramework::with(())
}

const DESTINATION: (i32, i32) = (52_379_000, 4_890_000);

fn schedule() -> DeliveryState {
    DeliveryState {
        order_id: order(1),
        slot_id: SlotId(Uuid::from_u128(2)),
        warehouse_id: WarehouseId(Uuid::from_u128(3)),
        pickup: point(52_370_000, 4_890_000),
        destination: address(Some(point(DESTINATION.0, DESTINATION.1))),
        cold_chain: false,
        window_starts_at: at(2),
        window_ends_at: at(4),
        status: DeliveryStatus::Scheduled,
        rider_id: None,
        last_location: None,
    }
}

fn scheduled() -> DeliveryEvent {
    DeliveryEvent::Scheduled(Box::new(schedule()))
}

fn rider(n: u128) -> RiderId {
    RiderId(Uuid::from_u128(n))
}

fn assign(n: u128) -> DeliveryCommand {
    DeliveryCommand::AssignRider {
        rider_id: rider(n),
        distance_m: 500,
    }
}

fn assigned(n: u128) -> DeliveryEvent {
    DeliveryEvent::RiderAssigned {
        rider_id: rider(n),
        distance_m: 500,
    }
}

const ASSIGNED_RIDER: DeliveryCaller = DeliveryCaller::Rider { assigned: true };
const OTHER_RIDER: DeliveryCaller = DeliveryCaller::Rider { assigned: false };

#[test]
fn a_delivery_is_scheduled_once_and_gets_one_rider() {
    framework()
        .given_no_previous_events()
        .when(DeliveryCommand::Schedule(Box::new(schedule())))
        .then_expect_events(vec![scheduled()]);
    framework()
        .given(vec![scheduled()])
        .when(DeliveryCommand::Schedule(Box::new(schedule())))
        .then_expect_events(vec![]);
    framework()
        .given_no_previous_events()
        .when(assign(7))
        .then_expect_error(DeliveryError::NotFound);
    framework()
        .given(vec![scheduled()])
        .when(assign(7))
        .then_expect_events(vec![assigned(7)]);
    framework()
        .given(vec![scheduled(), assigned(7)])
        .when(assign(7))
        .then_expect_events(vec![]);
    framework()
        .given(vec![scheduled(), assigned(7)])
        .when(assign(8))
        .then_expect_error(DeliveryError::AlreadyAssigned { rider_id: rider(7) });
}

#[test]
fn only_the_assigned_rider_picks_up_and_delivers() {
    let on_the_way = vec![scheduled(), assigned(7)];
    framework()
        .given(on_the_way.clone())
        .when(DeliveryCommand::PickUp { by: OTHER_RIDER })
        .then_expect_error(DeliveryError::NotOwner);
    framework()
        .given(on_the_way.clone())
        .when(DeliveryCommand::PickUp { by: ASSIGNED_RIDER })
        .then_expect_events(vec![DeliveryEvent::PickedUp]);
    framework()
        .given(on_the_way)
        .when(DeliveryCommand::Deliver { by: ASSIGNED_RIDER })
        .then_expect_error(DeliveryError::InvalidTransition {
            current: DeliveryStatus::Assigned,
            attempted: "deliver",
        });
    let picked_up = vec![scheduled(), assigned(7), DeliveryEvent::PickedUp];
    framework()
        .given(picked_up.clone())
        .when(DeliveryCommand::Deliver { by: ASSIGNED_RIDER })
        .then_expect_events(vec![DeliveryEvent::Completed]);
    framework()
        .given(picked_up)
        .when(DeliveryCommand::Cancel {
            reason: "late".into(),
        })
        .then_expect_error(DeliveryError::InvalidTransition {
            current: DeliveryStatus::PickedUp,
            attempted: "cancel",
        });
    framework()
        .given(vec![
            scheduled(),
            assigned(7),
            DeliveryEvent::PickedUp,
            DeliveryEvent::Completed,
        ])
        .when(DeliveryCommand::Deliver { by: ASSIGNED_RIDER })
        .then_expect_events(vec![]);
}

#[test]
fn a_tracked_delivery_has_an_eta_at_the_riders_speed() {
    let here = point(52_370_000, 4_890_000);
    let metres = here.distance_m(point(DESTINATION.0, DESTINATION.1));
    // About 1 km at 5 m/s: 200 s.
    assert!((975..=1025).contains(&metres), "{metres}");
    framework()
        .given(vec![scheduled(), assigned(7), DeliveryEvent::PickedUp])
        .when(DeliveryCommand::UpdateLocation {
            location: here,
            now: at(0),
            by: DeliveryCaller::Operator,
        })
        .then_expect_events(vec![DeliveryEvent::LocationUpdated {
            location: here,
            eta: Some(at(0) + TimeDelta::seconds(i64::from(metres / RIDER_SPEED_M_PER_S))),
        }]);
    framework()
        .given(vec![scheduled()])
        .when(DeliveryCommand::UpdateLocation {
            location: here,
            now: at(0),
            by: DeliveryCaller::Operator,
        })
        .then_expect_error(DeliveryError::InvalidTransition {
            current: DeliveryStatus::Scheduled,
            attempted: "track",
        });
}

#[test]
fn a_delivery_fails_with_a_reason_and_a_second_failure_changes_nothing() {
    let fail = || DeliveryCommand::Fail {
        reason: "customer_absent".into(),
        by: DeliveryCaller::Operator,
    };
    framework()
        .given(vec![scheduled()])
        .when(fail())
        .then_expect_events(vec![DeliveryEvent::Failed {
            reason: "customer_absent".into(),
        }]);
    framework()
        .given(vec![
            scheduled(),
            DeliveryEvent::Failed {
                reason: "customer_absent".into(),
            },
        ])
        .when(fail())
        .then_expect_events(vec![]);
    let stored = serde_json::to_value(DeliveryEvent::Failed { reason: "x".into() }).expect("json");
    assert_eq!(
        stored,
        serde_json::json!({"DeliveryFailed": {"reason": "x"}})
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_caller() -> impl Strategy<Value = DeliveryCaller> {
        prop_oneof![
            Just(ASSIGNED_RIDER),
            Just(OTHER_RIDER),
            Just(DeliveryCaller::Operator)
        ]
    }

    fn any_command() -> impl Strategy<Value = DeliveryCommand> {
        prop_oneof![
            Just(DeliveryCommand::Schedule(Box::new(schedule()))),
            (7u128..9).prop_map(assign),
            any_caller().prop_map(|by| DeliveryCommand::PickUp { by }),
            any_caller().prop_map(|by| DeliveryCommand::UpdateLocation {
                location: point(52_371_000, 4_890_000),
                now: at(0),
                by,
            }),
            any_caller().prop_map(|by| DeliveryCommand::Deliver { by }),
            any_caller().prop_map(|by| DeliveryCommand::Fail {
                reason: "x".into(),
                by
            }),
            Just(DeliveryCommand::Cancel { reason: "x".into() }),
        ]
    }

    fn allowed(from: DeliveryStatus, to: DeliveryStatus) -> bool {
        use DeliveryStatus::*;
        from == to
            || matches!(
                (from, to),
                (Scheduled, Assigned | Cancelled | Failed)
                    | (Assigned, PickedUp | Cancelled | Failed)
                    | (PickedUp, Delivered | Failed)
            )
    }

    proptest! {
        #[test]
        fn no_sequence_of_commands_takes_a_transition_the_delivery_does_not_have(
            commands in proptest::collection::vec(any_command(), 0..40)
        ) {
            let mut delivery = Delivery::default();
            for command in commands {
                let before = delivery.clone();
                let stranger = matches!(
                    &command,
                    DeliveryCommand::PickUp { by: OTHER_RIDER }
                        | DeliveryCommand::UpdateLocation { by: OTHER_RIDER, .. }
                        | DeliveryCommand::Deliver { by: OTHER_RIDER }
                        | DeliveryCommand::Fail { by: OTHER_RIDER, .. }
                );
                match delivery.decide(command) {
                    Ok(events) => {
                        prop_assert!(!stranger || before.state().is_none(), "a rider not assigned acted");
                        for e in events {
                            delivery.evolve(e);
                        }
                    }
                    Err(_) => prop_assert_eq!(&delivery, &before),
                }
                if let (Some(b), Some(s)) = (before.state(), delivery.state()) {
                    prop_assert!(allowed(b.status, s.status), "{:?} -> {:?}", b.status, s.status);
                    if b.rider_id.is_some() {
                        prop_assert_eq!(b.rider_id, s.rider_id, "the rider changed");
                    }
                }
                if let Some(s) = delivery.state() {
                    use DeliveryStatus::*;
                    if matches!(s.status, Assigned | PickedUp | Delivered) {
                        prop_assert!(s.rider_id.is_some(), "{:?} without a rider", s.status);
                    }
                }
            }
        }
    }
}
