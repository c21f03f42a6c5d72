//! What tapctl tells its user: one-line errors, progress lines on stderr, and the text or
//! JSON result on stdout.

use crate::engine::{Action, Outcome, Progress};
use crate::resource::{Kind, Owner, Plan, State};
use crate::spec::Stack;
use serde_json::{Value, json};
use std::io::Write;
use std::time::{Duration, Instant};

/// An error and its causes on one line: `what failed: why: root cause`.
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

pub fn one_line_anyhow(e: &anyhow::Error) -> String {
    one_line(e.as_ref())
}

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
        _ => "not tapctl's",
    }
}

fn action_word(a: &Action) -> String {
    match a {
        Action::Unchanged => "unchanged".into(),
        Action::Created => "created".into(),
        Action::Updated(_) => "updated".into(),
        Action::Deleted => "deleted".into(),
        Action::AlreadyGone => "already_gone".into(),
        Action::LeftAlone => "left_alone".into(),
        Action::Failed(_) => "failed".into(),
        Action::Blocked(_) => "blocked".into(),
    }
}

fn action_text(a: &Action) -> String {
    match a {
        Action::Updated(fields) => format!("updated ({})", fields.join(", ")),
        Action::AlreadyGone => "already gone".into(),
        Action::LeftAlone => "left alone: not tapctl's".into(),
        Action::Failed(why) => format!("FAILED: {why}"),
        Action::Blocked(k) => format!("not attempted: {} failed", k.label()),
        other => action_word(other),
    }
}

fn header(s: &Stack, command: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("command".into(), json!(command));
    m.insert("suffix".into(), json!(s.suffix()));
    m.insert("account".into(), json!(s.target.account));
    m.insert("region".into(), json!(s.target.region));
    m
}

/// `status`: the JSON document (schema in the README).
pub fn status_json(s: &Stack, plan: &Plan) -> Value {
    let resources: Vec<Value> = Kind::ALL
        .iter()
        .map(|k| {
            let st = plan.state(*k);
            json!({
                "resource": k.label(),
                "name": k.name(s),
                "state": state_word(st),
                "drift": st.drift(),
            })
        })
        .collect();
    let mut m = header(s, "status");
    m.insert(
        "in_sync".into(),
        json!(Kind::ALL.iter().all(|k| plan.state(*k).in_sync())),
    );
    m.insert("resources".into(), json!(resources));
    Value::Object(m)
}

pub fn status_text(s: &Stack, plan: &Plan) -> String {
    let mut out = format!(
        "Stack {} in account {}, region {}\n",
        s.suffix(),
        s.target.account,
        s.target.region
    );
    for k in Kind::ALL {
        let st = plan.state(k);
        out += &format!("  {:<10} {:<48} {}\n", k.label(), k.name(s), state_text(st));
        for d in st.drift() {
            out += &format!("      {}: want {}, have {}\n", d.field, d.want, d.have);
        }
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
                "action": action_word(&o.action),
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
    if command == "up" {
        let outs: serde_json::Map<String, Value> = outputs(s)
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        m.insert("outputs".into(), Value::Object(outs));
    }
    Value::Object(m)
}

pub fn run_text(s: &Stack, command: &str, outcomes: &[Outcome], elapsed: Duration) -> String {
    let mut out = String::new();
    for o in outcomes {
        out += &format!(
            "  {:<10} {:<48} {}\n",
            o.kind.label(),
            o.kind.name(s),
            action_text(&o.action)
        );
    }
    let failed = outcomes.iter().filter(|o| o.action.failed()).count();
    if failed == 0 {
        out += &format!("{command} done in {:.1}s\n", elapsed.as_secs_f64());
        if command == "up" {
            out += "Outputs:\n";
            for (k, v) in outputs(s) {
                out += &format!("  {k:<20} {v}\n");
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

/// Progress lines on stderr: one when a step starts, one when it ends, with its time.
pub struct Lines {
    pub quiet: bool,
    pub stack: Stack,
    pub start: Instant,
}

impl Progress for Lines {
    fn started(&self, kind: Kind, doing: &str) {
        if !self.quiet {
            let _ = writeln!(
                std::io::stderr(),
                "[{:>5.1}s] {} {} {}",
                self.start.elapsed().as_secs_f64(),
                doing,
                kind.label(),
                kind.name(&self.stack)
            );
        }
    }

    fn finished(&self, o: &Outcome) {
        if !self.quiet && !matches!(o.action, Action::Unchanged | Action::AlreadyGone) {
            let _ = writeln!(
                std::io::stderr(),
                "[{:>5.1}s] {} {}: {} ({:.1}s)",
                self.start.elapsed().as_secs_f64(),
                o.kind.label(),
                o.kind.name(&self.stack),
                action_text(&o.action),
                o.elapsed.as_secs_f64()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Drift;
    use crate::spec::Target;

    fn stack() -> Stack {
        Stack::new(Target {
            suffix: "dev".into(),
            account: "123456789012".into(),
            region: "us-west-2".into(),
            partition: "aws".into(),
        })
    }

    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "connection\nrefused")
        }
    }
    impl std::error::Error for Inner {}

    #[test]
    fn errors_fit_one_line() {
        let e = anyhow::Error::new(Inner).context("GetRole");
        assert_eq!(one_line_anyhow(&e), "GetRole: connection refused");
    }

    #[test]
    fn status_json_shape() {
        let s = stack();
        let mut plan = Plan::default();
        for k in Kind::ALL {
            plan.states.insert(k, State::present(true, vec![]));
        }
        plan.states.insert(
            Kind::Table,
            State::present(
                true,
                vec![Drift::new("point_in_time_recovery", "enabled", "disabled")],
            ),
        );
        plan.states.insert(Kind::Bucket, State::Missing);
        let v = status_json(&s, &plan);
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
        assert_eq!(v["resources"].as_array().unwrap().len(), 6);
        let text = status_text(&s, &plan);
        assert!(text.contains("point_in_time_recovery: want enabled, have disabled"));
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
