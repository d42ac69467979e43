//! `freshline demo seed` and `freshline load suppliers`: drive the real command API over HTTP
//! with tokens signed by the local key.

use crate::api::Api;
use anyhow::{bail, Context};
use clap::Subcommand;
use futures::stream::{self, StreamExt};
use platform::auth::{self, Actor, Role};
use platform::config::defaults;
use schemas::api::{
    calls, AddressBody, Call, CategoryBody, DocumentKindBody, NoteBody, ReasonBody,
    RegisterSupplierBody, SubmitDocumentBody, SuspendBody, SuspensionCodeBody,
};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Register demo suppliers through command-api: most approved, some pending, a few
    /// rejected or suspended. Re-running it leaves existing demo suppliers alone.
    Seed {
        /// command-api base URL.
        #[arg(
            long,
            env = "FRESHLINE_COMMAND_API_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        api: String,
        /// How many suppliers.
        #[arg(long, default_value_t = 60)]
        suppliers: usize,
        /// Index of the first demo supplier (to add more to an existing demo).
        #[arg(long, default_value_t = 0)]
        first: usize,
        /// Products listed by each approved supplier (with stock batches in three
        /// warehouses).
        #[arg(long, default_value_t = 0)]
        products_per_supplier: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// The signing key.
        #[arg(long, env = "FRESHLINE_SIGNING_KEY", default_value = defaults::SIGNING_KEY_PATH)]
        key: PathBuf,
    },
    /// Open delivery slots at the demo warehouses, put riders on shift and place customers'
    /// orders for the fulfilment saga to carry. Re-running it adds nothing already there.
    Fulfilment {
        /// command-api base URL.
        #[arg(
            long,
            env = "FRESHLINE_COMMAND_API_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        api: String,
        /// query-api base URL (to find products with stock).
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        query: String,
        /// How many orders.
        #[arg(long, default_value_t = 40)]
        orders: usize,
        /// The signing key.
        #[arg(long, env = "FRESHLINE_SIGNING_KEY", default_value = defaults::SIGNING_KEY_PATH)]
        key: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum LoadCommand {
    /// Command -> visible in the query API: registrations at a fixed rate, each timed until
    /// `GET /v1/suppliers/{id}?min_version=N` returns it; prints p50/p99.
    Visibility {
        /// command-api base URL.
        #[arg(
            long,
            env = "FRESHLINE_COMMAND_API_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        api: String,
        /// query-api base URL.
        #[arg(
            long,
            env = "FRESHLINE_QUERY_API_URL",
            default_value = "http://127.0.0.1:8081"
        )]
        query: String,
        /// Commands per second.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// How many commands.
        #[arg(long, default_value_t = 2000)]
        count: usize,
        /// The signing key.
        #[arg(long, env = "FRESHLINE_SIGNING_KEY", default_value = defaults::SIGNING_KEY_PATH)]
        key: PathBuf,
    },
    /// Register suppliers as fast as the API takes them (or at a fixed rate), each with its own
    /// `Idempotency-Key` as a careful client sends it; prints throughput and latency.
    Suppliers {
        /// command-api base URL.
        #[arg(
            long,
            env = "FRESHLINE_COMMAND_API_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        api: String,
        /// How many registrations.
        #[arg(long, default_value_t = 5000)]
        count: usize,
        /// Requests in flight (at most).
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Registrations started per second (0: as fast as `concurrency` allows).
        #[arg(long, default_value_t = 0)]
        rate: u32,
        /// Send no `Idempotency-Key` (what the figure costs without the idempotency store).
        #[arg(long)]
        unkeyed: bool,
        /// The signing key.
        #[arg(long, env = "FRESHLINE_SIGNING_KEY", default_value = defaults::SIGNING_KEY_PATH)]
        key: PathBuf,
    },
    /// Product searches over the catalog (a mix of full-text words, filters and sorts);
    /// prints throughput and latency percentiles.
    Search {
        /// query-api base URL.
        #[arg(
            long,
            env = "FRESHLINE_QUERY_API_URL",
            default_value = "http://127.0.0.1:8081"
        )]
        query: String,
        /// How many searches.
        #[arg(long, default_value_t = 2000)]
        count: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// The signing key.
        #[arg(long, env = "FRESHLINE_SIGNING_KEY", default_value = defaults::SIGNING_KEY_PATH)]
        key: PathBuf,
    },
    /// Orders carried from placement to delivery: places card orders from many customers
    /// into a fresh slot at the first demo warehouse, then waits until each has ended
    /// (delivered or cancelled) as the query API shows it; prints orders/s and placed ->
    /// delivered percentiles. Needs `make up` (the saga and riders running).
    Fulfilment {
        /// command-api base URL.
        #[arg(
            long,
            env = "FRESHLINE_COMMAND_API_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        api: String,
        /// query-api base URL.
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        query: String,
        /// How many orders.
        #[arg(long, default_value_t = 500)]
        count: usize,
        /// Placements in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Orders placed per second (0: as fast as `concurrency` allows).
        #[arg(long, default_value_t = 0)]
        rate: u32,
        /// Riders put on shift at the warehouse first, so the run measures the saga rather
        /// than the rider pool.
        #[arg(long, default_value_t = 100)]
        riders: usize,
        /// Kafka brokers (each order's end is seen on the orders topic).
        #[arg(long, env = "FRESHLINE_KAFKA_BROKERS", default_value = defaults::KAFKA_BROKERS)]
        brokers: String,
        /// The stack's topic prefix.
        #[arg(long, env = "FRESHLINE_TOPIC_PREFIX", default_value = "")]
        topic_prefix: String,
        /// The signing key.
        #[arg(long, env = "FRESHLINE_SIGNING_KEY", default_value = defaults::SIGNING_KEY_PATH)]
        key: PathBuf,
    },
}

/// The searches `load search` cycles through.
const SEARCHES: &[&str] = &[
    "q=strawberries",
    "q=organic%20apples",
    "q=basil&in_stock=true",
    "q=sourdough&sort=price_asc",
    "q=milk",
    "category=fruit&in_stock=true&sort=price_asc",
    "category=vegetable&tag=organic",
    "tag=local&sort=newest",
    "min_price=200&max_price=400&sort=price_desc",
    "origin=ES&category=fruit",
    "q=tomatoes&tag=seasonal&in_stock=true",
    "q=golden%20honey",
    "category=dairy&sort=name",
    "q=heirloom&limit=50",
];

async fn run_search(
    query: String,
    count: usize,
    concurrency: usize,
    key: PathBuf,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let signer = signer(&key)?;
    let tokens: Vec<String> = (0..16)
        .map(|k| {
            signer.sign(&auth::claims(
                &format!("shopper-{k}"),
                &Actor::Person(Role::Customer),
                Role::Customer.default_scopes(),
                3600,
                defaults::ISSUER,
            ))
        })
        .collect::<Result<_, _>>()?;
    let base = query.trim_end_matches('/').to_owned();
    let started = Instant::now();
    let (client, tokens, base) = (&client, &tokens, &base);
    let results: Vec<anyhow::Result<(Duration, usize)>> = stream::iter(0..count)
        .map(|i| async move {
            let t = Instant::now();
            let r = client
                .get(format!(
                    "{base}/v1/products?{}",
                    SEARCHES[i % SEARCHES.len()]
                ))
                .bearer_auth(&tokens[i % tokens.len()])
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("search: {}", r.status());
            }
            let body: serde_json::Value = r.json().await?;
            Ok((t.elapsed(), body["items"].as_array().map_or(0, Vec::len)))
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let mut ok: Vec<Duration> = Vec::new();
    let (mut failed, mut empty) = (0, 0);
    for r in results {
        match r {
            Ok((d, n)) => {
                ok.push(d);
                if n == 0 {
                    empty += 1;
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("failed: {e}");
            }
        }
    }
    ok.sort();
    println!(
        "searches: {} ok ({empty} with no result), {failed} failed in {secs:.2}s = {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (concurrency {concurrency})",
        ok.len(),
        ok.len() as f64 / secs,
        percentile(&ok, 0.50),
        percentile(&ok, 0.99),
        percentile(&ok, 1.0),
    );
    Ok(())
}

pub(crate) fn signer(key: &PathBuf) -> anyhow::Result<auth::Signer> {
    let pem = std::fs::read_to_string(key)
        .with_context(|| format!("reading {} (run `freshline token keygen`)", key.display()))?;
    let kid = std::fs::read_to_string(key.with_extension("kid"))?;
    Ok(auth::Signer::from_pem(kid.trim(), &pem)?)
}

/// `n` admin tokens with distinct subjects (`{prefix}-0`, ...): the services limit requests
/// per token subject, so a load generator speaks as several clients, as real traffic does.
fn admin_tokens(key: &PathBuf, prefix: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let pem = std::fs::read_to_string(key)
        .with_context(|| format!("reading {} (run `freshline token keygen`)", key.display()))?;
    let kid = std::fs::read_to_string(key.with_extension("kid"))?;
    let signer = auth::Signer::from_pem(kid.trim(), &pem)?;
    (0..n.max(1))
        .map(|k| {
            let sub = if n <= 1 {
                prefix.to_owned()
            } else {
                format!("{prefix}-{k}")
            };
            let claims = auth::claims(
                &sub,
                &Actor::Person(Role::Admin),
                Role::Admin.default_scopes(),
                3600,
                defaults::ISSUER,
            )
            .with_second_factor();
            Ok(signer.sign(&claims)?)
        })
        .collect()
}

const NAMES: &[&str] = &[
    "Green Acres",
    "Sunny Orchard",
    "Polder Greens",
    "Alpine Dairy",
    "Rivierklei Farms",
    "Golden Loaf",
    "Herb Valley",
    "Tulip Fields",
    "Blue Meadow",
    "Old Mill Bakery",
    "Coastal Produce",
    "Hillside Berries",
    "Stone Fruit Co",
    "Fresh Roots",
    "Valley Creamery",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Naaldwijk", "2671 AA", "NL"),
    ("Westland", "2681 BB", "NL"),
    ("Hamburg", "20095", "DE"),
    ("Munich", "80331", "DE"),
    ("Lyon", "69001", "FR"),
    ("Valencia", "46001", "ES"),
    ("Bologna", "40121", "IT"),
];
const CATEGORIES: &[CategoryBody] = &[
    CategoryBody::Fruit,
    CategoryBody::Vegetable,
    CategoryBody::Herb,
    CategoryBody::Dairy,
    CategoryBody::Bakery,
    CategoryBody::Other,
];

pub(crate) fn supplier_body(i: usize, number: &str) -> Call<RegisterSupplierBody> {
    let (city, postal, country) = CITIES[i % CITIES.len()];
    calls::register_supplier(RegisterSupplierBody {
        legal_name: format!("{} {} B.V.", NAMES[i % NAMES.len()], i),
        registration_number: number.to_owned(),
        contact_email: format!("ops{i}@supplier{i}.example"),
        phone: format!("+31 20 {:07}", 5_000_000 + i),
        address: AddressBody {
            line1: format!("Dijkweg {}", i % 300 + 1),
            city: city.to_owned(),
            postal_code: postal.to_owned(),
            country: country.to_owned(),
        },
        categories: vec![
            CATEGORIES[i % CATEGORIES.len()],
            CATEGORIES[(i * 7 + 1) % CATEGORIES.len()],
        ],
        owner_subject: Some(format!("supplier-{i}")),
    })
}

/// command-api as one administrator.
struct Admin {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    async fn send<B: Serialize>(
        &self,
        call: &Call<B>,
        key: Option<&str>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let api = Api {
            client: &self.client,
            base: &self.base,
        };
        api.send(call, &self.token, key).await
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    /// Registered now; with its id when it ended approved (so it can sell).
    Created(Option<String>),
    Existing,
}

async fn seed_one(api: &Admin, i: usize) -> anyhow::Result<Outcome> {
    let number = format!("DEMO-{i:05}");
    let (status, body) = api.send(&supplier_body(i, &number), None).await?;
    match status {
        201 => {}
        409 if body["code"] == "duplicate_registration"
            || body["code"] == "credentials_blocked" =>
        {
            return Ok(Outcome::Existing)
        }
        _ => bail!("registering {number}: {status} {body}"),
    }
    let id: uuid::Uuid = body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .context("no id")?;
    let expect = |what: &str, (status, body): (u16, serde_json::Value)| {
        if status == 202 {
            Ok(())
        } else {
            Err(anyhow::anyhow!("{what} {number}: {status} {body}"))
        }
    };
    let licence = calls::submit_document(
        id,
        SubmitDocumentBody {
            kind: DocumentKindBody::BusinessLicense,
            reference: format!("LIC-{i:05}"),
            expires_on: chrono::NaiveDate::from_ymd_opt(2030, 12, 31).context("a date")?,
        },
    );
    expect("licence", api.send(&licence, None).await?)?;
    match i % 25 {
        // ~8% stay pending, ~4% rejected, ~4% suspended, the rest approved.
        0 | 1 => {}
        2 => expect(
            "reject",
            api.send(
                &calls::reject_supplier(
                    id,
                    ReasonBody {
                        reason: "licence could not be verified".into(),
                    },
                ),
                None,
            )
            .await?,
        )?,
        _ => {
            expect(
                "approve",
                api.send(
                    &calls::approve_supplier(
                        id,
                        NoteBody {
                            note: Some("demo data".into()),
                        },
                    ),
                    None,
                )
                .await?,
            )?;
            if i % 25 != 3 {
                return Ok(Outcome::Created(Some(id.to_string())));
            }
            if i % 25 == 3 {
                expect(
                    "suspend",
                    api.send(
                        &calls::suspend_supplier(
                            id,
                            SuspendBody {
                                reason: "cold chain audit pending".into(),
                                reason_code: SuspensionCodeBody::default(),
                            },
                        ),
                        None,
                    )
                    .await?,
                )?;
            }
        }
    }
    Ok(Outcome::Created(None))
}

pub async fn run_demo(cmd: DemoCommand) -> anyhow::Result<()> {
    if let DemoCommand::Fulfilment {
        api,
        query,
        orders,
        key,
    } = &cmd
    {
        let client = reqwest::Client::new();
        let seeded = crate::fulfilment_demo::seed(
            &client,
            api.trim_end_matches('/'),
            query.trim_end_matches('/'),
            &signer(key)?,
            *orders,
        )
        .await?;
        eprintln!(
            "demo: {} delivery slots, {} riders on shift, {} orders placed, {} customers with addresses and carts",
            seeded.slots, seeded.riders, seeded.orders, seeded.customers
        );
        return Ok(());
    }
    let DemoCommand::Seed {
        api,
        suppliers,
        first,
        products_per_supplier,
        concurrency,
        key,
    } = cmd
    else {
        return Ok(());
    };
    let signer = signer(&key)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let base = api.trim_end_matches('/').to_owned();
    // Registrations and approvals speak as several admins: limits are per account.
    let apis: Vec<Admin> = admin_tokens(&key, "demo-admin", 8)?
        .into_iter()
        .map(|token| Admin {
            client: client.clone(),
            base: base.clone(),
            token,
        })
        .collect();
    let started = Instant::now();
    let (signer, client_ref, base_ref, apis_ref) = (&signer, &client, &base, &apis);
    let results: Vec<anyhow::Result<(Outcome, usize, usize)>> =
        stream::iter(first..first + suppliers)
            .map(|i| async move {
                let outcome = seed_one(&apis_ref[i % apis_ref.len()], i).await?;
                let (products, batches) = match (&outcome, products_per_supplier) {
                    (Outcome::Created(Some(id)), n) if n > 0 => {
                        crate::catalog_demo::seed_catalog(client_ref, base_ref, signer, i, id, n)
                            .await?
                    }
                    _ => (0, 0),
                };
                Ok((outcome, products, batches))
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    let (mut created, mut existing, mut products, mut batches) = (0, 0, 0, 0);
    for r in results {
        let (outcome, p, b) = r?;
        match outcome {
            Outcome::Created(_) => created += 1,
            Outcome::Existing => existing += 1,
        }
        products += p;
        batches += b;
    }
    let secs = started.elapsed().as_secs_f64();
    let commands = created * 3 + products + batches;
    eprintln!(
        "demo: {created} suppliers created, {existing} already present; {products} products, \
         {batches} batches; {commands} commands in {secs:.1}s ({:.0}/s)",
        commands as f64 / secs.max(1e-9)
    );
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

async fn run_visibility(
    api: String,
    query: String,
    rate: u32,
    count: usize,
    key: PathBuf,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let tokens = admin_tokens(&key, "load-admin", 32)?;
    let api = api.trim_end_matches('/').to_owned();
    let query = query.trim_end_matches('/').to_owned();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        tick.tick().await;
        let token = tokens[i % tokens.len()].clone();
        let (client, api, query) = (client.clone(), api.clone(), query.clone());
        let number = format!("V{}-{i}", &run[..8]);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let commands = Api {
                client: &client,
                base: &api,
            };
            let (status, body) = commands
                .send(&supplier_body(i, &number), &token, None)
                .await?;
            if status != 201 {
                bail!("register: {status} {body}");
            }
            let (id, version) = (
                body["id"].as_str().context("id")?.to_owned(),
                body["version"].as_i64().context("version")?,
            );
            let accepted = t.elapsed();
            let r = client
                .get(format!("{query}/v1/suppliers/{id}?min_version={version}"))
                .bearer_auth(&token)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("query: {}", r.status());
            }
            Ok((accepted, t.elapsed()))
        }));
    }
    let mut accepted = Vec::with_capacity(count);
    let mut visible = Vec::with_capacity(count);
    let mut failed = 0;
    for t in tasks {
        match t.await? {
            Ok((a, v)) => {
                accepted.push(a);
                visible.push(v);
            }
            Err(e) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("failed: {e:#}");
                }
            }
        }
    }
    let elapsed = started.elapsed();
    accepted.sort();
    visible.sort();
    println!(
        "command -> visible at {rate}/s offered ({:.0}/s achieved, {} ok, {failed} failed): accepted p50 {:.1} ms p99 {:.1} ms; visible p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
        visible.len() as f64 / elapsed.as_secs_f64(),
        visible.len(),
        percentile(&accepted, 0.5),
        percentile(&accepted, 0.99),
        percentile(&visible, 0.5),
        percentile(&visible, 0.99),
        percentile(&visible, 1.0),
    );
    Ok(())
}

pub async fn run_load(cmd: LoadCommand) -> anyhow::Result<()> {
    let (api, count, concurrency, rate, unkeyed, key) = match cmd {
        LoadCommand::Visibility {
            api,
            query,
            rate,
            count,
            key,
        } => return run_visibility(api, query, rate, count, key).await,
        LoadCommand::Search {
            query,
            count,
            concurrency,
            key,
        } => return run_search(query, count, concurrency, key).await,
        LoadCommand::Fulfilment {
            api,
            query,
            count,
            concurrency,
            rate,
            riders,
            brokers,
            topic_prefix,
            key,
        } => {
            let signer = signer(&key)?;
            let target = crate::fulfilment_load::Target {
                client: &reqwest::Client::new(),
                api: api.trim_end_matches('/'),
                query: query.trim_end_matches('/'),
                brokers: &brokers,
                topic_prefix: &topic_prefix,
                signer: &signer,
            };
            let shape = crate::fulfilment_load::Shape {
                count,
                concurrency,
                rate,
                riders,
            };
            println!("{}", crate::fulfilment_load::load(&target, shape).await?);
            return Ok(());
        }
        LoadCommand::Suppliers {
            api,
            count,
            concurrency,
            rate,
            unkeyed,
            key,
        } => (api, count, concurrency, rate, unkeyed, key),
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let apis: Vec<Admin> = admin_tokens(&key, "load-admin", 32)?
        .into_iter()
        .map(|token| Admin {
            client: client.clone(),
            base: api.trim_end_matches('/').to_owned(),
            token,
        })
        .collect();
    let run = uuid::Uuid::new_v4().simple().to_string();
    // At a fixed rate, each registration is timed from when it was due, not from when it got
    // a connection: a stalled server shows in the latency (no coordinated omission).
    let interval = (rate > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(rate)));
    let started = Instant::now();
    let latencies: Vec<anyhow::Result<Duration>> = stream::iter(0..count)
        .map(|i| {
            let api = &apis[i % apis.len()];
            let number = format!("L{}-{i}", &run[..8]);
            let key = (!unkeyed).then(|| format!("load-{}-{i}", &run[..12]));
            async move {
                let due =
                    interval.map(|every| started + every * u32::try_from(i).unwrap_or(u32::MAX));
                if let Some(due) = due {
                    tokio::time::sleep_until(due.into()).await;
                }
                let t = due.unwrap_or_else(Instant::now);
                let (status, body) = api.send(&supplier_body(i, &number), key.as_deref()).await?;
                if status != 201 {
                    bail!("{status} {body}");
                }
                Ok(t.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut ok: Vec<Duration> = Vec::with_capacity(count);
    let mut failed = 0;
    for l in latencies {
        match l {
            Ok(d) => ok.push(d),
            Err(e) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("failed: {e:#}");
                }
            }
        }
    }
    ok.sort();
    let pct = |p: f64| {
        ok.get(((ok.len() as f64 * p) as usize).min(ok.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "registrations: {} ok, {failed} failed in {:.2}s = {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (concurrency {concurrency}{}{})",
        ok.len(),
        elapsed.as_secs_f64(),
        ok.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
        if rate > 0 {
            format!(", rate {rate}/s")
        } else {
            String::new()
        },
        if unkeyed { ", no keys" } else { ", keyed" },
    );
    Ok(())
}
