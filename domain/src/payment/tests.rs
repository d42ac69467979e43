//! Given events, when a command, then events or a rejection; and a property: whatever the
//! commands, refunds never exceed what was captured.

use super::*;
use crate::catalog_values::Currency;
use proptest::prelude::*;
use uuid::Uuid;

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::try_from("EUR").expect("eur")).expect("money")
}

fn initiate(method: PaymentMethod, amount: i64) -> PaymentCommand {
    PaymentCommand::Initiate {
        order_id: OrderId(Uuid::from_u128(1)),
        customer: "cust-1".into(),
        method,
        amount: eur(amount),
        payees: vec![
            Payee {
                supplier_id: SupplierId(Uuid::from_u128(10)),
                amount: eur(amount - amount / 3),
            },
            Payee {
                supplier_id: SupplierId(Uuid::from_u128(11)),
                amount: eur(amount / 3),
            },
        ],
    }
}

fn run(p: &mut Payment, c: PaymentCommand) -> Result<Vec<PaymentEvent>, PaymentError> {
    let events = p.decide(c)?;
    for e in events.clone() {
        p.evolve(e);
    }
    Ok(events)
}

fn captured(amount: i64) -> Payment {
    let mut p = Payment::default();
    run(&mut p, initiate(PaymentMethod::Card, amount)).expect("initiated");
    run(
        &mut p,
        PaymentCommand::RecordAuthorization {
            gateway_ref: "auth_1".into(),
            amount: eur(amount),
        },
    )
    .expect("authorized");
    run(
        &mut p,
        PaymentCommand::RecordCapture {
            gateway_ref: "cap_1".into(),
            amount: eur(amount),
        },
    )
    .expect("captured");
    p
}

#[test]
fn payees_must_add_up_to_the_amount() {
    let mut cmd = initiate(PaymentMethod::Card, 1000);
    if let PaymentCommand::Initiate { payees, .. } = &mut cmd {
        payees.pop();
    }
    assert_eq!(
        Payment::default().decide(cmd),
        Err(PaymentError::PayeesMismatch)
    );
}

#[test]
fn a_card_payment_is_captured_once_and_a_retried_capture_changes_nothing() {
    let mut p = captured(1000);
    assert!(run(
        &mut p,
        PaymentCommand::RecordCapture {
            gateway_ref: "cap_1".into(),
            amount: eur(1000)
        }
    )
    .expect("same")
    .is_empty());
    assert!(matches!(
        run(
            &mut p,
            PaymentCommand::RecordCapture {
                gateway_ref: "cap_2".into(),
                amount: eur(1000)
            }
        ),
        Err(PaymentError::InvalidTransition { .. })
    ));
    assert!(matches!(
        run(&mut p, PaymentCommand::Cancel { reason: "x".into() }),
        Err(PaymentError::InvalidTransition { .. })
    ));
}

#[test]
fn cash_on_delivery_is_captured_without_an_authorization() {
    let mut p = Payment::default();
    run(&mut p, initiate(PaymentMethod::CashOnDelivery, 800)).expect("initiated");
    assert!(run(
        &mut p,
        PaymentCommand::RecordAuthorization {
            gateway_ref: "a".into(),
            amount: eur(800)
        }
    )
    .is_err());
    run(
        &mut p,
        PaymentCommand::RecordCapture {
            gateway_ref: "cod:1".into(),
            amount: eur(800),
        },
    )
    .expect("captured");
    assert_eq!(p.state().expect("s").status, PaymentStatus::Captured);
}

#[test]
fn refunds_never_exceed_what_was_captured() {
    let mut p = captured(1000);
    let refund = |n: u128, minor| PaymentCommand::RequestRefund {
        refund_id: RefundId(Uuid::from_u128(n)),
        amount: eur(minor),
        reason: "r".into(),
    };
    run(&mut p, refund(1, 600)).expect("first");
    assert!(run(&mut p, refund(1, 600)).expect("same").is_empty());
    assert_eq!(
        run(&mut p, refund(1, 500)),
        Err(PaymentError::RefundMismatch {
            refund_id: RefundId(Uuid::from_u128(1))
        })
    );
    assert_eq!(
        run(&mut p, refund(2, 401)),
        Err(PaymentError::RefundExceedsCaptured { refundable: 400 })
    );
    run(&mut p, refund(2, 400)).expect("rest");
    assert_eq!(p.state().expect("s").refundable_minor(), 0);
    let complete = PaymentCommand::CompleteRefund {
        refund_id: RefundId(Uuid::from_u128(2)),
        gateway_ref: "ref_2".into(),
    };
    assert_eq!(run(&mut p, complete.clone()).expect("done").len(), 1);
    assert!(run(&mut p, complete).expect("again").is_empty());
}

#[test]
fn a_declined_payment_takes_no_capture_or_refund() {
    let mut p = Payment::default();
    run(&mut p, initiate(PaymentMethod::Card, 500)).expect("initiated");
    run(
        &mut p,
        PaymentCommand::RecordDecline {
            code: "card_declined".into(),
            reason: "no".into(),
        },
    )
    .expect("declined");
    assert!(run(
        &mut p,
        PaymentCommand::RecordCapture {
            gateway_ref: "c".into(),
            amount: eur(500)
        }
    )
    .is_err());
}

proptest! {
    #[test]
    fn no_sequence_of_commands_refunds_more_than_was_captured(
        amount in 1i64..100_000,
        ops in proptest::collection::vec((0u8..6, 0u128..4, 0i64..60_000), 0..40),
    ) {
        let mut p = Payment::default();
        let _ = run(&mut p, initiate(PaymentMethod::Card, amount));
        for (op, id, minor) in ops {
            let cmd = match op {
                0 => PaymentCommand::RecordAuthorization { gateway_ref: format!("a{id}"), amount: eur(minor) },
                1 => PaymentCommand::RecordCapture { gateway_ref: format!("c{id}"), amount: eur(minor) },
                2 => PaymentCommand::RequestRefund { refund_id: RefundId(Uuid::from_u128(id)), amount: eur(minor), reason: "r".into() },
                3 => PaymentCommand::CompleteRefund { refund_id: RefundId(Uuid::from_u128(id)), gateway_ref: format!("r{id}") },
                4 => PaymentCommand::Cancel { reason: "c".into() },
                _ => PaymentCommand::RecordDecline { code: "d".into(), reason: "d".into() },
            };
            let _ = run(&mut p, cmd);
            let s = p.state().expect("initiated");
            prop_assert!(s.captured_minor <= amount);
            prop_assert!(s.refundable_minor() >= 0);
            prop_assert!(s.refunds.is_empty() || s.status == PaymentStatus::Captured);
        }
    }
}
