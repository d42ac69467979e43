//! Compatibility of a published event version: what may change in its JSON Schema without
//! breaking a reader. Adding an optional field is fine; removing a field, changing a field's
//! type, or adding a required field is breaking and needs a new version with an upcaster.

use serde_json::Value;

/// The breaking differences from `published` to `candidate` (empty when compatible).
pub fn breaking_changes(published: &Value, candidate: &Value) -> Vec<String> {
    let mut out = Vec::new();
    compare("", published, candidate, &mut out);
    out
}

fn compare(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    let ty = |v: &Value| v.get("type").cloned();
    if ty(old) != ty(new) {
        out.push(format!(
            "{}: type changed from {} to {}",
            name(path),
            show(ty(old)),
            show(ty(new))
        ));
        return;
    }
    let required = |v: &Value| -> Vec<String> {
        v.get("required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old_req, new_req) = (required(old), required(new));
    for r in &new_req {
        if !old_req.contains(r) {
            out.push(format!("{}: new required field", name(&join(path, r))));
        }
    }
    let props = |v: &Value| {
        v.get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (old_props, new_props) = (props(old), props(new));
    for (field, old_schema) in &old_props {
        match new_props.get(field) {
            None => out.push(format!("{}: field removed", name(&join(path, field)))),
            Some(new_schema) => compare(&join(path, field), old_schema, new_schema, out),
        }
    }
    if let (Some(o), Some(n)) = (old.get("items"), new.get("items")) {
        compare(&format!("{path}[]"), o, n, out);
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn name(path: &str) -> &str {
    if path.is_empty() {
        "(payload)"
    } else {
        path
    }
}

fn show(v: Option<Value>) -> String {
    v.map_or_else(|| "(none)".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(props: Value, required: &[&str]) -> Value {
        json!({"type": "object", "properties": props, "required": required})
    }

    #[test]
    fn an_added_optional_field_is_compatible() {
        let old = schema(json!({"reason": {"type": "string"}}), &["reason"]);
        let new = schema(
            json!({"reason": {"type": "string"}, "code": {"type": ["string", "null"]}}),
            &["reason"],
        );
        assert!(breaking_changes(&old, &new).is_empty());
    }

    #[test]
    fn removed_fields_changed_types_and_new_required_fields_break() {
        let old = schema(
            json!({"reason": {"type": "string"}, "n": {"type": "integer"}}),
            &["reason"],
        );
        let new = schema(
            json!({"n": {"type": "string"}, "code": {"type": "string"}}),
            &["code"],
        );
        let found = breaking_changes(&old, &new);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().any(|f| f.contains("reason: field removed")));
        assert!(found.iter().any(|f| f.contains("n: type changed")));
        assert!(found.iter().any(|f| f.contains("code: new required field")));
    }

    #[test]
    fn nested_objects_and_arrays_are_compared_too() {
        let old = schema(
            json!({"address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                                 "tags": {"type": "array", "items": {"type": "string"}}}),
            &[],
        );
        let new = schema(
            json!({"address": {"type": "object", "properties": {}, "required": []},
                                 "tags": {"type": "array", "items": {"type": "integer"}}}),
            &[],
        );
        let found = breaking_changes(&old, &new);
        assert!(
            found.iter().any(|f| f == "address.city: field removed"),
            "{found:?}"
        );
        assert!(
            found.iter().any(|f| f.starts_with("tags[]: type changed")),
            "{found:?}"
        );
    }
}
