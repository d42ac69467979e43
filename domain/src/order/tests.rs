//! Given events, when a command, then events or a rejection; and a property: no sequence of
//! commands moves an order along a transition its state machine does not have, or refunds
//! more than was paid.

use super::*;
use crate::catalog_values::{Currency, OrderId, Quantity};
use crate::fulfilment_values::{DeliveryId, RiderId};
use crate::testing::{address, eur};
use crate::Refusal;
use cqrs_es::test::TestFramework;
use uuid::Uuid;

fn framework() -> TestFramework<Order> {
    TestFramework::with(())
}

fn qty(s: &str) -> PositiveQuantity {
    PositiveQuantity::try_from(Quantity::try_from(s).expect("q")).expect("positive")
}

fn now() -> DateTime<Utc> {
    "2026-12-01T08:00:00Z".parse().expect("time")
}

fn facts(price: i64, unit: Unit) -> ProductFacts {
    ProductFacts {
        supplier_id: SupplierId(Uuid::from_u128(100)),
        supplier_status: SupplierStatus::Approved,
        name: "Tomatoes".into(),
        category: "vegetable".into(),
        unit,
        price: eur(price),
        active: true,
    }
}

fn line(n: u128, quantity: &str, product: Option<ProductFacts>) -> RequestedLine {
    RequestedLine {
        product_id: ProductId(Uuid::from_u128(n)),
        quantity: qty(quantity),
        product,
    }
}

fn place(lines: Vec<RequestedLine>) -> PlaceOrder {
    PlaceOrder {
        order_id: OrderId(Uuid::from_u128(1)),
        customer: "cust-1".into(),
        cart_id: None,
        lines,
        delivery: OrderDelivery {
            address: address(None),
            slot_id: SlotId(Uuid::from_u128(9)),
            warehouse_id: WarehouseId(Uuid::from_u128(8)),
            warehouse_location: GeoPoint::from_e6(52_370_000, 4_890_000).expect("point"),
            zone: "AMS".into(),
            slot_starts_at: now() + chrono::Duration::hours(2),
            slot_ends_at: now() + chrono::Duration::hours(4),
            contact_email: None,
        },
        method: PaymentMethod::Card,
        card_token: Some("tok_approved".into()),
        now: now(),
    }
}

/// The order placed by [`place`] with one line of 1.5 kg at 3.49.
fn placed() -> OrderEvent {
    let mut events = Order::default()
        .decide(OrderCommand::Place(Box::new(place(vec![line(
            1,
            "1.5",
            Some(facts(349, Unit::Kg)),
        )]))))
        .expect("placed");
    assert_eq!(events.len(), 1);
    events.remove(0)
}

fn payment_id() -> PaymentId {
    PaymentId::of_order(OrderId(Uuid::from_u128(1)))
}

fn paid(minor: i64) -> OrderEvent {
    OrderEvent::Paid {
        payment_id: payment_id(),
        amount: eur(minor),
    }
}

fn mark_paid(minor: i64) -> OrderCommand {
    OrderCommand::MarkPaid {
        payment_id: payment_id(),
        amount: eur(minor),
    }
}

const DELIVERY: DeliveryId = DeliveryId(Uuid::from_u128(5));
const RIDER: RiderId = RiderId(Uuid::from_u128(6));

fn shipped() -> OrderEvent {
    OrderEvent::Shipped {
        delivery_id: DELIVERY,
        rider_id: RIDER,
    }
}

fn cancel(by: Canceller) -> OrderCommand {
    OrderCommand::Cancel {
        reason: CancelReason::CustomerRequest,
        detail: None,
        by,
    }
}

fn cancelled() -> OrderEvent {
    OrderEvent::Cancelled {
        reason: CancelReason::CustomerRequest,
        detail: None,
    }
}

fn refund(n: u128, minor: i64) -> OrderCommand {
    OrderCommand::RecordRefund {
        payment_id: payment_id(),
        refund_id: RefundId(Uuid::from_u128(n)),
        amount: eur(minor),
        reason: "bruised".into(),
    }
}

fn refunded(n: u128, minor: i64) -> OrderEvent {
    OrderEvent::RefundRecorded {
        payment_id: payment_id(),
        refund_id: RefundId(Uuid::from_u128(n)),
        amount: eur(minor),
        reason: "bruised".into(),
    }
}

fn refuse(lines: Vec<RequestedLine>) -> OrderError {
    Order::default()
        .decide(OrderCommand::Place(Box::new(place(lines))))
        .expect_err("refused")
}

#[test]
fn lines_are_priced_from_the_catalog_and_totalled_exactly() {
    let OrderEvent::Placed(s) = placed() else {
        panic!("not a placement")
    };
    assert_eq!(s.lines[0].line_total, eur(524)); // 1.5 × 3.49 = 5.235 → 5.24
    assert_eq!(s.total, eur(524));
    assert_eq!(s.status, OrderStatus::Created);
    assert_eq!(s.payment.payment_id, payment_id());
    framework()
        .given_no_previous_events()
        .when(OrderCommand::Place(Box::new(place(vec![line(
            1,
            "1.5",
            Some(facts(349, Unit::Kg)),
        )]))))
        .then_expect_events(vec![placed()]);
    framework()
        .given(vec![placed()])
        .when(OrderCommand::Place(Box::new(place(vec![line(
            1,
            "1.5",
            Some(facts(349, Unit::Kg)),
        )]))))
        .then_expect_events(vec![]);
}

#[test]
fn a_product_of_a_supplier_that_is_not_approved_cannot_be_ordered() {
    let mut f = facts(100, Unit::Piece);
    f.supplier_status = SupplierStatus::Suspended;
    let err = refuse(vec![
        line(1, "1", Some(facts(100, Unit::Piece))),
        line(2, "1", Some(f)),
    ]);
    assert_eq!(
        err,
        OrderError::SupplierNotActive {
            index: 1,
            status: SupplierStatus::Suspended
        }
    );
    assert_eq!(err.code(), "supplier_not_active");
}

#[test]
fn placement_refuses_unknown_discontinued_duplicate_fractional_and_mixed_lines() {
    assert_eq!(
        refuse(vec![line(1, "1", None)]),
        OrderError::UnknownProduct { index: 0 }
    );
    let mut gone = facts(100, Unit::Kg);
    gone.active = false;
    assert_eq!(
        refuse(vec![line(1, "1", Some(gone))]),
        OrderError::ProductDiscontinued { index: 0 }
    );
    assert_eq!(
        refuse(vec![
            line(1, "1", Some(facts(1, Unit::Kg))),
            line(1, "2", Some(facts(1, Unit::Kg)))
        ]),
        OrderError::DuplicateProduct { index: 1, first: 0 }
    );
    assert!(matches!(
        refuse(vec![line(1, "1.5", Some(facts(1, Unit::Piece)))]),
        OrderError::QuantityNotInUnit { index: 0, .. }
    ));
    let mut usd = facts(1, Unit::Kg);
    usd.price = Money::new(1, Currency::try_from("USD").expect("usd")).expect("money");
    assert!(matches!(
        refuse(vec![
            line(1, "1", Some(facts(1, Unit::Kg))),
            line(2, "1", Some(usd))
        ]),
        OrderError::MixedCurrencies { index: 1, .. }
    ));
    assert_eq!(refuse(vec![]), OrderError::NoLines);
}

#[test]
fn a_card_order_needs_a_token_and_a_slot_that_has_not_ended() {
    let mut cmd = place(vec![line(1, "1", Some(facts(1, Unit::Kg)))]);
    cmd.card_token = None;
    framework()
        .given_no_previous_events()
        .when(OrderCommand::Place(Box::new(cmd.clone())))
        .then_expect_error(OrderError::CardTokenMissing);
    cmd.card_token = Some("tok_approved".into());
    cmd.now = cmd.delivery.slot_ends_at;
    framework()
        .given_no_previous_events()
        .when(OrderCommand::Place(Box::new(cmd)))
        .then_expect_error(OrderError::SlotOver);
}

#[test]
fn an_order_goes_from_paid_to_delivered_and_repeats_change_nothing() {
    framework()
        .given(vec![placed()])
        .when(OrderCommand::Pack)
        .then_expect_error(OrderError::InvalidTransition {
            current: OrderStatus::Created,
            attempted: "pack",
        });
    framework()
        .given(vec![placed()])
        .when(mark_paid(524))
        .then_expect_events(vec![paid(524)]);
    framework()
        .given(vec![placed(), paid(524)])
        .when(mark_paid(524))
        .then_expect_events(vec![]);
    framework()
        .given(vec![placed(), paid(524)])
        .when(OrderCommand::Pack)
        .then_expect_events(vec![OrderEvent::Packed]);
    let ship = || OrderCommand::Ship {
        delivery_id: DELIVERY,
        rider_id: RIDER,
    };
    framework()
        .given(vec![placed(), paid(524), OrderEvent::Packed])
        .when(ship())
        .then_expect_events(vec![shipped()]);
    let on_the_way = vec![placed(), paid(524), OrderEvent::Packed, shipped()];
    framework()
        .given(on_the_way.clone())
        .when(ship())
        .then_expect_events(vec![]);
    framework()
        .given(on_the_way.clone())
        .when(OrderCommand::Deliver {
            delivery_id: DELIVERY,
        })
        .then_expect_events(vec![OrderEvent::Delivered {
            delivery_id: DELIVERY,
        }]);
    let mut delivered = on_the_way;
    delivered.push(OrderEvent::Delivered {
        delivery_id: DELIVERY,
    });
    framework()
        .given(delivered)
        .when(cancel(Canceller::Admin))
        .then_expect_error(OrderError::InvalidTransition {
            current: OrderStatus::Delivered,
            attempted: "cancel",
        });
}

#[test]
fn a_customer_cancels_only_their_own_order_and_only_before_it_ships() {
    framework()
        .given(vec![placed()])
        .when(cancel(Canceller::Customer("cust-2".into())))
        .then_expect_error(OrderError::NotOwner);
    framework()
        .given(vec![placed()])
        .when(cancel(Canceller::Customer("cust-1".into())))
        .then_expect_events(vec![cancelled()]);
    framework()
        .given(vec![placed(), cancelled()])
        .when(cancel(Canceller::Customer("cust-1".into())))
        .then_expect_events(vec![]);
}

#[test]
fn refunds_are_recorded_once_each_and_never_beyond_what_was_paid() {
    let refunded_once = vec![placed(), paid(524), refunded(1, 300)];
    framework()
        .given(vec![placed(), paid(524)])
        .when(refund(1, 300))
        .then_expect_events(vec![refunded(1, 300)]);
    framework()
        .given(refunded_once.clone())
        .when(refund(1, 300))
        .then_expect_events(vec![]);
    framework()
        .given(refunded_once.clone())
        .when(refund(2, 300))
        .then_expect_error(OrderError::RefundExceedsPaid { paid: 524 });
    framework()
        .given(refunded_once)
        .when(refund(3, 224))
        .then_expect_events(vec![refunded(3, 224)]);
}

#[test]
fn a_cash_on_delivery_order_is_refunded_up_to_its_total_though_marked_paid_with_nothing() {
    let mut cash = place(vec![line(1, "1.5", Some(facts(349, Unit::Kg)))]);
    cash.method = PaymentMethod::CashOnDelivery;
    let placed_cash = Order::default()
        .decide(OrderCommand::Place(Box::new(cash)))
        .expect("placed")
        .remove(0);
    let given = vec![placed_cash, paid(0), refunded(1, 300)];
    framework()
        .given(given.clone())
        .when(refund(2, 225))
        .then_expect_error(OrderError::RefundExceedsPaid { paid: 524 });
    framework()
        .given(given)
        .when(refund(3, 224))
        .then_expect_events(vec![refunded(3, 224)]);
}

#[test]
fn order_events_survive_the_wire_round_trip() {
    let event = placed();
    let stored = serde_json::to_value(&event).expect("json");
    assert!(stored.get("OrderPlaced").is_some());
    let back: OrderEvent = serde_json::from_value(stored).expect("decodes");
    assert_eq!(back, event);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_command() -> impl Strategy<Value = OrderCommand> {
        prop_oneof![
            Just(OrderCommand::Place(Box::new(place(vec![line(
                1,
                "1.5",
                Some(facts(349, Unit::Kg)),
            )])))),
            prop_oneof![Just(0), Just(524)].prop_map(mark_paid),
            Just(OrderCommand::Pack),
            Just(OrderCommand::Ship {
                delivery_id: DELIVERY,
                rider_id: RIDER,
            }),
            Just(OrderCommand::Deliver {
                delivery_id: DELIVERY
            }),
            prop_oneof![
                Just(Canceller::Admin),
                Just(Canceller::Service),
                Just(Canceller::Customer("cust-1".into())),
                Just(Canceller::Customer("cust-2".into())),
            ]
            .prop_map(cancel),
            (1u128..4, 1i64..400).prop_map(|(n, minor)| refund(n, minor)),
        ]
    }

    fn allowed(from: OrderStatus, to: OrderStatus) -> bool {
        use OrderStatus::*;
        from == to
            || matches!(
                (from, to),
                (Created, Paid | Cancelled)
                    | (Paid, Packed | Cancelled)
                    | (Packed, Shipped | Cancelled)
                    | (Shipped, Delivered)
            )
    }

    proptest! {
        #[test]
        fn no_sequence_of_commands_takes_a_transition_the_order_does_not_have(
            commands in proptest::collection::vec(any_command(), 0..40)
        ) {
            let mut order = Order::default();
            for command in commands {
                let before = order.clone();
                match order.decide(command) {
                    Ok(events) => {
                        for e in events {
                            order.evolve(e);
                        }
                    }
                    Err(_) => prop_assert_eq!(&order, &before),
                }
                if let (Some(b), Some(s)) = (before.state(), order.state()) {
                    prop_assert!(allowed(b.status, s.status), "{:?} -> {:?}", b.status, s.status);
                    prop_assert_eq!(&b.lines, &s.lines, "the lines changed after placement");
                    prop_assert_eq!(&b.total, &s.total);
                }
                if let Some(s) = order.state() {
                    prop_assert!(s.refunded_minor >= 0);
                    prop_assert!(s.refunded_minor <= s.total.amount_minor(), "refunded {} of {}", s.refunded_minor, s.total.amount_minor());
                    if !s.refunds.is_empty() {
                        prop_assert!(s.paid.is_some(), "refunded before it was paid");
                    }
                }
            }
        }
    }
}
