//! Given events, when a command, then events or a refusal: every command and every refusal,
//! plus a property test over random command sequences.

use super::*;
use crate::Refusal;
use chrono::{TimeDelta, TimeZone};
use cqrs_es::test::TestFramework;

fn framework() -> TestFramework<InventoryBatch> {
    TestFramework::with(())
}

fn at(hour: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 6, 0, 0)
        .single()
        .expect("valid time")
        + TimeDelta::hours(hour)
}

/// The batch expires a week (168 h) after it is received at hour 0.
const EXPIRES: i64 = 168;

fn q(s: &str) -> Quantity {
    Quantity::try_from(s).expect("valid quantity")
}

fn pq(s: &str) -> PositiveQuantity {
    PositiveQuantity::try_from(s).expect("valid quantity")
}

fn eur(minor: i64) -> Money {
    Money::try_from((minor, "EUR")).expect("valid money")
}

fn order(n: u128) -> OrderId {
    OrderId(uuid::Uuid::from_u128(1000 + n))
}

fn receive_cmd(quantity: &str) -> ReceiveBatch {
    ReceiveBatch {
        batch_id: BatchId(uuid::Uuid::from_u128(1)),
        product_id: ProductId(uuid::Uuid::from_u128(2)),
        supplier_id: SupplierId(uuid::Uuid::from_u128(3)),
        warehouse_id: WarehouseId(uuid::Uuid::from_u128(4)),
        quantity: pq(quantity),
        received_at: at(0),
        expires_at: at(EXPIRES),
        cold_chain: true,
        procurement_price: eur(180),
    }
}

fn receive() -> InventoryCommand {
    InventoryCommand::Receive(receive_cmd("100"))
}

fn received() -> InventoryEvent {
    let c = receive_cmd("100");
    InventoryEvent::Received {
        batch_id: c.batch_id,
        product_id: c.product_id,
        supplier_id: c.supplier_id,
        warehouse_id: c.warehouse_id,
        quantity: c.quantity,
        received_at: c.received_at,
        expires_at: c.expires_at,
        cold_chain: c.cold_chain,
        procurement_price: c.procurement_price,
    }
}

fn reserve(n: u128, quantity: &str) -> InventoryCommand {
    InventoryCommand::Reserve(ReserveStock {
        order_id: order(n),
        quantity: pq(quantity),
        now: at(1),
    })
}

fn reserved(n: u128, quantity: &str) -> InventoryEvent {
    InventoryEvent::StockReserved {
        order_id: order(n),
        quantity: pq(quantity),
    }
}

fn release(n: u128) -> InventoryCommand {
    InventoryCommand::Release(ReleaseReservation { order_id: order(n) })
}

fn released(n: u128, quantity: &str) -> InventoryEvent {
    InventoryEvent::ReservationReleased {
        order_id: order(n),
        quantity: pq(quantity),
    }
}

fn commit(n: u128) -> InventoryCommand {
    InventoryCommand::Commit(CommitReservation { order_id: order(n) })
}

fn committed(n: u128, quantity: &str) -> InventoryEvent {
    InventoryEvent::ReservationCommitted {
        order_id: order(n),
        quantity: pq(quantity),
    }
}

fn spoil(quantity: &str) -> InventoryCommand {
    InventoryCommand::RecordSpoilage(RecordSpoilage {
        quantity: pq(quantity),
        reason: SpoilageReason::TemperatureBreach,
    })
}

fn spoiled(quantity: &str, value_minor: i64) -> InventoryEvent {
    InventoryEvent::SpoilageRecorded {
        quantity: pq(quantity),
        reason: SpoilageReason::TemperatureBreach,
        value_lost: eur(value_minor),
    }
}

fn expire(hour: i64) -> InventoryCommand {
    InventoryCommand::Expire(ExpireBatch { now: at(hour) })
}

fn expired(quantity: &str, value_minor: i64) -> InventoryEvent {
    InventoryEvent::Expired {
        quantity: q(quantity),
        value_lost: eur(value_minor),
    }
}

fn flag(hour: i64, horizon_hours: i64) -> InventoryCommand {
    InventoryCommand::FlagExpiringSoon(FlagExpiringSoon {
        now: at(hour),
        horizon: TimeDelta::hours(horizon_hours),
    })
}

fn batch_after(events: Vec<InventoryEvent>) -> InventoryBatch {
    let mut batch = InventoryBatch::default();
    for e in events {
        batch.evolve(e);
    }
    batch
}

fn outcome(
    given: Vec<InventoryEvent>,
    when: InventoryCommand,
) -> Result<Vec<InventoryEvent>, InventoryError> {
    framework().given(given).when(when).inspect_result()
}

// --- receive ------------------------------------------------------------------------------

#[test]
fn a_received_batch_is_all_on_hand_and_available() {
    framework()
        .given_no_previous_events()
        .when(receive())
        .then_expect_events(vec![received()]);
    let batch = batch_after(vec![received()]);
    assert_eq!(batch.on_hand(), q("100"));
    assert_eq!(batch.reserved(), Quantity::ZERO);
    assert_eq!(batch.available(), q("100"));
}

#[test]
fn a_batch_must_expire_after_it_is_received() {
    let mut cmd = receive_cmd("100");
    cmd.expires_at = cmd.received_at;
    assert_eq!(
        outcome(vec![], InventoryCommand::Receive(cmd.clone())),
        Err(InventoryError::ExpiryNotAfterReceipt {
            received_at: at(0),
            expires_at: at(0)
        })
    );
    cmd.expires_at = at(-1);
    assert!(matches!(
        outcome(vec![], InventoryCommand::Receive(cmd)),
        Err(InventoryError::ExpiryNotAfterReceipt { .. })
    ));
}

#[test]
fn a_batch_whose_value_cannot_be_counted_is_refused() {
    let mut cmd = receive_cmd("1000000000");
    cmd.procurement_price = eur(i64::MAX / 10);
    assert_eq!(
        outcome(vec![], InventoryCommand::Receive(cmd)),
        Err(InventoryError::ValueTooLarge)
    );
}

#[test]
fn the_same_receipt_again_changes_nothing_and_another_is_refused() {
    framework()
        .given(vec![received()])
        .when(receive())
        .then_expect_events(vec![]);
    assert_eq!(
        outcome(
            vec![received()],
            InventoryCommand::Receive(receive_cmd("99"))
        ),
        Err(InventoryError::AlreadyReceived)
    );
}

#[test]
fn commands_on_an_unknown_batch_are_not_found() {
    for cmd in [
        reserve(1, "1"),
        release(1),
        commit(1),
        spoil("1"),
        expire(EXPIRES),
        flag(0, 24),
    ] {
        assert_eq!(outcome(vec![], cmd), Err(InventoryError::NotFound));
    }
}

// --- reserve --------------------------------------------------------------------------------

#[test]
fn stock_is_reserved_for_an_order_and_is_no_longer_available() {
    framework()
        .given(vec![received()])
        .when(reserve(1, "2.5"))
        .then_expect_events(vec![reserved(1, "2.5")]);
    let batch = batch_after(vec![received(), reserved(1, "2.5")]);
    assert_eq!(batch.on_hand(), q("100"));
    assert_eq!(batch.reserved(), q("2.5"));
    assert_eq!(batch.available(), q("97.5"));
}

#[test]
fn the_last_unit_can_be_reserved_but_not_one_more() {
    framework()
        .given(vec![received(), reserved(1, "99.999")])
        .when(reserve(2, "0.001"))
        .then_expect_events(vec![reserved(2, "0.001")]);
    assert_eq!(
        outcome(vec![received(), reserved(1, "99.999")], reserve(2, "0.002")),
        Err(InventoryError::InsufficientStock {
            available: q("0.001"),
            requested: pq("0.002")
        })
    );
}

#[test]
fn reserving_more_than_is_available_is_insufficient_stock_with_what_is_available() {
    let r = outcome(
        vec![received(), reserved(1, "60"), spoiled("10", 1800)],
        reserve(2, "30.5"),
    );
    assert_eq!(
        r,
        Err(InventoryError::InsufficientStock {
            available: q("30"),
            requested: pq("30.5")
        })
    );
    assert_eq!(r.err().map(|e| e.code()), Some("insufficient_stock"));
}

#[test]
fn the_same_reservation_again_changes_nothing() {
    framework()
        .given(vec![received(), reserved(1, "2.5")])
        .when(reserve(1, "2.500"))
        .then_expect_events(vec![]);
    // Even when the stock has gone since: a retry is not a new request.
    framework()
        .given(vec![received(), reserved(1, "2.5"), reserved(2, "97.5")])
        .when(reserve(1, "2.5"))
        .then_expect_events(vec![]);
    framework()
        .given(vec![received(), reserved(1, "2.5"), committed(1, "2.5")])
        .when(reserve(1, "2.5"))
        .then_expect_events(vec![]);
}

#[test]
fn the_same_order_with_another_quantity_is_refused() {
    assert_eq!(
        outcome(vec![received(), reserved(1, "2.5")], reserve(1, "3")),
        Err(InventoryError::ReservationMismatch {
            order_id: order(1),
            reserved: pq("2.5"),
            requested: pq("3")
        })
    );
}

#[test]
fn a_released_order_does_not_reserve_on_the_batch_again() {
    assert_eq!(
        outcome(
            vec![received(), reserved(1, "2.5"), released(1, "2.5")],
            reserve(1, "2.5")
        ),
        Err(InventoryError::ReservationReleased { order_id: order(1) })
    );
}

#[test]
fn stock_at_or_past_its_expiry_is_not_reserved() {
    let late = InventoryCommand::Reserve(ReserveStock {
        order_id: order(1),
        quantity: pq("1"),
        now: at(EXPIRES),
    });
    assert_eq!(
        outcome(vec![received()], late),
        Err(InventoryError::BatchExpired {
            expires_at: at(EXPIRES)
        })
    );
    assert_eq!(
        outcome(vec![received(), expired("100", 18000)], reserve(1, "1")),
        Err(InventoryError::BatchExpired {
            expires_at: at(EXPIRES)
        })
    );
}

// --- release --------------------------------------------------------------------------------

#[test]
fn a_released_reservation_is_available_again() {
    framework()
        .given(vec![received(), reserved(1, "2.5")])
        .when(release(1))
        .then_expect_events(vec![released(1, "2.5")]);
    let batch = batch_after(vec![received(), reserved(1, "2.5"), released(1, "2.5")]);
    assert_eq!(batch.available(), q("100"));
    assert_eq!(batch.reserved(), Quantity::ZERO);
}

#[test]
fn releasing_an_order_without_a_reservation_or_twice_changes_nothing() {
    framework()
        .given(vec![received()])
        .when(release(1))
        .then_expect_events(vec![]);
    framework()
        .given(vec![received(), reserved(1, "2.5"), released(1, "2.5")])
        .when(release(1))
        .then_expect_events(vec![]);
}

#[test]
fn a_committed_reservation_cannot_be_released() {
    assert_eq!(
        outcome(
            vec![received(), reserved(1, "2.5"), committed(1, "2.5")],
            release(1)
        ),
        Err(InventoryError::ReservationCommitted { order_id: order(1) })
    );
}

// --- commit ---------------------------------------------------------------------------------

#[test]
fn committed_stock_leaves_the_warehouse() {
    framework()
        .given(vec![received(), reserved(1, "2.5")])
        .when(commit(1))
        .then_expect_events(vec![committed(1, "2.5")]);
    let batch = batch_after(vec![received(), reserved(1, "2.5"), committed(1, "2.5")]);
    assert_eq!(batch.on_hand(), q("97.5"));
    assert_eq!(batch.reserved(), Quantity::ZERO);
    assert_eq!(batch.available(), q("97.5"));
}

#[test]
fn committing_twice_changes_nothing() {
    framework()
        .given(vec![received(), reserved(1, "2.5"), committed(1, "2.5")])
        .when(commit(1))
        .then_expect_events(vec![]);
}

#[test]
fn committing_without_a_reservation_or_after_release_is_refused() {
    assert_eq!(
        outcome(vec![received()], commit(1)),
        Err(InventoryError::NoReservation { order_id: order(1) })
    );
    assert_eq!(
        outcome(
            vec![received(), reserved(1, "2.5"), released(1, "2.5")],
            commit(1)
        ),
        Err(InventoryError::ReservationReleased { order_id: order(1) })
    );
}

// --- spoilage -------------------------------------------------------------------------------

#[test]
fn spoilage_writes_off_available_stock_at_its_procurement_value() {
    framework()
        .given(vec![received()])
        .when(spoil("3.25"))
        .then_expect_events(vec![spoiled("3.25", 585)]);
    let batch = batch_after(vec![received(), spoiled("3.25", 585)]);
    assert_eq!(batch.on_hand(), q("96.75"));
}

#[test]
fn spoilage_value_is_rounded_half_away_from_zero_to_the_cent() {
    // 0.0025 kg would be too precise; 0.005 kg at 1.80 EUR/kg is 0.9 cents -> 1 cent.
    framework()
        .given(vec![received()])
        .when(spoil("0.005"))
        .then_expect_events(vec![spoiled("0.005", 1)]);
}

#[test]
fn reserved_stock_cannot_be_spoiled() {
    assert_eq!(
        outcome(vec![received(), reserved(1, "99")], spoil("1.5")),
        Err(InventoryError::InsufficientStock {
            available: q("1"),
            requested: pq("1.5")
        })
    );
}

#[test]
fn an_expired_batch_takes_no_spoilage() {
    assert_eq!(
        outcome(vec![received(), expired("100", 18000)], spoil("1")),
        Err(InventoryError::BatchExpired {
            expires_at: at(EXPIRES)
        })
    );
}

// --- expire ---------------------------------------------------------------------------------

#[test]
fn at_expiry_open_reservations_are_released_and_everything_on_hand_is_written_off() {
    framework()
        .given(vec![
            received(),
            reserved(1, "10"),
            reserved(2, "5"),
            committed(2, "5"),
            reserved(3, "2.5"),
            spoiled("1", 180),
        ])
        .when(expire(EXPIRES))
        .then_expect_events(vec![
            released(1, "10"),
            released(3, "2.5"),
            expired("94", 16920),
        ]);
    let batch = batch_after(vec![
        received(),
        reserved(1, "10"),
        reserved(2, "5"),
        committed(2, "5"),
        spoiled("1", 180),
        released(1, "10"),
        expired("94", 16920),
    ]);
    assert_eq!(batch.on_hand(), Quantity::ZERO);
    assert_eq!(batch.available(), Quantity::ZERO);
    assert_eq!(batch.state().map(|s| s.status), Some(BatchStatus::Expired));
}

#[test]
fn a_batch_is_not_expired_before_its_expiry() {
    assert_eq!(
        outcome(vec![received()], expire(EXPIRES - 1)),
        Err(InventoryError::NotYetExpired {
            expires_at: at(EXPIRES)
        })
    );
}

#[test]
fn expiring_twice_changes_nothing() {
    framework()
        .given(vec![received(), expired("100", 18000)])
        .when(expire(EXPIRES + 5))
        .then_expect_events(vec![]);
}

#[test]
fn an_emptied_batch_still_expires_writing_off_nothing() {
    framework()
        .given(vec![received(), reserved(1, "100"), committed(1, "100")])
        .when(expire(EXPIRES))
        .then_expect_events(vec![expired("0", 0)]);
}

// --- expiring soon --------------------------------------------------------------------------

#[test]
fn a_batch_expiring_within_the_horizon_is_flagged_once() {
    framework()
        .given(vec![received(), reserved(1, "20")])
        .when(flag(EXPIRES - 24, 48))
        .then_expect_events(vec![InventoryEvent::ExpiringSoon {
            expires_at: at(EXPIRES),
            available: q("80"),
        }]);
    let flagged = InventoryEvent::ExpiringSoon {
        expires_at: at(EXPIRES),
        available: q("80"),
    };
    framework()
        .given(vec![received(), reserved(1, "20"), flagged])
        .when(flag(EXPIRES - 12, 48))
        .then_expect_events(vec![]);
}

#[test]
fn a_batch_expiring_beyond_the_horizon_is_not_flagged() {
    assert_eq!(
        outcome(vec![received()], flag(0, 24)),
        Err(InventoryError::NotExpiringWithin {
            expires_at: at(EXPIRES)
        })
    );
}

#[test]
fn an_expired_batch_is_not_flagged() {
    framework()
        .given(vec![received(), expired("100", 18000)])
        .when(flag(EXPIRES, 24))
        .then_expect_events(vec![]);
}

// --- stored form ----------------------------------------------------------------------------

#[test]
fn events_are_stored_in_their_wire_form_and_read_back_unchanged() {
    for e in [
        received(),
        reserved(1, "2.5"),
        released(1, "2.5"),
        committed(1, "2.5"),
        spoiled("3.25", 585),
        InventoryEvent::ExpiringSoon {
            expires_at: at(EXPIRES),
            available: q("40.75"),
        },
        expired("0", 0),
    ] {
        let stored = serde_json::to_value(&e).expect("serialise");
        let back: InventoryEvent = serde_json::from_value(stored.clone()).expect("deserialise");
        assert_eq!(back, e, "{stored}");
    }
    let stored = serde_json::to_value(received()).expect("serialise");
    assert_eq!(stored["BatchReceived"]["quantity"], "100");
    assert_eq!(
        stored["BatchReceived"]["procurement_price"],
        serde_json::json!({"amount_minor": 180, "currency": "EUR"})
    );
    let stored = serde_json::to_value(reserved(1, "2.500")).expect("serialise");
    assert_eq!(stored["StockReserved"]["quantity"], "2.5");
}

#[test]
fn the_domain_reads_every_golden_fixture_and_writes_it_back_unchanged() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/fixtures");
    for (event_type, version) in schemas::inventory::EVENT_TYPES {
        let text = std::fs::read_to_string(dir.join(format!("{event_type}.v{version}.json")))
            .expect("fixture");
        let payload: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
        let stored = serde_json::json!({ *event_type: payload });
        let event: InventoryEvent =
            serde_json::from_value(stored.clone()).unwrap_or_else(|e| panic!("{event_type}: {e}"));
        assert_eq!(cqrs_es::DomainEvent::event_type(&event), *event_type);
        assert_eq!(serde_json::to_value(&event).expect("serialise"), stored);
    }
}

#[test]
fn a_stored_zero_reservation_is_refused_not_guessed() {
    let stored = serde_json::json!({"StockReserved": {"order_id": order(1), "quantity": "0"}});
    assert!(serde_json::from_value::<InventoryEvent>(stored).is_err());
}

#[test]
fn the_batch_snapshot_round_trips() {
    let batch = batch_after(vec![received(), reserved(1, "2.5"), spoiled("1", 180)]);
    let json = serde_json::to_value(&batch).expect("serialise");
    assert_eq!(json["state"]["on_hand"], "99");
    let back: InventoryBatch = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, batch);
}

#[test]
fn error_codes_are_stable() {
    assert_eq!(InventoryError::NotFound.code(), "not_found");
    assert_eq!(
        InventoryError::NoReservation { order_id: order(1) }.code(),
        "no_reservation"
    );
    assert_eq!(
        InventoryError::NotYetExpired {
            expires_at: at(EXPIRES)
        }
        .code(),
        "not_yet_expired"
    );
}

// --- property: stock is conserved and never goes negative ------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn quantity() -> impl Strategy<Value = PositiveQuantity> {
        // 0.001 to 40 with up to three decimals; sometimes whole numbers to hit exact sums.
        prop_oneof![
            (1i64..=40_000).prop_map(|m| Decimal::new(m, 3)),
            (1i64..=40).prop_map(Decimal::from),
        ]
        .prop_map(|d| PositiveQuantity::try_from(d).expect("valid"))
    }

    fn any_command() -> impl Strategy<Value = InventoryCommand> {
        let hour = -10i64..200;
        prop_oneof![
            1 => (1i64..=100, any::<bool>()).prop_map(|(n, bad_expiry)| {
                let mut cmd = receive_cmd(&n.to_string());
                if bad_expiry {
                    cmd.expires_at = cmd.received_at;
                }
                InventoryCommand::Receive(cmd)
            }),
            6 => (0u128..6, quantity(), hour.clone()).prop_map(|(n, quantity, h)| {
                InventoryCommand::Reserve(ReserveStock { order_id: order(n), quantity, now: at(h) })
            }),
            3 => (0u128..6).prop_map(release),
            3 => (0u128..6).prop_map(commit),
            2 => quantity().prop_map(|quantity| InventoryCommand::RecordSpoilage(RecordSpoilage {
                quantity,
                reason: SpoilageReason::Damaged,
            })),
            1 => hour.clone().prop_map(expire),
            1 => (hour, 0i64..100).prop_map(|(h, horizon)| flag(h, horizon)),
        ]
    }

    #[derive(Default)]
    struct Totals {
        received: Decimal,
        committed: Decimal,
        spoiled: Decimal,
        expired: Decimal,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn available_never_goes_negative_and_stock_is_conserved(
            commands in proptest::collection::vec(any_command(), 0..60)
        ) {
            let mut batch = InventoryBatch::default();
            let mut totals = Totals::default();
            for cmd in commands {
                let before = batch.clone();
                match batch.decide(cmd) {
                    Ok(events) => {
                        for e in events {
                            match &e {
                                InventoryEvent::Received { quantity, .. } => totals.received += quantity.get().as_decimal(),
                                InventoryEvent::ReservationCommitted { quantity, .. } => totals.committed += quantity.get().as_decimal(),
                                InventoryEvent::SpoilageRecorded { quantity, .. } => totals.spoiled += quantity.get().as_decimal(),
                                InventoryEvent::Expired { quantity, .. } => totals.expired += quantity.as_decimal(),
                                _ => {}
                            }
                            batch.evolve(e);
                        }
                    }
                    Err(_) => prop_assert_eq!(&batch, &before, "a refusal changed the batch"),
                }
                let Some(state) = batch.state() else { continue };
                let on_hand = state.on_hand.as_decimal();
                let reserved = state.reserved.as_decimal();
                // Computed from the events alone, without the aggregate's saturating arithmetic.
                prop_assert_eq!(
                    on_hand,
                    totals.received - totals.committed - totals.spoiled - totals.expired
                );
                prop_assert!(on_hand - reserved >= Decimal::ZERO, "available went negative");
                let open: Decimal = state
                    .reservations
                    .values()
                    .filter(|r| r.status == ReservationStatus::Open)
                    .map(|r| r.quantity.get().as_decimal())
                    .sum();
                prop_assert_eq!(reserved, open);
                prop_assert_eq!(state.committed.as_decimal(), totals.committed);
                if state.status == BatchStatus::Expired {
                    prop_assert_eq!(on_hand, Decimal::ZERO);
                    prop_assert_eq!(reserved, Decimal::ZERO);
                }
            }
        }
    }
}
