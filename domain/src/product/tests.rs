//! Given events, when a command, then events or a refusal: every command and every refusal,
//! plus a property test over random command sequences.

use super::*;
use crate::Refusal;
use cqrs_es::test::TestFramework;

const OWNER: &str = "acct-green-acres";

fn framework() -> TestFramework<Product> {
    TestFramework::with(())
}

fn product_id() -> ProductId {
    ProductId(uuid::Uuid::from_u128(11))
}

fn supplier_id() -> SupplierId {
    SupplierId(uuid::Uuid::from_u128(7))
}

fn image_id(n: u128) -> ImageId {
    ImageId(uuid::Uuid::from_u128(100 + n))
}

fn q(s: &str) -> Quantity {
    Quantity::try_from(s).expect("valid quantity")
}

fn eur(minor: i64) -> Money {
    Money::try_from((minor, "EUR")).expect("valid money")
}

fn name(s: &str) -> ProductName {
    ProductName::try_from(s).expect("valid name")
}

fn reason(s: &str) -> Reason {
    Reason::try_from(s).expect("valid reason")
}

fn owner() -> Caller {
    Caller::Supplier {
        subject: OWNER.to_owned(),
    }
}

fn stranger() -> Caller {
    Caller::Supplier {
        subject: "acct-someone-else".to_owned(),
    }
}

fn image_worker() -> Caller {
    Caller::Service {
        name: "image-worker".to_owned(),
    }
}

fn tomato_nutrition() -> Nutrition {
    Nutrition::new(q("18"), q("0.9"), q("3.9"), q("0.2"), q("1.2")).expect("valid nutrition")
}

fn approved_supplier() -> SupplierFacts {
    SupplierFacts {
        supplier_id: supplier_id(),
        status: SupplierStatus::Approved,
        owner: Some(OWNER.to_owned()),
    }
}

fn list_by(caller: Caller, supplier: SupplierFacts) -> ListProduct {
    ListProduct {
        caller,
        product_id: product_id(),
        supplier,
        name: name("Vine tomatoes"),
        category: ProductCategory::Vegetable,
        tags: [ProductTag::Organic, ProductTag::Local].into(),
        unit: Unit::Kg,
        price: eur(349),
        origin_country: CountryCode::try_from("NL").expect("valid"),
        nutrition: Some(tomato_nutrition()),
        low_stock_threshold: q("25.5"),
    }
}

fn list() -> ProductCommand {
    ProductCommand::List(list_by(owner(), approved_supplier()))
}

fn listed() -> ProductEvent {
    let c = list_by(owner(), approved_supplier());
    ProductEvent::Listed {
        product_id: c.product_id,
        supplier_id: c.supplier.supplier_id,
        owner: c.supplier.owner,
        name: c.name,
        category: c.category,
        tags: c.tags,
        unit: c.unit,
        price: c.price,
        origin_country: c.origin_country,
        nutrition: c.nutrition,
        low_stock_threshold: c.low_stock_threshold,
    }
}

fn update_by(caller: Caller) -> UpdateProduct {
    UpdateProduct {
        caller,
        name: None,
        price: None,
        tags: None,
        nutrition: None,
    }
}

fn reprice(minor: i64) -> ProductCommand {
    ProductCommand::Update(UpdateProduct {
        price: Some(eur(minor)),
        ..update_by(owner())
    })
}

fn repriced(minor: i64) -> ProductEvent {
    ProductEvent::Updated {
        name: None,
        price: Some(eur(minor)),
        tags: None,
        nutrition: None,
    }
}

fn discontinue_by(caller: Caller) -> ProductCommand {
    ProductCommand::Discontinue(DiscontinueProduct {
        caller,
        reason: reason("the greenhouse season is over"),
    })
}

fn discontinued() -> ProductEvent {
    ProductEvent::Discontinued {
        reason: reason("the greenhouse season is over"),
    }
}

fn key(s: &str) -> StorageKey {
    StorageKey::try_from(s).expect("valid key")
}

fn upload(n: u128, caller: Caller) -> RequestImage {
    RequestImage {
        caller,
        image_id: image_id(n),
        content_type: ImageContentType::Jpeg,
        byte_size: ImageByteSize::try_from(2_483_117).expect("valid size"),
        sha256: Sha256Digest::try_from(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        )
        .expect("valid digest"),
        original_key: key(&format!("products/p/images/{n}/original")),
    }
}

fn request_image(n: u128) -> ProductCommand {
    ProductCommand::RequestImage(upload(n, owner()))
}

fn image_requested(n: u128) -> ProductEvent {
    let u = upload(n, owner());
    ProductEvent::ImageRequested {
        image_id: u.image_id,
        content_type: u.content_type,
        byte_size: u.byte_size,
        sha256: u.sha256,
        original_key: u.original_key,
    }
}

fn renditions(n: u128) -> (Rendition, Rendition) {
    (
        Rendition::new(key(&format!("products/p/images/{n}/thumb.webp")), 200, 150).expect("valid"),
        Rendition::new(key(&format!("products/p/images/{n}/medium.webp")), 800, 600)
            .expect("valid"),
    )
}

fn record_processed(n: u128, caller: Caller) -> ProductCommand {
    let (thumbnail, medium) = renditions(n);
    ProductCommand::RecordImageProcessed(RecordImageProcessed {
        caller,
        image_id: image_id(n),
        thumbnail,
        medium,
    })
}

fn image_processed(n: u128) -> ProductEvent {
    let (thumbnail, medium) = renditions(n);
    ProductEvent::ImageProcessed {
        image_id: image_id(n),
        thumbnail,
        medium,
    }
}

fn record_failed(n: u128, caller: Caller) -> ProductCommand {
    ProductCommand::RecordImageFailed(RecordImageFailed {
        caller,
        image_id: image_id(n),
        reason: reason("not a decodable JPEG image"),
    })
}

fn image_failed(n: u128) -> ProductEvent {
    ProductEvent::ImageFailed {
        image_id: image_id(n),
        reason: reason("not a decodable JPEG image"),
    }
}

fn outcome(
    given: Vec<ProductEvent>,
    when: ProductCommand,
) -> Result<Vec<ProductEvent>, ProductError> {
    framework().given(given).when(when).inspect_result()
}

// --- list -----------------------------------------------------------------------------------

#[test]
fn an_approved_suppliers_account_lists_a_product_it_then_owns() {
    framework()
        .given_no_previous_events()
        .when(list())
        .then_expect_events(vec![listed()]);
}

#[test]
fn an_admin_lists_on_behalf_of_an_approved_supplier() {
    framework()
        .given_no_previous_events()
        .when(ProductCommand::List(list_by(
            Caller::Admin,
            approved_supplier(),
        )))
        .then_expect_events(vec![listed()]);
}

#[test]
fn a_supplier_that_is_not_approved_cannot_list_products() {
    for status in [
        SupplierStatus::Pending,
        SupplierStatus::Suspended,
        SupplierStatus::Rejected,
    ] {
        let supplier = SupplierFacts {
            status,
            ..approved_supplier()
        };
        let r = outcome(vec![], ProductCommand::List(list_by(owner(), supplier)));
        assert_eq!(r, Err(ProductError::SupplierNotActive { status }));
        assert_eq!(
            r.err().map(|e| e.code()),
            Some("supplier_not_active"),
            "the API answers 409 supplier_not_active"
        );
    }
}

#[test]
fn another_account_cannot_list_for_a_supplier_it_does_not_own() {
    assert_eq!(
        outcome(
            vec![],
            ProductCommand::List(list_by(stranger(), approved_supplier()))
        ),
        Err(ProductError::NotOwner)
    );
    let unowned = SupplierFacts {
        owner: None,
        ..approved_supplier()
    };
    assert_eq!(
        outcome(vec![], ProductCommand::List(list_by(owner(), unowned))),
        Err(ProductError::NotOwner)
    );
    assert_eq!(
        outcome(
            vec![],
            ProductCommand::List(list_by(image_worker(), approved_supplier()))
        ),
        Err(ProductError::NotPermitted { attempted: "list" })
    );
}

#[test]
fn a_stranger_learns_nothing_about_a_suspended_suppliers_status() {
    let suspended = SupplierFacts {
        status: SupplierStatus::Suspended,
        ..approved_supplier()
    };
    assert_eq!(
        outcome(vec![], ProductCommand::List(list_by(stranger(), suspended))),
        Err(ProductError::NotOwner)
    );
}

#[test]
fn a_countable_product_needs_a_whole_low_stock_threshold() {
    let mut cmd = list_by(owner(), approved_supplier());
    cmd.unit = Unit::Piece;
    assert_eq!(
        outcome(vec![], ProductCommand::List(cmd.clone())),
        Err(ProductError::ThresholdNotInUnit { unit: Unit::Piece })
    );
    cmd.low_stock_threshold = q("30");
    assert!(outcome(vec![], ProductCommand::List(cmd)).is_ok());
}

#[test]
fn the_same_listing_again_changes_nothing_and_another_is_refused() {
    framework()
        .given(vec![listed()])
        .when(list())
        .then_expect_events(vec![]);
    let mut other = list_by(owner(), approved_supplier());
    other.price = eur(399);
    assert_eq!(
        outcome(vec![listed()], ProductCommand::List(other)),
        Err(ProductError::AlreadyListed)
    );
}

#[test]
fn commands_on_an_unknown_product_are_not_found() {
    for cmd in [
        reprice(299),
        discontinue_by(owner()),
        request_image(1),
        record_processed(1, image_worker()),
        record_failed(1, image_worker()),
    ] {
        assert_eq!(outcome(vec![], cmd), Err(ProductError::NotFound));
    }
}

// --- update ---------------------------------------------------------------------------------

#[test]
fn the_owner_updates_price_and_only_changed_fields_are_recorded() {
    framework()
        .given(vec![listed()])
        .when(reprice(299))
        .then_expect_events(vec![repriced(299)]);
    let cmd = UpdateProduct {
        name: Some(name("Vine tomatoes")),
        tags: Some([ProductTag::Organic, ProductTag::Local, ProductTag::Seasonal].into()),
        nutrition: Some(tomato_nutrition()),
        ..update_by(Caller::Admin)
    };
    framework()
        .given(vec![listed()])
        .when(ProductCommand::Update(cmd))
        .then_expect_events(vec![ProductEvent::Updated {
            name: None,
            price: None,
            tags: Some([ProductTag::Organic, ProductTag::Local, ProductTag::Seasonal].into()),
            nutrition: None,
        }]);
}

#[test]
fn an_update_to_the_current_values_emits_nothing() {
    framework()
        .given(vec![listed()])
        .when(reprice(349))
        .then_expect_events(vec![]);
    framework()
        .given(vec![listed(), repriced(299)])
        .when(reprice(299))
        .then_expect_events(vec![]);
    framework()
        .given(vec![listed()])
        .when(ProductCommand::Update(update_by(owner())))
        .then_expect_events(vec![]);
}

#[test]
fn nutrition_can_be_added_to_a_product_listed_without_it() {
    let bare = match listed() {
        ProductEvent::Listed {
            product_id,
            supplier_id,
            owner,
            name,
            category,
            tags,
            unit,
            price,
            origin_country,
            low_stock_threshold,
            ..
        } => ProductEvent::Listed {
            product_id,
            supplier_id,
            owner,
            name,
            category,
            tags,
            unit,
            price,
            origin_country,
            nutrition: None,
            low_stock_threshold,
        },
        other => other,
    };
    framework()
        .given(vec![bare])
        .when(ProductCommand::Update(UpdateProduct {
            nutrition: Some(tomato_nutrition()),
            ..update_by(owner())
        }))
        .then_expect_events(vec![ProductEvent::Updated {
            name: None,
            price: None,
            tags: None,
            nutrition: Some(tomato_nutrition()),
        }]);
}

#[test]
fn another_account_or_a_service_cannot_update_a_product() {
    assert_eq!(
        outcome(
            vec![listed()],
            ProductCommand::Update(UpdateProduct {
                price: Some(eur(1)),
                ..update_by(stranger())
            })
        ),
        Err(ProductError::NotOwner)
    );
    assert_eq!(
        outcome(
            vec![listed()],
            ProductCommand::Update(UpdateProduct {
                price: Some(eur(1)),
                ..update_by(image_worker())
            })
        ),
        Err(ProductError::NotPermitted {
            attempted: "update"
        })
    );
}

#[test]
fn a_discontinued_product_refuses_updates() {
    assert_eq!(
        outcome(vec![listed(), discontinued()], reprice(299)),
        Err(ProductError::Discontinued {
            attempted: "update"
        })
    );
}

// --- discontinue ----------------------------------------------------------------------------

#[test]
fn the_owner_or_an_admin_discontinues_a_product_with_a_reason() {
    framework()
        .given(vec![listed()])
        .when(discontinue_by(owner()))
        .then_expect_events(vec![discontinued()]);
    framework()
        .given(vec![listed()])
        .when(discontinue_by(Caller::Admin))
        .then_expect_events(vec![discontinued()]);
}

#[test]
fn discontinuing_twice_changes_nothing() {
    framework()
        .given(vec![listed(), discontinued()])
        .when(discontinue_by(owner()))
        .then_expect_events(vec![]);
}

#[test]
fn another_account_cannot_discontinue_a_product() {
    assert_eq!(
        outcome(vec![listed()], discontinue_by(stranger())),
        Err(ProductError::NotOwner)
    );
}

// --- images ---------------------------------------------------------------------------------

#[test]
fn the_owner_uploads_an_image_that_starts_processing() {
    framework()
        .given(vec![listed()])
        .when(request_image(1))
        .then_expect_events(vec![image_requested(1)]);
    let mut product = Product::default();
    product.evolve(listed());
    product.evolve(image_requested(1));
    let status = product
        .state()
        .and_then(|s| s.images.get(&image_id(1)))
        .map(|i| i.status.as_str());
    assert_eq!(status, Some("processing"));
}

#[test]
fn the_same_upload_again_changes_nothing_and_a_reused_image_id_is_refused() {
    framework()
        .given(vec![listed(), image_requested(1)])
        .when(request_image(1))
        .then_expect_events(vec![]);
    let mut other = upload(1, owner());
    other.content_type = ImageContentType::Png;
    assert_eq!(
        outcome(
            vec![listed(), image_requested(1)],
            ProductCommand::RequestImage(other)
        ),
        Err(ProductError::ImageIdInUse {
            image_id: image_id(1)
        })
    );
}

#[test]
fn a_discontinued_product_refuses_image_uploads() {
    assert_eq!(
        outcome(vec![listed(), discontinued()], request_image(1)),
        Err(ProductError::Discontinued {
            attempted: "request_image"
        })
    );
}

#[test]
fn another_account_cannot_upload_images() {
    assert_eq!(
        outcome(
            vec![listed()],
            ProductCommand::RequestImage(upload(1, stranger()))
        ),
        Err(ProductError::NotOwner)
    );
}

#[test]
fn the_image_worker_records_a_processed_image() {
    framework()
        .given(vec![listed(), image_requested(1)])
        .when(record_processed(1, image_worker()))
        .then_expect_events(vec![image_processed(1)]);
}

#[test]
fn the_image_worker_records_a_failed_image() {
    framework()
        .given(vec![listed(), image_requested(1)])
        .when(record_failed(1, image_worker()))
        .then_expect_events(vec![image_failed(1)]);
}

#[test]
fn an_image_outcome_is_recorded_even_after_the_product_is_discontinued() {
    framework()
        .given(vec![listed(), image_requested(1), discontinued()])
        .when(record_processed(1, Caller::Admin))
        .then_expect_events(vec![image_processed(1)]);
}

#[test]
fn a_repeated_image_outcome_changes_nothing() {
    framework()
        .given(vec![listed(), image_requested(1), image_processed(1)])
        .when(record_processed(1, image_worker()))
        .then_expect_events(vec![]);
    framework()
        .given(vec![listed(), image_requested(1), image_failed(1)])
        .when(record_failed(1, image_worker()))
        .then_expect_events(vec![]);
}

#[test]
fn an_image_that_ended_one_way_cannot_end_the_other_way() {
    assert_eq!(
        outcome(
            vec![listed(), image_requested(1), image_processed(1)],
            record_failed(1, image_worker())
        ),
        Err(ProductError::ImageAlreadyFinished {
            image_id: image_id(1),
            status: "ready"
        })
    );
    assert_eq!(
        outcome(
            vec![listed(), image_requested(1), image_failed(1)],
            record_processed(1, image_worker())
        ),
        Err(ProductError::ImageAlreadyFinished {
            image_id: image_id(1),
            status: "failed"
        })
    );
}

#[test]
fn an_outcome_for_an_image_never_requested_is_refused() {
    assert_eq!(
        outcome(
            vec![listed(), image_requested(1)],
            record_processed(2, image_worker())
        ),
        Err(ProductError::ImageNotFound {
            image_id: image_id(2)
        })
    );
}

#[test]
fn a_supplier_account_cannot_report_image_outcomes() {
    assert_eq!(
        outcome(
            vec![listed(), image_requested(1)],
            record_processed(1, owner())
        ),
        Err(ProductError::NotPermitted {
            attempted: "record_image_processed"
        })
    );
    assert_eq!(
        outcome(
            vec![listed(), image_requested(1)],
            record_failed(1, owner())
        ),
        Err(ProductError::NotPermitted {
            attempted: "record_image_failed"
        })
    );
}

// --- stored form ----------------------------------------------------------------------------

#[test]
fn events_are_stored_in_their_wire_form_and_read_back_unchanged() {
    for e in [
        listed(),
        repriced(299),
        discontinued(),
        image_requested(1),
        image_processed(1),
        image_failed(1),
    ] {
        let stored = serde_json::to_value(&e).expect("serialise");
        let back: ProductEvent = serde_json::from_value(stored.clone()).expect("deserialise");
        assert_eq!(back, e, "{stored}");
    }
    let stored = serde_json::to_value(listed()).expect("serialise");
    let listed = &stored["ProductListed"];
    assert_eq!(
        listed["price"],
        serde_json::json!({"amount_minor": 349, "currency": "EUR"})
    );
    assert_eq!(listed["low_stock_threshold"], "25.5");
    assert_eq!(listed["nutrition"]["protein_g"], "0.9");
    assert_eq!(listed["tags"], serde_json::json!(["local", "organic"]));
    let update = serde_json::to_value(repriced(299)).expect("serialise");
    assert_eq!(
        update,
        serde_json::json!({"ProductUpdated": {"price": {"amount_minor": 299, "currency": "EUR"}}})
    );
}

#[test]
fn the_domain_reads_every_golden_fixture_and_writes_it_back_unchanged() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/fixtures");
    for (event_type, version) in schemas::product::EVENT_TYPES {
        let text = std::fs::read_to_string(dir.join(format!("{event_type}.v{version}.json")))
            .expect("fixture");
        let payload: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
        let stored = serde_json::json!({ *event_type: payload });
        let event: ProductEvent =
            serde_json::from_value(stored.clone()).unwrap_or_else(|e| panic!("{event_type}: {e}"));
        assert_eq!(cqrs_es::DomainEvent::event_type(&event), *event_type);
        assert_eq!(serde_json::to_value(&event).expect("serialise"), stored);
    }
}

#[test]
fn a_stored_event_with_an_unknown_unit_is_refused_not_guessed() {
    let mut stored = serde_json::to_value(listed()).expect("serialise");
    stored["ProductListed"]["unit"] = "litre".into();
    assert!(serde_json::from_value::<ProductEvent>(stored).is_err());
}

#[test]
fn the_product_snapshot_round_trips() {
    let mut product = Product::default();
    for e in [
        listed(),
        repriced(299),
        image_requested(1),
        image_processed(1),
        image_requested(2),
        image_failed(2),
    ] {
        product.evolve(e);
    }
    let json = serde_json::to_value(&product).expect("serialise");
    assert_eq!(json["state"]["low_stock_threshold"], "25.5");
    let back: Product = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, product);
}

#[test]
fn error_codes_are_stable() {
    assert_eq!(ProductError::NotFound.code(), "not_found");
    assert_eq!(ProductError::NotOwner.code(), "not_owner");
    assert_eq!(
        ProductError::Discontinued {
            attempted: "update"
        }
        .code(),
        "product_discontinued"
    );
}

// --- property: no sequence of commands reaches a forbidden state ----------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_caller() -> impl Strategy<Value = Caller> {
        prop_oneof![
            4 => Just(owner()),
            1 => Just(stranger()),
            1 => Just(Caller::Admin),
            2 => Just(image_worker()),
        ]
    }

    fn any_command() -> impl Strategy<Value = ProductCommand> {
        let status = prop_oneof![
            Just(SupplierStatus::Approved),
            Just(SupplierStatus::Pending),
            Just(SupplierStatus::Suspended),
        ];
        prop_oneof![
            (any_caller(), status).prop_map(|(c, status)| ProductCommand::List(list_by(
                c,
                SupplierFacts {
                    status,
                    ..approved_supplier()
                }
            ))),
            (any_caller(), 0i64..5).prop_map(|(c, p)| ProductCommand::Update(UpdateProduct {
                price: Some(eur(299 + 50 * p)),
                ..update_by(c)
            })),
            any_caller().prop_map(discontinue_by),
            (any_caller(), 0u128..3).prop_map(|(c, n)| ProductCommand::RequestImage(upload(n, c))),
            (any_caller(), 0u128..3).prop_map(|(c, n)| record_processed(n, c)),
            (any_caller(), 0u128..3).prop_map(|(c, n)| record_failed(n, c)),
        ]
    }

    proptest! {
        #[test]
        fn no_sequence_of_commands_reaches_a_forbidden_state(
            commands in proptest::collection::vec(any_command(), 0..40)
        ) {
            let mut product = Product::default();
            for cmd in commands {
                let before = product.clone();
                let by_stranger = matches!(
                    &cmd,
                    ProductCommand::Update(UpdateProduct { caller, .. })
                        | ProductCommand::Discontinue(DiscontinueProduct { caller, .. })
                        | ProductCommand::RequestImage(RequestImage { caller, .. })
                        if *caller == stranger()
                );
                let listing_for = match &cmd {
                    ProductCommand::List(l) => Some(l.supplier.status),
                    _ => None,
                };
                match product.decide(cmd) {
                    Ok(events) => {
                        prop_assert!(!by_stranger || events.is_empty(), "a stranger changed the product");
                        for e in events {
                            product.evolve(e);
                        }
                    }
                    Err(_) => prop_assert_eq!(&product, &before),
                }
                if let (Some(b), Some(a)) = (before.state(), product.state()) {
                    // Discontinued is final and freezes the product's data and uploads.
                    if b.status == ProductStatus::Discontinued {
                        prop_assert_eq!(a.status, ProductStatus::Discontinued);
                        prop_assert_eq!(&a.price, &b.price);
                        prop_assert_eq!(a.images.len(), b.images.len());
                    }
                    // An image that ended never changes again.
                    for (id, img) in &b.images {
                        if img.status != ImageStatus::Processing {
                            prop_assert_eq!(a.images.get(id).map(|i| &i.status), Some(&img.status));
                        }
                    }
                    prop_assert_eq!(a.owner.as_deref(), Some(OWNER));
                }
                if before.state().is_none() && product.state().is_some() {
                    // Listed only for an approved supplier.
                    prop_assert_eq!(listing_for, Some(SupplierStatus::Approved));
                    prop_assert_eq!(product.status(), Some(ProductStatus::Active));
                }
            }
        }
    }
}
