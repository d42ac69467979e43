//! The demo catalog: for each approved demo supplier, products (as that supplier's account)
//! and stock batches across three warehouses with realistic expiry spreads (as warehouse
//! staff), all through the command API. Deterministic: the same supplier index always gets the
//! same products and batches.

use crate::api::{quantity, Api};
use anyhow::{bail, Context};
use chrono::{Duration as Span, Utc};
use platform::auth::{self, Actor, Role};
use schemas::api::{
    calls, BulkListBody, BulkReceiveBody, CategoryBody, ListProductBody, MoneyBody, NutritionBody,
    ReceiveBatchBody,
};
use uuid::Uuid;

/// The three demo warehouses (Amsterdam, Rotterdam, Utrecht).
pub const WAREHOUSES: [&str; 3] = [
    "01931b70-0000-7000-8000-00000000a001",
    "01931b70-0000-7000-8000-00000000a002",
    "01931b70-0000-7000-8000-00000000a003",
];

pub(crate) struct Kind {
    category: CategoryBody,
    unit: &'static str,
    items: &'static [&'static str],
    /// Shelf life in days: (min, max).
    shelf_days: (i64, i64),
    /// Price range in cents.
    price: (i64, i64),
}

const KINDS: &[Kind] = &[
    Kind {
        category: CategoryBody::Fruit,
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
        category: CategoryBody::Vegetable,
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
        category: CategoryBody::Herb,
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
        category: CategoryBody::Dairy,
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
        category: CategoryBody::Bakery,
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
        category: CategoryBody::Other,
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
pub(crate) fn product_body(i: usize, j: usize) -> (ListProductBody, &'static Kind) {
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
    let nutrition = (!matches!(kind.category, CategoryBody::Other)).then(|| NutritionBody {
        energy_kcal: r.range(15, 400).into(),
        protein_g: r.range(0, 12).into(),
        carbs_g: r.range(0, 40).into(),
        fat_g: r.range(0, 30).into(),
        fiber_g: r.range(0, 8).into(),
    });
    let body = ListProductBody {
        name: format!("{style} {item}"),
        category: kind.category,
        tags: tags.into_iter().map(str::to_owned).collect(),
        unit: kind.unit.to_owned(),
        price: MoneyBody {
            amount_minor: r.range(kind.price.0, kind.price.1),
            currency: "EUR".to_owned(),
        },
        origin_country: r.pick(ORIGINS).to_owned(),
        nutrition,
        low_stock_threshold: Some(if kind.unit == "kg" { 10 } else { 12 }.into()),
    };
    (body, kind)
}

/// The batches of the `j`-th product of supplier `i`: one in a warehouse, and a second one in
/// another warehouse for a third of the products; received up to two days ago, expiring by the
/// category's shelf life (some already within 48 hours).
pub(crate) fn batch_bodies(
    i: usize,
    j: usize,
    product: Uuid,
    supplier: Uuid,
    kind: &Kind,
) -> anyhow::Result<Vec<ReceiveBatchBody>> {
    let mut r = Rng::new(i.wrapping_add(7919), j);
    let count = if r.next().is_multiple_of(3) { 2 } else { 1 };
    let now = Utc::now();
    (0..count)
        .map(|k| {
            let warehouse = WAREHOUSES[(i + j + k) % WAREHOUSES.len()];
            let received = now - Span::minutes(r.range(0, 48 * 60));
            let shelf_hours = r.range(kind.shelf_days.0 * 24, kind.shelf_days.1 * 24);
            let expires = received + Span::hours(shelf_hours.max(6));
            let quantity = if kind.unit == "kg" {
                let grams = r.range(5_000, 250_000) / 500 * 500;
                quantity(&format!("{}.{:03}", grams / 1000, grams % 1000))
            } else {
                r.range(12, 400).into()
            };
            Ok(ReceiveBatchBody {
                product_id: product,
                supplier_id: supplier,
                warehouse_id: warehouse.parse()?,
                quantity,
                received_at: received,
                expires_at: expires,
                cold_chain: matches!(kind.category, CategoryBody::Dairy | CategoryBody::Herb),
                procurement_price: MoneyBody {
                    amount_minor: r.range(40, 600),
                    currency: "EUR".to_owned(),
                },
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
    let c = Api { client, base };
    let supplier_id: Uuid = supplier.parse()?;
    // The catalog in one bulk listing, then its batches in bulk receipts of up to 100.
    let kinds: Vec<(ListProductBody, &Kind)> = (0..products).map(|j| product_body(i, j)).collect();
    let mut listed: Vec<Uuid> = Vec::with_capacity(products);
    for chunk in kinds.chunks(100) {
        let body = BulkListBody {
            products: chunk.iter().map(|(b, _)| b.clone()).collect(),
        };
        let (status, answer) = c
            .send(&calls::list_products(supplier_id, body), &owner, None)
            .await?;
        if status != 201 {
            bail!("listing the products of supplier {i}: {status} {answer}");
        }
        for item in answer["items"].as_array().context("no items")? {
            let id = item["id"].as_str().and_then(|id| id.parse().ok());
            listed.push(id.context("no product id")?);
        }
    }
    let mut receipts: Vec<ReceiveBatchBody> = Vec::new();
    for (j, (product, (_, kind))) in listed.iter().zip(&kinds).enumerate() {
        receipts.extend(batch_bodies(i, j, *product, supplier_id, kind)?);
    }
    for chunk in receipts.chunks(100) {
        let body = BulkReceiveBody {
            batches: chunk.to_vec(),
        };
        let (status, answer) = c.send(&calls::receive_batches(body), &staff, None).await?;
        if status != 201 {
            bail!("receiving the batches of supplier {i}: {status} {answer}");
        }
    }
    let batches = receipts.len();
    Ok((products, batches))
}
