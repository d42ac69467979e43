//! The e-mails, one per kind of notification: a subject and blocks of content, rendered once
//! as plain text and once as HTML (every value from an event is escaped there).

use schemas::common::MoneyV1;
use schemas::delivery::DeliveryEvent;
use schemas::inventory::StockAlertEvent;
use schemas::order::OrderEvent;
use schemas::payment::PaymentEvent;
use schemas::supplier::SupplierEvent;
use schemas::EnvelopeError;
use serde_json::Value;
use std::fmt::Write as _;
use uuid::Uuid;

use super::Kind;

/// What a mail needs besides its event.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The order concerned (payment and delivery mails).
    pub order_id: Option<Uuid>,
    /// The supplier's legal name (supplier mails).
    pub supplier_name: Option<String>,
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject line (one line).
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML alternative.
    pub html: String,
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
    let order = ctx
        .order_id
        .map_or_else(|| "your order".to_owned(), |id| format!("order {id}"));
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
            rows.push(("Total".to_owned(), money(&p.total)));
            let a = &p.delivery.address;
            let payment = match p.payment.method.as_str() {
                "cash_on_delivery" => "cash on delivery",
                _ => "card",
            };
            (
                "Your Freshline order is placed".to_owned(),
                vec![
                    Block::Paragraph(format!("Thank you! We have {order} and are preparing it.")),
                    Block::Rows(rows),
                    Block::Paragraph(format!(
                        "Delivery to {}, {} {}, {} between {} and {} (UTC). Payment by {payment}.",
                        a.line1,
                        a.postal_code,
                        a.city,
                        a.country,
                        p.delivery.slot_starts_at.format("%Y-%m-%d %H:%M"),
                        p.delivery.slot_ends_at.format("%H:%M"),
                    )),
                ],
            )
        }
        Kind::PaymentCaptured | Kind::PaymentDeclined | Kind::RefundCompleted => {
            match PaymentEvent::decode(event_type, event_version, payload)? {
                PaymentEvent::PaymentCaptured(p) if kind == Kind::PaymentCaptured => (
                    "Payment received for your Freshline order".to_owned(),
                    vec![Block::Paragraph(format!(
                        "We received {} for {order}. Thank you!",
                        money(&p.amount)
                    ))],
                ),
                PaymentEvent::PaymentDeclined(p) if kind == Kind::PaymentDeclined => (
                    "Your payment for a Freshline order was declined".to_owned(),
                    vec![
                        Block::Paragraph(format!(
                            "The payment for {order} was declined ({}: {}).",
                            p.code, p.reason
                        )),
                        Block::Paragraph(
                            "Nothing was charged. You are welcome to place the order again with \
                             another card."
                                .to_owned(),
                        ),
                    ],
                ),
                PaymentEvent::RefundCompleted(p) if kind == Kind::RefundCompleted => (
                    "Your Freshline refund is on its way".to_owned(),
                    vec![Block::Paragraph(format!(
                        "We refunded {} for {order} (refund {}). It can take a few days to show \
                         on your statement.",
                        money(&p.amount),
                        p.refund_id
                    ))],
                ),
                _ => return Err(mismatch(event_type, event_version)),
            }
        }
        Kind::DeliveryCompleted => {
            let DeliveryEvent::DeliveryCompleted(_) =
                DeliveryEvent::decode(event_type, event_version, payload)?
            else {
                return Err(mismatch(event_type, event_version));
            };
            (
                "Your Freshline order was delivered".to_owned(),
                vec![Block::Paragraph(format!(
                    "Our rider handed over {order}. Enjoy it while it is fresh!"
                ))],
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
        Kind::SupplierApproved | Kind::SupplierRejected => {
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
    Ok(Rendered {
        subject: one_line(&subject),
        text: text_of(&blocks),
        html: html_of(&one_line(&subject), &blocks),
    })
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

fn text_of(blocks: &[Block]) -> String {
    let mut out = String::from("Hello,\n\n");
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

fn html_of(subject: &str, blocks: &[Block]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family: sans-serif\">\n<p>Hello,</p>\n",
        escape(subject)
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
