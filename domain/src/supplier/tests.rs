//! Given events, when a command, then events or a refusal: every command and every refusal,
//! plus a property test over random command sequences.

use super::*;
use crate::values::{AddressLine, City, CountryCode, Note, PostalCode, Reason};
use cqrs_es::test::TestFramework;
use std::sync::Mutex;

/// A registry answering from a fixed table; numbers not in it are free and get reserved.
#[derive(Default)]
struct FixedRegistry {
    answers: Mutex<Vec<(String, RegistrationAvailability)>>,
}

#[async_trait::async_trait]
impl RegistrationRegistry for FixedRegistry {
    async fn availability(
        &self,
        number: &RegistrationNumber,
        _supplier: SupplierId,
    ) -> Result<RegistrationAvailability, Box<dyn std::error::Error + Send + Sync>> {
        let mut answers = self.answers.lock().map_err(|_| "poisoned")?;
        if let Some((_, a)) = answers.iter().find(|(n, _)| n == number.as_str()) {
            return Ok(*a);
        }
        answers.push((number.as_str().to_owned(), RegistrationAvailability::InUse));
        Ok(RegistrationAvailability::Available)
    }
}

fn services(answers: &[(&str, RegistrationAvailability)]) -> SupplierServices {
    SupplierServices {
        registry: Arc::new(FixedRegistry {
            answers: Mutex::new(answers.iter().map(|(n, a)| ((*n).to_owned(), *a)).collect()),
        }),
    }
}

fn framework() -> TestFramework<Supplier> {
    TestFramework::with(services(&[]))
}

use std::sync::Arc;

const OWNER: &str = "user-green-acres";

fn id() -> SupplierId {
    SupplierId(uuid::Uuid::from_u128(7))
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

fn register_cmd(caller: Caller, number: &str) -> SupplierCommand {
    SupplierCommand::Register(RegisterSupplier {
        caller,
        supplier_id: id(),
        owner: None,
        legal_name: LegalName::try_from("Green Acres B.V.").expect("valid"),
        registration_number: RegistrationNumber::try_from(number).expect("valid"),
        contact_email: Email::try_from("ops@greenacres.example").expect("valid"),
        phone: Phone::try_from("+31 20 555 0101").expect("valid"),
        address: Address {
            line1: AddressLine::try_from("Dijkweg 1").expect("valid"),
            city: City::try_from("Naaldwijk").expect("valid"),
            postal_code: PostalCode::try_from("2671 AA").expect("valid"),
            country: CountryCode::try_from("NL").expect("valid"),
        },
        categories: [ProductCategory::Vegetable, ProductCategory::Herb].into(),
    })
}

fn registered() -> SupplierEvent {
    let SupplierCommand::Register(c) = register_cmd(supplier_caller(), "NL-123") else {
        unreachable!()
    };
    SupplierEvent::Registered {
        supplier_id: c.supplier_id,
        owner: Some(OWNER.to_owned()),
        legal_name: c.legal_name,
        registration_number: c.registration_number,
        contact_email: c.contact_email,
        phone: c.phone,
        address: c.address,
        categories: c.categories,
    }
}

fn supplier_caller() -> Caller {
    Caller::Supplier {
        subject: OWNER.to_owned(),
    }
}

fn licence(expires_on: &str) -> SupplierEvent {
    SupplierEvent::DocumentSubmitted {
        kind: DocumentKind::BusinessLicense,
        reference: DocumentReference::try_from("KVK-998877").expect("valid"),
        expires_on: day(expires_on),
    }
}

fn submit(kind: DocumentKind, expires_on: &str, caller: Caller) -> SupplierCommand {
    SupplierCommand::SubmitDocument(SubmitDocument {
        caller,
        kind,
        reference: DocumentReference::try_from("KVK-998877").expect("valid"),
        expires_on: day(expires_on),
        today: day("2026-11-21"),
    })
}

fn approve() -> SupplierCommand {
    SupplierCommand::Approve(ApproveSupplier {
        note: Some(Note::try_from("documents checked").expect("valid")),
        today: day("2026-11-21"),
    })
}

fn approved() -> SupplierEvent {
    SupplierEvent::Approved {
        note: Some(Note::try_from("documents checked").expect("valid")),
    }
}

fn reason(s: &str) -> Reason {
    Reason::try_from(s).expect("valid")
}

fn reject() -> SupplierCommand {
    SupplierCommand::Reject(RejectSupplier {
        reason: reason("licence is forged"),
    })
}

fn suspend() -> SupplierCommand {
    SupplierCommand::Suspend(SuspendSupplier {
        reason: reason("cold chain broken twice"),
        code: SuspensionCode::FoodSafety,
    })
}

fn reinstate() -> SupplierCommand {
    SupplierCommand::Reinstate(ReinstateSupplier { note: None })
}

fn refused_as(result: Result<Vec<SupplierEvent>, SupplierError>) -> String {
    match result {
        Ok(events) => format!("accepted: {events:?}"),
        Err(e) => format!("{e:?}"),
    }
}

fn outcome(given: Vec<SupplierEvent>, when: SupplierCommand) -> String {
    refused_as(framework().given(given).when(when).inspect_result())
}

// --- register ---------------------------------------------------------------------------

#[test]
fn a_supplier_account_registers_a_pending_supplier_it_owns() {
    framework()
        .given_no_previous_events()
        .when(register_cmd(supplier_caller(), "NL-123"))
        .then_expect_events(vec![registered()]);
}

#[test]
fn an_admin_registers_a_supplier_on_behalf_of_an_account() {
    let SupplierCommand::Register(mut cmd) = register_cmd(Caller::Admin, "NL-123") else {
        unreachable!()
    };
    cmd.owner = Some(OWNER.to_owned());
    framework()
        .given_no_previous_events()
        .when(SupplierCommand::Register(cmd))
        .then_expect_events(vec![registered()]);
}

#[test]
fn registering_a_number_held_by_a_live_supplier_is_a_duplicate() {
    TestFramework::<Supplier>::with(services(&[("NL-123", RegistrationAvailability::InUse)]))
        .given_no_previous_events()
        .when(register_cmd(supplier_caller(), "NL-123"))
        .then_expect_error_message("this registration number is already registered");
}

#[test]
fn rejected_supplier_cannot_reapply_with_same_registration() {
    let r =
        TestFramework::<Supplier>::with(services(&[("NL-123", RegistrationAvailability::Blocked)]))
            .given_no_previous_events()
            .when(register_cmd(supplier_caller(), " nl-123 "))
            .inspect_result();
    assert!(matches!(r, Err(SupplierError::CredentialsBlocked)), "{r:?}");
}

#[test]
fn the_same_registration_again_changes_nothing() {
    framework()
        .given(vec![registered()])
        .when(register_cmd(supplier_caller(), "NL-123"))
        .then_expect_events(vec![]);
}

#[test]
fn registering_an_existing_id_twice_is_refused() {
    assert_eq!(
        outcome(
            vec![registered()],
            register_cmd(supplier_caller(), "NL-999")
        ),
        "AlreadyRegistered"
    );
}

#[test]
fn commands_on_an_unknown_supplier_are_not_found() {
    for cmd in [approve(), reject(), suspend(), reinstate()] {
        assert_eq!(outcome(vec![], cmd), "NotFound");
    }
}

// --- documents --------------------------------------------------------------------------

#[test]
fn the_owner_files_documents_while_pending_or_approved() {
    framework()
        .given(vec![registered()])
        .when(submit(
            DocumentKind::BusinessLicense,
            "2027-06-30",
            supplier_caller(),
        ))
        .then_expect_events(vec![licence("2027-06-30")]);
    framework()
        .given(vec![registered(), licence("2027-06-30"), approved()])
        .when(submit(
            DocumentKind::BusinessLicense,
            "2027-06-30",
            Caller::Admin,
        ))
        .then_expect_events(vec![licence("2027-06-30")]);
}

#[test]
fn another_supplier_account_cannot_file_documents() {
    let other = Caller::Supplier {
        subject: "someone-else".into(),
    };
    assert_eq!(
        outcome(
            vec![registered()],
            submit(DocumentKind::BusinessLicense, "2027-06-30", other)
        ),
        "NotOwner"
    );
}

#[test]
fn an_expired_document_is_refused() {
    assert!(outcome(
        vec![registered()],
        submit(
            DocumentKind::BusinessLicense,
            "2026-11-20",
            supplier_caller()
        )
    )
    .starts_with("DocumentExpired"));
}

#[test]
fn documents_cannot_be_filed_for_rejected_or_suspended_suppliers() {
    let rejected = SupplierEvent::Rejected {
        reason: reason("licence is forged"),
    };
    let suspended = SupplierEvent::Suspended {
        reason: reason("cold chain broken"),
        code: SuspensionCode::FoodSafety,
    };
    assert_eq!(
        outcome(
            vec![registered(), rejected],
            submit(
                DocumentKind::TaxCertificate,
                "2027-01-01",
                supplier_caller()
            )
        ),
        "InvalidTransition { current: Rejected, attempted: \"submit_document\" }"
    );
    assert_eq!(
        outcome(
            vec![registered(), licence("2027-06-30"), approved(), suspended],
            submit(
                DocumentKind::TaxCertificate,
                "2027-01-01",
                supplier_caller()
            )
        ),
        "InvalidTransition { current: Suspended, attempted: \"submit_document\" }"
    );
}

// --- approve ----------------------------------------------------------------------------

#[test]
fn a_pending_supplier_with_a_valid_licence_is_approved() {
    framework()
        .given(vec![registered(), licence("2027-06-30")])
        .when(approve())
        .then_expect_events(vec![approved()]);
}

#[test]
fn approval_without_a_business_licence_is_verification_incomplete() {
    let tax = SupplierEvent::DocumentSubmitted {
        kind: DocumentKind::TaxCertificate,
        reference: DocumentReference::try_from("TAX-1").expect("valid"),
        expires_on: day("2030-01-01"),
    };
    assert_eq!(
        outcome(vec![registered(), tax], approve()),
        "VerificationIncomplete { missing: [BusinessLicense] }"
    );
}

#[test]
fn approval_with_an_expired_licence_is_verification_incomplete() {
    assert!(
        outcome(vec![registered(), licence("2026-01-01")], approve())
            .starts_with("VerificationIncomplete")
    );
}

#[test]
fn a_newer_licence_replaces_an_expired_one() {
    framework()
        .given(vec![
            registered(),
            licence("2026-01-01"),
            licence("2028-01-01"),
        ])
        .when(approve())
        .then_expect_events(vec![approved()]);
}

#[test]
fn only_pending_suppliers_are_approved() {
    assert_eq!(
        outcome(
            vec![registered(), licence("2027-06-30"), approved()],
            approve()
        ),
        "InvalidTransition { current: Approved, attempted: \"approve\" }"
    );
}

// --- reject, suspend, reinstate ---------------------------------------------------------

#[test]
fn a_pending_supplier_is_rejected_with_its_reason() {
    framework()
        .given(vec![registered()])
        .when(reject())
        .then_expect_events(vec![SupplierEvent::Rejected {
            reason: reason("licence is forged"),
        }]);
}

#[test]
fn rejection_is_final() {
    let rejected = SupplierEvent::Rejected {
        reason: reason("licence is forged"),
    };
    for cmd in [approve(), reject(), suspend(), reinstate()] {
        assert!(outcome(vec![registered(), rejected.clone()], cmd)
            .starts_with("InvalidTransition { current: Rejected"),);
    }
}

#[test]
fn an_approved_supplier_is_suspended_and_reinstated() {
    let suspended = SupplierEvent::Suspended {
        reason: reason("cold chain broken twice"),
        code: SuspensionCode::FoodSafety,
    };
    framework()
        .given(vec![registered(), licence("2027-06-30"), approved()])
        .when(suspend())
        .then_expect_events(vec![suspended.clone()]);
    framework()
        .given(vec![
            registered(),
            licence("2027-06-30"),
            approved(),
            suspended,
        ])
        .when(reinstate())
        .then_expect_events(vec![SupplierEvent::Reinstated { note: None }]);
}

#[test]
fn only_approved_suppliers_are_suspended_and_only_suspended_ones_reinstated() {
    assert_eq!(
        outcome(vec![registered()], suspend()),
        "InvalidTransition { current: Pending, attempted: \"suspend\" }"
    );
    assert_eq!(
        outcome(vec![registered()], reinstate()),
        "InvalidTransition { current: Pending, attempted: \"reinstate\" }"
    );
    assert_eq!(
        outcome(
            vec![registered(), licence("2027-06-30"), approved()],
            reinstate()
        ),
        "InvalidTransition { current: Approved, attempted: \"reinstate\" }"
    );
}

#[test]
fn a_pending_supplier_cannot_be_rejected_after_approval() {
    assert_eq!(
        outcome(
            vec![registered(), licence("2027-06-30"), approved()],
            reject()
        ),
        "InvalidTransition { current: Approved, attempted: \"reject\" }"
    );
}

// --- stored form --------------------------------------------------------------------------

#[test]
fn events_are_stored_in_their_wire_form_and_read_back_unchanged() {
    for e in [
        registered(),
        licence("2027-06-30"),
        approved(),
        SupplierEvent::Reinstated { note: None },
    ] {
        let stored = serde_json::to_value(&e).expect("serialise");
        let back: SupplierEvent = serde_json::from_value(stored.clone()).expect("deserialise");
        assert_eq!(back, e, "{stored}");
    }
    let stored = serde_json::to_value(registered()).expect("serialise");
    assert_eq!(
        stored["SupplierRegistered"]["registration_number"],
        "NL-123"
    );
    assert_eq!(stored["SupplierRegistered"]["address"]["country"], "NL");
}

// --- property: no sequence of commands reaches a forbidden state ---------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_command() -> impl Strategy<Value = SupplierCommand> {
        prop_oneof![
            Just(register_cmd(supplier_caller(), "NL-123")),
            Just(submit(
                DocumentKind::BusinessLicense,
                "2027-06-30",
                supplier_caller()
            )),
            Just(submit(
                DocumentKind::BusinessLicense,
                "2026-01-01",
                supplier_caller()
            )),
            Just(submit(
                DocumentKind::TaxCertificate,
                "2027-06-30",
                supplier_caller()
            )),
            Just(submit(
                DocumentKind::BusinessLicense,
                "2027-06-30",
                Caller::Supplier {
                    subject: "intruder".into()
                }
            )),
            Just(approve()),
            Just(reject()),
            Just(suspend()),
            Just(reinstate()),
        ]
    }

    fn allowed(from: Option<SupplierStatus>, to: Option<SupplierStatus>) -> bool {
        use SupplierStatus::*;
        matches!(
            (from, to),
            (None, Some(Pending))
                | (Some(Pending), Some(Approved | Rejected))
                | (Some(Approved), Some(Suspended))
                | (Some(Suspended), Some(Approved))
        ) || from == to
    }

    proptest! {
        #[test]
        fn no_sequence_of_commands_reaches_a_forbidden_state(
            commands in proptest::collection::vec(any_command(), 0..40)
        ) {
            let mut supplier = Supplier::default();
            let mut was_rejected = false;
            let facts = Facts { registration: Some(RegistrationAvailability::Available) };
            for cmd in commands {
                let before = supplier.clone();
                match supplier.decide(cmd, &facts) {
                    Ok(events) => {
                        // Only an identical re-registration (a retried request) produces nothing.
                        prop_assert!(!events.is_empty() || before.state().is_some());
                        prop_assert!(!was_rejected || events.is_empty(), "a rejected supplier changed");
                        for e in events {
                            supplier.evolve(e);
                        }
                    }
                    Err(_) => prop_assert_eq!(&supplier, &before),
                }
                let (from, to) = (before.status(), supplier.status());
                prop_assert!(allowed(from, to), "{:?} -> {:?}", from, to);
                if to == Some(SupplierStatus::Approved) && from != Some(SupplierStatus::Approved) {
                    let state = supplier.state().expect("registered");
                    prop_assert!(state.documents.iter().any(|d| d.kind == DocumentKind::BusinessLicense
                        && d.expires_on >= day("2026-11-21")));
                }
                if let Some(state) = supplier.state() {
                    prop_assert_eq!(state.owner.as_deref(), Some(OWNER));
                }
                was_rejected |= to == Some(SupplierStatus::Rejected);
            }
        }
    }
}

#[test]
fn a_stored_v1_suspension_is_loaded_as_v2_with_code_other() {
    use cqrs_es::persist::{EventUpcaster, SerializedEvent};
    let stored = SerializedEvent::new(
        "s-1".into(),
        4,
        "Supplier".into(),
        schemas::supplier::SUSPENDED.into(),
        "1".into(),
        serde_json::json!({"SupplierSuspended": {"reason": "late twice"}}),
        serde_json::json!({}),
    );
    let upcaster = SupplierUpcaster;
    assert!(upcaster.can_upcast(schemas::supplier::SUSPENDED, "1"));
    assert!(!upcaster.can_upcast(schemas::supplier::SUSPENDED, "2"));
    assert!(!upcaster.can_upcast(schemas::supplier::APPROVED, "1"));
    let upcast = upcaster.upcast(stored);
    assert_eq!(upcast.event_version, "2");
    let event: SupplierEvent = serde_json::from_value(upcast.payload).expect("reads as v2");
    assert_eq!(
        event,
        SupplierEvent::Suspended {
            reason: reason("late twice"),
            code: SuspensionCode::Other,
        }
    );
}
