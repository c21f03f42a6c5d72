//! `tapctl config` (the effective settings and where each came from) and `tapctl watch`'s
//! lines.

use crate::ops::watch::Event;
use crate::settings::{Settings, Source};
use crate::spec::Stack;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn source_json(s: &Source) -> Value {
    let origin = match s {
        Source::Env(var) => var.clone(),
        Source::Flag(flag) => flag.clone(),
        Source::Profile(p) => p.clone(),
        Source::Default | Source::Found(_) | Source::File { .. } => s.to_string(),
    };
    json!({"source": s.kind(), "from": origin})
}

/// `config --output json`'s `settings`: each key's value and source (`tags` maps each tag to
/// its own), made from the declarations.
pub fn settings_json(s: &Settings) -> Value {
    let mut out = serde_json::Map::new();
    let mut tags = serde_json::Map::new();
    for row in s.rows() {
        let mut v = source_json(&row.source);
        if row.key == "tags" {
            if let Value::Object(one) = row.json {
                for (k, value) in one {
                    let mut t = v.clone();
                    t["value"] = value;
                    tags.insert(k, t);
                }
            }
            continue;
        }
        v["value"] = row.json;
        out.insert(row.key.to_string(), v);
    }
    out.insert("tags".into(), Value::Object(tags));
    Value::Object(out)
}

pub fn config_text(suffix: &str, file: Option<&Path>, s: &Settings) -> String {
    let mut out = match file {
        Some(f) => format!(
            "Settings of stack {suffix} (settings file {}):\n",
            f.display()
        ),
        None => format!("Settings of stack {suffix} (no settings file):\n"),
    };
    for row in s.rows() {
        out += &format!("  {:<22} {:<36} {}\n", row.key, row.value, row.source);
    }
    out
}

/// One `watch --output json` line: the event as one JSON object.
pub fn watch_json(s: &Stack, e: &Event<'_>, since_start: Duration) -> Value {
    let mut v = Value::Object(super::envelope::header(s, "watch"));
    v["function"] = json!(s.function_name);
    v["at_s"] = json!((since_start.as_secs_f64() * 1000.0).round() / 1000.0);
    let (event, extra) = match e {
        Event::Watching { dir } => ("watching", json!({"folder": dir.display().to_string()})),
        Event::Unchanged => ("unchanged", json!({})),
        Event::Deployed { took, sha256 } => (
            "deployed",
            json!({"took_s": took.as_secs_f64(), "code_sha256": sha256}),
        ),
        Event::LayersDeployed {
            took,
            installed,
            layer,
        } => (
            "layers_deployed",
            json!({
                "took_s": took.as_secs_f64(),
                "install_s": installed.map(|d| d.as_secs_f64()),
                "layer": layer,
            }),
        ),
        Event::Failed(why) => ("failed", json!({"error": why})),
        Event::Log(l) => ("log", json!({"message": l.message.trim_end()})),
    };
    v["event"] = json!(event);
    if let (Value::Object(m), Value::Object(x)) = (&mut v, extra) {
        m.extend(x);
    }
    v
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
        Event::LayersDeployed {
            took,
            installed,
            layer,
        } => (
            format!(
                "{at} dependencies deployed: {} runs with {} in {:.1}s{}",
                s.function_name,
                layer.unwrap_or("no dependency layer"),
                took.as_secs_f64(),
                installed.map_or(String::new(), |d| format!(
                    " (installed in {:.1}s)",
                    d.as_secs_f64()
                ))
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
    use crate::settings::{Flags, resolve};

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

    #[test]
    fn watch_lines_in_json_are_one_enveloped_object_each() {
        let s = crate::spec::test_stack();
        let v = watch_json(
            &s,
            &Event::Deployed {
                took: Duration::from_millis(1500),
                sha256: "abc=",
            },
            Duration::from_millis(2500),
        );
        assert_eq!(v["schema"], 1);
        assert_eq!(v["command"], "watch");
        assert_eq!(v["ok"], true);
        assert_eq!(v["suffix"], "dev");
        assert_eq!(v["event"], "deployed");
        assert_eq!(v["code_sha256"], "abc=");
        assert_eq!(v["at_s"], 2.5);
        assert!(!v.to_string().contains('\n'), "one line");
        let v = watch_json(&s, &Event::Failed("no index.py".into()), Duration::ZERO);
        assert_eq!(
            (v["event"].as_str(), v["error"].as_str()),
            (Some("failed"), Some("no index.py"))
        );
    }
}
