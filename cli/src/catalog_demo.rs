//! The demo catalog: for each approved demo supplier, products (as that supplier's account)
//! and stock batches across three warehouses with realistic expiry spreads (as warehouse
//! staff), all through the command API. Deterministic: the same supplier index always gets the
//! same products and batches.

use anyhow::{bail, Context};
use chrono::{Duration as Span, Utc};
use platform::auth::{self, Actor, Role};
use serde_json::{json, Value};

/// The three demo warehouses (Amsterdam, Rotterdam, Utrecht).
pub const WAREHOUSES: [&str; 3] = [
    "01931b70-0000-7000-8000-00000000a001",
    "01931b70-0000-7000-8000-00000000a002",
    "01931b70-0000-7000-8000-00000000a003",
];

struct Kind {
    category: &'static str,
    unit: &'static str,
    items: &'static [&'static str],
    /// Shelf life in days: (min, max).
    shelf_days: (i64, i64),
    /// Price range in cents.
    price: (i64, i64),
}

const KINDS: &[Kind] = &[
    Kind {
        category: "fruit",
        unit: "kg",
        items: &[
            "apples",
            "pears",
            "strawberries",
            "blueberries",
            "cherries",
            "plums",
            "oranges",
            "lemons",
            "grapes",
            "peaches",
            "apricots",
            "raspberries",
            "kiwis",
            "mangoes",
        ],
        shelf_days: (3, 21),
        price: (149, 1299),
    },
    Kind {
        category: "vegetable",
        unit: "kg",
        items: &[
            "carrots",
            "tomatoes",
            "cucumbers",
            "lettuce",
            "spinach",
            "kale",
            "broccoli",
            "peppers",
            "onions",
            "potatoes",
            "leeks",
            "courgettes",
            "beetroot",
            "asparagus",
        ],
        shelf_days: (4, 28),
        price: (99, 899),
    },
    Kind {
        category: "herb",
        unit: "bunch",
        items: &[
            "basil",
            "mint",
            "parsley",
            "coriander",
            "dill",
            "rosemary",
            "thyme",
            "chives",
            "sage",
            "tarragon",
        ],
        shelf_days: (2, 7),
        price: (89, 349),
    },
    Kind {
        category: "dairy",
        unit: "piece",
        items: &[
            "whole milk",
            "yoghurt",
            "butter",
            "cream",
            "gouda",
            "brie",
            "kefir",
            "quark",
            "mozzarella",
            "feta",
        ],
        shelf_days: (7, 45),
        price: (119, 1499),
    },
    Kind {
        category: "bakery",
        unit: "piece",
        items: &[
            "sourdough bread",
            "baguette",
            "croissants",
            "rye bread",
            "spelt loaf",
            "cinnamon buns",
            "focaccia",
            "bagels",
        ],
        shelf_days: (1, 5),
        price: (129, 699),
    },
    Kind {
        category: "other",
        unit: "box",
        items: &[
            "free-range eggs",
            "wildflower honey",
            "chestnut mushrooms",
            "walnuts",
            "apple juice",
            "jam",
        ],
        shelf_days: (14, 180),
        price: (199, 1599),
    },
];

const STYLES: &[&str] = &[
    "Organic",
    "Heirloom",
    "Farmhouse",
    "Sweet",
    "Wild",
    "Baby",
    "Red",
    "Golden",
    "Alpine",
    "Polder",
    "Seasonal",
    "Hand-picked",
    "Classic",
    "Fresh",
];
const TAGS: &[&str] = &["organic", "imported", "seasonal", "local"];
const ORIGINS: &[&str] = &["NL", "NL", "NL", "BE", "DE", "FR", "ES", "IT", "PT", "MA"];

/// A small deterministic generator (splitmix64): demo data repeats exactly.
struct Rng(u64);

impl Rng {
    fn new(a: usize, b: usize) -> Self {
        Self((a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b as u64).wrapping_add(0x5151))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::try_from(self.next() % u64::try_from(hi - lo + 1).unwrap_or(1)).unwrap_or(0)
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[usize::try_from(self.next() % items.len() as u64).unwrap_or(0)]
    }
}

/// The `j`-th product of supplier `i`.
fn product_body(i: usize, j: usize) -> (Value, &'static Kind) {
    let mut r = Rng::new(i, j);
    let kind = &KINDS[(i + j) % KINDS.len()];
    let item = r.pick(kind.items);
    let style = r.pick(STYLES);
    let mut tags: Vec<&str> = TAGS
        .iter()
        .copied()
        .filter(|_| r.next().is_multiple_of(3))
        .collect();
    if style == "Organic" && !tags.contains(&"organic") {
        tags.push("organic");
    }
    let nutrition = (kind.category != "other").then(|| {
        json!({"energy_kcal": r.range(15, 400), "protein_g": r.range(0, 12), "carbs_g": r.range(0, 40),
               "fat_g": r.range(0, 30), "fiber_g": r.range(0, 8)})
    });
    let body = json!({
        "name": format!("{style} {item}"),
        "category": kind.category,
        "tags": tags,
        "unit": kind.unit,
        "price": {"amount_minor": r.range(kind.price.0, kind.price.1), "currency": "EUR"},
        "origin_country": r.pick(ORIGINS),
        "nutrition": nutrition,
        "low_stock_threshold": if kind.unit == "kg" { 10 } else { 12 },
    });
    (body, kind)
}

/// The batches of the `j`-th product of supplier `i`: one in a warehouse, and a second one in
/// another warehouse for a third of the products; received up to two days ago, expiring by the
/// category's shelf life (some already within 48 hours).
fn batch_bodies(i: usize, j: usize, product: &str, supplier: &str, kind: &Kind) -> Vec<Value> {
    let mut r = Rng::new(i.wrapping_add(7919), j);
    let count = if r.next().is_multiple_of(3) { 2 } else { 1 };
    let now = Utc::now();
    (0..count)
        .map(|k| {
            let warehouse = WAREHOUSES[(i + j + k) % WAREHOUSES.len()];
            let received = now - Span::minutes(r.range(0, 48 * 60));
            let shelf_hours = r.range(kind.shelf_days.0 * 24, kind.shelf_days.1 * 24);
            let expires = received + Span::hours(shelf_hours.max(6));
            let quantity: Value = if kind.unit == "kg" {
                let grams = r.range(5_000, 250_000) / 500 * 500;
                serde_json::from_str(&format!("{}.{:03}", grams / 1000, grams % 1000))
                    .unwrap_or(json!(10))
            } else {
                json!(r.range(12, 400))
            };
            json!({
                "product_id": product, "supplier_id": supplier, "warehouse_id": warehouse,
                "quantity": quantity, "received_at": received.to_rfc3339(),
                "expires_at": expires.to_rfc3339(), "cold_chain": matches!(kind.category, "dairy" | "herb"),
                "procurement_price": {"amount_minor": r.range(40, 600), "currency": "EUR"},
            })
        })
        .collect()
}

/// Lists the products of supplier `i` (id `supplier`) and receives their batches.
pub async fn seed_catalog(
    client: &reqwest::Client,
    base: &str,
    signer: &auth::Signer,
    i: usize,
    supplier: &str,
    products: usize,
) -> anyhow::Result<(usize, usize)> {
    let owner = signer.sign(&auth::claims(
        &format!("supplier-{i}"),
        &Actor::Person(Role::Supplier),
        Role::Supplier.default_scopes(),
        3600,
        platform::config::defaults::ISSUER,
    ))?;
    // Warehouse staff: one account per few suppliers (limits are per account).
    let staff = signer.sign(&auth::claims(
        &format!("warehouse-{}", i % 32),
        &Actor::Person(Role::Warehouse),
        Role::Warehouse.default_scopes(),
        3600,
        platform::config::defaults::ISSUER,
    ))?;
    let post = |path: String, token: String, body: Value| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let r = client
                .post(&url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .with_context(|| format!("POST {url}"))?;
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            anyhow::Ok((status, body))
        }
    };
    // The catalog in one bulk listing, then its batches in bulk receipts of up to 100.
    let kinds: Vec<(Value, &Kind)> = (0..products).map(|j| product_body(i, j)).collect();
    let mut listed: Vec<String> = Vec::with_capacity(products);
    for chunk in kinds.chunks(100) {
        let body = json!({"products": chunk.iter().map(|(b, _)| b.clone()).collect::<Vec<_>>()});
        let (status, answer) = post(
            format!("/v1/suppliers/{supplier}/products/bulk"),
            owner.clone(),
            body,
        )
        .await?;
        if status != 201 {
            bail!("listing the products of supplier {i}: {status} {answer}");
        }
        for item in answer["items"].as_array().context("no items")? {
            listed.push(item["id"].as_str().context("no product id")?.to_owned());
        }
    }
    let receipts: Vec<Value> = listed
        .iter()
        .zip(&kinds)
        .enumerate()
        .flat_map(|(j, (product, (_, kind)))| batch_bodies(i, j, product, supplier, kind))
        .collect();
    for chunk in receipts.chunks(100) {
        let (status, answer) = post(
            "/v1/inventory/batches/bulk".to_owned(),
            staff.clone(),
            json!({"batches": chunk}),
        )
        .await?;
        if status != 201 {
            bail!("receiving the batches of supplier {i}: {status} {answer}");
        }
    }
    let batches = receipts.len();
    Ok((products, batches))
}
