//! Generated input against every write route: arbitrary JSON, mutated valid bodies, bad ids,
//! bad tokens and content types. Whatever arrives, the answer is never a 5xx, every refusal is
//! problem+json, and a refused command appends nothing.

use crate::helpers::*;
use platform::auth::{Actor, Role};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

const FIELDS: &[&str] = &[
    "legal_name",
    "registration_number",
    "contact_email",
    "phone",
    "address",
    "line1",
    "city",
    "postal_code",
    "country",
    "categories",
    "owner_subject",
    "kind",
    "reference",
    "expires_on",
    "note",
    "reason",
];

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(FIELDS).prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "\\PC{300,1200}".prop_map(Value::from),
        proptest::sample::select(
            &[
                "fruit",
                "business_license",
                "NL",
                "2030-01-01",
                "2001-02-30",
                "+31205550101",
                "a@b.example",
                "",
                " "
            ][..]
        )
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn valid_body(route: usize) -> Value {
    match route {
        0 => supplier_body("NL-777"),
        1 => licence(),
        2 | 5 => json!({"note": "ok"}),
        _ => json!({"reason": "because of it"}),
    }
}

/// Replaces, removes or adds one field somewhere in a valid body.
fn mutate(mut body: Value, path: &[String], op: u8, value: Value) -> Value {
    let mut target = &mut body;
    for key in &path[..path.len().saturating_sub(1)] {
        if target.get(key).is_some_and(Value::is_object) {
            target = &mut target[key];
        }
    }
    if let (Some(obj), Some(last)) = (target.as_object_mut(), path.last()) {
        match op % 3 {
            0 => {
                obj.insert(last.clone(), value);
            }
            1 => {
                obj.remove(last);
            }
            _ => {
                let key = obj.keys().nth(usize::from(op) % obj.len().max(1)).cloned();
                if let Some(k) = key {
                    obj.insert(k, value);
                }
            }
        }
    }
    body
}

#[derive(Debug, Clone)]
struct Case {
    route: usize,
    id: u8,
    token: u8,
    content_type: u8,
    body: Value,
}

fn case() -> impl Strategy<Value = Case> {
    (0..6usize, 0..4u8, 0..8u8, 0..5u8, json_value()).prop_map(
        |(route, id, token, content_type, body)| Case {
            route,
            id,
            token,
            content_type,
            body,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_never_get_a_5xx_and_refusals_append_nothing() {
    let app = TestApp::spawn_with_rate(1_000_000.0, 1_000_000.0).await;
    let id = app.register("acct-1", "NL-001").await;
    let tokens = [
        app.supplier("acct-1"),
        app.admin(),
        app.service("delivery"),
        app.token("c-1", Actor::Person(Role::Customer), &["orders:write"]),
        "garbage.token.here".to_owned(),
        String::new(),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 1,
        ..Config::default()
    });
    let strategy = case();
    let cases = std::env::var("FRESHLINE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500_usize);
    let (mut by_status, mut accepted) = (std::collections::BTreeMap::<u16, usize>::new(), 0);
    for n in 0..cases {
        let mut c = strategy.new_tree(&mut runner).expect("case").current();
        if n % 4 != 0 {
            // Mostly near-valid bodies: one field replaced, removed or added.
            let path: Vec<String> = c
                .body
                .as_object()
                .map(|o| o.keys().take(2).cloned().collect())
                .unwrap_or_default();
            let value = c.body.clone();
            c.body = mutate(
                valid_body(c.route),
                if path.is_empty() { &[] } else { &path },
                n as u8,
                value,
            );
        }
        let target = match c.id {
            0 | 1 => id.clone(),
            2 => uuid::Uuid::now_v7().to_string(),
            _ => "not-a-uuid".to_owned(),
        };
        let path = match c.route {
            0 => "/v1/suppliers".to_owned(),
            1 => format!("/v1/suppliers/{target}/documents"),
            2 => format!("/v1/suppliers/{target}/approve"),
            3 => format!("/v1/suppliers/{target}/reject"),
            4 => format!("/v1/suppliers/{target}/suspend"),
            _ => format!("/v1/suppliers/{target}/reinstate"),
        };
        let before = app.db.event_count().await;
        let mut req = app
            .client
            .post(format!("{}{path}", app.base))
            .body(c.body.to_string());
        // Mostly the token the route wants, so bodies get past auth and are really validated.
        let token = match (c.token, c.route) {
            (0..=3, 0 | 1) => &tokens[0],
            (0..=3, _) => &tokens[1],
            (t, _) => &tokens[usize::from(t - 4) + 2],
        };
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        req = match c.content_type {
            0..=2 => req.header("content-type", "application/json"),
            3 => req.header("content-type", "text/plain"),
            _ => req,
        };
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let after = app.db.event_count().await;
        *by_status.entry(status).or_default() += 1;
        assert!(status < 500, "case {n}: {status} for {path} {}", c.body);
        if status >= 400 {
            assert_eq!(
                content_type, "application/problem+json",
                "case {n}: {status} {path}"
            );
            assert_eq!(
                after, before,
                "case {n}: refused ({status}) but appended events: {path} {}",
                c.body
            );
        } else {
            accepted += 1;
        }
    }
    eprintln!("fuzz: {cases} generated requests, {accepted} accepted, statuses {by_status:?}");
}
