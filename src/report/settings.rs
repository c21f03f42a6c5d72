//! `tapctl config` (the effective settings and where each came from) and `tapctl watch`'s
//! lines.

use crate::config::{Settings, Source};
use crate::spec::Stack;
use crate::watch::Event;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn source_json(s: &Source) -> Value {
    let (kind, origin) = match s {
        Source::Default => ("default", "default".to_string()),
        Source::File { .. } => ("file", s.to_string()),
        Source::Env(var) => ("environment", var.clone()),
        Source::Flag(flag) => ("flag", flag.clone()),
    };
    json!({"source": kind, "from": origin})
}

fn entry(value: Value, source: &Source) -> Value {
    let mut v = source_json(source);
    v["value"] = value;
    v
}

/// `config --output json`'s `settings`: each key's value and source (`tags` maps each tag to
/// its own).
pub fn settings_json(s: &Settings) -> Value {
    let tags: serde_json::Map<String, Value> = s
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), entry(json!(v.value), &v.source)))
        .collect();
    json!({
        "region": entry(json!(s.region.value), &s.region.source),
        "runtime": entry(json!(s.runtime.value), &s.runtime.source),
        "architecture": entry(json!(s.architecture.value.as_str()), &s.architecture.source),
        "memory_mb": entry(json!(s.memory_mb.value), &s.memory_mb.source),
        "timeout_s": entry(json!(s.timeout_s.value), &s.timeout_s.source),
        "log_level": entry(json!(s.log_level.value), &s.log_level.source),
        "log_retention_days": entry(json!(s.log_retention_days.value), &s.log_retention_days.source),
        "handler": entry(json!(s.handler.value), &s.handler.source),
        "item_retention_days": entry(json!(s.item_retention_days.value), &s.item_retention_days.source),
        "permissions_boundary": entry(json!(s.permissions_boundary.value), &s.permissions_boundary.source),
        "retry_attempts": entry(json!(s.retry_attempts.value), &s.retry_attempts.source),
        "max_event_age_s": entry(json!(s.max_event_age_s.value), &s.max_event_age_s.source),
        "tags": Value::Object(tags),
    })
}

pub fn config_text(suffix: &str, file: Option<&Path>, s: &Settings) -> String {
    let mut out = match file {
        Some(f) => format!(
            "Settings of stack {suffix} (settings file {}):\n",
            f.display()
        ),
        None => format!("Settings of stack {suffix} (no settings file):\n"),
    };
    for (key, value, source) in s.rows() {
        out += &format!("  {key:<22} {value:<36} {source}\n");
    }
    out
}

/// One line of `watch` output and whether it goes to stderr (failures) or stdout.
pub fn watch_line(s: &Stack, e: &Event<'_>, since_start: Duration) -> (String, bool) {
    let at = format!("[{:>6.1}s]", since_start.as_secs_f64());
    match e {
        Event::Watching { dir } => (
            format!(
                "{at} watching {} for function {} (Ctrl-C stops)",
                dir.display(),
                s.function_name
            ),
            false,
        ),
        Event::Unchanged => (
            format!("{at} saved; the package is unchanged: nothing to deploy"),
            false,
        ),
        Event::Deployed { took, sha256 } => (
            format!(
                "{at} deployed: new code live on {} in {:.1}s (CodeSha256 {sha256})",
                s.function_name,
                took.as_secs_f64()
            ),
            false,
        ),
        Event::Failed(why) => (format!("{at} not deployed: {why}"), true),
        Event::Log(l) => (format!("{at} log: {}", l.message.trim_end()), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Flags, resolve};

    #[test]
    fn config_document_names_every_source() {
        let mut flags = Flags::default();
        flags.set("memory_mb=512").unwrap();
        flags.set("tags.team=data").unwrap();
        let env = |k: &str| (k == "TAPCTL_TIMEOUT_S").then(|| "60".to_string());
        let s = resolve(None, "dev", &env, &flags).unwrap();
        let doc = json!({"settings": settings_json(&s)});
        assert_eq!(doc["settings"]["memory_mb"]["value"], 512);
        assert_eq!(doc["settings"]["memory_mb"]["source"], "flag");
        assert_eq!(doc["settings"]["timeout_s"]["from"], "TAPCTL_TIMEOUT_S");
        assert_eq!(doc["settings"]["runtime"]["source"], "default");
        assert_eq!(doc["settings"]["handler"]["value"], Value::Null);
        assert_eq!(doc["settings"]["tags"]["team"]["value"], "data");
        let text = config_text("dev", None, &s);
        assert!(text.contains("memory_mb"), "{text}");
        assert!(text.contains("environment TAPCTL_TIMEOUT_S"), "{text}");
    }
}
