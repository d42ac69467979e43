//! The messages, one per kind of notification, in the customer's language (English or Dutch):
//! a subject and blocks of content, rendered as plain text and as HTML for e-mail (every value
//! from an event is escaped there), and as one short line for SMS and push.

use schemas::common::MoneyV1;
use schemas::customer::cart::CartEvent;
use schemas::delivery::DeliveryEvent;
use schemas::inventory::{InventoryEvent, StockAlertEvent};
use schemas::order::OrderEvent;
use schemas::payment::PaymentEvent;
use schemas::supplier::SupplierEvent;
use schemas::EnvelopeError;
use serde_json::Value;
use std::fmt::Write as _;
use uuid::Uuid;

use super::Kind;

/// The languages messages are written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Language {
    /// English (the default).
    #[default]
    En,
    /// Dutch.
    Nl,
}

impl Language {
    /// From a customer's preference (`en`, `nl`); anything else is English.
    pub fn parse(s: &str) -> Self {
        match s {
            "nl" => Self::Nl,
            _ => Self::En,
        }
    }

    /// The text in this language.
    fn pick(self, en: impl Into<String>, nl: impl Into<String>) -> String {
        match self {
            Self::En => en.into(),
            Self::Nl => nl.into(),
        }
    }
}

/// What a message needs besides its event.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The order concerned (payment and delivery messages).
    pub order_id: Option<Uuid>,
    /// The supplier's legal name (supplier mails).
    pub supplier_name: Option<String>,
    /// The recipient's language.
    pub language: Language,
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject line (one line): an e-mail's subject, a push message's title.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML alternative.
    pub html: String,
    /// One short text (at most 300 characters): an SMS, a push message's body.
    pub short: String,
}

enum Block {
    Paragraph(String),
    /// Two-column rows: label, value.
    Rows(Vec<(String, String)>),
}

/// Renders the mail of `kind` for an event's payload.
///
/// # Errors
/// When the payload does not decode as the event type it claims.
pub fn render(
    kind: Kind,
    event_type: &str,
    event_version: u32,
    payload: Value,
    ctx: &Context,
) -> Result<Rendered, EnvelopeError> {
    let l = ctx.language;
    let order = match (ctx.order_id, l) {
        (Some(id), Language::En) => format!("order {id}"),
        (Some(id), Language::Nl) => format!("bestelling {id}"),
        (None, _) => l.pick("your order", "je bestelling"),
    };
    let (subject, blocks) = match kind {
        Kind::OrderPlaced => {
            let OrderEvent::OrderPlaced(p) =
                OrderEvent::decode(event_type, event_version, payload)?
            else {
                return Err(mismatch(event_type, event_version));
            };
            let mut rows: Vec<(String, String)> = p
                .lines
                .iter()
                .map(|l| {
                    (
                        format!("{} {} {}", l.quantity, l.unit, l.name),
                        money(&l.line_total),
                    )
                })
                .collect();
            rows.push((l.pick("Total", "Totaal"), money(&p.total)));
            let a = &p.delivery.address;
            let payment = match p.payment.method.as_str() {
                "cash_on_delivery" => l.pick("cash on delivery", "contant bij levering"),
                _ => l.pick("card", "kaart"),
            };
            let (from, until) = (
                p.delivery.slot_starts_at.format("%Y-%m-%d %H:%M"),
                p.delivery.slot_ends_at.format("%H:%M"),
            );
            (
                l.pick("Your Freshline order is placed", "Je Freshline-bestelling is geplaatst"),
                vec![
                    Block::Paragraph(l.pick(
                        format!("Thank you! We have {order} and are preparing it."),
                        format!("Dank je! We hebben {order} ontvangen en maken hem klaar."),
                    )),
                    Block::Rows(rows),
                    Block::Paragraph(l.pick(
                        format!(
                            "Delivery to {}, {} {}, {} between {from} and {until} (UTC). Payment by {payment}.",
                            a.line1, a.postal_code, a.city, a.country
                        ),
                        format!(
                            "Bezorging op {}, {} {}, {} tussen {from} en {until} (UTC). Betaling per {payment}.",
                            a.line1, a.postal_code, a.city, a.country
                        ),
                    )),
                ],
            )
        }
        Kind::PaymentCaptured | Kind::PaymentDeclined | Kind::RefundCompleted => {
            match PaymentEvent::decode(event_type, event_version, payload)? {
                PaymentEvent::PaymentCaptured(p) if kind == Kind::PaymentCaptured => (
                    l.pick(
                        "Payment received for your Freshline order",
                        "Betaling ontvangen voor je Freshline-bestelling",
                    ),
                    vec![Block::Paragraph(l.pick(
                        format!("We received {} for {order}. Thank you!", money(&p.amount)),
                        format!("We hebben {} ontvangen voor {order}. Dank je!", money(&p.amount)),
                    ))],
                ),
                PaymentEvent::PaymentDeclined(p) if kind == Kind::PaymentDeclined => (
                    l.pick(
                        "Your payment for a Freshline order was declined",
                        "Je betaling voor een Freshline-bestelling is geweigerd",
                    ),
                    vec![
                        Block::Paragraph(l.pick(
                            format!(
                                "The payment for {order} was declined ({}: {}).",
                                p.code, p.reason
                            ),
                            format!(
                                "De betaling voor {order} is geweigerd ({}: {}).",
                                p.code, p.reason
                            ),
                        )),
                        Block::Paragraph(l.pick(
                            "Nothing was charged. You are welcome to place the order again with \
                             another card.",
                            "Er is niets afgeschreven. Je kunt de bestelling opnieuw plaatsen met \
                             een andere kaart.",
                        )),
                    ],
                ),
                PaymentEvent::RefundCompleted(p) if kind == Kind::RefundCompleted => (
                    l.pick(
                        "Your Freshline refund is on its way",
                        "Je Freshline-terugbetaling is onderweg",
                    ),
                    vec![Block::Paragraph(l.pick(
                        format!(
                            "We refunded {} for {order} (refund {}). It can take a few days to \
                             show on your statement.",
                            money(&p.amount),
                            p.refund_id
                        ),
                        format!(
                            "We hebben {} terugbetaald voor {order} (terugbetaling {}). Het kan \
                             een paar dagen duren voor je het op je afschrift ziet.",
                            money(&p.amount),
                            p.refund_id
                        ),
                    ))],
                ),
                _ => return Err(mismatch(event_type, event_version)),
            }
        }
        Kind::OrderShipped | Kind::DeliveryEta | Kind::DeliveryCompleted => {
            match DeliveryEvent::decode(event_type, event_version, payload)? {
                DeliveryEvent::DeliveryPickedUp(_) if kind == Kind::OrderShipped => (
                    l.pick(
                        "Your Freshline order is on its way",
                        "Je Freshline-bestelling is onderweg",
                    ),
                    vec![Block::Paragraph(l.pick(
                        format!("Our rider picked up {order} and is on the way to you."),
                        format!("Onze bezorger heeft {order} opgehaald en is onderweg naar je."),
                    ))],
                ),
                DeliveryEvent::DeliveryLocationUpdated(p) if kind == Kind::DeliveryEta => {
                    let eta = p
                        .eta
                        .map_or_else(|| "--:--".to_owned(), |t| t.format("%H:%M").to_string());
                    (
                        l.pick(
                            format!("Your Freshline rider arrives at about {eta} (UTC)"),
                            format!("Je Freshline-bezorger is er rond {eta} (UTC)"),
                        ),
                        vec![Block::Paragraph(l.pick(
                            format!("The rider with {order} now expects to arrive at about {eta} (UTC)."),
                            format!("De bezorger met {order} verwacht nu rond {eta} (UTC) bij je te zijn."),
                        ))],
                    )
                }
                DeliveryEvent::DeliveryCompleted(_) if kind == Kind::DeliveryCompleted => (
                    l.pick(
                        "Your Freshline order was delivered",
                        "Je Freshline-bestelling is bezorgd",
                    ),
                    vec![Block::Paragraph(l.pick(
                        format!("Our rider handed over {order}. Enjoy it while it is fresh!"),
                        format!("Onze bezorger heeft {order} afgegeven. Eet smakelijk, nu het nog vers is!"),
                    ))],
                ),
                _ => return Err(mismatch(event_type, event_version)),
            }
        }
        Kind::OrderCancelled => {
            let OrderEvent::OrderCancelled(c) =
                OrderEvent::decode(event_type, event_version, payload)?
            else {
                return Err(mismatch(event_type, event_version));
            };
            let why = match (c.reason.as_str(), l) {
                ("customer_request", Language::En) => "as you asked".to_owned(),
                ("customer_request", Language::Nl) => "op je verzoek".to_owned(),
                ("payment_failed", Language::En) => "the payment did not go through".to_owned(),
                ("payment_failed", Language::Nl) => "de betaling is niet gelukt".to_owned(),
                ("out_of_stock", Language::En) => "a product sold out".to_owned(),
                ("out_of_stock", Language::Nl) => "een product is uitverkocht".to_owned(),
                (_, Language::En) => format!("reason: {}", c.detail.as_deref().unwrap_or(&c.reason)),
                (_, Language::Nl) => format!("reden: {}", c.detail.as_deref().unwrap_or(&c.reason)),
            };
            (
                l.pick(
                    "Your Freshline order was cancelled",
                    "Je Freshline-bestelling is geannuleerd",
                ),
                vec![Block::Paragraph(l.pick(
                    format!(
                        "We cancelled {order} ({why}). Anything you paid is refunded; you will \
                         get a message when it is."
                    ),
                    format!(
                        "We hebben {order} geannuleerd ({why}). Wat je betaalde krijg je terug; \
                         je krijgt een bericht zodra dat gebeurd is."
                    ),
                ))],
            )
        }
        Kind::CartAbandoned => {
            let CartEvent::CartAbandoned(_) = CartEvent::decode(event_type, event_version, payload)?
            else {
                return Err(mismatch(event_type, event_version));
            };
            (
                l.pick(
                    "Your Freshline cart is waiting",
                    "Je Freshline-winkelmandje wacht op je",
                ),
                vec![Block::Paragraph(l.pick(
                    "You left products in your cart a week ago. Fresh stock changes every day: \
                     have a look and start a new cart whenever you like.",
                    "Je liet een week geleden producten in je winkelmandje staan. De verse \
                     voorraad verandert elke dag: kijk gerust en begin een nieuw mandje wanneer je wilt.",
                ))],
            )
        }
        Kind::BatchExpiringSoon => {
            let InventoryEvent::BatchExpiringSoon(p) =
                InventoryEvent::decode(event_type, event_version, payload)?
            else {
                return Err(mismatch(event_type, event_version));
            };
            let name = ctx
                .supplier_name
                .clone()
                .unwrap_or_else(|| "your company".to_owned());
            (
                format!("Stock of {name} expires soon"),
                vec![
                    Block::Paragraph(
                        "A batch you delivered expires soon; consider a markdown or a \
                         donation before it spoils."
                            .to_owned(),
                    ),
                    Block::Rows(vec![
                        ("Expires".to_owned(), p.expires_at.format("%Y-%m-%d %H:%M UTC").to_string()),
                        ("Available".to_owned(), p.available),
                    ]),
                ],
            )
        }
        Kind::LowStock => {
            let StockAlertEvent::LowStock(p) =
                StockAlertEvent::decode(event_type, event_version, payload)?
            else {
                return Err(mismatch(event_type, event_version));
            };
            (
                format!("Low stock: product {}", p.product_id),
                vec![
                    Block::Paragraph(
                        "Available stock fell below the product's threshold.".to_owned(),
                    ),
                    Block::Rows(vec![
                        ("Product".to_owned(), p.product_id.to_string()),
                        ("Warehouse".to_owned(), p.warehouse_id.to_string()),
                        ("Available".to_owned(), p.available),
                        ("Threshold".to_owned(), p.threshold),
                    ]),
                ],
            )
        }
        Kind::SupplierApproved | Kind::SupplierRejected | Kind::SupplierSuspended => {
            let name = ctx
                .supplier_name
                .clone()
                .unwrap_or_else(|| "your company".to_owned());
            match SupplierEvent::decode(event_type, event_version, payload)? {
                SupplierEvent::Approved(n) if kind == Kind::SupplierApproved => {
                    let mut blocks = vec![Block::Paragraph(format!(
                        "Good news: {name} is approved as a supplier on Freshline. You can now \
                         list products and receive orders."
                    ))];
                    if let Some(note) = n.note.filter(|n| !n.trim().is_empty()) {
                        blocks.push(Block::Paragraph(format!("Note from our team: {note}")));
                    }
                    (format!("{name} is approved on Freshline"), blocks)
                }
                SupplierEvent::Suspended(r) if kind == Kind::SupplierSuspended => (
                    format!("{name} is suspended on Freshline"),
                    vec![Block::Paragraph(format!(
                        "{name} is suspended: it receives no new orders until it is reinstated. \
                         Reason: {}",
                        r.reason
                    ))],
                ),
                SupplierEvent::Rejected(r) if kind == Kind::SupplierRejected => (
                    format!("Your Freshline supplier application for {name}"),
                    vec![Block::Paragraph(format!(
                        "We are sorry: the application of {name} was not accepted. Reason: {}",
                        r.reason
                    ))],
                ),
                _ => return Err(mismatch(event_type, event_version)),
            }
        }
    };
    let subject = one_line(&subject);
    Ok(Rendered {
        short: short_of(&subject, &blocks),
        text: text_of(&blocks, l),
        html: html_of(&subject, &blocks, l),
        subject,
    })
}

/// The subject and the first paragraph, on one line, at most 300 characters (for SMS and
/// push).
fn short_of(subject: &str, blocks: &[Block]) -> String {
    let first = blocks.iter().find_map(|b| match b {
        Block::Paragraph(p) => Some(p.as_str()),
        Block::Rows(_) => None,
    });
    let line = match first {
        Some(p) => format!("{subject}: {p}"),
        None => subject.to_owned(),
    };
    let line = one_line(&line);
    if line.chars().count() <= 300 {
        line
    } else {
        let mut cut: String = line.chars().take(299).collect();
        cut.push('…');
        cut
    }
}

fn mismatch(event_type: &str, event_version: u32) -> EnvelopeError {
    EnvelopeError::UnknownEventType {
        event_type: event_type.to_owned(),
        event_version,
    }
}

/// `EUR 12.99`: minor units over the currency's exponent (ISO 4217), never through a float.
pub fn money(m: &MoneyV1) -> String {
    let exponent = match m.currency.as_str() {
        "JPY" | "KRW" | "ISK" | "CLP" | "VND" | "XAF" | "XOF" | "UGX" | "PYG" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
        _ => 2,
    };
    let sign = if m.amount_minor < 0 { "-" } else { "" };
    let abs = m.amount_minor.unsigned_abs();
    if exponent == 0 {
        return format!("{} {sign}{abs}", m.currency);
    }
    let unit = 10u64.pow(exponent);
    format!(
        "{} {sign}{}.{:0width$}",
        m.currency,
        abs / unit,
        abs % unit,
        width = exponent as usize
    )
}

/// No control characters (no header folding tricks) and bounded length.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

fn text_of(blocks: &[Block], l: Language) -> String {
    let mut out = l.pick("Hello,\n\n", "Hallo,\n\n");
    for block in blocks {
        match block {
            Block::Paragraph(p) => {
                out.push_str(p);
                out.push_str("\n\n");
            }
            Block::Rows(rows) => {
                let width = rows
                    .iter()
                    .map(|(l, _)| l.chars().count())
                    .max()
                    .unwrap_or(0);
                for (label, value) in rows {
                    let _ = writeln!(out, "  {label:<width$}  {value}");
                }
                out.push('\n');
            }
        }
    }
    out.push_str("-- \nFreshline\n");
    out
}

fn html_of(subject: &str, blocks: &[Block], l: Language) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family: sans-serif\">\n<p>{}</p>\n",
        l.pick("en", "nl"),
        escape(subject),
        l.pick("Hello,", "Hallo,"),
    );
    for block in blocks {
        match block {
            Block::Paragraph(p) => {
                let _ = writeln!(out, "<p>{}</p>", escape(p));
            }
            Block::Rows(rows) => {
                out.push_str("<table>\n");
                for (label, value) in rows {
                    let _ = writeln!(
                        out,
                        "<tr><td>{}</td><td style=\"text-align: right\">{}</td></tr>",
                        escape(label),
                        escape(value)
                    );
                }
                out.push_str("</table>\n");
            }
        }
    }
    out.push_str("<p>&mdash; Freshline</p>\n</body></html>\n");
    out
}

/// HTML text escaping.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(amount_minor: i64) -> MoneyV1 {
        MoneyV1 {
            amount_minor,
            currency: "EUR".to_owned(),
        }
    }

    #[test]
    fn money_is_shown_in_major_units_without_floats() {
        assert_eq!(money(&eur(1299)), "EUR 12.99");
        assert_eq!(money(&eur(5)), "EUR 0.05");
        assert_eq!(money(&eur(10_000_000_000_001)), "EUR 100000000000.01");
        let yen = MoneyV1 {
            amount_minor: 500,
            currency: "JPY".to_owned(),
        };
        assert_eq!(money(&yen), "JPY 500");
        let dinar = MoneyV1 {
            amount_minor: 1234,
            currency: "KWD".to_owned(),
        };
        assert_eq!(money(&dinar), "KWD 1.234");
    }

    #[test]
    fn values_from_events_are_escaped_in_html_and_kept_on_one_line_in_subjects() {
        let rendered = render(
            Kind::SupplierRejected,
            "SupplierRejected",
            1,
            serde_json::json!({"reason": "<script>alert(1)</script> & more"}),
            &Context {
                order_id: None,
                supplier_name: Some("Evil\r\nBcc: x@y <b>Farm</b>".to_owned()),
                language: Language::En,
            },
        )
        .expect("renders");

        assert!(!rendered.subject.contains('\n') && !rendered.subject.contains('\r'));
        assert!(!rendered.html.contains("<script>"));
        assert!(rendered.html.contains("&lt;script&gt;"));
        assert!(rendered.html.contains("&lt;b&gt;Farm&lt;/b&gt;"));
        assert!(rendered.text.contains("<script>alert(1)</script> & more"));
    }

    #[test]
    fn a_payload_of_another_kind_is_refused() {
        let refused = render(
            Kind::PaymentCaptured,
            "PaymentDeclined",
            1,
            serde_json::json!({"code": "card_declined", "reason": "no"}),
            &Context::default(),
        );
        assert!(refused.is_err());
    }
}
