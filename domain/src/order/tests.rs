//! Given events, when a command, then events or a rejection.

use super::*;
use crate::catalog_values::{Currency, Quantity};
use crate::values::{Address, AddressLine, City, CountryCode, PostalCode};
use crate::Refusal;
use uuid::Uuid;

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::try_from("EUR").expect("eur")).expect("money")
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
        lines,
        delivery: OrderDelivery {
            address: DeliveryAddress {
                address: Address {
                    line1: AddressLine::try_from("Dam 1").expect("line"),
                    city: City::try_from("Amsterdam").expect("city"),
                    postal_code: PostalCode::try_from("1012 JS").expect("pc"),
                    country: CountryCode::try_from("NL").expect("cc"),
                },
                location: None,
            },
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

fn placed() -> Order {
    let mut o = Order::default();
    for e in o
        .decide(OrderCommand::Place(Box::new(place(vec![line(
            1,
            "1.5",
            Some(facts(349, Unit::Kg)),
        )]))))
        .expect("placed")
    {
        o.evolve(e);
    }
    o
}

fn run(o: &mut Order, c: OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
    let events = o.decide(c)?;
    for e in events.clone() {
        o.evolve(e);
    }
    Ok(events)
}

#[test]
fn lines_are_priced_from_the_catalog_and_totalled_exactly() {
    let o = placed();
    let s = o.state().expect("state");
    assert_eq!(s.lines[0].line_total, eur(524)); // 1.5 × 3.49 = 5.235 → 5.24
    assert_eq!(s.total, eur(524));
    assert_eq!(s.status, OrderStatus::Created);
    assert_eq!(
        s.payment.payment_id,
        PaymentId::of_order(OrderId(Uuid::from_u128(1)))
    );
}

#[test]
fn a_product_of_a_supplier_that_is_not_approved_cannot_be_ordered() {
    let mut f = facts(100, Unit::Piece);
    f.supplier_status = SupplierStatus::Suspended;
    let err = Order::default()
        .decide(OrderCommand::Place(Box::new(place(vec![
            line(1, "1", Some(facts(100, Unit::Piece))),
            line(2, "1", Some(f)),
        ]))))
        .expect_err("refused");
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
    let refuse = |lines| {
        Order::default()
            .decide(OrderCommand::Place(Box::new(place(lines))))
            .expect_err("refused")
    };
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
    assert_eq!(
        Order::default().decide(OrderCommand::Place(Box::new(cmd.clone()))),
        Err(OrderError::CardTokenMissing)
    );
    cmd.card_token = Some("tok_approved".into());
    cmd.now = cmd.delivery.slot_ends_at;
    assert_eq!(
        Order::default().decide(OrderCommand::Place(Box::new(cmd))),
        Err(OrderError::SlotOver)
    );
}

#[test]
fn an_order_goes_from_paid_to_delivered_and_repeats_change_nothing() {
    let mut o = placed();
    let pid = o.state().expect("s").payment.payment_id;
    let delivery_id = DeliveryId(Uuid::from_u128(5));
    let rider_id = RiderId(Uuid::from_u128(6));
    assert_eq!(
        run(&mut o, OrderCommand::Pack),
        Err(OrderError::InvalidTransition {
            current: OrderStatus::Created,
            attempted: "pack"
        })
    );
    let pay = OrderCommand::MarkPaid {
        payment_id: pid,
        amount: eur(524),
    };
    assert_eq!(run(&mut o, pay.clone()).expect("paid").len(), 1);
    assert!(run(&mut o, pay).expect("again").is_empty());
    run(&mut o, OrderCommand::Pack).expect("packed");
    let ship = OrderCommand::Ship {
        delivery_id,
        rider_id,
    };
    run(&mut o, ship.clone()).expect("shipped");
    assert!(run(&mut o, ship).expect("again").is_empty());
    run(&mut o, OrderCommand::Deliver { delivery_id }).expect("delivered");
    assert_eq!(o.state().expect("s").status, OrderStatus::Delivered);
    assert!(run(
        &mut o,
        OrderCommand::Cancel {
            reason: CancelReason::CustomerRequest,
            detail: None,
            by: Canceller::Admin
        }
    )
    .is_err());
}

#[test]
fn a_customer_cancels_only_their_own_order_and_only_before_it_ships() {
    let mut o = placed();
    let cancel = |who: &str| OrderCommand::Cancel {
        reason: CancelReason::CustomerRequest,
        detail: None,
        by: Canceller::Customer(who.into()),
    };
    assert_eq!(run(&mut o, cancel("cust-2")), Err(OrderError::NotOwner));
    assert_eq!(run(&mut o, cancel("cust-1")).expect("cancelled").len(), 1);
    assert!(run(&mut o, cancel("cust-1")).expect("again").is_empty());
    let s = o.state().expect("s");
    assert_eq!(s.status, OrderStatus::Cancelled);
    assert_eq!(s.cancel_reason, Some(CancelReason::CustomerRequest));
}

#[test]
fn refunds_are_recorded_once_each_and_never_beyond_what_was_paid() {
    let mut o = placed();
    let pid = o.state().expect("s").payment.payment_id;
    run(
        &mut o,
        OrderCommand::MarkPaid {
            payment_id: pid,
            amount: eur(524),
        },
    )
    .expect("paid");
    let refund = |n: u128, minor| OrderCommand::RecordRefund {
        payment_id: pid,
        refund_id: RefundId(Uuid::from_u128(n)),
        amount: eur(minor),
        reason: "bruised".into(),
    };
    assert_eq!(run(&mut o, refund(1, 300)).expect("r1").len(), 1);
    assert!(run(&mut o, refund(1, 300)).expect("again").is_empty());
    assert_eq!(
        run(&mut o, refund(2, 300)),
        Err(OrderError::RefundExceedsPaid { paid: 524 })
    );
    assert_eq!(run(&mut o, refund(3, 224)).expect("r3").len(), 1);
}

#[test]
fn a_cash_on_delivery_order_is_refunded_up_to_its_total_though_marked_paid_with_nothing() {
    let mut o = Order::default();
    let mut cash = place(vec![line(1, "1.5", Some(facts(349, Unit::Kg)))]);
    cash.method = PaymentMethod::CashOnDelivery;
    run(&mut o, OrderCommand::Place(Box::new(cash))).expect("placed");
    let pid = o.state().expect("s").payment.payment_id;
    run(
        &mut o,
        OrderCommand::MarkPaid {
            payment_id: pid,
            amount: eur(0),
        },
    )
    .expect("paid");
    let refund = |n: u128, minor| OrderCommand::RecordRefund {
        payment_id: pid,
        refund_id: RefundId(Uuid::from_u128(n)),
        amount: eur(minor),
        reason: "bruised".into(),
    };
    assert_eq!(run(&mut o, refund(1, 300)).expect("r1").len(), 1);
    assert_eq!(
        run(&mut o, refund(2, 225)),
        Err(OrderError::RefundExceedsPaid { paid: 524 })
    );
    assert_eq!(run(&mut o, refund(3, 224)).expect("r3").len(), 1);
}

#[test]
fn order_events_survive_the_wire_round_trip() {
    let o = placed();
    let event = OrderEvent::Placed(Box::new(o.state().expect("s").clone()));
    let stored = serde_json::to_value(&event).expect("json");
    assert!(stored.get("OrderPlaced").is_some());
    let back: OrderEvent = serde_json::from_value(stored).expect("decodes");
    assert_eq!(back, event);
}
