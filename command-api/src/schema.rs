//! How the OpenAPI document states the rules the domain's value types enforce, so that a
//! generated client (and a schema-driven tester) knows exactly which strings are accepted. A
//! request field names its rule with `#[schema(format = "<rule>")]`; [`FieldRules`] replaces
//! that name with the rule's pattern and lengths. The rules mirror `domain::values` and
//! `domain::catalog_values` (trimming included: surrounding white space is accepted and
//! dropped); the API tests hold the two together.

use domain::catalog_values::{ProductTag, Unit};
use domain::inventory::SpoilageReason;
use domain::order::CancelReason;
use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::{OpenApi, RefOr};

/// White space as Rust's `str::trim` removes it (Unicode `White_Space`).
const WS: &str = r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// Control characters (Unicode `Cc`), refused anywhere in a text.
const CC: &str = r"\x00-\x1F\x7F-\x9F";

/// A text of `min` to `max` characters once trimmed, with no control characters.
fn text(min: usize, max: usize) -> String {
    let first = format!("[^{WS}{CC}]");
    let inner = format!("[^{CC}]");
    let core = match min {
        0 | 1 => format!("{first}(?:{inner}{{0,{}}}{first})?", max.saturating_sub(2)),
        _ => format!("{first}{inner}{{{},{}}}{first}", min - 2, max - 2),
    };
    format!("^[{WS}]*{core}[{WS}]*$")
}

/// `value` surrounded by optional white space.
fn trimmed(value: &str) -> String {
    format!("^[{WS}]*{value}[{WS}]*$")
}

/// Either case of an ASCII letter.
fn any_case(code: &str) -> String {
    code.chars()
        .map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()))
        .collect()
}

/// One of `names`, surrounding white space allowed.
fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    trimmed(&format!("(?:{})", names.collect::<Vec<_>>().join("|")))
}

/// The pattern of the rule `name`, or `None` for a name that is not a rule.
fn pattern(name: &str) -> Option<String> {
    const LOCAL: &str = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
    const LABEL: &str = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    Some(match name {
        // domain::values
        "legal-name" => text(2, 200),
        "address-line" => text(1, 200),
        "city" => text(1, 100),
        "domain-reason" => text(3, 1000),
        "note" => text(1, 1000),
        "document-reference" => text(1, 100),
        "product-name" => text(2, 150),
        "registration-number" => trimmed(r"(?: *[A-Za-z0-9./-]){3,32} *"),
        "email" => trimmed(&format!(
            r"{LOCAL}(?:[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.-]{{0,62}}{LOCAL})?@(?:{LABEL}\.){{1,3}}[A-Za-z0-9][A-Za-z0-9-]{{0,61}}[A-Za-z0-9]"
        )),
        "phone" => trimmed(r"\+?[ .()-]*(?:[0-9][ .()-]*){7,15}"),
        "postal-code" => trimmed(r"[A-Za-z0-9-](?:[A-Za-z0-9 -]{0,10}[A-Za-z0-9-])"),
        "country" => trimmed(&format!(
            "(?:{})",
            domain::values::ISO_3166_ALPHA2
                .split(' ')
                .map(any_case)
                .collect::<Vec<_>>()
                .join("|")
        )),
        // domain::catalog_values
        "currency" => trimmed("[A-Za-z]{3}"),
        "product-tag" => one_of(ProductTag::ALL.iter().map(|t| t.as_str())),
        "unit" => one_of(Unit::ALL.iter().map(|u| u.as_str())),
        "spoilage-reason" => one_of(SpoilageReason::ALL.iter().map(|r| r.as_str())),
        // exact, not trimmed: the saga sends one of the compensations it knows
        "compensation" => format!(
            "^(?:{})$",
            CancelReason::ALL
                .iter()
                .filter(|r| !matches!(r, CancelReason::CustomerRequest | CancelReason::Admin))
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join("|")
        ),
        // the routes' own free texts
        "reason" => text(1, 500),
        "zone" => text(1, 64),
        "rider-name" => text(1, 120),
        "account" => text(1, 200),
        "subject" => text(1, 200),
        "printable" => "^[!-~]{1,200}$".to_owned(),
        _ => return None,
    })
}

/// The OpenAPI modifier that declares `X-Causation-Id` on every command: the id of the event
/// that caused it (sagas and workers send it), recorded as the appended events'
/// `causation_id`.
#[derive(Debug, Clone, Copy)]
pub struct CausationHeader;

impl utoipa::Modify for CausationHeader {
    fn modify(&self, openapi: &mut OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        use utoipa::openapi::Required;
        for item in openapi.paths.paths.values_mut() {
            for op in [
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                op.parameters.get_or_insert_with(Vec::new).push(
                    ParameterBuilder::new()
                        .name("X-Causation-Id")
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(
                            "The id of the event that caused this command (a saga or worker \
                             acting on it); recorded as `causation_id` on the events it appends \
                             (without it: the request's correlation id). Not a UUID: `400 \
                             invalid_causation_id`",
                        ))
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
                        ))
                        .build(),
                );
            }
        }
    }
}

/// The OpenAPI modifier that states every named rule in the component schemas.
#[derive(Debug, Clone, Copy)]
pub struct FieldRules;

impl utoipa::Modify for FieldRules {
    fn modify(&self, openapi: &mut OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            for schema in components.schemas.values_mut() {
                state_rules(schema);
            }
        }
    }
}

fn state_rules(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(object) => {
            let rule = match &object.format {
                Some(utoipa::openapi::SchemaFormat::Custom(name)) => pattern(name),
                _ => None,
            };
            if let Some(pattern) = rule {
                object.format = None;
                object.pattern = Some(pattern);
            }
            for property in object.properties.values_mut() {
                state_rules(property);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                state_rules(items);
            }
        }
        Schema::OneOf(one) => one.items.iter_mut().for_each(state_rules),
        Schema::AllOf(all) => all.items.iter_mut().for_each(state_rules),
        Schema::AnyOf(any) => any.items.iter_mut().for_each(state_rules),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_rule_counts_characters_after_trimming() {
        let p = text(3, 5);
        assert_eq!(
            p,
            format!("^[{WS}]*[^{WS}{CC}][^{CC}]{{1,3}}[^{WS}{CC}][{WS}]*$")
        );
        let p = text(1, 500);
        assert!(p.contains("{0,498}"), "{p}");
    }

    #[test]
    fn unknown_names_are_not_rules() {
        assert!(pattern("uuid").is_none());
        assert!(pattern("country").is_some_and(|p| p.contains("[Dd][Ee]")));
    }
}
