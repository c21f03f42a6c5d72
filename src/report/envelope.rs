//! The envelope of every JSON document (docs/cli.md): written here once.

use crate::spec::Stack;
use serde_json::{Value, json};

/// The version of the JSON documents' shape (docs/cli.md); bumped only on a breaking change.
pub const SCHEMA: u32 = 1;

/// The envelope every JSON document has, the only place it is written: `schema`, `command`,
/// `ok`, then `fields` (the stack's keys, or what selects the document) in order; the body
/// follows.
pub fn envelope(
    command: &str,
    ok: bool,
    fields: &[(&str, Value)],
) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("schema".into(), json!(SCHEMA));
    m.insert("command".into(), json!(command));
    m.insert("ok".into(), json!(ok));
    for (k, v) in fields {
        m.insert((*k).to_string(), v.clone());
    }
    m
}

/// The envelope of a document about one stack: suffix, account, region.
pub fn header(s: &Stack, command: &str) -> serde_json::Map<String, Value> {
    envelope(
        command,
        true,
        &[
            ("suffix", json!(s.suffix())),
            ("account", json!(s.target.account)),
            ("region", json!(s.target.region)),
        ],
    )
}
