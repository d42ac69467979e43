//! Given events, when an assessment, then an alert or nothing; and a property: whatever the
//! levels, alerts alternate (never two `LowStock` without a `StockRecovered` between) and the
//! state says whether the last level was below the threshold.

use super::*;
use crate::catalog_values::Quantity;
use cqrs_es::test::TestFramework;

fn framework() -> TestFramework<StockAlert> {
    TestFramework::with(())
}

fn assess(available: &str) -> AssessStock {
    AssessStock {
        product_id: ProductId(Uuid::from_u128(1)),
        warehouse_id: WarehouseId(Uuid::from_u128(2)),
        available: Quantity::try_from(available).expect("quantity"),
        threshold: Quantity::try_from("10").expect("quantity"),
    }
}

fn level(available: &str) -> Level {
    let a = assess(available);
    Level {
        product_id: a.product_id,
        warehouse_id: a.warehouse_id,
        available: a.available,
        threshold: a.threshold,
    }
}

#[test]
fn a_shortage_alerts_once_until_stock_recovers() {
    framework()
        .given_no_previous_events()
        .when(assess("9.5"))
        .then_expect_events(vec![StockAlertEvent::LowStock(level("9.5"))]);
    framework()
        .given_no_previous_events()
        .when(assess("10"))
        .then_expect_events(vec![]);
    framework()
        .given(vec![StockAlertEvent::LowStock(level("9.5"))])
        .when(assess("0"))
        .then_expect_events(vec![]);
    framework()
        .given(vec![StockAlertEvent::LowStock(level("9.5"))])
        .when(assess("10"))
        .then_expect_events(vec![StockAlertEvent::StockRecovered(level("10"))]);
    framework()
        .given(vec![
            StockAlertEvent::LowStock(level("9.5")),
            StockAlertEvent::StockRecovered(level("10")),
        ])
        .when(assess("4"))
        .then_expect_events(vec![StockAlertEvent::LowStock(level("4"))]);
}

#[test]
fn the_stored_form_round_trips() {
    let e = StockAlertEvent::LowStock(level("2.5"));
    let stored = serde_json::to_value(&e).expect("serialise");
    assert_eq!(stored["LowStock"]["available"], "2.5");
    let back: StockAlertEvent = serde_json::from_value(stored).expect("deserialise");
    assert_eq!(back, e);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn alerts_alternate_and_follow_the_last_level(
            levels in proptest::collection::vec(0u32..20, 0..40)
        ) {
            let mut alert = StockAlert::default();
            let mut last_low: Option<bool> = None;
            for l in levels {
                let available = l.to_string();
                for e in alert.decide(assess(&available)).expect("never refused") {
                    let low = matches!(e, StockAlertEvent::LowStock(_));
                    prop_assert_ne!(last_low.unwrap_or(false), low, "two alerts of one kind in a row");
                    last_low = Some(low);
                    alert.evolve(e);
                }
                prop_assert_eq!(alert.is_low(), l < 10);
            }
        }
    }
}
