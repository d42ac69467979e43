//! Slots, riders and deliveries: given events, when a command, then events or a rejection.

use super::*;
use crate::values::{Address, AddressLine, City, CountryCode, PostalCode};
use uuid::Uuid;

fn t(h: i64) -> DateTime<Utc> {
    "2026-12-01T08:00:00Z"
        .parse::<DateTime<Utc>>()
        .expect("time")
        + chrono::Duration::hours(h)
}

fn point(lat: i32, lon: i32) -> GeoPoint {
    GeoPoint::from_e6(lat, lon).expect("point")
}

fn slot(capacity: u32) -> DeliverySlot {
    let mut s = DeliverySlot::default();
    for e in s
        .decide(SlotCommand::Create(SlotState {
            zone: "AMS".into(),
            warehouse_id: WarehouseId(Uuid::from_u128(1)),
            warehouse_location: point(52_370_000, 4_890_000),
            starts_at: t(2),
            ends_at: t(4),
            capacity,
            booked: BTreeSet::new(),
        }))
        .expect("created")
    {
        s.evolve(e);
    }
    s
}

fn order(n: u128) -> OrderId {
    OrderId(Uuid::from_u128(n))
}

#[test]
fn a_slot_takes_no_more_orders_than_its_capacity_and_a_rebooking_is_free() {
    let mut s = slot(2);
    for n in [1, 2, 1] {
        for e in s
            .decide(SlotCommand::Book {
                order_id: order(n),
                now: t(0),
            })
            .expect("booked")
        {
            s.evolve(e);
        }
    }
    assert_eq!(s.state().expect("s").remaining(), 0);
    assert_eq!(
        s.decide(SlotCommand::Book {
            order_id: order(3),
            now: t(0)
        }),
        Err(DeliveryError::SlotFull { capacity: 2 })
    );
    for e in s
        .decide(SlotCommand::Release { order_id: order(1) })
        .expect("released")
    {
        s.evolve(e);
    }
    assert_eq!(s.state().expect("s").remaining(), 1);
    assert!(matches!(
        s.decide(SlotCommand::Book {
            order_id: order(3),
            now: t(5)
        }),
        Err(DeliveryError::SlotClosed { .. })
    ));
}

fn rider(cold: bool, available: bool) -> Rider {
    let mut r = Rider::default();
    let apply = |r: &mut Rider, c| {
        for e in r.decide(c).expect("ok") {
            r.evolve(e);
        }
    };
    apply(
        &mut r,
        RiderCommand::Register {
            name: "Sanne".into(),
            account: "rider-1".into(),
            cold_chain_capable: cold,
        },
    );
    if available {
        apply(
            &mut r,
            RiderCommand::SetAvailability {
                available: true,
                location: Some(point(52_360_000, 4_880_000)),
                by: RiderCaller::Rider("rider-1".into()),
            },
        );
    }
    r
}

#[test]
fn a_rider_carries_one_delivery_at_a_time_and_only_when_on_shift() {
    let assign = |n: u128, cold| RiderCommand::Assign {
        delivery_id: DeliveryId(Uuid::from_u128(n)),
        order_id: order(n),
        cold_chain: cold,
    };
    assert_eq!(
        rider(true, false).decide(assign(1, false)),
        Err(DeliveryError::RiderUnavailable)
    );
    assert_eq!(
        rider(false, true).decide(assign(1, true)),
        Err(DeliveryError::NotColdChainCapable)
    );
    let mut r = rider(true, true);
    for e in r.decide(assign(1, true)).expect("assigned") {
        r.evolve(e);
    }
    assert!(r.decide(assign(1, true)).expect("same").is_empty());
    assert_eq!(
        r.decide(assign(2, false)),
        Err(DeliveryError::RiderBusy {
            current: DeliveryId(Uuid::from_u128(1))
        })
    );
    assert_eq!(
        r.decide(RiderCommand::SetAvailability {
            available: false,
            location: None,
            by: RiderCaller::Rider("rider-2".into())
        }),
        Err(DeliveryError::NotOwner)
    );
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

fn scheduled(destination: Option<GeoPoint>) -> Delivery {
    let mut d = Delivery::default();
    for e in d
        .decide(DeliveryCommand::Schedule(Box::new(DeliveryState {
            order_id: order(1),
            slot_id: SlotId(Uuid::from_u128(2)),
            warehouse_id: WarehouseId(Uuid::from_u128(3)),
            pickup: point(52_370_000, 4_890_000),
            destination: DeliveryAddress {
                address: Address {
                    line1: AddressLine::try_from("Dam 1").expect("l"),
                    city: City::try_from("Amsterdam").expect("c"),
                    postal_code: PostalCode::try_from("1012 JS").expect("p"),
                    country: CountryCode::try_from("NL").expect("cc"),
                },
                location: destination,
            },
            cold_chain: false,
            window_starts_at: t(2),
            window_ends_at: t(4),
            status: DeliveryStatus::Scheduled,
            rider_id: None,
            last_location: None,
        })))
        .expect("scheduled")
    {
        d.evolve(e);
    }
    d
}

fn run(d: &mut Delivery, c: DeliveryCommand) -> Result<Vec<DeliveryEvent>, DeliveryError> {
    let events = d.decide(c)?;
    for e in events.clone() {
        d.evolve(e);
    }
    Ok(events)
}

#[test]
fn a_delivery_is_assigned_picked_up_tracked_with_an_eta_and_delivered() {
    let mut d = scheduled(Some(point(52_379_000, 4_890_000)));
    let rider = RiderId(Uuid::from_u128(7));
    run(
        &mut d,
        DeliveryCommand::AssignRider {
            rider_id: rider,
            distance_m: 500,
        },
    )
    .expect("assigned");
    assert_eq!(
        run(
            &mut d,
            DeliveryCommand::PickUp {
                by: DeliveryCaller::Rider { assigned: false }
            }
        ),
        Err(DeliveryError::NotOwner)
    );
    run(
        &mut d,
        DeliveryCommand::PickUp {
            by: DeliveryCaller::Rider { assigned: true },
        },
    )
    .expect("picked up");
    let events = run(
        &mut d,
        DeliveryCommand::UpdateLocation {
            location: point(52_370_000, 4_890_000),
            now: t(0),
            by: DeliveryCaller::Operator,
        },
    )
    .expect("tracked");
    // 1 km at 5 m/s: 200 s.
    let Some(DeliveryEvent::LocationUpdated { eta: Some(eta), .. }) = events.first() else {
        panic!("{events:?}")
    };
    let secs = (*eta - t(0)).num_seconds();
    assert!((195..=205).contains(&secs), "{secs}");
    assert!(matches!(
        run(
            &mut d,
            DeliveryCommand::Cancel {
                reason: "late".into()
            }
        ),
        Err(DeliveryError::InvalidTransition { .. })
    ));
    run(
        &mut d,
        DeliveryCommand::Deliver {
            by: DeliveryCaller::Operator,
        },
    )
    .expect("delivered");
    assert_eq!(d.state().expect("s").status, DeliveryStatus::Delivered);
}

#[test]
fn a_delivery_fails_with_a_reason_and_a_second_failure_changes_nothing() {
    let mut d = scheduled(None);
    let fail = DeliveryCommand::Fail {
        reason: "customer_absent".into(),
        by: DeliveryCaller::Operator,
    };
    assert_eq!(run(&mut d, fail.clone()).expect("failed").len(), 1);
    assert!(run(&mut d, fail).expect("again").is_empty());
    let stored = serde_json::to_value(DeliveryEvent::Failed { reason: "x".into() }).expect("json");
    assert_eq!(
        stored,
        serde_json::json!({"DeliveryFailed": {"reason": "x"}})
    );
}
