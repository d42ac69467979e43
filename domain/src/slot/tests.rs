//! Given events, when a command, then events or a rejection; and a property: no sequence of
//! commands books a slot past its capacity, after its end, or twice for one order.

use super::*;
use crate::testing::{at, order, point};
use cqrs_es::test::TestFramework;
use uuid::Uuid;

fn framework() -> TestFramework<DeliverySlot> {
    TestFramework::with(())
}

fn opening(capacity: u32) -> SlotState {
    SlotState {
        zone: "AMS".into(),
        warehouse_id: WarehouseId(Uuid::from_u128(1)),
        warehouse_location: point(52_370_000, 4_890_000),
        starts_at: at(2),
        ends_at: at(4),
        capacity,
        booked: BTreeSet::new(),
    }
}

fn created(capacity: u32) -> SlotEvent {
    SlotEvent::Created(Box::new(opening(capacity)))
}

fn book(n: u128, hour: i64) -> SlotCommand {
    SlotCommand::Book {
        order_id: order(n),
        now: at(hour),
    }
}

#[test]
fn a_slot_is_created_once_and_an_identical_retry_changes_nothing() {
    framework()
        .given_no_previous_events()
        .when(SlotCommand::Create(opening(2)))
        .then_expect_events(vec![created(2)]);
    framework()
        .given(vec![created(2)])
        .when(SlotCommand::Create(opening(2)))
        .then_expect_events(vec![]);
    framework()
        .given(vec![created(2)])
        .when(SlotCommand::Create(opening(3)))
        .then_expect_error(SlotError::AlreadyExists);
}

#[test]
fn a_slot_needs_a_window_and_a_capacity_in_range() {
    let mut empty = opening(2);
    empty.ends_at = empty.starts_at;
    framework()
        .given_no_previous_events()
        .when(SlotCommand::Create(empty))
        .then_expect_error(SlotError::EmptyWindow);
    for capacity in [0, MAX_SLOT_CAPACITY + 1] {
        framework()
            .given_no_previous_events()
            .when(SlotCommand::Create(opening(capacity)))
            .then_expect_error(SlotError::BadCapacity {
                max: MAX_SLOT_CAPACITY,
            });
    }
    framework()
        .given_no_previous_events()
        .when(book(1, 0))
        .then_expect_error(SlotError::NotFound);
}

#[test]
fn a_slot_takes_no_more_orders_than_its_capacity_and_a_rebooking_is_free() {
    let two_booked = vec![
        created(2),
        SlotEvent::Booked { order_id: order(1) },
        SlotEvent::Booked { order_id: order(2) },
    ];
    framework()
        .given(two_booked.clone())
        .when(book(1, 0))
        .then_expect_events(vec![]);
    framework()
        .given(two_booked.clone())
        .when(book(3, 0))
        .then_expect_error(SlotError::SlotFull { capacity: 2 });
    let mut released = two_booked;
    released.push(SlotEvent::Released { order_id: order(1) });
    framework()
        .given(released.clone())
        .when(book(3, 0))
        .then_expect_events(vec![SlotEvent::Booked { order_id: order(3) }]);
    framework()
        .given(released.clone())
        .when(SlotCommand::Release { order_id: order(1) })
        .then_expect_events(vec![]);
    framework()
        .given(released)
        .when(book(3, 4))
        .then_expect_error(SlotError::SlotClosed { ends_at: at(4) });
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_command() -> impl Strategy<Value = SlotCommand> {
        prop_oneof![
            (1u32..4).prop_map(|c| SlotCommand::Create(opening(c))),
            (0u128..6, 0i64..6).prop_map(|(n, h)| book(n, h)),
            (0u128..6).prop_map(|n| SlotCommand::Release { order_id: order(n) }),
        ]
    }

    proptest! {
        #[test]
        fn no_sequence_of_commands_overbooks_a_slot_or_books_it_after_its_end(
            commands in proptest::collection::vec(any_command(), 0..40)
        ) {
            let mut slot = DeliverySlot::default();
            for command in commands {
                let before = slot.clone();
                let late = matches!(&command, SlotCommand::Book { now, .. } if *now >= at(4));
                match slot.decide(command) {
                    Ok(events) => {
                        for e in events {
                            prop_assert!(!(late && matches!(e, SlotEvent::Booked { .. })), "booked after its end");
                            slot.evolve(e);
                        }
                    }
                    Err(_) => prop_assert_eq!(&slot, &before),
                }
                if let (Some(b), Some(s)) = (before.state(), slot.state()) {
                    // Created once; the window and capacity never change after.
                    prop_assert_eq!((b.starts_at, b.ends_at, b.capacity), (s.starts_at, s.ends_at, s.capacity));
                }
                if let Some(s) = slot.state() {
                    prop_assert!(s.booked.len() <= s.capacity as usize, "{} booked of {}", s.booked.len(), s.capacity);
                }
            }
        }
    }
}
