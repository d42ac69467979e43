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

/// One decoder per wire module: decodes an untagged payload and encodes it back in its stored,
/// tagged form (`{"<EventType>": {...}}`).
type Decoder = fn(&str, u32, serde_json::Value) -> Result<serde_json::Value, String>;

fn via<T: serde::Serialize>(
    decoded: Result<T, schemas::EnvelopeError>,
) -> Result<serde_json::Value, String> {
    decoded
        .map_err(|e| e.to_string())
        .and_then(|d| serde_json::to_value(d).map_err(|e| e.to_string()))
}

/// Every event type and version each wire module publishes, with its decoder. A new wire
/// module is added here and nowhere else.
fn published() -> Vec<(&'static str, u32, Decoder)> {
    let mut all: Vec<(&'static str, u32, Decoder)> = Vec::new();
    let supplier: Decoder = |t, v, p| via(schemas::supplier::SupplierEvent::decode(t, v, p));
    let product: Decoder = |t, v, p| via(schemas::product::ProductEvent::decode(t, v, p));
    let inventory: Decoder = |t, v, p| via(schemas::inventory::InventoryEvent::decode(t, v, p));
    let alert: Decoder = |t, v, p| via(schemas::inventory::StockAlertEvent::decode(t, v, p));
    let order: Decoder = |t, v, p| via(schemas::order::OrderEvent::decode(t, v, p));
    let payment: Decoder = |t, v, p| via(schemas::payment::PaymentEvent::decode(t, v, p));
    let delivery: Decoder = |t, v, p| via(schemas::delivery::DeliveryEvent::decode(t, v, p));
    let slot: Decoder = |t, v, p| via(schemas::slot::SlotEvent::decode(t, v, p));
    let rider: Decoder = |t, v, p| via(schemas::rider::RiderEvent::decode(t, v, p));
    let customer: Decoder = |t, v, p| via(schemas::customer::CustomerEvent::decode(t, v, p));
    let cart: Decoder = |t, v, p| via(schemas::customer::cart::CartEvent::decode(t, v, p));
    for (types, decoder) in [
        (schemas::supplier::EVENT_TYPES, supplier),
        (schemas::product::EVENT_TYPES, product),
        (schemas::inventory::EVENT_TYPES, inventory),
        (schemas::inventory::ALERT_EVENT_TYPES, alert),
        (schemas::order::EVENT_TYPES, order),
        (schemas::payment::EVENT_TYPES, payment),
        (schemas::delivery::EVENT_TYPES, delivery),
        (schemas::slot::EVENT_TYPES, slot),
        (schemas::rider::EVENT_TYPES, rider),
        (schemas::customer::EVENT_TYPES, customer),
        (schemas::customer::cart::EVENT_TYPES, cart),
    ] {
        all.extend(types.iter().map(|(t, v)| (*t, *v, decoder)));
    }
    all
}

/// Versions that are no longer current and are read through an upcaster:
/// `(event type, old version)`. Only supplier events have any so far.
fn superseded() -> Vec<(&'static str, u32)> {
    schemas::supplier::json_schemas()
        .into_iter()
        .filter(|(t, v, _)| schemas::supplier::current_version(t).is_some_and(|c| c > *v))
        .map(|(t, v, _)| (t, v))
        .collect()
}

fn schema_of(event_type: &str, version: u32) -> serde_json::Value {
    let file = format!("{event_type}.v{version}.schema.json");
    schemas::json_schema_files()
        .into_iter()
        .find(|(f, _)| *f == file)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no JSON Schema {file}"))
}

fn fixture(event_type: &str, version: u32) -> serde_json::Value {
    let path = dir("fixtures").join(format!("{event_type}.v{version}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing fixture {}", path.display()));
    let fixture: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    let validator =
        jsonschema::validator_for(&schema_of(event_type, version)).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&fixture)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{event_type} v{version}: the fixture breaks its schema: {errors:?}"
    );
    fixture
}

#[test]
fn every_event_version_has_a_golden_fixture_that_round_trips() {
    for (event_type, version, decode) in published() {
        let fixture = fixture(event_type, version);
        let encoded = decode(event_type, version, fixture.clone())
            .unwrap_or_else(|e| panic!("{event_type} v{version}: {e}"));
        assert_eq!(
            encoded[event_type], fixture,
            "{event_type} v{version} does not round-trip"
        );
    }
}

#[test]
fn every_superseded_version_has_a_fixture_read_as_the_current_version() {
    for (event_type, version) in superseded() {
        let old = fixture(event_type, version);
        let decoded = schemas::supplier::SupplierEvent::decode(event_type, version, old.clone())
            .unwrap_or_else(|e| panic!("{event_type} v{version}: {e}"));
        let current = schemas::supplier::current_version(event_type).expect("known type");
        // The upcaster every reader uses gives the same event as decoding the old version.
        let (to, upcast) = schemas::supplier::upcast_payload(event_type, version, old)
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

#[test]
fn the_compatibility_check_refuses_what_v2_of_supplier_suspended_had_to_become() {
    // Adding the required `reason_code` to v1 itself would have broken v1 readers and
    // writers: the check says so, which is why it is a v2 with an upcaster.
    let breaking = schemas::compat::breaking_changes(
        &schema_of(schemas::supplier::SUSPENDED, 1),
        &schema_of(schemas::supplier::SUSPENDED, 2),
    );
    assert!(
        breaking.iter().any(|b| b.contains("reason_code")),
        "{breaking:?}"
    );
}

#[test]
fn every_published_event_version_has_a_json_schema_and_every_schema_an_event() {
    let mut expected: Vec<String> = published()
        .iter()
        .map(|(t, v, _)| format!("{t}.v{v}.schema.json"))
        .chain(
            superseded()
                .iter()
                .map(|(t, v)| format!("{t}.v{v}.schema.json")),
        )
        .collect();
    expected.push("envelope.schema.json".to_owned());
    expected.sort();
    let mut files: Vec<String> = schemas::json_schema_files()
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    files.sort();
    assert_eq!(files, expected);
}

#[test]
fn quantities_and_decimals_in_fixtures_are_decimal_strings_never_json_floats() {
    /// Walks a fixture alongside its JSON Schema: no JSON float anywhere, and every value whose
    /// schema carries the decimal pattern is a decimal string of that shape.
    fn walk(
        path: &str,
        value: &serde_json::Value,
        schema: &serde_json::Value,
        root: &serde_json::Value,
        bad: &mut Vec<String>,
    ) {
        let schema = match schema.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => root
                .pointer(r.trim_start_matches('#'))
                .unwrap_or(&serde_json::Value::Null),
            None => schema,
        };
        if schema.get("pattern").and_then(|p| p.as_str()) == Some(schemas::common::DECIMAL_PATTERN)
            && !value.as_str().is_some_and(schemas::common::is_wire_decimal)
        {
            bad.push(format!("{path}: {value} is not a decimal string"));
        }
        match value {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let sub = schema
                        .pointer(&format!("/properties/{k}"))
                        .or_else(|| {
                            // `Option<Struct>` is `anyOf: [{$ref}, {type: null}]`.
                            schema.get("anyOf").and_then(|a| {
                                a.as_array()?.iter().find_map(|alt| {
                                    let alt = match alt.get("$ref").and_then(|r| r.as_str()) {
                                        Some(r) => root.pointer(r.trim_start_matches('#'))?,
                                        None => alt,
                                    };
                                    alt.pointer(&format!("/properties/{k}"))
                                })
                            })
                        })
                        .unwrap_or(&serde_json::Value::Null);
                    walk(&format!("{path}.{k}"), v, sub, root, bad);
                }
            }
            serde_json::Value::Array(a) => {
                let items = schema.get("items").unwrap_or(&serde_json::Value::Null);
                a.iter().for_each(|v| walk(path, v, items, root, bad));
            }
            // Integers are fine (minor units, byte sizes, pixels); a fraction must be a string.
            serde_json::Value::Number(n) if n.is_f64() => bad.push(format!("{path}: JSON float")),
            _ => {}
        }
    }
    let schemas: std::collections::HashMap<String, serde_json::Value> =
        schemas::json_schema_files().into_iter().collect();
    let mut bad = Vec::new();
    let mut checked = 0;
    for (event_type, version, _) in published() {
        let path = dir("fixtures").join(format!("{event_type}.v{version}.json"));
        let text = std::fs::read_to_string(&path).expect("fixture");
        let fixture: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
        let schema = &schemas[&format!("{event_type}.v{version}.schema.json")];
        walk(event_type, &fixture, schema, schema, &mut bad);
        checked += 1;
    }
    assert!(checked > 0);
    assert!(bad.is_empty(), "{bad:#?}");
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
