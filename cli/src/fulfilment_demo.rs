//! The demo's order fulfilment: delivery slots at the three demo warehouses for the next two
//! days, riders on shift around each warehouse, and customers' orders (mostly by card, some
//! cash on delivery, a few declined cards) that the fulfilment saga then carries through. All
//! through the command API, with idempotency keys derived from the demo's own numbering, so
//! running it again adds nothing that is already there.

use crate::api::{geo, open_slot, quantity, rider_on_shift, Api};
use anyhow::{bail, Context};
use chrono::{Duration as Span, Utc};
use platform::auth::{self, Actor, Role};
use schemas::api::{
    calls, AddAddressBody, CartLineBody, ChannelsBody, ConsentBody, CustomerBody,
    DeliveryAddressBody, DeliveryBody, LineBody, MethodBody, PaymentBody, PlaceOrderBody,
    PreferencesBody, RiderBody, SavedAddressBody,
};
use uuid::Uuid;

/// Where the demo warehouses are (Amsterdam, Rotterdam, Utrecht), as `(lat, lon)`.
pub(crate) const LOCATIONS: [(f64, f64); 3] =
    [(52.3791, 4.9003), (51.9244, 4.4777), (52.0907, 5.1214)];

/// What was seeded.
#[derive(Debug, Default)]
pub struct Seeded {
    /// Slots opened.
    pub slots: usize,
    /// Riders registered and on shift.
    pub riders: usize,
    /// Orders placed now.
    pub orders: usize,
    /// Customers with a profile, two addresses, preferences, consent and a filled cart.
    pub customers: usize,
}

/// Demo customers beside the identity provider's demo `customer` (whose profile and cart the
/// demo fills too, under its Keycloak subject, so logging in as it shows them).
const DEMO_CUSTOMERS: usize = 20;

/// A token for a demo or load person, signed with the local key; it shows a second factor,
/// as after a login with a one-time password, so demo operators can approve and refund.
pub(crate) fn token(signer: &auth::Signer, sub: &str, role: Role) -> anyhow::Result<String> {
    Ok(signer.sign(
        &auth::claims(
            sub,
            &Actor::Person(role),
            role.default_scopes(),
            3600,
            platform::config::defaults::ISSUER,
        )
        .with_second_factor(),
    )?)
}

/// Seeds slots, riders and `orders` orders.
///
/// # Errors
/// When the API refuses what the demo sends, or products with stock never show in the query
/// API.
pub async fn seed(
    client: &reqwest::Client,
    api: &str,
    query: &str,
    signer: &auth::Signer,
    orders: usize,
) -> anyhow::Result<Seeded> {
    let c = Api { client, base: api };
    let admin = token(signer, "demo-admin-fulfilment", Role::Admin)?;
    let mut seeded = Seeded::default();
    let today = Utc::now().date_naive();
    let mut slots: Vec<(usize, Uuid)> = Vec::new();
    for (w, warehouse) in crate::catalog_demo::WAREHOUSES.iter().enumerate() {
        let (lat, lon) = LOCATIONS[w];
        for day in 0..2 {
            for window in 0..4 {
                let date = today + Span::days(day);
                let starts = date
                    .and_hms_opt(8 + window * 3, 0, 0)
                    .context("a demo slot time")?
                    .and_utc()
                    + Span::days(1);
                let key = format!("demo-slot:{warehouse}:{}", starts.to_rfc3339());
                let slot = open_slot(
                    &c,
                    &admin,
                    format!("ZONE-{}", w + 1),
                    (warehouse.parse()?, (lat, lon)),
                    (starts, 40),
                    &key,
                )
                .await?;
                seeded.slots += 1;
                slots.push((w, slot));
            }
        }
    }
    for n in 0..24 {
        let w = n % 3;
        let account = format!("rider-{n}");
        let (lat, lon) = LOCATIONS[w];
        let offset = (n as f64) * 0.002;
        let rider = RiderBody {
            name: format!("Demo rider {n}"),
            account: account.clone(),
            cold_chain_capable: n % 2 == 0,
        };
        let rider_token = token(signer, &account, Role::Rider)?;
        rider_on_shift(
            &c,
            &admin,
            &rider_token,
            rider,
            (lat + offset, lon - offset),
            &format!("demo-rider:{n}"),
        )
        .await?;
        seeded.riders += 1;
    }
    // Products with stock in each warehouse, as the query API shows them (the projector may
    // still be catching up with the catalog).
    let mut stock: Vec<Vec<String>> = vec![Vec::new(); 3];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while stock.iter().any(Vec::is_empty) {
        for (w, warehouse) in crate::catalog_demo::WAREHOUSES.iter().enumerate() {
            stock[w] = products_in_stock(&c, query, &admin, warehouse, 5.0, 200).await?;
        }
        if std::time::Instant::now() > deadline {
            bail!("no stock showed in the query API within 2 minutes");
        }
        if stock.iter().any(Vec::is_empty) {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
    let catalog = token(signer, "demo-admin-fulfilment", Role::Admin)?;
    for k in 0..orders {
        let (w, slot) = &slots[k % slots.len()];
        let products = &stock[*w];
        let mut lines: Vec<LineBody> = Vec::new();
        for j in 0..(1 + k % 3) {
            let product = &products[(k * 7 + j * 13) % products.len()];
            let product_id: Uuid = product.parse()?;
            if lines.iter().any(|l| l.product_id == product_id) {
                continue;
            }
            let p = c
                .get(query, &format!("/v1/products/{product}"), &catalog)
                .await?;
            let quantity = quantity(if p["unit"] == "kg" { "1.5" } else { "2" });
            lines.push(LineBody {
                product_id,
                quantity,
            });
        }
        let (method, card_token) = match k % 20 {
            0 => (MethodBody::Card, Some("tok_declined")),
            1..=3 => (MethodBody::CashOnDelivery, None),
            4 => (MethodBody::Card, Some("tok_flaky")),
            _ => (MethodBody::Card, Some("tok_approved")),
        };
        let customer = format!("customer-{}", k % 50);
        let city = ["Amsterdam", "Rotterdam", "Utrecht"][*w];
        let body = PlaceOrderBody {
            lines,
            payment: PaymentBody {
                method,
                card_token: card_token.map(str::to_owned),
            },
            delivery: DeliveryBody {
                slot_id: *slot,
                contact_email: Some(format!("{customer}@customers.example")),
                address: DeliveryAddressBody {
                    line1: format!("Keizersgracht {}", 100 + k),
                    city: city.to_owned(),
                    postal_code: "1015 CJ".to_owned(),
                    country: "NL".to_owned(),
                    location: Some(geo(LOCATIONS[*w].0 + 0.01, LOCATIONS[*w].1 + 0.01)),
                },
            },
        };
        let t = token(signer, &customer, Role::Customer)?;
        let (status, answer) = c
            .send(
                &calls::place_order(body),
                &t,
                Some(&format!("demo-order:{k}:{today}")),
            )
            .await?;
        match status {
            201 => seeded.orders += 1,
            // A product sold out or its supplier suspended since: the demo goes on.
            409 | 422 => {}
            _ => bail!("placing a demo order: {status} {answer}"),
        }
    }
    seeded.customers = seed_customers(&c, signer, &stock).await?;
    Ok(seeded)
}

/// Customers with a profile, a home and a work address, preferences, consent, and a cart of
/// two products in stock near them. Idempotent: every request carries a key of its own.
async fn seed_customers(
    c: &Api<'_>,
    signer: &auth::Signer,
    stock: &[Vec<String>],
) -> anyhow::Result<usize> {
    let keycloak_customer = platform::idp::DEMO_USERS
        .iter()
        .find(|u| u.role == Role::Customer)
        .map(|u| u.id.to_owned());
    let subjects = keycloak_customer
        .into_iter()
        .chain((0..DEMO_CUSTOMERS).map(|k| format!("customer-{k}")));
    let mut seeded = 0;
    for (k, sub) in subjects.enumerate() {
        let t = token(signer, &sub, Role::Customer)?;
        let w = k % stock.len();
        let (lat, lon) = LOCATIONS[w];
        let city = ["Amsterdam", "Rotterdam", "Utrecht"][w];
        let key = |what: &str| format!("demo-customer:{sub}:{what}");
        let expect = |what: &str, (status, body): (u16, serde_json::Value)| {
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "demo customer {sub}, {what}: {status} {body}"
                ))
            }
        };
        let profile = CustomerBody {
            display_name: format!("Demo customer {k}"),
            email: format!("{sub}@customers.example"),
            phone: Some(format!("+3161000{k:04}")),
        };
        expect(
            "profile",
            c.send(
                &calls::register_customer(profile),
                &t,
                Some(&key("profile")),
            )
            .await?,
        )?;
        for (n, (label, street)) in [("Home", "Keizersgracht"), ("Work", "Stationsplein")]
            .into_iter()
            .enumerate()
        {
            let address = AddAddressBody {
                label: label.to_owned(),
                default: n == 0,
                address: SavedAddressBody {
                    line1: format!("{street} {}", 10 + k),
                    city: city.to_owned(),
                    postal_code: "1015 CJ".to_owned(),
                    country: "NL".to_owned(),
                    location: geo(
                        lat + 0.005 * (n as f64 + 1.0),
                        lon + 0.004 * k as f64 / 10.0,
                    ),
                },
            };
            expect(
                label,
                c.send(&calls::add_address(address), &t, Some(&key(label)))
                    .await?,
            )?;
        }
        let tags = [["organic"].as_slice(), &["local", "seasonal"], &[]][k % 3];
        let preferences = PreferencesBody {
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            dietary: (k % 4 == 0).then(|| "vegetarian".to_owned()),
            language: if k % 2 == 0 { "en" } else { "nl" }.to_owned(),
        };
        expect(
            "preferences",
            c.send(
                &calls::set_preferences(preferences),
                &t,
                Some(&key("preferences")),
            )
            .await?,
        )?;
        let consent = ConsentBody {
            marketing: k % 3 == 0,
            channels: ChannelsBody {
                email: true,
                sms: k % 2 == 0,
                push: false,
            },
        };
        expect(
            "consent",
            c.send(&calls::set_consent(consent), &t, Some(&key("consent")))
                .await?,
        )?;
        for j in 0..2 {
            let product: Uuid = stock[w][(k * 5 + j * 11) % stock[w].len()].parse()?;
            let line = CartLineBody {
                quantity: quantity("2"),
            };
            let (status, body) = c
                .send(
                    &calls::set_cart_line(product, line),
                    &t,
                    Some(&key(&format!("cart:{product}"))),
                )
                .await?;
            // A product sold by the kg takes 2 as well; a discontinued one is skipped.
            if !(200..300).contains(&status) && status != 409 {
                bail!("demo customer {sub}, cart: {status} {body}");
            }
        }
        seeded += 1;
    }
    Ok(seeded)
}

/// Up to `take` products with at least `at_least` available at `warehouse`, as the query API's
/// stock view shows them.
///
/// # Errors
/// When the query API cannot be reached.
pub(crate) async fn products_in_stock(
    c: &Api<'_>,
    query: &str,
    token: &str,
    warehouse: &str,
    at_least: f64,
    take: usize,
) -> anyhow::Result<Vec<String>> {
    let rows = c
        .get(
            query,
            &format!("/v1/inventory/stock?warehouse_id={warehouse}"),
            token,
        )
        .await?;
    Ok(rows
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| {
                    r["available"]
                        .as_str()
                        .and_then(|q| q.parse::<f64>().ok())
                        .is_some_and(|q| q >= at_least)
                })
                .filter_map(|r| r["product_id"].as_str().map(str::to_owned))
                .take(take)
                .collect()
        })
        .unwrap_or_default())
}
