//! Given events, when a command, then events or a rejection; and a property: whatever the
//! commands, a payment moves only along its state machine and refunds never exceed what was
//! captured.

use super::*;
use crate::testing::eur;
use cqrs_es::test::TestFramework;
use proptest::prelude::*;
use uuid::Uuid;

fn framework() -> TestFramework<Payment> {
    TestFramework::with(())
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

/// The event [`initiate`] records.
fn initiated(method: PaymentMethod, amount: i64) -> PaymentEvent {
    Payment::default()
        .decide(initiate(method, amount))
        .expect("initiated")
        .remove(0)
}

fn authorized(amount: i64) -> PaymentEvent {
    PaymentEvent::Authorized {
        gateway_ref: "auth_1".into(),
        amount: eur(amount),
    }
}

fn capture(gateway_ref: &str, amount: i64) -> PaymentCommand {
    PaymentCommand::RecordCapture {
        gateway_ref: gateway_ref.into(),
        amount: eur(amount),
    }
}

fn captured(gateway_ref: &str, amount: i64) -> PaymentEvent {
    PaymentEvent::Captured {
        gateway_ref: gateway_ref.into(),
        amount: eur(amount),
    }
}

/// A card payment of `amount`, authorised and captured.
fn card_captured(amount: i64) -> Vec<PaymentEvent> {
    vec![
        initiated(PaymentMethod::Card, amount),
        authorized(amount),
        captured("cap_1", amount),
    ]
}

fn refund(n: u128, minor: i64) -> PaymentCommand {
    PaymentCommand::RequestRefund {
        refund_id: RefundId(Uuid::from_u128(n)),
        amount: eur(minor),
        reason: "r".into(),
    }
}

fn refund_requested(n: u128, minor: i64) -> PaymentEvent {
    PaymentEvent::RefundRequested {
        refund_id: RefundId(Uuid::from_u128(n)),
        amount: eur(minor),
        reason: "r".into(),
    }
}

#[test]
fn payees_must_add_up_to_the_amount() {
    let mut cmd = initiate(PaymentMethod::Card, 1000);
    if let PaymentCommand::Initiate { payees, .. } = &mut cmd {
        payees.pop();
    }
    framework()
        .given_no_previous_events()
        .when(cmd)
        .then_expect_error(PaymentError::PayeesMismatch);
    framework()
        .given_no_previous_events()
        .when(initiate(PaymentMethod::Card, 1000))
        .then_expect_events(vec![initiated(PaymentMethod::Card, 1000)]);
}

#[test]
fn a_card_payment_is_captured_once_and_a_retried_capture_changes_nothing() {
    framework()
        .given(vec![initiated(PaymentMethod::Card, 1000), authorized(1000)])
        .when(capture("cap_1", 1000))
        .then_expect_events(vec![captured("cap_1", 1000)]);
    framework()
        .given(card_captured(1000))
        .when(capture("cap_1", 1000))
        .then_expect_events(vec![]);
    framework()
        .given(card_captured(1000))
        .when(capture("cap_2", 1000))
        .then_expect_error(PaymentError::InvalidTransition {
            current: PaymentStatus::Captured,
            attempted: "capture again",
        });
    framework()
        .given(card_captured(1000))
        .when(PaymentCommand::Cancel { reason: "x".into() })
        .then_expect_error(PaymentError::InvalidTransition {
            current: PaymentStatus::Captured,
            attempted: "cancel (refund it instead)",
        });
}

#[test]
fn cash_on_delivery_is_captured_without_an_authorization() {
    let cash = vec![initiated(PaymentMethod::CashOnDelivery, 800)];
    let mut p = Payment::default();
    for e in cash.clone() {
        p.evolve(e);
    }
    assert!(p
        .decide(PaymentCommand::RecordAuthorization {
            gateway_ref: "a".into(),
            amount: eur(800)
        })
        .is_err());
    framework()
        .given(cash)
        .when(capture("cod:1", 800))
        .then_expect_events(vec![captured("cod:1", 800)]);
}

#[test]
fn refunds_never_exceed_what_was_captured() {
    let mut once = card_captured(1000);
    once.push(refund_requested(1, 600));
    framework()
        .given(card_captured(1000))
        .when(refund(1, 600))
        .then_expect_events(vec![refund_requested(1, 600)]);
    framework()
        .given(once.clone())
        .when(refund(1, 600))
        .then_expect_events(vec![]);
    framework()
        .given(once.clone())
        .when(refund(1, 500))
        .then_expect_error(PaymentError::RefundMismatch {
            refund_id: RefundId(Uuid::from_u128(1)),
        });
    framework()
        .given(once.clone())
        .when(refund(2, 401))
        .then_expect_error(PaymentError::RefundExceedsCaptured { refundable: 400 });
    let mut all = once;
    all.push(refund_requested(2, 400));
    let mut p = Payment::default();
    for e in all.clone() {
        p.evolve(e);
    }
    assert_eq!(p.state().expect("s").refundable_minor(), 0);
    let complete = || PaymentCommand::CompleteRefund {
        refund_id: RefundId(Uuid::from_u128(2)),
        gateway_ref: "ref_2".into(),
    };
    let completed = PaymentEvent::RefundCompleted {
        refund_id: RefundId(Uuid::from_u128(2)),
        amount: eur(400),
        gateway_ref: "ref_2".into(),
    };
    framework()
        .given(all.clone())
        .when(complete())
        .then_expect_events(vec![completed.clone()]);
    all.push(completed);
    framework()
        .given(all)
        .when(complete())
        .then_expect_events(vec![]);
}

#[test]
fn a_declined_payment_takes_no_capture_or_refund() {
    framework()
        .given(vec![initiated(PaymentMethod::Card, 500)])
        .when(PaymentCommand::RecordDecline {
            code: "card_declined".into(),
            reason: "no".into(),
        })
        .then_expect_events(vec![PaymentEvent::Declined {
            code: "card_declined".into(),
            reason: "no".into(),
        }]);
    let declined = vec![
        initiated(PaymentMethod::Card, 500),
        PaymentEvent::Declined {
            code: "card_declined".into(),
            reason: "no".into(),
        },
    ];
    framework()
        .given(declined.clone())
        .when(capture("c", 500))
        .then_expect_error(PaymentError::InvalidTransition {
            current: PaymentStatus::Declined,
            attempted: "capture",
        });
    framework()
        .given(declined)
        .when(refund(1, 100))
        .then_expect_error(PaymentError::InvalidTransition {
            current: PaymentStatus::Declined,
            attempted: "refund",
        });
}

fn allowed(from: PaymentStatus, to: PaymentStatus) -> bool {
    use PaymentStatus::*;
    from == to
        || matches!(
            (from, to),
            (Pending, Authorized | Captured | Declined | Cancelled)
                | (Authorized, Captured | Declined | Cancelled)
        )
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
            let before = p.clone();
            if run(&mut p, cmd).is_err() {
                prop_assert_eq!(&p, &before);
            }
            let s = p.state().expect("initiated");
            let from = before.state().expect("initiated").status;
            prop_assert!(allowed(from, s.status), "{:?} -> {:?}", from, s.status);
            prop_assert!(s.captured_minor <= amount);
            prop_assert!(s.refundable_minor() >= 0);
            prop_assert!(s.refunds.is_empty() || s.status == PaymentStatus::Captured);
        }
    }
}
