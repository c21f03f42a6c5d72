//! What tapctl tells its user on stdout: each command's result, as text or as a JSON document.

use crate::engine::{Action, Outcome};
use crate::list::Found;
use crate::ops::health::Health;
use crate::ops::redrive;
use crate::ops::smoke;
use crate::plan::{Change, Mode};
use crate::resource::{Kind, Owner, Snapshot, State};
use crate::spec::Stack;
use serde_json::{Value, json};
use std::time::Duration;

mod envelope;
pub mod pipeline;
mod settings;
pub(crate) use envelope::header;
pub use envelope::{SCHEMA, envelope};
pub use settings::{config_text, watch_json, watch_line};

/// The stack's outputs, as the original CDK stack named them.
pub fn outputs(s: &Stack) -> Vec<(&'static str, String)> {
    vec![
        ("BucketName", s.bucket_name.clone()),
        ("BucketArn", s.bucket_arn.clone()),
        ("DynamoDBTableName", s.table_name.clone()),
        ("DynamoDBTableArn", s.table_arn.clone()),
        ("LambdaFunctionName", s.function_name.clone()),
        ("LambdaFunctionArn", s.function_arn.clone()),
    ]
}

fn state_word(state: &State) -> &'static str {
    match state {
        State::Missing => "missing",
        State::Present {
            owner: Owner::OtherAccount,
            ..
        } => "other_account",
        State::Present {
            owner: Owner::OtherRegion(_),
            ..
        } => "other_region",
        State::Present {
            owner: Owner::Untagged,
            ..
        } => "not_tapctls",
        s if s.in_sync() => "in_sync",
        State::Present { .. } => "drifted",
    }
}

fn state_text(state: &State) -> &'static str {
    match state_word(state) {
        "in_sync" => "in sync",
        "missing" => "missing",
        "drifted" => "drifted",
        "other_account" => "owned by another account",
        "other_region" => "owned by this suffix's stack in another region",
        _ => "not tapctl's",
    }
}

/// `status`: the JSON document (schema in docs/cli.md). `failed_events`: the events waiting
/// in the failure queue (`None`: no queue).
pub fn status_json(
    s: &Stack,
    snapshot: &Snapshot,
    failed_events: Option<u64>,
    health: Option<&Health>,
) -> Value {
    let resources: Vec<Value> = Kind::ALL
        .iter()
        .map(|k| {
            let st = snapshot.state(*k);
            json!({
                "resource": k.label(),
                "name": k.name(s),
                "state": state_word(st),
                "drift": st.drift(),
            })
        })
        .collect();
    let mut m = header(s, "status");
    m.insert("in_sync".into(), json!(snapshot.in_sync()));
    m.insert("resources".into(), json!(resources));
    m.insert("failed_events".into(), json!(failed_events));
    m.insert("health".into(), health.map_or(Value::Null, health_json));
    Value::Object(m)
}

fn health_json(h: &Health) -> Value {
    let mut v = json!(h);
    v["since"] = json!(crate::ops::inspect::iso_utc(h.since_ms));
    v["ok"] = json!(h.ok());
    v
}

/// The health lines of `status`: what the pipeline did in the window, problems plainly.
fn health_text(s: &Stack, h: &Health) -> String {
    let window = crate::ops::inspect::iso_utc(h.since_ms);
    let mut out = format!(
        "health since {window}: {} invocation(s), {} error(s), {} throttle(s)",
        h.invocations, h.errors, h.throttles
    );
    if let (Some(avg), Some(max)) = (h.duration_avg_ms, h.duration_max_ms) {
        out += &format!(", duration avg {avg:.0} ms, max {max:.0} ms");
    }
    out += "\n";
    if let Some(why) = &h.cannot_run {
        out += &format!("  the function cannot run: {why}\n");
    }
    if h.errors > 0.0 || h.throttles > 0.0 {
        out += &format!(
            "  invocations failed in the window: see `{}`\n",
            s.command_with("logs", &["--since", &window, "--filter", "ERROR"])
        );
    }
    if h.delivery_failures > 0.0 {
        out += &format!(
            "  {} failed event(s) could not be sent to queue {}: they are lost\n",
            h.delivery_failures, s.queue_name
        );
    }
    if let Some(age) = h.oldest_failed_event_s.filter(|a| *a > 0.0) {
        out += &format!("  the oldest failed event has waited {age:.0} s\n");
    }
    out
}

pub fn status_text(
    s: &Stack,
    snapshot: &Snapshot,
    failed_events: Option<u64>,
    health: Option<&Health>,
) -> String {
    let mut out = format!(
        "Stack {} in account {}, region {}\n",
        s.suffix(),
        s.target.account,
        s.target.region
    );
    for k in Kind::ALL {
        let st = snapshot.state(k);
        out += &format!("  {:<10} {:<48} {}\n", k.label(), k.name(s), state_text(st));
        for d in st.drift() {
            out += &format!("      {}: want {}, have {}\n", d.field, d.want, d.have);
        }
    }
    match failed_events {
        Some(0) | None => {}
        Some(n) => out += &format!("failed events waiting: {n} ({})\n", s.command("redrive")),
    }
    if let Some(h) = health {
        out += &health_text(s, h);
    }
    out
}

/// `up` and `down`: what each step did, and for `up` the outputs.
pub fn run_json(s: &Stack, command: &str, outcomes: &[Outcome], elapsed: Duration) -> Value {
    let resources: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let mut r = json!({
                "resource": o.kind.label(),
                "name": o.kind.name(s),
                "action": o.action.word(),
                "seconds": (o.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            });
            match &o.action {
                Action::Updated(fields) => r["fields"] = json!(fields),
                Action::Failed(why) => r["error"] = json!(why),
                Action::Blocked(k) => r["error"] = json!(format!("{} failed", k.label())),
                _ => {}
            }
            r
        })
        .collect();
    let mut m = header(s, command);
    m.insert(
        "ok".into(),
        json!(!outcomes.iter().any(|o| o.action.failed())),
    );
    m.insert(
        "seconds".into(),
        json!((elapsed.as_secs_f64() * 1000.0).round() / 1000.0),
    );
    m.insert("resources".into(), json!(resources));
    if let Some(d) = s.settings.code.deps() {
        m.insert("dependencies".into(), deps_json(d));
    }
    if command == "up" {
        m.insert("outputs".into(), outputs_object(s));
        m.insert("backfill".into(), json!(backfill_note(s, outcomes)));
    }
    Value::Object(m)
}

/// The handler's dependencies: their layer's size and, when this run installed them, how long
/// that took (apart from the AWS calls' time).
fn deps_json(d: &crate::python::Deps) -> Value {
    json!({
        "requirements": d.requirements.display().to_string(),
        "key": d.key,
        "platform": d.platform.tag,
        "layer_zip_bytes": d.layer.as_ref().map(|l| l.zip.len()),
        "layer_unzipped_bytes": d.layer.as_ref().map(|l| l.unzipped),
        "install_s": d.installed.map(|t| (t.as_secs_f64() * 1000.0).round() / 1000.0),
    })
}

/// After `up` created or repaired the trigger: objects written before it took effect (a new
/// notification "typically takes about five minutes", S3 user guide) got no event, hence no
/// log item; `backfill` finds and runs them. `None` when the trigger was left as it was.
pub fn backfill_note(s: &Stack, outcomes: &[Outcome]) -> Option<String> {
    let touched = outcomes.iter().any(|o| {
        o.kind == Kind::Trigger && matches!(o.action, Action::Created | Action::Updated(_))
    });
    touched.then(|| {
        format!(
            "the trigger was just set up: objects written before it took effect (S3 may take \
             minutes) have no log item; to run them through the function: `{}` (`--dry-run` \
             lists them)",
            s.command("backfill")
        )
    })
}

/// `up` / `down` as text; `per_resource` false when live progress already showed each line.
pub fn run_text(
    s: &Stack,
    command: &str,
    outcomes: &[Outcome],
    elapsed: Duration,
    per_resource: bool,
) -> String {
    let mut out = String::new();
    for o in outcomes.iter().filter(|_| per_resource) {
        out += &format!(
            "  {:<10} {:<48} {}\n",
            o.kind.label(),
            o.kind.name(s),
            o.action
        );
    }
    // A code update returns once the new code is live: say how long that took.
    for o in outcomes {
        if let Action::Updated(fields) = &o.action
            && o.kind == Kind::Function
            && fields.contains(&crate::resource::Field::CodeSha256)
        {
            out += &format!(
                "New code live on function {} after {:.1}s.\n",
                s.function_name,
                o.elapsed.as_secs_f64()
            );
        }
    }
    if let Some(d) = s.settings.code.deps()
        && let (Some(took), Some(layer)) = (d.installed, &d.layer)
    {
        out += &format!(
            "Dependencies of {} installed for {} in {:.1}s ({:.1} MB zipped, cached).\n",
            d.requirements.display(),
            d.platform.tag,
            took.as_secs_f64(),
            layer.zip.len() as f64 / 1e6
        );
    }
    let failed = outcomes.iter().filter(|o| o.action.failed()).count();
    if failed == 0 {
        out += &format!("{command} done in {:.1}s\n", elapsed.as_secs_f64());
        if command == "up" {
            out += "Outputs:\n";
            out += &outputs_lines(s);
            if let Some(note) = backfill_note(s, outcomes) {
                out += &format!("Note: {note}\n");
            }
        }
    } else {
        out += &format!(
            "{command} failed for {failed} resource(s) after {:.1}s\n",
            elapsed.as_secs_f64()
        );
    }
    out
}

fn outputs_object(s: &Stack) -> Value {
    Value::Object(
        outputs(s)
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect(),
    )
}

fn outputs_lines(s: &Stack) -> String {
    outputs(s)
        .into_iter()
        .map(|(k, v)| format!("  {k:<20} {v}\n"))
        .collect()
}

/// `outputs`: the stack's outputs.
pub fn outputs_json(s: &Stack) -> Value {
    let mut m = header(s, "outputs");
    m.insert("outputs".into(), outputs_object(s));
    Value::Object(m)
}

pub fn outputs_text(s: &Stack) -> String {
    format!("Outputs of stack {}:\n{}", s.suffix(), outputs_lines(s))
}

/// `plan`, `up --dry-run`, `down --dry-run`.
pub fn plan_json(s: &Stack, mode: Mode, changes: &[(Kind, Change)], error: Option<&str>) -> Value {
    let resources: Vec<Value> = changes
        .iter()
        .map(|(k, c)| {
            let fields: Vec<Value> = c
                .fields()
                .iter()
                .map(|d| json!({"field": d.field, "have": d.have, "want": d.want}))
                .collect();
            let mut r = json!({
                "resource": k.label(),
                "name": k.name(s),
                "action": c.word(),
                "changes": fields,
            });
            if let Change::Conflict(why) = c {
                r["error"] = json!(why.to_string());
            }
            r
        })
        .collect();
    let mut m = header(s, "plan");
    if let Some(e) = error {
        m.insert("ok".into(), json!(false));
        m.insert("error".into(), json!(e));
    }
    m.insert("mode".into(), json!(mode.word()));
    m.insert(
        "changes_pending".into(),
        json!(crate::plan::pending(changes)),
    );
    m.insert("resources".into(), json!(resources));
    Value::Object(m)
}

pub fn plan_text(s: &Stack, mode: Mode, changes: &[(Kind, Change)], color: bool) -> String {
    let mut out = format!(
        "Plan for `tapctl {}` on stack {} in account {}, region {}:\n",
        mode.word(),
        s.suffix(),
        s.target.account,
        s.target.region
    );
    for (k, c) in changes {
        let sign = c.sign();
        out += &format!(
            "{} {:<10} {:<48} {}\n",
            sign.painted(color),
            k.label(),
            k.name(s),
            sign.paint(&c.to_string(), color)
        );
        for d in c.fields() {
            out += &format!("      {}: {} -> {}\n", d.field, d.have, d.want);
        }
    }
    let count = |w: &str| changes.iter().filter(|(_, c)| c.word() == w).count();
    let mut parts = Vec::new();
    for (word, label) in [
        ("create", "to create"),
        ("update", "to update"),
        ("adopt", "to adopt"),
        ("delete", "to delete"),
        ("no_change", "unchanged"),
        ("left_alone", "left alone"),
        ("conflict", "in conflict"),
    ] {
        let n = count(word);
        if n > 0 {
            parts.push(format!("{n} {label}"));
        }
    }
    out += &format!("{}.\n", parts.join(", "));
    if crate::plan::pending(changes) {
        let command = match mode {
            Mode::Down => s.command("down"),
            Mode::Up { adopt: true } => s.command("up") + " --adopt",
            Mode::Up { adopt: false } => s.command("up"),
        };
        out += &format!("Run `{command}` to apply.\n");
    } else {
        out += "Nothing to do.\n";
    }
    out
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// `smoke`.
pub fn smoke_json(s: &Stack, r: &smoke::Report) -> Value {
    let mut m = header(s, "smoke");
    m.insert("ok".into(), json!(r.ok()));
    m.insert("bucket".into(), json!(r.bucket));
    m.insert("table".into(), json!(r.table));
    m.insert("key".into(), json!(r.key));
    m.insert("latency_seconds".into(), json!(r.latency.map(secs)));
    m.insert("request_id".into(), json!(r.request_id));
    m.insert("event_time".into(), json!(r.event_time));
    m.insert("logged_at".into(), json!(r.logged_at));
    m.insert("probes".into(), json!(r.probes));
    m.insert("objects_removed".into(), json!(r.objects_removed));
    m.insert("items_removed".into(), json!(r.items_removed));
    m.insert("cleaned_up".into(), json!(r.cleaned_up));
    m.insert("chain_read_seconds".into(), json!(r.chain_read.map(secs)));
    m.insert("broken".into(), json!(r.broken));
    m.insert("diagnosis".into(), json!(r.diagnosis));
    m.insert("interrupted".into(), json!(r.interrupted));
    if let Some(e) = &r.error {
        m.insert("error".into(), json!(e));
    }
    Value::Object(m)
}

pub fn smoke_text(s: &Stack, r: &smoke::Report) -> String {
    if !r.broken.is_empty() {
        let mut out = format!(
            "Smoke test of stack {}: {} broken link(s), no probe uploaded\n",
            s.suffix(),
            r.broken.len()
        );
        for b in &r.broken {
            out += &format!(
                "  {:<13} {}\n  {:<13} fix: {}\n",
                b.link, b.problem, "", b.fix
            );
        }
        out += "smoke FAILED\n";
        return out;
    }
    let mut out = format!(
        "Smoke test of stack {}: probe s3://{}/{}\n",
        s.suffix(),
        r.bucket,
        r.key
    );
    if let Some(d) = &r.diagnosis {
        out += &format!(
            "  broken link: {} ({})\n  evidence: {}\n",
            d.link, d.cause, d.evidence
        );
    }
    if let Some(l) = r.latency {
        out += &format!(
            "  log item {} in table {} after {:.2}s\n",
            r.request_id.as_deref().unwrap_or("?"),
            r.table,
            l.as_secs_f64()
        );
    }
    if r.probes > 1 {
        out += &format!(
            "  {} probes uploaded (a new bucket notification takes a while to deliver)\n",
            r.probes
        );
    }
    out += &format!(
        "  removed {} of {} probe object(s) and {} log item(s){}\n",
        r.objects_removed,
        r.probes,
        r.items_removed,
        if r.cleaned_up {
            ""
        } else {
            "; cleanup INCOMPLETE: see the error"
        }
    );
    out += match &r.error {
        None => "smoke ok\n",
        Some(_) => "smoke FAILED\n",
    };
    out
}

/// `redrive`: each failed event and what became of it, and the totals.
pub fn redrive_json(s: &Stack, r: &redrive::Report) -> Value {
    let events: Vec<Value> = r
        .events
        .iter()
        .map(|e| {
            let mut v = json!({
                "message_id": e.message_id,
                "objects": e.objects,
                "condition": e.condition,
                "last_error": e.last_error,
                "result": e.outcome.word(),
            });
            match &e.outcome {
                redrive::Outcome::Redriven {
                    processed,
                    duplicates,
                    skipped,
                } => {
                    v["processed"] = json!(processed);
                    v["duplicates"] = json!(duplicates);
                    v["skipped"] = json!(skipped);
                }
                redrive::Outcome::StillFailing(why)
                | redrive::Outcome::NotARecord(why)
                | redrive::Outcome::Dropped(why) => v["error"] = json!(why),
                redrive::Outcome::WouldRedrive => {}
            }
            v
        })
        .collect();
    let t = r.totals();
    let mut m = header(s, "redrive");
    m.insert(
        "ok".into(),
        json!(t.still_failing == 0 && t.not_records == 0),
    );
    m.insert("dry_run".into(), json!(r.dry_run));
    m.insert("queue".into(), json!(r.queue));
    m.insert("redriven".into(), json!(t.redriven));
    m.insert("processed".into(), json!(t.processed));
    m.insert("duplicates".into(), json!(t.duplicates));
    m.insert("skipped".into(), json!(t.skipped));
    m.insert("still_failing".into(), json!(t.still_failing));
    m.insert("not_destination_records".into(), json!(t.not_records));
    m.insert("dropped".into(), json!(t.dropped));
    if r.dry_run {
        m.insert("would_redrive".into(), json!(t.would_redrive));
    }
    m.insert("events".into(), json!(events));
    Value::Object(m)
}

pub fn redrive_text(s: &Stack, r: &redrive::Report) -> String {
    let mut out = format!(
        "{} of stack {} from queue {}:\n",
        if r.dry_run { "Redrive plan" } else { "Redrive" },
        s.suffix(),
        r.queue
    );
    for e in &r.events {
        let what = match &e.outcome {
            redrive::Outcome::WouldRedrive => "would redrive".to_string(),
            redrive::Outcome::Redriven {
                processed,
                duplicates,
                ..
            } => format!("redriven ({processed} processed, {duplicates} duplicates)"),
            redrive::Outcome::StillFailing(why) => format!("still failing: {why}"),
            redrive::Outcome::NotARecord(why) => {
                format!("not a Lambda destination record ({why}): left in the queue")
            }
            redrive::Outcome::Dropped(why) => {
                format!("not a Lambda destination record ({why}): dropped (--drop-foreign)")
            }
        };
        let objects = if e.objects.is_empty() {
            "-".to_string()
        } else {
            e.objects.join(", ")
        };
        let why = e.condition.as_deref().unwrap_or("?");
        out += &format!("  {}  {objects} [{why}]: {what}\n", e.message_id);
    }
    let t = r.totals();
    if r.dry_run {
        out += &format!(
            "{} failed events to redrive, {} not destination records.\n",
            t.would_redrive, t.not_records
        );
    } else {
        out += &format!(
            "{} redriven ({} processed, {} duplicates, {} skipped), {} still failing, {} left \
             in the queue as not destination records, {} dropped.\n",
            t.redriven,
            t.processed,
            t.duplicates,
            t.skipped,
            t.still_failing,
            t.not_records,
            t.dropped
        );
    }
    if t.not_records > 0 {
        out += &format!(
            "Messages that are no destination records stay until `{}` deletes them.\n",
            s.command_with("redrive", &["--drop-foreign"])
        );
    }
    out
}

/// `list`: no single stack, so the header has no suffix.
pub fn list_json(account: &str, region: &str, found: &[Found]) -> Value {
    let stacks: Vec<Value> = found
        .iter()
        .map(|f| {
            json!({
                "suffix": f.suffix,
                "complete": f.complete(),
                "resources": f.resources.iter().map(|k| k.label()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut m = envelope(
        "list",
        true,
        &[("account", json!(account)), ("region", json!(region))],
    );
    m.insert("stacks".into(), json!(stacks));
    Value::Object(m)
}

pub fn list_text(account: &str, region: &str, found: &[Found]) -> String {
    if found.is_empty() {
        return format!("No tapctl stack in account {account}, region {region}.\n");
    }
    let mut out = format!("tapctl stacks in account {account}, region {region}:\n");
    for f in found {
        let what = if f.complete() {
            "complete".to_string()
        } else {
            let have: Vec<&str> = f.resources.iter().map(|k| k.label()).collect();
            format!("partial: {} only", have.join(", "))
        };
        out += &format!("  {:<24} {what}\n", f.suffix);
    }
    out
}

/// Any command that failed before it had a result: the error, in the same envelope.
/// `config`: the effective settings, each with its source; `file` is the settings file read.
pub fn config_json(
    suffix: &str,
    file: Option<&std::path::Path>,
    s: &crate::settings::Settings,
) -> Value {
    let mut m = envelope(
        "config",
        true,
        &[
            ("suffix", json!(suffix)),
            ("file", json!(file.map(|f| f.display().to_string()))),
        ],
    );
    m.insert("settings".into(), settings::settings_json(s));
    Value::Object(m)
}

pub fn error_json(command: &str, error: &str) -> Value {
    Value::Object(envelope(command, false, &[("error", json!(error))]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Drift, Field};
    use crate::spec::test_stack as stack;

    #[test]
    fn status_json_shape() {
        let mut s = stack();
        s.flags = vec!["--profile".into(), "ops".into()];
        let mut plan = Snapshot::default();
        for k in Kind::ALL {
            plan.states.insert(k, State::present(true, vec![]));
        }
        plan.states.insert(
            Kind::Table,
            State::present(
                true,
                vec![Drift::new(
                    Field::PointInTimeRecovery,
                    "enabled",
                    "disabled",
                )],
            ),
        );
        plan.states.insert(Kind::Bucket, State::Missing);
        let v = status_json(&s, &plan, Some(3), None);
        assert_eq!(v["command"], "status");
        assert_eq!(v["in_sync"], false);
        assert_eq!(v["resources"][0]["resource"], "table");
        assert_eq!(v["resources"][0]["state"], "drifted");
        assert_eq!(
            v["resources"][0]["drift"][0]["field"],
            "point_in_time_recovery"
        );
        assert_eq!(v["resources"][0]["drift"][0]["want"], "enabled");
        assert_eq!(v["resources"][1]["state"], "missing");
        assert_eq!(v["resources"][2]["state"], "in_sync");
        assert_eq!(v["resources"].as_array().unwrap().len(), 7);
        assert_eq!(v["failed_events"], 3);
        assert_eq!(v["health"], Value::Null);
        let text = status_text(&s, &plan, Some(3), None);
        assert!(text.contains("point_in_time_recovery: want enabled, have disabled"));
        assert!(text.contains(
            "failed events waiting: 3 (tapctl redrive --suffix dev --region us-west-2 --profile ops)"
        ));
        assert!(!status_text(&s, &plan, Some(0), None).contains("failed events"));
        let health = Health {
            since_ms: 1_796_000_000_000,
            window_s: 900,
            invocations: 12.0,
            errors: 2.0,
            duration_avg_ms: Some(120.4),
            duration_max_ms: Some(800.0),
            cannot_run: Some("state Inactive".into()),
            ..Health::default()
        };
        let v = status_json(&s, &plan, Some(0), Some(&health));
        assert_eq!(v["health"]["invocations"], 12.0);
        assert_eq!(v["health"]["ok"], false);
        assert_eq!(v["health"]["since"], "2026-11-30T00:53:20.000Z");
        let text = status_text(&s, &plan, Some(0), Some(&health));
        assert!(
            text.contains(
                "health since 2026-11-30T00:53:20.000Z: 12 invocation(s), 2 error(s), 0 throttle(s), \
             duration avg 120 ms, max 800 ms\n  the function cannot run: state Inactive\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "see `tapctl logs --suffix dev --region us-west-2 --profile ops --since \
             2026-11-30T00:53:20.000Z --filter ERROR`"
            ),
            "{text}"
        );
    }

    #[test]
    fn run_json_has_outputs_for_up_only() {
        let s = stack();
        let o = vec![Outcome {
            kind: Kind::Table,
            action: Action::Created,
            elapsed: Duration::from_millis(1500),
        }];
        let v = run_json(&s, "up", &o, Duration::from_secs(2));
        assert_eq!(v["ok"], true);
        assert_eq!(v["outputs"]["BucketName"], s.bucket_name);
        assert_eq!(v["resources"][0]["action"], "created");
        let v = run_json(&s, "down", &o, Duration::from_secs(2));
        assert!(v.get("outputs").is_none());
    }
}
