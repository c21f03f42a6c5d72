//! `tapctl redrive`: runs the failed events waiting in the failure queue through the deployed
//! function again. Each message is a Lambda destination record (Lambda developer guide,
//! "Asynchronous invocation": `requestContext.condition` says why Lambda gave up, e.g.
//! `RetriesExhausted`; `requestPayload` is the original S3 event). Its `requestPayload` is
//! invoked synchronously; the message is deleted only once the function succeeded (ten at a
//! time, once the ten taken together have run), so a run
//! that fails or is killed loses nothing, and a rerun is safe: the handler's conditional write
//! counts an event it already logged as a duplicate instead of writing it twice.
//!
//! Messages are taken ten at a time (a short long poll, so an empty answer means an empty
//! queue), hidden meanwhile for longer than the function may run; those left in the queue
//! (still failing, or not a destination record of this stack's function) are made visible
//! again at the end, for the next run. `--dry-run` reads and releases, invoking nothing.

use crate::aws::Clients;
use crate::error::one_line_anyhow;
use crate::ops::{invoke, messages};
use crate::resource::queue;
use crate::spec::Stack;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::task::JoinSet;

/// How long a received message stays hidden: longer than one invocation of the deployed
/// function may run (its timeout, up to 900 s, plus the call's margin), so a slow invocation's
/// message cannot show again and be taken twice.
pub fn visibility(deployed_timeout_s: i32) -> Duration {
    invoke::invoke_budget(deployed_timeout_s) + Duration::from_secs(30)
}
/// The long poll: SQS answers at once when messages are there.
const WAIT: Duration = Duration::from_secs(1);

/// What became of one failed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `--dry-run`: it would be run through the function.
    WouldRedrive,
    /// The function succeeded on it; the message was deleted. The handler's summary.
    Redriven {
        processed: u64,
        duplicates: u64,
        skipped: u64,
    },
    /// The function failed again (or could not be invoked): left in the queue.
    StillFailing(String),
    /// Not a Lambda destination record of this stack's function: left in the queue.
    NotARecord(String),
    /// Not a destination record, deleted because `--drop-foreign` asked for it.
    Dropped(String),
}

impl Outcome {
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::WouldRedrive => "would_redrive",
            Outcome::Redriven { .. } => "redriven",
            Outcome::StillFailing(_) => "still_failing",
            Outcome::NotARecord(_) => "not_a_destination_record",
            Outcome::Dropped(_) => "dropped",
        }
    }

    /// Whether the message stays in the queue.
    pub fn left(&self) -> bool {
        matches!(self, Outcome::StillFailing(_) | Outcome::NotARecord(_))
    }
}

/// One message of the queue and what became of it.
#[derive(Debug, Clone)]
pub struct Event {
    pub message_id: String,
    /// `bucket/key` of each S3 record of the original event (keys decoded).
    pub objects: Vec<String>,
    /// Why Lambda gave up on it (`RetriesExhausted`, `EventAgeExceeded`).
    pub condition: Option<String>,
    /// The function's last error, as the record carries it.
    pub last_error: Option<String>,
    pub outcome: Outcome,
}

/// What one run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub queue: String,
    pub dry_run: bool,
    pub events: Vec<Event>,
}

/// The counts a report sums up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub redriven: u64,
    pub processed: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub still_failing: u64,
    pub not_records: u64,
    pub dropped: u64,
    pub would_redrive: u64,
}

impl Report {
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for e in &self.events {
            match &e.outcome {
                Outcome::WouldRedrive => t.would_redrive += 1,
                Outcome::Redriven {
                    processed,
                    duplicates,
                    skipped,
                } => {
                    t.redriven += 1;
                    t.processed += processed;
                    t.duplicates += duplicates;
                    t.skipped += skipped;
                }
                Outcome::StillFailing(_) => t.still_failing += 1,
                Outcome::NotARecord(_) => t.not_records += 1,
                Outcome::Dropped(_) => t.dropped += 1,
            }
        }
        t
    }

    /// Whether messages are left in the queue (or, for a dry run, would be redriven).
    pub fn pending(&self) -> bool {
        self.events
            .iter()
            .any(|e| e.outcome.left() || e.outcome == Outcome::WouldRedrive)
    }
}

/// A Lambda destination record, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub payload: Value,
    pub condition: Option<String>,
    pub last_error: Option<String>,
    pub objects: Vec<String>,
}

/// `errorType: errorMessage` of a function's error payload.
fn error_text(v: &Value) -> Option<String> {
    let message = v.get("errorMessage").and_then(Value::as_str);
    let kind = v.get("errorType").and_then(Value::as_str);
    match (kind, message) {
        (Some(k), Some(m)) => Some(format!("{k}: {m}")),
        (None, Some(m)) => Some(m.to_string()),
        (Some(k), None) => Some(k.to_string()),
        (None, None) => None,
    }
}

/// S3 event keys are URL-encoded, spaces as `+`.
fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Reads a message body as a destination record of `function_arn`'s async invocations.
pub fn parse(body: &str, function_arn: &str) -> Result<Record, String> {
    let v: Value = serde_json::from_str(body).map_err(|_| "not JSON".to_string())?;
    let context = v
        .get("requestContext")
        .filter(|c| c.is_object())
        .ok_or("no requestContext")?;
    let payload = v
        .get("requestPayload")
        .filter(|p| p.is_object())
        .ok_or("no requestPayload")?;
    let arn = context
        .get("functionArn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // `...:function:NAME:$LATEST` (the version invoked), or the bare ARN.
    if arn != function_arn && !arn.starts_with(&format!("{function_arn}:")) {
        return Err(format!("from another function ({arn:?})"));
    }
    let objects = payload
        .get("Records")
        .and_then(Value::as_array)
        .map(|records| {
            records
                .iter()
                .filter_map(|r| {
                    let bucket = r.pointer("/s3/bucket/name")?.as_str()?;
                    let key = r.pointer("/s3/object/key")?.as_str()?;
                    Some(format!("{bucket}/{}", decode_key(key)))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Record {
        payload: payload.clone(),
        condition: context
            .get("condition")
            .and_then(Value::as_str)
            .map(str::to_string),
        last_error: v.get("responsePayload").and_then(error_text),
        objects,
    })
}

/// What a synchronous invocation's answer means for the event.
pub fn judge(invoked: &invoke::Invoked) -> Outcome {
    let v: Value = serde_json::from_slice(&invoked.payload).unwrap_or(Value::Null);
    if let Some(kind) = &invoked.function_error {
        let why = error_text(&v).unwrap_or_else(|| kind.clone());
        return Outcome::StillFailing(why);
    }
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    Outcome::Redriven {
        processed: n("processed"),
        duplicates: n("duplicates"),
        skipped: n("skipped"),
    }
}

/// Runs one message: parse, invoke (its deletion is the caller's).
async fn redrive_one(
    aws: &Clients,
    s: &Stack,
    timeout_s: i32,
    m: &messages::Message,
    (dry_run, drop_foreign): (bool, bool),
) -> Event {
    let record = parse(&m.body, &s.function_arn);
    let mut event = Event {
        message_id: m.id.clone(),
        objects: Vec::new(),
        condition: None,
        last_error: None,
        outcome: Outcome::WouldRedrive,
    };
    let record = match record {
        Ok(r) => r,
        Err(why) => {
            event.outcome = if drop_foreign && !dry_run {
                Outcome::Dropped(why)
            } else {
                Outcome::NotARecord(why)
            };
            return event;
        }
    };
    event.objects = record.objects.clone();
    event.condition = record.condition.clone();
    event.last_error = record.last_error.clone();
    if dry_run {
        return event;
    }
    let invoked = invoke::invoke(aws, s, timeout_s, record.payload.to_string().into_bytes()).await;
    event.outcome = match invoked {
        Ok(invoked) => judge(&invoked),
        Err(e) => Outcome::StillFailing(one_line_anyhow(&e)),
    };
    event
}

/// Deletes the messages of the events the function succeeded on (and those dropped on
/// request); one it could not delete stays (the next run counts it as a duplicate) and is
/// reported as such.
async fn delete_done(aws: &Clients, url: &str, done: &mut [(String, Event)]) -> Result<()> {
    let redriven: Vec<usize> = (0..done.len())
        .filter(|i| {
            matches!(
                done[*i].1.outcome,
                Outcome::Redriven { .. } | Outcome::Dropped(_)
            )
        })
        .collect();
    let receipts: Vec<&str> = redriven.iter().map(|i| done[*i].0.as_str()).collect();
    for (k, why) in messages::delete_messages(aws, url, &receipts).await? {
        if let Some(i) = redriven.get(k) {
            done[*i].1.outcome =
                Outcome::StillFailing(format!("redriven, but its message stays: {why}"));
        }
    }
    Ok(())
}

/// Takes every failed event from the queue and runs it (or, dry, lists it).
/// `drop_foreign`: messages that are not destination records of this function are deleted
/// (each listed in the report) instead of left in the queue.
pub async fn run(aws: &Clients, s: &Stack, dry_run: bool, drop_foreign: bool) -> Result<Report> {
    let (url, timeout) = tokio::join!(queue::url(aws, s), invoke::deployed_timeout(aws, s));
    let url = url?.with_context(|| {
        format!(
            "stack {} has no failure queue {}: run `{}`",
            s.suffix(),
            s.queue_name,
            s.command("up")
        )
    })?;
    // --dry-run invokes nothing: the longest timeout Lambda allows hides its messages enough.
    let timeout = match timeout {
        Ok(t) => t,
        Err(_) if dry_run => crate::settings::TIMEOUT_S.1,
        Err(e) => return Err(e),
    };
    let hidden = visibility(timeout);
    let mut report = Report {
        queue: s.queue_name.clone(),
        dry_run,
        events: Vec::new(),
    };
    let mut seen: HashSet<String> = HashSet::new();
    // Message id -> its latest receipt (only the latest one changes its visibility).
    let mut held: HashMap<String, String> = HashMap::new();
    let result = async {
        loop {
            let batch = messages::receive(aws, &url, hidden, WAIT).await?;
            let (fresh, again): (Vec<_>, Vec<_>) =
                batch.into_iter().partition(|m| seen.insert(m.id.clone()));
            // A message seen before came back (its visibility ran out): this run is done.
            held.extend(again.into_iter().map(|m| (m.id, m.receipt)));
            if fresh.is_empty() {
                return anyhow::Ok(());
            }
            let mut set = JoinSet::new();
            for m in fresh {
                let (aws, s) = (aws.clone(), s.clone());
                set.spawn(async move {
                    let e = redrive_one(&aws, &s, timeout, &m, (dry_run, drop_foreign)).await;
                    (m.receipt, e)
                });
            }
            let mut done = Vec::new();
            while let Some(joined) = set.join_next().await {
                done.push(joined.context("a redrive task panicked")?);
            }
            delete_done(aws, &url, &mut done).await?;
            for (receipt, event) in done {
                if event.outcome.left() || dry_run {
                    held.insert(event.message_id.clone(), receipt);
                }
                report.events.push(event);
            }
        }
    }
    .await;
    // Whatever happened, what is left waits visibly for the next run (if this fails, it
    // shows again once its visibility timeout ends).
    let receipts: Vec<String> = held.into_values().collect();
    if let Err(e) = messages::release(aws, &url, &receipts).await {
        tracing::warn!(
            "the events left in queue {} show again within {}s: {}",
            s.queue_name,
            hidden.as_secs(),
            one_line_anyhow(&e)
        );
    }
    result?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_message_stays_hidden_longer_than_the_deployed_function_may_run() {
        // The deployed timeout decides, not a compiled-in 30 s: a 900 s function's message
        // must not show again (and be taken twice) while its invocation still runs.
        for t in [1, 30, 300, 900] {
            let run = invoke::invoke_budget(t);
            assert!(run >= Duration::from_secs(t as u64), "{t}");
            assert!(visibility(t) > run, "{t}");
        }
        assert!(visibility(900) > Duration::from_secs(930));
        // SQS's limit for a visibility timeout is 12 hours.
        assert!(visibility(900) < Duration::from_secs(12 * 3600));
    }

    const ARN: &str = "arn:aws:lambda:us-west-2:123456789012:function:s3-processor-dev";

    fn record(arn: &str) -> String {
        json!({
            "version": "1.0",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "requestContext": {"requestId": "r", "functionArn": format!("{arn}:$LATEST"),
                               "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": {"Records": [{"eventSource": "aws:s3",
                "s3": {"bucket": {"name": "b"}, "object": {"key": "a+b%21.txt"}}}]},
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {"errorType": "ClientError", "errorMessage": "throttled"}
        })
        .to_string()
    }

    #[test]
    fn destination_records_are_read() {
        let r = parse(&record(ARN), ARN).unwrap();
        assert_eq!(r.objects, ["b/a b!.txt"]);
        assert_eq!(r.condition.as_deref(), Some("RetriesExhausted"));
        assert_eq!(r.last_error.as_deref(), Some("ClientError: throttled"));
        assert_eq!(r.payload["Records"][0]["eventSource"], "aws:s3");
    }

    #[test]
    fn other_messages_are_not_records() {
        assert_eq!(parse("hello", ARN).unwrap_err(), "not JSON");
        assert_eq!(parse("{}", ARN).unwrap_err(), "no requestContext");
        let no_payload = json!({"requestContext": {"functionArn": ARN}}).to_string();
        assert_eq!(parse(&no_payload, ARN).unwrap_err(), "no requestPayload");
        let other = record("arn:aws:lambda:us-west-2:123456789012:function:s3-processor-dev2");
        assert!(parse(&other, ARN).unwrap_err().contains("another function"));
    }

    #[test]
    fn the_answer_decides() {
        let ok = invoke::Invoked {
            status: 200,
            log_tail: String::new(),
            function_error: None,
            payload: br#"{"processed": 1, "duplicates": 2, "skipped": 0}"#.to_vec(),
        };
        assert_eq!(
            judge(&ok),
            Outcome::Redriven {
                processed: 1,
                duplicates: 2,
                skipped: 0
            }
        );
        let failed = invoke::Invoked {
            status: 200,
            log_tail: String::new(),
            function_error: Some("Unhandled".into()),
            payload: br#"{"errorType": "ClientError", "errorMessage": "boom"}"#.to_vec(),
        };
        assert_eq!(
            judge(&failed),
            Outcome::StillFailing("ClientError: boom".into())
        );
        assert!(judge(&failed).left());
    }

    #[test]
    fn totals_and_pending() {
        let event = |outcome| Event {
            message_id: "m".into(),
            objects: vec![],
            condition: None,
            last_error: None,
            outcome,
        };
        let mut r = Report::default();
        r.events.push(event(Outcome::Redriven {
            processed: 1,
            duplicates: 0,
            skipped: 0,
        }));
        assert!(!r.pending());
        r.events.push(event(Outcome::NotARecord("x".into())));
        assert!(r.pending());
        let t = r.totals();
        assert_eq!((t.redriven, t.processed, t.not_records), (1, 1, 1));
    }
}
