//! Snapshots: for every aggregate type, an aggregate loaded the way the command path loads it
//! (its snapshot, then the events after it) equals a fresh replay of all its events by cqrs-es
//! itself, after every one of hundreds of random commands; every stored snapshot equals the
//! replay of the events up to its sequence; and a snapshot that cannot be trusted (another
//! shape, another format, garbage, not anchored to its event) is ignored and rewritten.
//!
//! Commands are drawn from a seeded generator (`FRESHLINE_TEST_SEED` overrides the seed), and
//! include refused ones and commands that append several events, so appends cross snapshot
//! boundaries at every offset.

use crate::helpers::TestDb;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use cqrs_es::persist::{
    EventUpcaster, PersistedEventRepository, PersistedEventStore, SerializedEvent,
};
use cqrs_es::{Aggregate, AggregateError, EventStore};
use domain::catalog_values::{Money, Nutrition, PositiveQuantity, Quantity, Unit};
use domain::delivery::{DeliveryCaller, DeliveryCommand, DeliveryState, DeliveryStatus};
use domain::fulfilment_values::{
    DeliveryAddress, DeliveryId, GeoPoint, PaymentId, PaymentMethod, RefundId, RiderId, SlotId,
};
use domain::inventory::{
    CommitReservation, ExpireBatch, FlagExpiringSoon, ReceiveBatch, RecordSpoilage,
    ReleaseReservation, ReserveStock, SpoilageReason,
};
use domain::order::{
    CancelReason, Canceller, Order, OrderCommand, OrderDelivery, PlaceOrder, ProductFacts,
    RequestedLine,
};
use domain::payment::{Payee, Payment, PaymentCommand};
use domain::product::{
    DiscontinueProduct, ImageByteSize, ImageContentType, ListProduct, RecordImageFailed,
    RecordImageProcessed, Rendition, RequestImage, Sha256Digest, StorageKey, UpdateProduct,
};
use domain::rider::{RiderCaller, RiderCommand};
use domain::slot::{SlotCommand, SlotState};
use domain::stock_alert::{AssessStock, StockAlert};
use domain::supplier::{
    ApproveSupplier, RegisterSupplier, ReinstateSupplier, RejectSupplier, SubmitDocument,
    SuspendSupplier, SuspensionCode,
};
use domain::values::{
    Address, AddressLine, City, CountryCode, DocumentReference, Email, LegalName, Note, Phone,
    PostalCode, ProductCategory, ProductName, Reason, RegistrationNumber,
};
use domain::{delivery::Delivery, rider::Rider, slot::DeliverySlot, supplier::supplier_upcasters};
use domain::{
    BatchId, Caller, DocumentKind, ImageId, InventoryBatch, InventoryCommand, OrderId, Product,
    ProductCommand, ProductId, ProductTag, RegistrationAvailability, RegistrationRegistry,
    Supplier, SupplierCommand, SupplierFacts, SupplierId, SupplierServices, SupplierStatus,
    WarehouseId,
};
use platform::bus::{CommandBus, CommandMetrics, Snapshots, SNAPSHOT_FORMAT};
use platform::store::ChainedEventRepository;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use uuid::Uuid;

// --- the harness --------------------------------------------------------------------------

/// What the generator asks for next.
enum Step<C> {
    /// A command through the bus.
    Command(C),
    /// An event appended as an old version would have stored it (read through upcasters).
    Stored {
        event_type: &'static str,
        version: &'static str,
        payload: serde_json::Value,
    },
}

fn seed(salt: u64) -> StdRng {
    let base = std::env::var("FRESHLINE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f00d_u64);
    StdRng::seed_from_u64(base ^ salt)
}

fn metrics() -> CommandMetrics {
    CommandMetrics::new(&prometheus::Registry::new()).expect("metrics")
}

/// cqrs-es's own replay of every event (its event-store mode, no snapshots), the reference.
fn reference<A: Aggregate>(
    db: &TestDb,
    upcasters: Vec<Box<dyn EventUpcaster>>,
) -> PersistedEventStore<ChainedEventRepository, A> {
    PersistedEventStore::new_event_store(ChainedEventRepository::new(db.pool.clone()))
        .with_upcasters(upcasters)
}

/// The stored snapshot of one aggregate: (last_sequence, format, payload).
async fn snapshot_row(db: &TestDb, aggregate_type: &str, id: &str) -> Option<(i64, i32, String)> {
    sqlx::query_as(
        "SELECT last_sequence, format, payload::text FROM snapshots
          WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(aggregate_type)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
    .expect("read snapshot")
}

/// What a drive saw.
#[derive(Debug, Default)]
struct Coverage {
    version: usize,
    loads_from_snapshot: usize,
    snapshots_seen: std::collections::BTreeSet<i64>,
}

/// Drives `steps` generated commands at aggregate `id` through a bus snapshotting every
/// `every` events; after each one, the snapshot path must equal cqrs-es's full replay, and the
/// stored snapshot must equal the replay of the events up to its sequence.
async fn drive<A, F>(
    db: &TestDb,
    bus: &CommandBus<A>,
    upcasters: fn() -> Vec<Box<dyn EventUpcaster>>,
    id: &str,
    steps: usize,
    rng: &mut StdRng,
    mut next: F,
) -> Coverage
where
    A: Aggregate + PartialEq + Debug,
    A::Command: Clone,
    F: FnMut(&mut StdRng, &A, usize) -> Step<A::Command>,
{
    let full = reference::<A>(db, upcasters());
    let repo = ChainedEventRepository::new(db.pool.clone());
    let mut coverage = Coverage::default();
    for step in 0..steps {
        let (current, version) = bus.load(id).await.expect("load");
        match next(rng, &current, step) {
            Step::Command(command) => {
                match bus
                    .execute(
                        id,
                        "random",
                        command,
                        HashMap::new(),
                        &platform::bus::Reply::default(),
                    )
                    .await
                {
                    Ok(_) | Err(AggregateError::UserError(_)) => {}
                    Err(e) => panic!("{} {id} step {step}: {e}", A::TYPE),
                }
            }
            Step::Stored {
                event_type,
                version: event_version,
                payload,
            } => {
                let event = SerializedEvent::new(
                    id.to_owned(),
                    version + 1,
                    A::TYPE.to_owned(),
                    event_type.to_owned(),
                    event_version.to_owned(),
                    payload,
                    json!({"actor_sub": "old-writer"}),
                );
                repo.persist::<A>(&[event], None)
                    .await
                    .expect("append an old version");
            }
        }
        let via = bus.load_traced(id).await.expect("load via snapshot");
        let replayed = full.load_aggregate(id).await.expect("full replay");
        assert_eq!(
            via.version,
            replayed.current_sequence,
            "{} {id} step {step}: version",
            A::TYPE
        );
        assert_eq!(
            via.aggregate,
            replayed.aggregate,
            "{} {id} step {step}: the snapshot path ({:?}) differs from a full replay",
            A::TYPE,
            via.snapshot
        );
        assert_eq!(
            serde_json::to_value(&via.aggregate).expect("json"),
            serde_json::to_value(&replayed.aggregate).expect("json"),
            "{} {id} step {step}: same state, different serialised form",
            A::TYPE
        );
        if via.snapshot.is_some() {
            coverage.loads_from_snapshot += 1;
        }
        if let Some((last_sequence, format, payload)) = snapshot_row(db, A::TYPE, id).await {
            assert_eq!(format, SNAPSHOT_FORMAT);
            let events = full.load_events(id).await.expect("events");
            let mut prefix = A::default();
            for e in events
                .into_iter()
                .take(usize::try_from(last_sequence).expect("seq"))
            {
                prefix.apply(e.payload);
            }
            let stored: A = serde_json::from_str(&payload).expect("stored snapshot reads");
            assert_eq!(
                stored,
                prefix,
                "{} {id} step {step}: the snapshot at {last_sequence} differs from the replay up to it",
                A::TYPE
            );
            coverage.snapshots_seen.insert(last_sequence);
        }
        coverage.version = via.version;
    }
    coverage
}

/// The drive reached several snapshots and mostly loaded from them.
fn assert_covered(what: &str, c: &Coverage, every: usize, steps: usize) {
    assert!(
        c.version >= 3 * every,
        "{what}: only {} events for snapshots every {every}",
        c.version
    );
    assert!(
        c.snapshots_seen.len() >= 3,
        "{what}: snapshots {:?}",
        c.snapshots_seen
    );
    assert!(
        c.loads_from_snapshot * 2 >= steps,
        "{what}: {} of {steps} loads used a snapshot",
        c.loads_from_snapshot
    );
}

// --- values ---------------------------------------------------------------------------------

fn t0() -> DateTime<Utc> {
    "2026-12-01T08:00:00Z".parse().expect("time")
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0xabcd_0000 + n)
}

fn eur(minor: i64) -> Money {
    Money::try_from((minor, "EUR")).expect("money")
}

fn pq(s: &str) -> PositiveQuantity {
    PositiveQuantity::try_from(s).expect("quantity")
}

fn q(s: &str) -> Quantity {
    Quantity::try_from(s).expect("quantity")
}

/// 0.001 to 20, with up to three decimals (and trailing zeros, whose scale must survive).
fn some_quantity(rng: &mut StdRng) -> String {
    match rng.gen_range(0..3) {
        0 => rng.gen_range(1..=20).to_string(),
        1 => format!("{}.{:03}", rng.gen_range(0..20), rng.gen_range(1..1000)),
        _ => format!("{}.50", rng.gen_range(0..20)),
    }
}

fn point(rng: &mut StdRng) -> GeoPoint {
    GeoPoint::from_e6(
        52_300_000 + rng.gen_range(0..100_000),
        4_800_000 + rng.gen_range(0..100_000),
    )
    .expect("point")
}

fn address() -> DeliveryAddress {
    DeliveryAddress {
        address: Address {
            line1: AddressLine::try_from("Dam 1").expect("line"),
            city: City::try_from("Amsterdam").expect("city"),
            postal_code: PostalCode::try_from("1012 JS").expect("pc"),
            country: CountryCode::try_from("NL").expect("cc"),
        },
        location: None,
    }
}

fn reason(rng: &mut StdRng) -> Reason {
    Reason::try_from(format!("reason {}", rng.gen_range(0..100)).as_str()).expect("reason")
}

const OWNER: &str = "acct-snapshots";

fn owner() -> Caller {
    Caller::Supplier {
        subject: OWNER.to_owned(),
    }
}

/// Every registration number is free.
struct FreeRegistry;

#[async_trait::async_trait]
impl RegistrationRegistry for FreeRegistry {
    async fn availability(
        &self,
        _number: &RegistrationNumber,
        _supplier: SupplierId,
    ) -> Result<RegistrationAvailability, Box<dyn std::error::Error + Send + Sync>> {
        Ok(RegistrationAvailability::Available)
    }
}

fn no_upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![]
}

fn bus<A>(db: &TestDb, services: A::Services, every: usize) -> CommandBus<A>
where
    A: Aggregate,
    A::Command: Clone,
{
    CommandBus::new(db.pool.clone(), services, metrics(), vec![])
        .with_snapshots(Snapshots::every(every))
}

// --- one generator per aggregate type -------------------------------------------------------

fn batch_command(
    rng: &mut StdRng,
    batch: &InventoryBatch,
    step: usize,
    steps: usize,
) -> Step<InventoryCommand> {
    let receive = ReceiveBatch {
        batch_id: BatchId(id(1)),
        product_id: ProductId(id(2)),
        supplier_id: SupplierId(id(3)),
        warehouse_id: WarehouseId(id(4)),
        quantity: pq("400"),
        received_at: t0(),
        expires_at: t0() + Duration::days(7),
        cold_chain: true,
        procurement_price: eur(180),
    };
    if batch.state().is_none() || rng.gen_ratio(1, 100) {
        return Step::Command(InventoryCommand::Receive(receive));
    }
    let order = OrderId(id(100 + rng.gen_range(0..60)));
    let now = t0() + Duration::minutes(i64::try_from(step).unwrap_or_default());
    Step::Command(if step + 3 >= steps {
        InventoryCommand::Expire(ExpireBatch {
            now: t0() + Duration::days(8),
        })
    } else {
        match rng.gen_range(0..20) {
            0..=8 => InventoryCommand::Reserve(ReserveStock {
                order_id: order,
                quantity: pq(&some_quantity(rng)),
                now,
            }),
            9..=13 => InventoryCommand::Release(ReleaseReservation { order_id: order }),
            14..=16 => InventoryCommand::Commit(CommitReservation { order_id: order }),
            17 | 18 => InventoryCommand::RecordSpoilage(RecordSpoilage {
                quantity: pq(&some_quantity(rng)),
                reason: SpoilageReason::Damaged,
            }),
            _ => InventoryCommand::FlagExpiringSoon(FlagExpiringSoon {
                now,
                horizon: Duration::hours(rng.gen_range(1..400)),
            }),
        }
    })
}

fn supplier_command(
    rng: &mut StdRng,
    supplier: &Supplier,
    step: usize,
    steps: usize,
) -> Step<SupplierCommand> {
    let today: NaiveDate = "2026-12-01".parse().expect("date");
    let Some(status) = supplier.status() else {
        return Step::Command(SupplierCommand::Register(RegisterSupplier {
            caller: owner(),
            supplier_id: SupplierId(id(7)),
            owner: None,
            legal_name: LegalName::try_from("Snapshot Farms B.V.").expect("name"),
            registration_number: RegistrationNumber::try_from("NL-777").expect("number"),
            contact_email: Email::try_from("ops@snapshot.example").expect("email"),
            phone: Phone::try_from("+31 20 555 0101").expect("phone"),
            address: Address {
                line1: AddressLine::try_from("Dijkweg 1").expect("line"),
                city: City::try_from("Naaldwijk").expect("city"),
                postal_code: PostalCode::try_from("2671 AA").expect("pc"),
                country: CountryCode::try_from("NL").expect("cc"),
            },
            categories: [ProductCategory::Vegetable, ProductCategory::Herb].into(),
        }));
    };
    // Suspensions written by the v1 writer: only readable through the upcaster.
    if status == SupplierStatus::Approved && rng.gen_ratio(1, 6) {
        return Step::Stored {
            event_type: "SupplierSuspended",
            version: "1",
            payload: json!({"SupplierSuspended": {"reason": format!("old suspension {step}")}}),
        };
    }
    let kinds = [
        DocumentKind::BusinessLicense,
        DocumentKind::TaxCertificate,
        DocumentKind::FoodSafetyCertificate,
        DocumentKind::OrganicCertificate,
    ];
    Step::Command(match rng.gen_range(0..12) {
        0..=3 => SupplierCommand::SubmitDocument(SubmitDocument {
            caller: owner(),
            kind: kinds[rng.gen_range(0..kinds.len())],
            reference: DocumentReference::try_from(
                format!("DOC-{}", rng.gen_range(0..1000)).as_str(),
            )
            .expect("reference"),
            expires_on: if rng.gen_ratio(1, 8) {
                "2026-01-01".parse().expect("date")
            } else {
                "2030-06-30".parse().expect("date")
            },
            today,
        }),
        4 | 5 => SupplierCommand::Approve(ApproveSupplier {
            note: Some(Note::try_from("checked").expect("note")),
            today,
        }),
        6 | 7 => SupplierCommand::Suspend(SuspendSupplier {
            reason: reason(rng),
            code: SuspensionCode::ALL[rng.gen_range(0..SuspensionCode::ALL.len())],
        }),
        8..=10 => SupplierCommand::Reinstate(ReinstateSupplier { note: None }),
        // Final: only near the end.
        _ if step + 5 >= steps => SupplierCommand::Reject(RejectSupplier {
            reason: reason(rng),
        }),
        _ => SupplierCommand::Reinstate(ReinstateSupplier {
            note: Some(Note::try_from("back").expect("note")),
        }),
    })
}

fn product_command(
    rng: &mut StdRng,
    product: &Product,
    step: usize,
    steps: usize,
) -> Step<ProductCommand> {
    let Some(state) = product.state() else {
        return Step::Command(ProductCommand::List(ListProduct {
            caller: owner(),
            product_id: ProductId(id(11)),
            supplier: SupplierFacts {
                supplier_id: SupplierId(id(7)),
                status: SupplierStatus::Approved,
                owner: Some(OWNER.to_owned()),
            },
            name: ProductName::try_from("Vine tomatoes").expect("name"),
            category: ProductCategory::Vegetable,
            tags: [ProductTag::Organic].into(),
            unit: Unit::Kg,
            price: eur(349),
            origin_country: CountryCode::try_from("NL").expect("cc"),
            nutrition: None,
            low_stock_threshold: q("25.5"),
        }));
    };
    let image = ImageId(id(500 + rng.gen_range(0..40)));
    let worker = Caller::Service {
        name: "image-worker".to_owned(),
    };
    let key = |s: &str| StorageKey::try_from(s).expect("key");
    let tags = [
        ProductTag::Organic,
        ProductTag::Imported,
        ProductTag::Seasonal,
        ProductTag::Local,
    ];
    Step::Command(match rng.gen_range(0..10) {
        _ if step + 2 >= steps => ProductCommand::Discontinue(DiscontinueProduct {
            caller: owner(),
            reason: reason(rng),
        }),
        0..=3 => ProductCommand::Update(UpdateProduct {
            caller: if rng.gen_ratio(1, 10) {
                Caller::Supplier {
                    subject: "someone-else".to_owned(),
                }
            } else {
                owner()
            },
            name: rng.gen_bool(0.3).then(|| {
                ProductName::try_from(format!("Tomatoes {}", rng.gen_range(0..5)).as_str())
                    .expect("name")
            }),
            price: rng.gen_bool(0.6).then(|| eur(rng.gen_range(100..600))),
            tags: rng
                .gen_bool(0.3)
                .then(|| tags.iter().copied().filter(|_| rng.gen_bool(0.5)).collect()),
            nutrition: rng.gen_bool(0.2).then(|| {
                Nutrition::new(
                    q("18"),
                    q(&some_quantity(rng)),
                    q("3.9"),
                    q("0.2"),
                    q("1.2"),
                )
                .expect("nutrition")
            }),
        }),
        4..=6 => ProductCommand::RequestImage(RequestImage {
            caller: owner(),
            image_id: image,
            content_type: ImageContentType::Png,
            byte_size: ImageByteSize::try_from(rng.gen_range(100..100_000u64)).expect("size"),
            sha256: Sha256Digest::try_from(format!("{:064x}", image.0.as_u128()).as_str())
                .expect("digest"),
            original_key: key(&format!("originals/{}", image.0)),
        }),
        7 | 8 => ProductCommand::RecordImageProcessed(RecordImageProcessed {
            caller: worker,
            image_id: state.images.keys().next().copied().unwrap_or(image),
            thumbnail: Rendition::new(key("r/thumb.webp"), 160, 120).expect("rendition"),
            medium: Rendition::new(key("r/medium.webp"), 800, 600).expect("rendition"),
        }),
        _ => ProductCommand::RecordImageFailed(RecordImageFailed {
            caller: worker,
            image_id: image,
            reason: reason(rng),
        }),
    })
}

fn order_command(
    rng: &mut StdRng,
    order: &Order,
    _step: usize,
    _steps: usize,
) -> Step<OrderCommand> {
    let order_id = OrderId(id(21));
    let payment_id = PaymentId::of_order(order_id);
    let delivery_id = DeliveryId::of_order(order_id);
    let Some(state) = order.state() else {
        let facts = |n: u128, price: i64| ProductFacts {
            supplier_id: SupplierId(id(n)),
            supplier_status: SupplierStatus::Approved,
            name: format!("Product {n}"),
            category: "vegetable".into(),
            unit: Unit::Kg,
            price: eur(price),
            active: true,
        };
        return Step::Command(OrderCommand::Place(Box::new(PlaceOrder {
            order_id,
            customer: "cust-1".into(),
            cart_id: None,
            lines: vec![
                RequestedLine {
                    product_id: ProductId(id(31)),
                    quantity: pq("1.5"),
                    product: Some(facts(41, 349)),
                },
                RequestedLine {
                    product_id: ProductId(id(32)),
                    quantity: pq("20"),
                    product: Some(facts(42, 2_500)),
                },
            ],
            delivery: OrderDelivery {
                address: address(),
                slot_id: SlotId(id(51)),
                warehouse_id: WarehouseId(id(4)),
                warehouse_location: point(rng),
                zone: "AMS".into(),
                slot_starts_at: t0() + Duration::hours(2),
                slot_ends_at: t0() + Duration::hours(4),
                contact_email: None,
            },
            method: PaymentMethod::Card,
            card_token: Some("tok_approved".into()),
            now: t0(),
        })));
    };
    Step::Command(match rng.gen_range(0..14) {
        0 => OrderCommand::MarkPaid {
            payment_id,
            amount: state.total.clone(),
        },
        1 => OrderCommand::Pack,
        2 => OrderCommand::Ship {
            delivery_id,
            rider_id: RiderId(id(61)),
        },
        3 if rng.gen_ratio(1, 4) => OrderCommand::Deliver { delivery_id },
        4 if rng.gen_ratio(1, 8) => OrderCommand::Cancel {
            reason: CancelReason::CustomerRequest,
            detail: None,
            by: Canceller::Customer("cust-1".into()),
        },
        _ => OrderCommand::RecordRefund {
            payment_id,
            refund_id: RefundId(id(700 + rng.gen_range(0..200))),
            amount: eur(rng.gen_range(1..300)),
            reason: "damaged".into(),
        },
    })
}

fn payment_command(
    rng: &mut StdRng,
    payment: &Payment,
    step: usize,
    steps: usize,
) -> Step<PaymentCommand> {
    let amount = 400_000;
    if payment.state().is_none() {
        return Step::Command(PaymentCommand::Initiate {
            order_id: OrderId(id(21)),
            customer: "cust-1".into(),
            method: PaymentMethod::Card,
            amount: eur(amount),
            payees: vec![
                Payee {
                    supplier_id: SupplierId(id(41)),
                    amount: eur(amount - amount / 3),
                },
                Payee {
                    supplier_id: SupplierId(id(42)),
                    amount: eur(amount / 3),
                },
            ],
        });
    }
    let refund = RefundId(id(800 + rng.gen_range(0..150)));
    Step::Command(match rng.gen_range(0..20) {
        0 | 1 => PaymentCommand::RecordAuthorization {
            gateway_ref: "auth_1".into(),
            amount: eur(amount),
        },
        2 | 3 => PaymentCommand::RecordCapture {
            gateway_ref: "cap_1".into(),
            amount: eur(amount),
        },
        // Final (and only before capture): only near the end.
        4 if step + 5 >= steps => PaymentCommand::RecordDecline {
            code: "card_declined".into(),
            reason: "declined".into(),
        },
        5..=11 => PaymentCommand::RequestRefund {
            refund_id: refund,
            amount: eur(rng.gen_range(1..2_000)),
            reason: "damaged".into(),
        },
        _ => PaymentCommand::CompleteRefund {
            refund_id: refund,
            gateway_ref: format!("re_{}", refund.0.as_u128() % 1000),
        },
    })
}

fn delivery_command(
    rng: &mut StdRng,
    delivery: &Delivery,
    step: usize,
    steps: usize,
) -> Step<DeliveryCommand> {
    if delivery.state().is_none() {
        return Step::Command(DeliveryCommand::Schedule(Box::new(DeliveryState {
            order_id: OrderId(id(21)),
            slot_id: SlotId(id(51)),
            warehouse_id: WarehouseId(id(4)),
            pickup: point(rng),
            destination: address(),
            cold_chain: false,
            window_starts_at: t0() + Duration::hours(2),
            window_ends_at: t0() + Duration::hours(4),
            status: DeliveryStatus::Scheduled,
            rider_id: None,
            last_location: None,
        })));
    }
    let by = if rng.gen_ratio(1, 10) {
        DeliveryCaller::Rider { assigned: false }
    } else {
        DeliveryCaller::Operator
    };
    Step::Command(match rng.gen_range(0..10) {
        _ if step + 2 >= steps => DeliveryCommand::Deliver { by },
        0 => DeliveryCommand::AssignRider {
            rider_id: RiderId(id(61)),
            distance_m: rng.gen_range(0..5_000),
        },
        1 => DeliveryCommand::PickUp { by },
        _ => DeliveryCommand::UpdateLocation {
            location: point(rng),
            now: t0() + Duration::seconds(i64::try_from(step).unwrap_or_default() * 10),
            by,
        },
    })
}

fn slot_command(
    rng: &mut StdRng,
    slot: &DeliverySlot,
    _step: usize,
    _steps: usize,
) -> Step<SlotCommand> {
    if slot.state().is_none() {
        return Step::Command(SlotCommand::Create(SlotState {
            zone: "AMS".into(),
            warehouse_id: WarehouseId(id(4)),
            warehouse_location: point(rng),
            starts_at: t0() + Duration::hours(2),
            ends_at: t0() + Duration::hours(4),
            capacity: 40,
            booked: Default::default(),
        }));
    }
    let order_id = OrderId(id(900 + rng.gen_range(0..60)));
    Step::Command(if rng.gen_bool(0.6) {
        SlotCommand::Book {
            order_id,
            now: t0(),
        }
    } else {
        SlotCommand::Release { order_id }
    })
}

fn rider_command(
    rng: &mut StdRng,
    rider: &Rider,
    _step: usize,
    _steps: usize,
) -> Step<RiderCommand> {
    if rider.state().is_none() {
        return Step::Command(RiderCommand::Register {
            name: "Sanne".into(),
            account: "rider-1".into(),
            cold_chain_capable: true,
        });
    }
    let delivery_id = DeliveryId(id(1_000 + rng.gen_range(0..5)));
    Step::Command(match rng.gen_range(0..10) {
        0..=4 => RiderCommand::SetAvailability {
            available: rng.gen_bool(0.8),
            location: rng.gen_bool(0.8).then(|| point(rng)),
            by: if rng.gen_ratio(1, 10) {
                RiderCaller::Rider("someone-else".into())
            } else {
                RiderCaller::Rider("rider-1".into())
            },
        },
        5..=7 => RiderCommand::Assign {
            delivery_id,
            order_id: OrderId(id(21)),
            cold_chain: rng.gen_bool(0.3),
        },
        _ => RiderCommand::Release { delivery_id },
    })
}

fn alert_command(
    rng: &mut StdRng,
    _alert: &StockAlert,
    _step: usize,
    _steps: usize,
) -> Step<AssessStock> {
    Step::Command(AssessStock {
        product_id: ProductId(id(11)),
        warehouse_id: WarehouseId(id(4)),
        available: q(&some_quantity(rng)),
        threshold: q("10"),
    })
}

// --- the tests ------------------------------------------------------------------------------

macro_rules! snapshot_equals_replay {
    ($test:ident, $agg:ty, $services:expr, $upcasters:expr, $gen:ident, $every:expr, $steps:expr, $salt:expr) => {
        #[tokio::test]
        async fn $test() {
            let db = TestDb::new().await;
            let bus: CommandBus<$agg> =
                CommandBus::new(db.pool.clone(), $services, metrics(), $upcasters())
                    .with_snapshots(Snapshots::every($every));
            let mut rng = seed($salt);
            let aggregate_id = Uuid::new_v4().to_string();
            let coverage = drive(
                &db,
                &bus,
                $upcasters,
                &aggregate_id,
                $steps,
                &mut rng,
                |rng, current, step| $gen(rng, current, step, $steps),
            )
            .await;
            assert_covered(stringify!($agg), &coverage, $every, $steps);
        }
    };
}

snapshot_equals_replay!(
    a_batch_loaded_from_its_snapshot_equals_the_replay_of_all_its_events,
    InventoryBatch,
    (),
    no_upcasters,
    batch_command,
    7,
    300,
    1
);
snapshot_equals_replay!(
    a_supplier_loaded_from_its_snapshot_equals_the_replay_through_upcasters,
    Supplier,
    SupplierServices {
        registry: Arc::new(FreeRegistry)
    },
    supplier_upcasters,
    supplier_command,
    5,
    250,
    2
);
snapshot_equals_replay!(
    a_product_loaded_from_its_snapshot_equals_the_replay_of_all_its_events,
    Product,
    (),
    no_upcasters,
    product_command,
    7,
    250,
    3
);
snapshot_equals_replay!(
    an_order_loaded_from_its_snapshot_equals_the_replay_of_all_its_events,
    Order,
    (),
    no_upcasters,
    order_command,
    3,
    150,
    4
);
snapshot_equals_replay!(
    a_payment_loaded_from_its_snapshot_equals_the_replay_of_all_its_events,
    Payment,
    (),
    no_upcasters,
    payment_command,
    5,
    250,
    5
);
snapshot_equals_replay!(
    a_delivery_loaded_from_its_snapshot_equals_the_replay_of_all_its_events,
    Delivery,
    (),
    no_upcasters,
    delivery_command,
    7,
    250,
    6
);
snapshot_equals_replay!(
    a_slot_loaded_from_its_snapshot_equals_the_replay_of_all_its_events,
    DeliverySlot,
    (),
    no_upcasters,
    slot_command,
    7,
    250,
    7
);
snapshot_equals_replay!(
    a_rider_loaded_from_its_snapshot_equals_the_replay_of_all_its_events,
    Rider,
    (),
    no_upcasters,
    rider_command,
    7,
    250,
    8
);
snapshot_equals_replay!(
    a_stock_alert_loaded_from_its_snapshot_equals_the_replay_of_all_its_events,
    StockAlert,
    (),
    no_upcasters,
    alert_command,
    5,
    250,
    9
);

/// A batch with `reservations` reservations through a bus snapshotting every `every` events.
async fn batch_with(bus: &CommandBus<InventoryBatch>, batch: &str, reservations: u128) {
    let mut rng = seed(10);
    let Step::Command(receive) = batch_command(&mut rng, &InventoryBatch::default(), 0, 100) else {
        unreachable!("a new batch is received first")
    };
    bus.execute(
        batch,
        "receive",
        receive,
        HashMap::new(),
        &platform::bus::Reply::default(),
    )
    .await
    .expect("received");
    for n in 0..reservations {
        let reserve = InventoryCommand::Reserve(ReserveStock {
            order_id: OrderId(id(100 + n)),
            quantity: pq("1.5"),
            now: t0(),
        });
        bus.execute(
            batch,
            "reserve",
            reserve,
            HashMap::new(),
            &platform::bus::Reply::default(),
        )
        .await
        .expect("reserved");
    }
}

async fn overwrite_snapshot(db: &TestDb, id: &str, set: &str, bind: &str) {
    sqlx::query(&format!(
        "UPDATE snapshots SET {set} WHERE aggregate_type = 'InventoryBatch' AND aggregate_id = $1"
    ))
    .bind(id)
    .bind(bind)
    .execute(&db.pool)
    .await
    .expect("tamper with the snapshot");
}

#[tokio::test]
async fn a_snapshot_that_cannot_be_trusted_is_ignored_replayed_over_and_rewritten() {
    let db = TestDb::new().await;
    let every = 10;
    let bus = bus::<InventoryBatch>(&db, (), every);
    let batch = Uuid::new_v4().to_string();
    batch_with(&bus, &batch, 24).await;
    let full = reference::<InventoryBatch>(&db, vec![]);
    let truth = full.load_aggregate(&batch).await.expect("replay").aggregate;
    let (good_sequence, _, good_payload) = snapshot_row(&db, "InventoryBatch", &batch)
        .await
        .expect("a snapshot was written at 20");
    assert_eq!(good_sequence, 20);

    // Each way a stored snapshot can go wrong: another shape (a field gone, a field added that
    // would deserialise with a default, garbage), another format, or no longer anchored to its
    // event (a row claiming events that do not exist, or a different chain link).
    let reshaped = good_payload.replacen("\"reservations\":", "\"old_reservations\":", 1);
    let with_extra_field = good_payload.replacen('{', "{\"legacy\":true,", 1);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "another shape",
            "payload = $2::text::json".into(),
            reshaped.as_str(),
        ),
        (
            "an unknown field",
            "payload = $2::text::json".into(),
            with_extra_field.as_str(),
        ),
        (
            "not the aggregate",
            "payload = $2::text::json".into(),
            "{\"state\": 42}",
        ),
        ("another format", "format = $2::int".into(), "999"),
        (
            "ahead of the store",
            "last_sequence = $2::bigint".into(),
            "5000",
        ),
        (
            "another chain link",
            "event_hash = decode($2, 'hex')".into(),
            "00ff",
        ),
    ];
    for (what, set, bind) in cases {
        overwrite_snapshot(&db, &batch, &set, bind).await;
        let loaded = bus.load_traced(&batch).await.expect("load");
        assert_eq!(loaded.snapshot, None, "{what}: the snapshot was used");
        assert_eq!(loaded.version, 25, "{what}");
        assert_eq!(loaded.aggregate, truth, "{what}: not the full replay");
        let (sequence, format, payload) = snapshot_row(&db, "InventoryBatch", &batch)
            .await
            .expect("rewritten");
        assert_eq!(
            (sequence, format),
            (25, SNAPSHOT_FORMAT),
            "{what}: not rewritten"
        );
        assert_eq!(
            serde_json::from_str::<InventoryBatch>(&payload).expect("reads"),
            truth,
            "{what}: rewritten wrong"
        );
        let again = bus.load_traced(&batch).await.expect("load");
        assert_eq!(
            again.snapshot,
            Some(25),
            "{what}: the rewritten snapshot is not used"
        );
        assert_eq!(again.aggregate, truth);
    }

    // And commands go on from there.
    let release = InventoryCommand::Release(ReleaseReservation {
        order_id: OrderId(id(100)),
    });
    bus.execute(
        &batch,
        "release",
        release,
        HashMap::new(),
        &platform::bus::Reply::default(),
    )
    .await
    .expect("released");
    assert_eq!(bus.load(&batch).await.expect("load"), {
        let r = full.load_aggregate(&batch).await.expect("replay");
        (r.aggregate, r.current_sequence)
    });
}

#[tokio::test]
async fn snapshots_turned_off_are_neither_read_nor_written_and_a_long_stream_gets_one_when_on() {
    let db = TestDb::new().await;
    let off = bus::<InventoryBatch>(&db, (), 0);
    let batch = Uuid::new_v4().to_string();
    batch_with(&off, &batch, 30).await;
    assert_eq!(snapshot_row(&db, "InventoryBatch", &batch).await, None);
    let loaded = off.load_traced(&batch).await.expect("load");
    assert_eq!((loaded.snapshot, loaded.replayed), (None, 31));

    // Turned on over a stream longer than the interval: the first load replays everything and
    // leaves a snapshot, the next one starts from it.
    let on = bus::<InventoryBatch>(&db, (), 10);
    let first = on.load_traced(&batch).await.expect("load");
    assert_eq!((first.snapshot, first.replayed), (None, 31));
    let second = on.load_traced(&batch).await.expect("load");
    assert_eq!((second.snapshot, second.replayed), (Some(31), 0));
    assert_eq!(second.aggregate, loaded.aggregate);

    // A snapshot left there while they are off is not read.
    sqlx::query("UPDATE snapshots SET payload = '{\"state\": null}'::json")
        .execute(&db.pool)
        .await
        .expect("tamper");
    assert_eq!(off.load_traced(&batch).await.expect("load"), loaded);
}

#[tokio::test]
async fn a_snapshot_never_goes_back_to_an_older_sequence() {
    let db = TestDb::new().await;
    let bus = bus::<InventoryBatch>(&db, (), 10);
    let batch = Uuid::new_v4().to_string();
    batch_with(&bus, &batch, 24).await;
    let (sequence, _, payload) = snapshot_row(&db, "InventoryBatch", &batch)
        .await
        .expect("snapshot");
    assert_eq!(sequence, 20);
    // A slow writer finishing late with the state at 10 leaves the one at 20 alone.
    let written = platform::snapshots::save(
        &db.pool,
        "InventoryBatch",
        &batch,
        10,
        SNAPSHOT_FORMAT,
        &payload,
        false,
    )
    .await
    .expect("save");
    assert!(!written);
    assert_eq!(
        snapshot_row(&db, "InventoryBatch", &batch)
            .await
            .map(|r| r.0),
        Some(20)
    );
}
