//! Given events, when a command, then events or a refusal; and a property: there is never
//! more than one open cart, a closed cart never changes, and a refused command changes nothing.

use super::*;
use crate::testing::{at, eur};
use cqrs_es::test::TestFramework;

fn framework() -> TestFramework<Cart> {
    TestFramework::with(())
}

fn q(s: &str) -> Quantity {
    Quantity::try_from(s).expect("quantity")
}

fn set(product: u128, quantity: &str, hours: i64) -> CartCommand {
    CartCommand::SetLine {
        customer_id: Uuid::from_u128(1),
        account: "acct-1".into(),
        new_cart_id: Uuid::from_u128(100 + u128::try_from(hours).unwrap_or(0)),
        product_id: ProductId(Uuid::from_u128(product)),
        quantity: q(quantity),
        unit_price_seen: eur(250),
        now: at(hours),
    }
}

fn opened(cart: u128, hours: i64) -> CartEvent {
    CartEvent::Opened {
        cart_id: Uuid::from_u128(cart),
        opened_at: at(hours),
        customer_id: Uuid::from_u128(1),
        account: "acct-1".into(),
    }
}

fn line_set(product: u128, quantity: &str, hours: i64) -> CartEvent {
    CartEvent::LineSet {
        product_id: ProductId(Uuid::from_u128(product)),
        line: CartLine {
            quantity: q(quantity),
            unit_price_seen: eur(250),
        },
        at: at(hours),
    }
}

#[test]
fn the_first_line_opens_a_cart() {
    framework()
        .given_no_previous_events()
        .when(set(7, "2", 0))
        .then_expect_events(vec![opened(100, 0), line_set(7, "2", 0)]);
}

#[test]
fn quantity_zero_removes_a_line_and_the_same_quantity_again_is_nothing() {
    framework()
        .given(vec![opened(100, 0), line_set(7, "2", 0)])
        .when(set(7, "0", 1))
        .then_expect_events(vec![CartEvent::LineRemoved {
            product_id: ProductId(Uuid::from_u128(7)),
            at: at(1),
        }]);
    framework()
        .given(vec![opened(100, 0), line_set(7, "2", 0)])
        .when(set(7, "2", 1))
        .then_expect_events(vec![]);
}

#[test]
fn checking_out_closes_the_cart_once_and_a_retry_records_nothing() {
    let checkout = || CartCommand::CheckOut {
        cart_id: Uuid::from_u128(100),
        order_id: Uuid::from_u128(900),
    };
    framework()
        .given(vec![opened(100, 0), line_set(7, "2", 0)])
        .when(checkout())
        .then_expect_events(vec![CartEvent::CheckedOut {
            cart_id: Uuid::from_u128(100),
            order_id: Uuid::from_u128(900),
        }]);
    framework()
        .given(vec![
            opened(100, 0),
            line_set(7, "2", 0),
            CartEvent::CheckedOut {
                cart_id: Uuid::from_u128(100),
                order_id: Uuid::from_u128(900),
            },
        ])
        .when(checkout())
        .then_expect_events(vec![]);
}

#[test]
fn an_empty_cart_cannot_be_checked_out() {
    framework()
        .given(vec![
            opened(100, 0),
            line_set(7, "2", 0),
            CartEvent::LineRemoved {
                product_id: ProductId(Uuid::from_u128(7)),
                at: at(1),
            },
        ])
        .when(CartCommand::CheckOut {
            cart_id: Uuid::from_u128(100),
            order_id: Uuid::from_u128(900),
        })
        .then_expect_error(CartError::Empty);
}

#[test]
fn a_cart_is_abandoned_only_after_seven_idle_days() {
    framework()
        .given(vec![opened(100, 0), line_set(7, "2", 10)])
        .when(CartCommand::Abandon {
            now: at(10 + 24 * 7 - 1),
        })
        .then_expect_error(CartError::NotIdle { idle_since: at(10) });
    framework()
        .given(vec![opened(100, 0), line_set(7, "2", 10)])
        .when(CartCommand::Abandon {
            now: at(10 + 24 * 7),
        })
        .then_expect_events(vec![CartEvent::Abandoned {
            cart_id: Uuid::from_u128(100),
            idle_since: at(10),
        }]);
}

#[test]
fn another_account_cannot_change_the_cart() {
    framework()
        .given(vec![opened(100, 0)])
        .when(CartCommand::SetLine {
            customer_id: Uuid::from_u128(1),
            account: "someone-else".into(),
            new_cart_id: Uuid::from_u128(5),
            product_id: ProductId(Uuid::from_u128(7)),
            quantity: q("1"),
            unit_price_seen: eur(250),
            now: at(1),
        })
        .then_expect_error(CartError::NotOwner);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_command() -> impl Strategy<Value = CartCommand> {
        prop_oneof![
            (0u128..4, 0u32..3, 0i64..400).prop_map(|(p, n, h)| set(p, &n.to_string(), h)),
            (100u128..110, 900u128..903).prop_map(|(c, o)| CartCommand::CheckOut {
                cart_id: Uuid::from_u128(c),
                order_id: Uuid::from_u128(o),
            }),
            (0i64..800).prop_map(|h| CartCommand::Abandon { now: at(h) }),
        ]
    }

    proptest! {
        #[test]
        fn one_open_cart_at_most_and_checkouts_never_empty(
            commands in proptest::collection::vec(any_command(), 0..60)
        ) {
            let mut cart = Cart::default();
            for command in commands {
                let before = cart.clone();
                match cart.decide(command) {
                    Ok(events) => {
                        for e in events {
                            match &e {
                                CartEvent::Opened { .. } => prop_assert!(cart.open().is_none(), "a second open cart"),
                                CartEvent::CheckedOut { .. } => prop_assert!(
                                    cart.open().is_some_and(|o| !o.lines.is_empty()),
                                    "an empty or closed cart checked out"
                                ),
                                CartEvent::LineSet { line, .. } => prop_assert!(!line.quantity.is_zero()),
                                _ => {}
                            }
                            cart.evolve(e);
                        }
                    }
                    Err(_) => prop_assert_eq!(&cart, &before),
                }
                if let Some(open) = cart.open() {
                    prop_assert!(open.lines.len() <= MAX_LINES);
                }
            }
        }
    }
}
