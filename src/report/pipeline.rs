//! What `events`, `logs` and `invoke` print on stdout, as text or as JSON (docs/cli.md); the
//! documents start with the same header as every other command's ([`super::envelope::header`]).

use super::envelope::header;
use crate::ops::backfill::{Options, Report as BackfillReport, Step};
use crate::ops::inspect::Object;
use crate::ops::inspect::iso_utc;
use crate::ops::invoke::Invoked;
use crate::ops::items::{Found, LogItem};
use crate::ops::logs::LogLine;
use crate::spec::{OBJECT_INDEX, Stack};
use serde_json::{Value, json};

/// How `events` read the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// A Query on the object index.
    Index,
    Scan,
}

impl Read {
    fn word(self) -> &'static str {
        match self {
            Read::Index => "query",
            Read::Scan => "scan",
        }
    }
}

fn item_json(i: &LogItem) -> Value {
    json!({
        "time": i.time,
        "event": i.event,
        "key": i.key,
        "size": i.size,
        "bucket": i.bucket,
        "request_id": i.request_id,
        "logged_at": i.logged_at,
        "expires_at": i.expires_at,
        "synthetic": i.synthetic,
    })
}

/// `events`.
pub fn events_json(
    s: &Stack,
    key: Option<&str>,
    since: Option<&str>,
    read: Read,
    f: &Found,
) -> Value {
    let mut m = header(s, "events");
    m.insert("table".into(), json!(s.table_name));
    m.insert("key".into(), json!(key));
    m.insert("since".into(), json!(since));
    let read = if f.index_building { Read::Scan } else { read };
    m.insert("read".into(), json!(read.word()));
    m.insert("index_building".into(), json!(f.index_building));
    m.insert("scanned".into(), json!(f.scanned));
    m.insert("complete".into(), json!(f.complete));
    let items: Vec<Value> = f.items.iter().map(item_json).collect();
    m.insert("items".into(), json!(items));
    Value::Object(m)
}

pub fn events_text(s: &Stack, read: Read, f: &Found) -> String {
    let read = if f.index_building { Read::Scan } else { read };
    let mut out = String::new();
    if !f.items.is_empty() {
        let width = f
            .items
            .iter()
            .map(|i| i.event.len())
            .max()
            .unwrap_or(5)
            .max(5);
        out += &format!("{:<24}  {:<width$}  {:>10}  KEY\n", "TIME", "EVENT", "SIZE");
        for i in &f.items {
            let size = i.size.map_or("-".to_string(), |n| n.to_string());
            let marker = i
                .synthetic
                .as_ref()
                .map_or(String::new(), |o| format!("  (synthetic: {o})"));
            out += &format!(
                "{:<24}  {:<width$}  {size:>10}  {}{marker}\n",
                i.time, i.event, i.key
            );
        }
    }
    let how = match read {
        Read::Index => format!("Query on index {OBJECT_INDEX}"),
        Read::Scan => "Scan".to_string(),
    };
    out += &format!(
        "{} event(s) in table {} ({how}, {} item(s) read)\n",
        f.items.len(),
        s.table_name,
        f.scanned
    );
    if !f.complete {
        out += "the scan stopped at --limit: older or newer items may exist beyond what was \
                read; use --key or --since to narrow it\n";
    }
    out
}

fn line_json(l: &LogLine) -> Value {
    json!({
        "time": iso_utc(l.timestamp_ms),
        "timestamp_ms": l.timestamp_ms,
        "stream": l.stream,
        "message": l.message,
    })
}

/// `logs` without `--follow`: one document.
pub fn logs_json(s: &Stack, since: &str, filter: Option<&str>, lines: &[LogLine]) -> Value {
    let mut m = header(s, "logs");
    m.insert("log_group".into(), json!(s.log_group_name));
    m.insert("since".into(), json!(since));
    m.insert("filter".into(), json!(filter));
    let events: Vec<Value> = lines.iter().map(line_json).collect();
    m.insert("events".into(), json!(events));
    Value::Object(m)
}

/// `logs --follow --output json`: one object per line.
pub fn log_line_json(l: &LogLine) -> Value {
    line_json(l)
}

pub fn logs_text(lines: &[LogLine]) -> String {
    lines
        .iter()
        .map(|l| format!("{}  {}\n", iso_utc(l.timestamp_ms), l.message))
        .collect()
}

/// The function's answer as JSON when it is JSON, else as a string.
fn result_value(i: &Invoked) -> Value {
    serde_json::from_slice(&i.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&i.payload).into_owned()))
}

/// `errorType: errorMessage` of a failed invocation's payload.
pub fn function_error(i: &Invoked) -> Option<String> {
    let kind = i.function_error.as_ref()?;
    let r = result_value(i);
    let what = match (r["errorType"].as_str(), r["errorMessage"].as_str()) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (Some(t), None) => t.to_string(),
        _ => r.to_string(),
    };
    Some(format!("{kind}: {what}"))
}

/// `invoke`.
pub fn invoke_json(s: &Stack, key: Option<&str>, event: &Value, i: &Invoked) -> Value {
    let mut m = header(s, "invoke");
    m.insert("ok".into(), json!(i.function_error.is_none()));
    m.insert("function".into(), json!(s.function_name));
    m.insert("key".into(), json!(key));
    m.insert("event".into(), event.clone());
    m.insert("status_code".into(), json!(i.status));
    m.insert("function_error".into(), json!(i.function_error));
    m.insert("result".into(), result_value(i));
    m.insert("log_tail".into(), json!(i.log_tail));
    if let Some(e) = function_error(i) {
        m.insert("error".into(), json!(e));
    }
    Value::Object(m)
}

pub fn invoke_text(s: &Stack, key: Option<&str>, i: &Invoked) -> String {
    let on = match key {
        Some(k) => format!("ObjectCreated:Put of s3://{}/{k}", s.bucket_name),
        None => "the event given".to_string(),
    };
    let mut out = match function_error(i) {
        None => format!("Invoked {} on {on}: succeeded\n", s.function_name),
        Some(e) => format!("Invoked {} on {on}: FAILED: {e}\n", s.function_name),
    };
    let label = if i.function_error.is_some() {
        "error"
    } else {
        "result"
    };
    let result = serde_json::to_string_pretty(&result_value(i)).unwrap_or_default();
    out += &format!("{label}:\n{result}\n");
    out += "log tail:\n";
    for line in i.log_tail.lines() {
        out += &format!("  {line}\n");
    }
    out
}

/// The progress line of a backfill step.
pub fn backfill_step(step: Step) -> String {
    match step {
        Step::Listed(n) => format!("{n} object(s) listed: looking up their items"),
        Step::Checked { done, of } => format!("looked up {done} of {of} object(s)"),
        Step::Invoked { done, of } => format!("invoked the function for {done} of {of} object(s)"),
        Step::Written { done, of } => format!("{done} of {of} item(s) written"),
    }
}

fn object_json(o: &Object) -> Value {
    json!({
        "key": o.key,
        "size": o.size,
        "last_modified": iso_utc(o.time_ms),
    })
}

/// `backfill`.
pub fn backfill_json(s: &Stack, o: &Options, since: Option<&str>, r: &BackfillReport) -> Value {
    let mut m = header(s, "backfill");
    m.insert("ok".into(), json!(r.ok()));
    m.insert("dry_run".into(), json!(o.dry_run));
    m.insert("bucket".into(), json!(s.bucket_name));
    m.insert("prefix".into(), json!(o.prefix));
    m.insert("since".into(), json!(since));
    m.insert("checked".into(), json!(r.checked));
    let missing: Vec<Value> = r.missing.iter().map(object_json).collect();
    m.insert("missing".into(), json!(missing));
    m.insert("written".into(), json!(r.written));
    m.insert("pending".into(), json!(r.pending));
    let failed: Vec<Value> = r
        .failed
        .iter()
        .map(|(k, e)| json!({"key": k, "error": e}))
        .collect();
    m.insert("failed".into(), json!(failed));
    m.insert("index_building".into(), json!(r.index_building));
    Value::Object(m)
}

pub fn backfill_text(s: &Stack, o: &Options, r: &BackfillReport) -> String {
    let mut out = String::new();
    for m in &r.missing {
        let what = if o.dry_run {
            "no item"
        } else if r.written.contains(&m.key) {
            "item written"
        } else if r.failed.iter().any(|(k, _)| *k == m.key) {
            "NOT invoked"
        } else {
            "invoked, no item yet"
        };
        out += &format!(
            "{}  {:>10}  {}: {what}\n",
            iso_utc(m.time_ms),
            m.size,
            m.key
        );
    }
    out += &format!(
        "{} object(s) checked in bucket {}, {} without a log item",
        r.checked,
        s.bucket_name,
        r.missing.len()
    );
    if o.dry_run {
        if r.missing.is_empty() {
            out += "\n";
        } else {
            out += &format!(": run `{}` to backfill them\n", backfill_command(s, o));
        }
    } else {
        out += &format!(
            "; {} item(s) written, {} pending, {} not invoked\n",
            r.written.len(),
            r.pending.len(),
            r.failed.len()
        );
    }
    out
}

/// The `backfill` command with the same narrowing, without `--dry-run`.
fn backfill_command(s: &Stack, o: &Options) -> String {
    let mut args: Vec<&str> = Vec::new();
    if let Some(p) = &o.prefix {
        args.extend(["--prefix", p]);
    }
    s.command_with("backfill", &args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack;

    #[test]
    fn a_failed_invocation_reads_as_its_error() {
        let i = Invoked {
            status: 200,
            function_error: Some("Unhandled".into()),
            payload: br#"{"errorType": "ConfigurationError", "errorMessage": "no table"}"#.to_vec(),
            log_tail: "START\nEND\n".into(),
        };
        assert_eq!(
            function_error(&i).as_deref(),
            Some("Unhandled: ConfigurationError: no table")
        );
        let doc = invoke_json(&test_stack(), Some("k"), &json!({}), &i);
        let text = invoke_text(&test_stack(), Some("k"), &i);
        assert!(
            text.starts_with("Invoked s3-processor-dev on ObjectCreated:Put")
                && text.contains("FAILED: Unhandled: ConfigurationError: no table")
                && !text.contains("status 200"),
            "{text}"
        );
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["result"]["errorType"], "ConfigurationError");
        let fine = Invoked {
            function_error: None,
            payload: b"{\"processed\": 1}".to_vec(),
            ..i
        };
        assert_eq!(function_error(&fine), None);
        assert!(invoke_text(&test_stack(), Some("k"), &fine).contains("\"processed\": 1"));
    }

    #[test]
    fn events_print_a_table() {
        let f = Found {
            items: vec![LogItem {
                time: "2024-05-01T12:00:00.000Z".into(),
                event: "ObjectCreated:Put".into(),
                key: "a b.txt".into(),
                size: Some(12),
                ..LogItem::default()
            }],
            scanned: 1,
            complete: true,
            index_building: false,
        };
        let text = events_text(&test_stack(), Read::Index, &f);
        assert!(text.starts_with("TIME"), "{text}");
        assert!(text.contains("ObjectCreated:Put") && text.contains("a b.txt"));
        assert!(text.contains("Query on index by-object"));
        let doc = events_json(&test_stack(), Some("a b.txt"), None, Read::Index, &f);
        assert_eq!(doc["items"][0]["size"], 12);
        assert_eq!(doc["read"], "query");
    }
}
