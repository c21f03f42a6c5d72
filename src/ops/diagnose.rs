//! Why a smoke probe got no log item, from the evidence: the function's log lines since the
//! first probe was uploaded, and the failure queue's records. Pure, unit-tested; `smoke`
//! gathers the evidence.
//!
//! An invocation's lines sit in one log stream between `START RequestId: ID` and
//! `REPORT RequestId: ID`. An invocation is the probe's when one of its lines names a probe
//! key (the handler logs `objectKey` decoded). What counts, in that order: the probe's event
//! in the failure queue (Lambda gave it up), a line of the probe's invocation saying it failed
//! (the handler's `"outcome": "error"` line, `[ERROR]`, `Task timed out`), a failed invocation
//! not tied to a probe (an import error happens before the handler names any key), a throttle;
//! nothing at all is "never invoked": S3 did not deliver the event.

use crate::ops::logs::LogLine;
use serde::Serialize;

/// Which link broke, and the line that shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// `function` (it ran and failed), `concurrency` (throttled), `notification` (never
    /// invoked), `table` (the function logged the item, the index does not have it).
    pub link: &'static str,
    /// `error`, `timeout`, `throttled`, `gave_up`, `never_invoked`, `not_indexed`.
    pub cause: &'static str,
    /// The evidence, quoted: a log line, a failed event's error, or what was looked at.
    pub evidence: String,
    /// The probe key the evidence names, when it names one.
    pub probe: Option<String>,
}

/// A failed event of the queue: the object keys of its records, Lambda's condition, the
/// function's last error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailedEvent {
    pub keys: Vec<String>,
    pub condition: Option<String>,
    pub last_error: Option<String>,
}

/// One invocation's lines.
#[derive(Debug, Default)]
struct Invocation<'a> {
    lines: Vec<&'a str>,
}

/// Groups lines into invocations per stream: a `START RequestId:` line opens one.
fn invocations(lines: &[LogLine]) -> Vec<Invocation<'_>> {
    let mut by_stream: Vec<(&str, Vec<&LogLine>)> = Vec::new();
    for l in lines {
        match by_stream.iter_mut().find(|(s, _)| *s == l.stream) {
            Some((_, v)) => v.push(l),
            None => by_stream.push((&l.stream, vec![l])),
        }
    }
    let mut out = Vec::new();
    for (_, mut ls) in by_stream {
        ls.sort_by_key(|l| l.timestamp_ms);
        let mut cur = Invocation::default();
        for l in ls {
            if l.message.starts_with("START RequestId:") && !cur.lines.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            cur.lines.push(&l.message);
        }
        if !cur.lines.is_empty() {
            out.push(cur);
        }
    }
    out
}

/// The key as the handler's JSON lines carry it (`"objectKey": "..."`).
fn names(line: &str, key: &str) -> bool {
    let quoted = serde_json::to_string(key).unwrap_or_default();
    line.contains(&quoted)
}

/// The line that says an invocation failed, and how.
fn failure(inv: &Invocation) -> Option<(&'static str, String)> {
    for l in &inv.lines {
        if l.contains("Task timed out") {
            return Some(("timeout", l.to_string()));
        }
    }
    for l in &inv.lines {
        let json_error = serde_json::from_str::<serde_json::Value>(l)
            .ok()
            .is_some_and(|v| v["outcome"] == "error" || v["level"] == "ERROR");
        if json_error || l.starts_with("[ERROR]") || l.contains("\t[ERROR]\t") {
            return Some(("error", l.to_string()));
        }
        if l.contains("Rate Exceeded") || l.contains("TooManyRequestsException") {
            return Some(("throttled", l.to_string()));
        }
    }
    None
}

/// What failed so far; `None` while nothing says the probe failed (its item may still come).
/// `final_look` (the deadline passed): also "never invoked" or "not indexed".
pub fn diagnose(
    probes: &[String],
    lines: &[LogLine],
    failed: &[FailedEvent],
    final_look: bool,
) -> Option<Diagnosis> {
    let probe_of = |text: &str| probes.iter().find(|k| names(text, k)).cloned();
    for f in failed {
        if let Some(k) = f.keys.iter().find(|k| probes.contains(k)) {
            return Some(Diagnosis {
                link: "function",
                cause: "gave_up",
                evidence: format!(
                    "the probe's event is in the failure queue ({}): {}",
                    f.condition.as_deref().unwrap_or("no condition"),
                    f.last_error.as_deref().unwrap_or("no error recorded")
                ),
                probe: Some(k.clone()),
            });
        }
    }
    let invs = invocations(lines);
    let mut untied = None;
    let mut logged = None;
    for inv in &invs {
        let probe = inv.lines.iter().find_map(|l| probe_of(l));
        match (failure(inv), probe) {
            (Some((cause, line)), Some(p)) => {
                return Some(diagnosis(cause, line, Some(p)));
            }
            // Another object's invocation failing is not the probe's evidence.
            (Some(_), None) if inv.lines.iter().any(|l| l.contains("\"objectKey\"")) => {}
            (Some((cause, line)), None) => {
                untied.get_or_insert((cause, line));
            }
            (None, Some(p)) => {
                if inv.lines.iter().any(|l| l.contains("record logged")) {
                    logged.get_or_insert(p);
                }
            }
            (None, None) => {}
        }
    }
    if let Some((cause, line)) = untied {
        return Some(diagnosis(cause, line, None));
    }
    if !final_look {
        return None;
    }
    if let Some(p) = logged {
        return Some(Diagnosis {
            link: "table",
            cause: "not_indexed",
            evidence: "the function logged the probe's item (\"record logged\"), but the \
                       table's object index never returned it"
                .to_string(),
            probe: Some(p),
        });
    }
    Some(Diagnosis {
        link: "notification",
        cause: "never_invoked",
        evidence: if invs.is_empty() {
            "never invoked: the function's log has no line since the first probe and the \
             failure queue holds no probe event"
                .to_string()
        } else {
            format!(
                "never invoked for a probe: {} invocation(s) since the first probe, none \
                 for a probe key, and the failure queue holds no probe event",
                invs.len()
            )
        },
        probe: None,
    })
}

fn diagnosis(cause: &'static str, line: String, probe: Option<String>) -> Diagnosis {
    let link = if cause == "throttled" {
        "concurrency"
    } else {
        "function"
    };
    let line: String = line
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(500)
        .collect();
    Diagnosis {
        link,
        cause,
        evidence: line,
        probe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(stream: &str, msgs: &[&str]) -> Vec<LogLine> {
        msgs.iter()
            .enumerate()
            .map(|(i, m)| LogLine {
                timestamp_ms: i as i64,
                stream: stream.into(),
                message: (*m).into(),
                id: format!("{stream}{i}"),
            })
            .collect()
    }

    const PROBE: &str = "tapctl-smoke/probe 1-2-0.txt";

    fn probes() -> Vec<String> {
        vec![PROBE.to_string()]
    }

    #[test]
    fn the_probes_error_line_is_quoted() {
        let err = format!(
            r#"{{"level": "ERROR", "objectKey": "{PROBE}", "outcome": "error", "errorCode": "AccessDeniedException"}}"#
        );
        let mut ls = lines(
            "a",
            &["START RequestId: 1", "[ERROR] other", "REPORT RequestId: 1"],
        );
        ls.extend(lines(
            "b",
            &["START RequestId: 2", &err, "REPORT RequestId: 2"],
        ));
        let d = diagnose(&probes(), &ls, &[], false).unwrap();
        assert_eq!((d.link, d.cause), ("function", "error"));
        assert!(d.evidence.contains("AccessDeniedException"), "{d:?}");
        // Another object's failed invocation is no evidence about the probe.
        let other = lines(
            "c",
            &[
                "START RequestId: 3",
                r#"{"level": "ERROR", "objectKey": "in/x.txt", "outcome": "error"}"#,
            ],
        );
        assert_eq!(diagnose(&probes(), &other, &[], false), None);
        assert_eq!(d.probe.as_deref(), Some(PROBE));
    }

    #[test]
    fn a_timeout_and_an_untied_import_error_are_named() {
        let ls = lines(
            "a",
            &[
                "START RequestId: 1",
                "2024-01-01T00:00:00Z 1 Task timed out after 3.00 seconds",
                "END RequestId: 1",
            ],
        );
        let d = diagnose(&probes(), &ls, &[], false).unwrap();
        assert_eq!(d.cause, "timeout");
        assert!(d.evidence.contains("Task timed out"));
        let ls = lines(
            "a",
            &[
                "START RequestId: 1",
                "[ERROR] Runtime.ImportModuleError: no module",
            ],
        );
        let d = diagnose(&probes(), &ls, &[], false).unwrap();
        assert_eq!((d.link, d.cause, d.probe), ("function", "error", None));
        assert!(d.evidence.starts_with("[ERROR] Runtime.ImportModuleError"));
    }

    #[test]
    fn the_failure_queue_wins_and_nothing_is_never_invoked() {
        let failed = [FailedEvent {
            keys: vec![PROBE.into()],
            condition: Some("RetriesExhausted".into()),
            last_error: Some("RuntimeError: boom".into()),
        }];
        let d = diagnose(&probes(), &[], &failed, false).unwrap();
        assert_eq!((d.link, d.cause), ("function", "gave_up"));
        assert!(d.evidence.contains("RetriesExhausted") && d.evidence.contains("boom"));
        // Nothing yet: keep waiting; at the deadline: never invoked.
        assert_eq!(diagnose(&probes(), &[], &[], false), None);
        let d = diagnose(&probes(), &[], &[], true).unwrap();
        assert_eq!((d.link, d.cause), ("notification", "never_invoked"));
        assert!(d.evidence.contains("never invoked"));
        // Another object's successful invocation does not count as the probe's.
        let ok = lines(
            "a",
            &[
                "START RequestId: 1",
                r#"{"objectKey": "x", "message": "record logged"}"#,
            ],
        );
        assert_eq!(diagnose(&probes(), &ok, &[], false), None);
        assert_eq!(
            diagnose(&probes(), &ok, &[], true).unwrap().cause,
            "never_invoked"
        );
    }

    #[test]
    fn a_throttle_line_names_concurrency() {
        let ls = lines(
            "a",
            &[
                "START RequestId: 1",
                "TooManyRequestsException: Rate Exceeded.",
            ],
        );
        let d = diagnose(&probes(), &ls, &[], false).unwrap();
        assert_eq!((d.link, d.cause), ("concurrency", "throttled"));
    }
}
