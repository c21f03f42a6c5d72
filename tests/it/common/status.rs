//! Reading tapctl's JSON documents (`status`, `plan`, `up`, `down` with `--output json`): one
//! entry per resource under `resources`, in the stack's order.

use serde_json::Value;

/// Every resource entry of `doc`.
#[track_caller]
pub fn resources(doc: &Value) -> &[Value] {
    doc["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no resources in {doc}"))
}

/// The entry of resource `name` (`table`, `bucket`, `log-group`...).
#[track_caller]
pub fn resource<'a>(doc: &'a Value, name: &str) -> &'a Value {
    resources(doc)
        .iter()
        .find(|r| r["resource"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
}

/// The word under `key` (`state` of status, `action` of up/down) of every resource, in order.
#[track_caller]
pub fn column<'a>(doc: &'a Value, key: &str) -> Vec<&'a str> {
    resources(doc)
        .iter()
        .map(|r| r[key].as_str().unwrap_or_else(|| panic!("no {key} in {r}")))
        .collect()
}

/// Asserts every resource's `key` is `word`.
#[track_caller]
pub fn all(doc: &Value, key: &str, word: &str) {
    assert!(
        resources(doc).iter().all(|r| r[key] == word),
        "not all {word}: {doc}"
    );
}

/// The drifted fields status names for resource `name`.
#[track_caller]
pub fn drift_fields(doc: &Value, name: &str) -> Vec<String> {
    resource(doc, name)["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect()
}
