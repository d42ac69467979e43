//! The published contract: JSON Schemas checked in under `schemas/json/` match the Rust wire
//! types, and every event type and version has a golden fixture that decodes and encodes back
//! unchanged. Run with `FRESHLINE_BLESS=1` to rewrite the schema files after an intended change.

use std::path::PathBuf;

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}

#[test]
fn checked_in_json_schemas_match_the_wire_types() {
    let bless = std::env::var("FRESHLINE_BLESS").is_ok_and(|v| v == "1");
    let mut drifted = Vec::new();
    for (file, schema) in schemas::json_schema_files() {
        let path = dir("json").join(&file);
        let text = serde_json::to_string_pretty(&schema).expect("json") + "\n";
        // A published version may only change compatibly, blessed or not.
        if let Ok(existing) = std::fs::read_to_string(&path) {
            let published: serde_json::Value =
                serde_json::from_str(&existing).expect("schema file is JSON");
            let breaking = schemas::compat::breaking_changes(&published, &schema);
            assert!(
                breaking.is_empty(),
                "{file}: breaking change to a published version: {breaking:?}; add a new version with an upcaster instead"
            );
        }
        if bless {
            std::fs::write(&path, &text).expect("write schema");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == text => {}
            Ok(_) => drifted.push(format!("{file} differs from the Rust types")),
            Err(_) => drifted.push(format!("{file} is missing")),
        }
    }
    assert!(
        drifted.is_empty(),
        "{drifted:#?}\nA published version must not change: add a new version with an upcaster. \
         For a new or intended change run `FRESHLINE_BLESS=1 cargo test -p schemas`."
    );
}

#[test]
fn every_event_version_has_a_golden_fixture_that_round_trips() {
    for (event_type, version, schema) in schemas::supplier::json_schemas() {
        let path = dir("fixtures").join(format!("{event_type}.v{version}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing fixture {}", path.display()));
        let fixture: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
        let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
        let errors: Vec<String> = validator
            .iter_errors(&fixture)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{event_type} v{version}: the fixture breaks its schema: {errors:?}"
        );
        let decoded =
            schemas::supplier::SupplierEvent::decode(event_type, version, fixture.clone())
                .unwrap_or_else(|e| panic!("{event_type} v{version}: {e}"));
        let current = schemas::supplier::current_version(event_type).expect("known type");
        if version == current {
            let encoded = serde_json::to_value(&decoded).expect("encode");
            assert_eq!(
                encoded[event_type], fixture,
                "{event_type} v{version} does not round-trip"
            );
        } else {
            // An old version is read as the current one, the same way by every reader.
            let (to, upcast) = schemas::supplier::upcast_payload(event_type, version, fixture)
                .unwrap_or_else(|e| panic!("{event_type} v{version} upcast: {e}"));
            assert_eq!(
                to, current,
                "{event_type} v{version} upcasts to the current version"
            );
            assert_eq!(
                schemas::supplier::SupplierEvent::decode(event_type, current, upcast)
                    .expect("upcast payload decodes"),
                decoded
            );
        }
    }
}

#[test]
fn the_compatibility_check_refuses_what_v2_of_supplier_suspended_had_to_become() {
    // Adding the required `reason_code` to v1 itself would have broken v1 readers and
    // writers: the check says so, which is why it is a v2 with an upcaster.
    let schemas = schemas::supplier::json_schemas();
    let find = |v| {
        schemas
            .iter()
            .find(|(t, version, _)| *t == schemas::supplier::SUSPENDED && *version == v)
            .map(|(_, _, s)| s.clone())
            .expect("published")
    };
    let breaking = schemas::compat::breaking_changes(&find(1), &find(2));
    assert!(
        breaking.iter().any(|b| b.contains("reason_code")),
        "{breaking:?}"
    );
}

#[test]
fn the_envelope_fixture_matches_the_envelope_type() {
    let text = std::fs::read_to_string(dir("fixtures").join("envelope.json")).expect("fixture");
    let envelope: schemas::Envelope = serde_json::from_str(&text).expect("an envelope");
    assert_eq!(
        serde_json::to_value(&envelope).expect("encode"),
        serde_json::from_str::<serde_json::Value>(&text).expect("json")
    );
}
