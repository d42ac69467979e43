//! The chaos load: clients that keep sending each command, with its `Idempotency-Key`, until
//! they get an answer — as a careful client does while parts of the system fail — and write
//! every answer to a ledger (JSON lines) for the invariant checks.
//!
//! Each run sets up its own supplier, products, stock, slot and riders, then mixes orders
//! (card and cash), cancellations, refunds, spoilage, registrations with approvals, listings,
//! receipts and image uploads.

use super::ledger::{Entry, Ledger};
use crate::api::{geo, quantity};
use crate::fulfilment_demo::{token, LOCATIONS};
use anyhow::{bail, Context};
use chrono::{Duration as Span, Utc};
use platform::auth::{self, Role};
use schemas::api::{
    calls, AvailabilityBody, Call, CancelBody, DeliveryAddressBody, DeliveryBody, DocumentKindBody,
    LineBody, MethodBody, MoneyBody, NoteBody, PaymentBody, PlaceOrderBody, RefundBody, RiderBody,
    SlotBody, SpoilageBody, SubmitDocumentBody,
};
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Where the load goes and for how long.
pub struct Plan {
    /// command-api replicas (round robin).
    pub apis: Vec<String>,
    /// Signs the load's tokens.
    pub signer: auth::Signer,
    /// How long orders and the rest keep coming.
    pub duration: Duration,
    /// Clients at once.
    pub concurrency: usize,
    /// The longest a client keeps trying one command.
    pub patience: Duration,
    /// Names this run's data.
    pub run: String,
}

/// A client that retries a command with the same key until it is answered.
struct Client {
    http: reqwest::Client,
    apis: Vec<String>,
    next: AtomicUsize,
    ledger: Ledger,
    patience: Duration,
}

/// The answer to a command.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn id(&self) -> Option<Uuid> {
        self.body["id"].as_str().and_then(|s| s.parse().ok())
    }
}

/// Answers that mean "the same request again, later": the key's first attempt is still in
/// flight, or lost a race; rate limiting.
fn try_again(status: u16, code: &str) -> bool {
    status == 429
        || (status == 409 && matches!(code, "idempotency_in_progress" | "concurrent_modification"))
}

impl Client {
    async fn send<B: Serialize>(
        &self,
        op: &str,
        call: &Call<B>,
        token: &str,
    ) -> anyhow::Result<Answer> {
        let key = Uuid::new_v4().to_string();
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            if started.elapsed() > self.patience {
                self.ledger.write(&Entry::gave_up(op, &call.path, &key));
                bail!("{op}: no answer within {:?}", self.patience);
            }
            let base = &self.apis[self.next.fetch_add(1, Ordering::Relaxed) % self.apis.len()];
            let url = format!("{base}{}", call.path);
            let request = self.http.request(call.method.into(), &url);
            let sent = request
                .bearer_auth(token)
                .header("idempotency-key", &key)
                .timeout(Duration::from_secs(15))
                .json(&call.body)
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    self.ledger.write(&Entry::unreachable(
                        op,
                        &call.path,
                        &key,
                        base,
                        &e.to_string(),
                    ));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let code = body["code"].as_str().unwrap_or_default().to_owned();
            if status >= 500 {
                self.ledger.write(&Entry::server_error(
                    op,
                    &call.path,
                    &key,
                    base,
                    status,
                    &code,
                    retry_after,
                ));
            } else if !try_again(status, &code) {
                let answer = Answer { status, body };
                self.ledger.write(&Entry::answered(
                    op,
                    &call.path,
                    &key,
                    base,
                    status,
                    &code,
                    &answer.body,
                ));
                return Ok(answer);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn upload(&self, product: Uuid, token: &str, bytes: Vec<u8>) -> anyhow::Result<Answer> {
        // An upload is idempotent by its content (the image id): the same bytes again.
        let path = format!("/v1/products/{product}/images");
        let started = Instant::now();
        loop {
            if started.elapsed() > self.patience {
                self.ledger
                    .write(&Entry::gave_up("upload_image", &path, "-"));
                bail!("upload: no answer within {:?}", self.patience);
            }
            let base = &self.apis[self.next.fetch_add(1, Ordering::Relaxed) % self.apis.len()];
            let sent = self
                .http
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .header("content-type", "image/png")
                .timeout(Duration::from_secs(15))
                .body(bytes.clone())
                .send()
                .await;
            let Ok(response) = sent else {
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            };
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let code = body["code"].as_str().unwrap_or_default().to_owned();
            if status >= 500 {
                self.ledger.write(&Entry::server_error(
                    "upload_image",
                    &path,
                    "-",
                    base,
                    status,
                    &code,
                    retry_after,
                ));
                // A full store stays full for a while: the client gives up on this image.
                if status == 507 {
                    return Ok(Answer { status, body });
                }
            } else if !try_again(status, &code) {
                self.ledger.write(&Entry::answered(
                    "upload_image",
                    &path,
                    "-",
                    base,
                    status,
                    &code,
                    &body,
                ));
                return Ok(Answer { status, body });
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// A short tag of this run for registration numbers (at most 32 characters in all).
fn tag(run: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(run.as_bytes()))[..10].to_uppercase()
}

/// Registers supplier `i` as `number`, submits its licence and approves it; answers its id
/// (`None` when the registration was refused).
async fn approved_supplier(
    c: &Client,
    admin: &str,
    i: usize,
    number: &str,
    owner: Option<String>,
) -> anyhow::Result<Option<Uuid>> {
    let mut register = crate::demo::supplier_body(i, number);
    if owner.is_some() {
        register.body.owner_subject = owner;
    }
    let Some(id) = c.send("register_supplier", &register, admin).await?.id() else {
        return Ok(None);
    };
    let licence = calls::submit_document(
        id,
        SubmitDocumentBody {
            kind: DocumentKindBody::BusinessLicense,
            reference: format!("LIC-{number}"),
            expires_on: chrono::NaiveDate::from_ymd_opt(2030, 12, 31).context("a date")?,
        },
    );
    c.send("submit_document", &licence, admin).await?;
    c.send(
        "approve_supplier",
        &calls::approve_supplier(id, NoteBody { note: None }),
        admin,
    )
    .await?;
    Ok(Some(id))
}

/// Riders put on shift by each run.
const RIDERS: usize = 24;

/// What the run set up.
struct Stage {
    supplier: Uuid,
    supplier_token: String,
    products: Vec<(Uuid, bool)>,
    batches: Mutex<Vec<Uuid>>,
    slot: Uuid,
    orders: Mutex<Vec<(Uuid, String)>>,
    admin: String,
    run: String,
    next_supplier: AtomicUsize,
}

/// Runs the load; every answer goes to `ledger`.
///
/// # Errors
/// When the set-up cannot be done (a client gave up).
pub async fn run(plan: Plan, ledger: Ledger) -> anyhow::Result<()> {
    let client = Arc::new(Client {
        http: reqwest::Client::new(),
        apis: plan.apis.clone(),
        next: AtomicUsize::new(0),
        ledger,
        patience: plan.patience,
    });
    let stage = Arc::new(
        set_up(&client, &plan)
            .await
            .context("setting up the chaos load")?,
    );
    let until = Instant::now() + plan.duration;
    let mut workers = Vec::new();
    for w in 0..plan.concurrency {
        let (client, stage) = (client.clone(), stage.clone());
        let customer = token(
            &plan.signer,
            &format!("chaos-{}-customer-{w}", plan.run),
            Role::Customer,
        )?;
        workers.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < until {
                if let Err(e) = step(&client, &stage, &customer, w, n).await {
                    tracing::warn!(worker = w, error = %e, "chaos client gave up a command");
                }
                n += 1;
            }
        }));
    }
    for w in workers {
        w.await.context("a chaos client panicked")?;
    }
    Ok(())
}

async fn set_up(c: &Client, plan: &Plan) -> anyhow::Result<Stage> {
    let run = &plan.run;
    let admin = token(&plan.signer, &format!("chaos-{run}-admin"), Role::Admin)?;
    let owner = format!("chaos-{run}-supplier");
    let supplier_token = token(&plan.signer, &owner, Role::Supplier)?;
    let supplier = approved_supplier(
        c,
        &admin,
        0,
        &format!("CH-{}-0", tag(run)),
        Some(owner.clone()),
    )
    .await?
    .context("the chaos supplier's registration was refused")?;
    let warehouse: Uuid = crate::catalog_demo::WAREHOUSES[0].parse()?;
    let mut products = Vec::new();
    let mut batches = Vec::new();
    for j in 0..4 {
        let (body, kind) = crate::catalog_demo::product_body(7, j);
        let kg = body.unit == "kg";
        let product = expect_id(
            c.send(
                "list_product",
                &calls::list_product(supplier, body),
                &supplier_token,
            )
            .await?,
            "listing",
        )?;
        products.push((product, kg));
        for mut b in crate::catalog_demo::batch_bodies(7, j, product, supplier, kind)? {
            b.warehouse_id = warehouse;
            b.quantity = quantity("5000");
            b.expires_at = Utc::now() + Span::days(5);
            b.received_at = Utc::now() - Span::hours(1);
            batches.push(expect_id(
                c.send("receive_batch", &calls::receive_batch(b), &admin)
                    .await?,
                "receiving",
            )?);
        }
    }
    let (lat, lon) = LOCATIONS[0];
    let slot_body = SlotBody {
        zone: format!("CHAOS-{run}"),
        warehouse_id: warehouse,
        warehouse_location: geo(lat, lon),
        starts_at: Utc::now() + Span::hours(2),
        ends_at: Utc::now() + Span::hours(5),
        capacity: 10_000,
    };
    let slot = expect_id(
        c.send("create_slot", &calls::create_slot(slot_body), &admin)
            .await?,
        "opening a slot",
    )?;
    // Enough riders that deliveries do not queue: the drain after each phase waits for them.
    for k in 0..RIDERS {
        let account = format!("chaos-{run}-rider-{k}");
        let rider = RiderBody {
            name: format!("Chaos rider {k}"),
            account: account.clone(),
            cold_chain_capable: true,
        };
        let id = expect_id(
            c.send("register_rider", &calls::register_rider(rider), &admin)
                .await?,
            "registering a rider",
        )?;
        let rider_token = token(&plan.signer, &account, Role::Rider)?;
        let shift = calls::rider_availability(
            id,
            AvailabilityBody {
                available: true,
                location: Some(geo(lat + 0.0002 * k as f64, lon)),
            },
        );
        expect(
            c.send("rider_availability", &shift, &rider_token).await?,
            "putting a rider on shift",
        )?;
    }
    Ok(Stage {
        supplier,
        supplier_token,
        products,
        batches: Mutex::new(batches),
        slot,
        orders: Mutex::new(Vec::new()),
        admin,
        run: run.clone(),
        next_supplier: AtomicUsize::new(1),
    })
}

fn expect(a: Answer, what: &str) -> anyhow::Result<Answer> {
    if (200..300).contains(&a.status) {
        Ok(a)
    } else {
        bail!("{what}: {} {}", a.status, a.body)
    }
}

fn expect_id(a: Answer, what: &str) -> anyhow::Result<Uuid> {
    expect(a, what)?
        .id()
        .with_context(|| format!("{what}: no id"))
}

/// A small PNG, different for each `n`.
fn png(n: usize) -> Vec<u8> {
    let side = 8 + (n % 64) as u32;
    let img = image::RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 5) as u8, (n % 251) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    // Encoding a few pixels in memory cannot fail.
    let _ = img.write_to(&mut out, image::ImageFormat::Png);
    out.into_inner()
}

/// One command of the mix.
async fn step(c: &Client, s: &Stage, customer: &str, w: usize, n: usize) -> anyhow::Result<()> {
    let roll = (w * 7919 + n * 104_729) % 100;
    match roll {
        0..=44 => place_order(c, s, customer, w, n).await,
        45..=54 => {
            let last = s
                .orders
                .lock()
                .map(|o| o.iter().rev().nth(n % 3).cloned())
                .ok()
                .flatten();
            if let Some((order, who)) = last {
                c.send(
                    "cancel_order",
                    &calls::cancel_order(
                        order,
                        CancelBody {
                            reason: Some("changed my mind".into()),
                        },
                    ),
                    &who,
                )
                .await?;
            }
            Ok(())
        }
        55..=61 => {
            let last = s
                .orders
                .lock()
                .map(|o| o.get(n % o.len().max(1)).cloned())
                .ok()
                .flatten();
            if let Some((order, _)) = last {
                // A refund of one cent, when there is something captured to refund.
                let payment = sagas_payment_of(order);
                let body = RefundBody {
                    amount: MoneyBody {
                        amount_minor: 1,
                        currency: "EUR".into(),
                    },
                    reason: "chaos goodwill".into(),
                };
                c.send(
                    "refund_payment",
                    &calls::refund_payment(payment, body),
                    &s.admin,
                )
                .await?;
            }
            Ok(())
        }
        62..=69 => {
            let batch = s
                .batches
                .lock()
                .map(|b| b.get(n % b.len().max(1)).copied())
                .ok()
                .flatten();
            if let Some(batch) = batch {
                let body = SpoilageBody {
                    quantity: quantity("1"),
                    reason: "damaged".into(),
                };
                c.send(
                    "record_spoilage",
                    &calls::record_spoilage(batch, body),
                    &s.admin,
                )
                .await?;
            }
            Ok(())
        }
        70..=77 => {
            let i = s.next_supplier.fetch_add(1, Ordering::Relaxed);
            approved_supplier(c, &s.admin, i, &format!("CH-{}-{i}", tag(&s.run)), None).await?;
            Ok(())
        }
        78..=85 => {
            let (body, _) = crate::catalog_demo::product_body(11 + w, n);
            c.send(
                "list_product",
                &calls::list_product(s.supplier, body),
                &s.supplier_token,
            )
            .await?;
            Ok(())
        }
        86..=92 => {
            let (product, _) = s.products[n % s.products.len()];
            let (_, kind) = crate::catalog_demo::product_body(7, 0);
            let mut bodies = crate::catalog_demo::batch_bodies(7, n, product, s.supplier, kind)?;
            if let Some(mut b) = bodies.pop() {
                b.warehouse_id = crate::catalog_demo::WAREHOUSES[0].parse()?;
                b.quantity = quantity("50");
                b.expires_at = Utc::now() + Span::days(5);
                b.received_at = Utc::now() - Span::hours(1);
                let a = c
                    .send("receive_batch", &calls::receive_batch(b), &s.admin)
                    .await?;
                if let (Some(id), Ok(mut batches)) = (a.id(), s.batches.lock()) {
                    batches.push(id);
                }
            }
            Ok(())
        }
        _ => {
            let (product, _) = s.products[n % s.products.len()];
            c.upload(product, &s.supplier_token, png(w * 1000 + n))
                .await?;
            Ok(())
        }
    }
}

/// The payment of `order` (derived from the order's id).
fn sagas_payment_of(order: Uuid) -> Uuid {
    domain::fulfilment_values::PaymentId::of_order(domain::OrderId(order)).0
}

async fn place_order(
    c: &Client,
    s: &Stage,
    customer: &str,
    w: usize,
    n: usize,
) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    for k in 0..(1 + n % 2) {
        let (product, kg) = s.products[(w + n + k) % s.products.len()];
        if lines.iter().any(|l: &LineBody| l.product_id == product) {
            continue;
        }
        lines.push(LineBody {
            product_id: product,
            quantity: quantity(if kg { "1.5" } else { "2" }),
        });
    }
    let (method, card) = match (w + n) % 10 {
        0..=1 => (MethodBody::CashOnDelivery, None),
        2 => (MethodBody::Card, Some("tok_declined")),
        3 => (MethodBody::Card, Some("tok_flaky")),
        _ => (MethodBody::Card, Some("tok_approved")),
    };
    let (lat, lon) = LOCATIONS[0];
    let body = PlaceOrderBody {
        lines,
        payment: PaymentBody {
            method,
            card_token: card.map(str::to_owned),
        },
        delivery: DeliveryBody {
            slot_id: s.slot,
            contact_email: Some(format!("chaos-{w}@customers.example")),
            address: DeliveryAddressBody {
                line1: format!("Keizersgracht {}", 100 + n % 500),
                city: "Amsterdam".into(),
                postal_code: "1015 CJ".into(),
                country: "NL".into(),
                location: Some(geo(lat + 0.01, lon + 0.01)),
            },
        },
    };
    let a = c
        .send("place_order", &calls::place_order(body), customer)
        .await?;
    if let (Some(id), Ok(mut orders)) = (a.id(), s.orders.lock()) {
        orders.push((id, customer.to_owned()));
    }
    Ok(())
}
