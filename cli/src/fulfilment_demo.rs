//! The demo's order fulfilment: delivery slots at the three demo warehouses for the next two
//! days, riders on shift around each warehouse, and customers' orders (mostly by card, some
//! cash on delivery, a few declined cards) that the fulfilment saga then carries through. All
//! through the command API, with idempotency keys derived from the demo's own numbering, so
//! running it again adds nothing that is already there.

use anyhow::{bail, Context};
use chrono::{Duration as Span, Utc};
use platform::auth::{self, Actor, Role};
use serde_json::{json, Value};

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
}

pub(crate) struct Caller<'a> {
    pub(crate) client: &'a reqwest::Client,
    pub(crate) base: &'a str,
}

impl Caller<'_> {
    pub(crate) async fn post(
        &self,
        path: &str,
        token: &str,
        key: &str,
        body: Value,
    ) -> anyhow::Result<(u16, Value)> {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    pub(crate) async fn get(&self, base: &str, path: &str, token: &str) -> anyhow::Result<Value> {
        let r = self
            .client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        Ok(r.json().await.unwrap_or(Value::Null))
    }
}

pub(crate) fn token(signer: &auth::Signer, sub: &str, role: Role) -> anyhow::Result<String> {
    Ok(signer.sign(&auth::claims(
        sub,
        &Actor::Person(role),
        role.default_scopes(),
        3600,
        platform::config::defaults::ISSUER,
    ))?)
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
    let c = Caller { client, base: api };
    let admin = token(signer, "demo-admin-fulfilment", Role::Admin)?;
    let mut seeded = Seeded::default();
    let today = Utc::now().date_naive();
    let mut slots: Vec<(usize, String)> = Vec::new();
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
                let body = json!({"zone": format!("ZONE-{}", w + 1), "warehouse_id": warehouse,
                    "warehouse_location": {"lat": lat, "lon": lon},
                    "starts_at": starts.to_rfc3339(), "ends_at": (starts + Span::hours(3)).to_rfc3339(),
                    "capacity": 40});
                let key = format!("demo-slot:{warehouse}:{}", starts.to_rfc3339());
                let (status, answer) = c.post("/v1/delivery-slots", &admin, &key, body).await?;
                if status != 201 {
                    bail!("opening a demo slot: {status} {answer}");
                }
                seeded.slots += 1;
                slots.push((w, answer["id"].as_str().context("slot id")?.to_owned()));
            }
        }
    }
    for n in 0..24 {
        let w = n % 3;
        let account = format!("rider-{n}");
        let (status, answer) = c
            .post(
                "/v1/riders",
                &admin,
                &format!("demo-rider:{n}"),
                json!({"name": format!("Demo rider {n}"), "account": account, "cold_chain_capable": n % 2 == 0}),
            )
            .await?;
        if status != 201 {
            bail!("registering a demo rider: {status} {answer}");
        }
        let rider = answer["id"].as_str().context("rider id")?.to_owned();
        let (lat, lon) = LOCATIONS[w];
        let offset = (n as f64) * 0.002;
        let rider_token = token(signer, &account, Role::Rider)?;
        let (status, answer) = c
            .post(
                &format!("/v1/riders/{rider}/availability"),
                &rider_token,
                &format!("demo-rider-shift:{n}"),
                json!({"available": true, "location": {"lat": lat + offset, "lon": lon - offset}}),
            )
            .await?;
        if status != 202 {
            bail!("putting a demo rider on shift: {status} {answer}");
        }
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
        let mut lines = Vec::new();
        for j in 0..(1 + k % 3) {
            let product = &products[(k * 7 + j * 13) % products.len()];
            if lines
                .iter()
                .any(|l: &Value| l["product_id"] == product.as_str())
            {
                continue;
            }
            let p = c
                .get(query, &format!("/v1/products/{product}"), &catalog)
                .await?;
            let quantity = if p["unit"] == "kg" {
                json!(1.5)
            } else {
                json!(2)
            };
            lines.push(json!({"product_id": product, "quantity": quantity}));
        }
        let payment = match k % 20 {
            0 => json!({"method": "card", "card_token": "tok_declined"}),
            1..=3 => json!({"method": "cash_on_delivery"}),
            4 => json!({"method": "card", "card_token": "tok_flaky"}),
            _ => json!({"method": "card", "card_token": "tok_approved"}),
        };
        let customer = format!("customer-{}", k % 50);
        let city = ["Amsterdam", "Rotterdam", "Utrecht"][*w];
        let body = json!({"lines": lines, "payment": payment,
            "delivery": {"slot_id": slot, "contact_email": format!("{customer}@customers.example"),
                "address": {"line1": format!("Keizersgracht {}", 100 + k), "city": city,
                            "postal_code": "1015 CJ", "country": "NL",
                            "location": {"lat": LOCATIONS[*w].0 + 0.01, "lon": LOCATIONS[*w].1 + 0.01}}}});
        let t = token(signer, &customer, Role::Customer)?;
        let (status, answer) = c
            .post("/v1/orders", &t, &format!("demo-order:{k}:{today}"), body)
            .await?;
        match status {
            201 => seeded.orders += 1,
            // A product sold out or its supplier suspended since: the demo goes on.
            409 | 422 => {}
            _ => bail!("placing a demo order: {status} {answer}"),
        }
    }
    Ok(seeded)
}

/// Up to `take` products with at least `at_least` available at `warehouse`, as the query API's
/// stock view shows them.
///
/// # Errors
/// When the query API cannot be reached.
pub(crate) async fn products_in_stock(
    c: &Caller<'_>,
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
