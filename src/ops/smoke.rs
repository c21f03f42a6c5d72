//! `tapctl smoke`: an end-to-end check of a deployed stack. Uploads a probe object (its key has a
//! space, so the handler's URL-decoding is exercised too) and waits, within `--timeout`, for the
//! log item the function writes for it; then removes every probe object and its items.
//!
//! Right after `up` the first probes may produce no event at all: a new bucket notification
//! "typically takes about five minutes" to take effect (S3 user guide, "Amazon S3 Event
//! Notifications"), and an object created before then is never announced. So smoke uploads a
//! fresh probe periodically (2 s after the first, doubling up to 30 s apart) until one's item
//! shows up or the deadline passes. Items are found through the table's object index (a Query
//! per probe key: no scan, whatever the table's size).
//!
//! Before any upload, one read round over the chain ([`chain`]) names a broken link (no
//! notification entry, no permission, a Failed function, reserved concurrency 0, no failure
//! destination or queue) with the command that repairs it, without a probe. While it waits,
//! smoke reads the function's log lines since the first probe every few seconds: a failed
//! invocation of a probe (an error line, "Task timed out", a throttle) ends the wait at once
//! with that line; at the deadline the failure queue is read too, and no evidence at all means
//! the probe was never invoked ([`diagnose`]).
//!
//! Cleanup removes every probe object it uploaded and the items of every probe. Probes uploaded
//! after the one whose item was found were announced too (the notification was in effect by
//! then): their items are waited for, within a bounded grace, and removed. The report counts
//! what was removed and says what was not; it never claims a cleanup it did not do.

use crate::aws::Clients;
use crate::error::{AwsContext, AwsError, one_line_anyhow};
use crate::ops::chain::{self, Broken};
use crate::ops::diagnose::{self, Diagnosis, FailedEvent};
use crate::ops::items::{self, LogItem};
use crate::ops::{logs, messages, redrive};
use crate::resource::retry::Backoff;
use crate::resource::{Ctx, queue};
use crate::spec::Stack;
use anyhow::Result;
use aws_sdk_s3::primitives::ByteStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Where probe objects go.
pub const PROBE_PREFIX: &str = "tapctl-smoke/";
/// The default `--timeout`: beyond S3's "typically about five minutes" notification delay.
pub const DEFAULT_TIMEOUT_S: u64 = 360;
/// Pauses between fresh probes: the first after this, doubling up to [`REUPLOAD_CAP`].
const REUPLOAD_FIRST: Duration = Duration::from_secs(2);
const REUPLOAD_CAP: Duration = Duration::from_secs(30);
/// How long cleanup waits for the items of probes uploaded after the found one: twice the
/// measured latency, within these bounds.
const GRACE_MIN: Duration = Duration::from_secs(5);
const GRACE_MAX: Duration = Duration::from_secs(30);

/// What one smoke run saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub bucket: String,
    pub table: String,
    /// The probe whose item was found (else the last one uploaded).
    pub key: String,
    /// Probe objects uploaded.
    pub probes: usize,
    /// From the start of that probe's upload to its log item being readable.
    pub latency: Option<Duration>,
    /// The item's requestId and the handler's own timestamps, when it was found.
    pub request_id: Option<String>,
    pub event_time: Option<String>,
    pub logged_at: Option<String>,
    pub objects_removed: usize,
    pub items_removed: usize,
    /// Every probe object is gone, and so is every item the probes were known to produce.
    pub cleaned_up: bool,
    /// The broken links the first read round found (then no probe was uploaded).
    pub broken: Vec<Broken>,
    /// How long that read round took.
    pub chain_read: Option<Duration>,
    /// Why the probe's item did not come, from the function's log and the failure queue.
    pub diagnosis: Option<Diagnosis>,
    /// Stopped by Ctrl-C (the probes were removed all the same).
    pub interrupted: bool,
    pub error: Option<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

fn probe_key(n: usize) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{PROBE_PREFIX}probe {}-{}-{n}.txt",
        now.as_millis(),
        std::process::id()
    )
}

struct Probe {
    key: String,
    uploaded: Instant,
    /// Epoch milliseconds at upload (where the log evidence starts).
    at_ms: i64,
}

/// Why the wait for an item ended without one, before the deadline.
enum Failed {
    /// The function's log showed a probe's invocation failing.
    Diagnosed(Diagnosis),
    /// An upload or a read failed.
    Other(String),
}

impl From<String> for Failed {
    fn from(e: String) -> Self {
        Failed::Other(e)
    }
}

/// How often the wait reads the function's log for a failed probe (FilterLogEvents allows 5
/// calls a second per account and region, shared by every reader).
const EVIDENCE_EVERY: Duration = Duration::from_secs(2);

/// The function's log lines since `since_ms` (a second's margin) and, on the `final_look`, the
/// failure queue's records, judged by [`diagnose::diagnose`]. A read that fails is no
/// evidence (said so on the final look).
async fn evidence(
    aws: &Clients,
    s: &Stack,
    probes: &[String],
    since_ms: i64,
    final_look: bool,
) -> Option<Diagnosis> {
    let lines = logs::events_since(aws, s, since_ms - 1000, None).await;
    let failed = if final_look {
        failed_events(aws, s).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    match lines {
        Ok(lines) => diagnose::diagnose(probes, &lines, &failed, final_look),
        Err(e) => diagnose::diagnose(probes, &[], &failed, false).or_else(|| {
            final_look.then(|| Diagnosis {
                link: "function",
                cause: "unknown",
                evidence: format!(
                    "the function's log could not be read: {}",
                    one_line_anyhow(&e)
                ),
                probe: None,
            })
        }),
    }
}

/// The failure queue's records, read without taking them (visibility 0), a few receives.
async fn failed_events(aws: &Clients, s: &Stack) -> Result<Vec<FailedEvent>> {
    let Some(url) = queue::url(aws, s).await? else {
        return Ok(Vec::new());
    };
    let prefix = format!("{}/", s.bucket_name);
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for _ in 0..3 {
        let got = messages::receive(aws, &url, Duration::ZERO, Duration::ZERO).await?;
        if got.is_empty() {
            break;
        }
        for m in got {
            if !seen.insert(m.id.clone()) {
                continue;
            }
            if let Ok(r) = redrive::parse(&m.body, &s.function_arn) {
                out.push(FailedEvent {
                    keys: r
                        .objects
                        .iter()
                        .filter_map(|o| o.strip_prefix(&prefix).map(str::to_string))
                        .collect(),
                    condition: r.condition,
                    last_error: r.last_error,
                });
            }
        }
    }
    Ok(out)
}

async fn upload(aws: &Clients, s: &Stack, key: &str) -> Result<(), String> {
    let put = aws
        .s3
        .put_object()
        .bucket(&s.bucket_name)
        .expected_bucket_owner(&s.target.account)
        .key(key)
        .content_type("text/plain")
        .body(ByteStream::from(
            format!("tapctl smoke probe for stack {}\n", s.suffix()).into_bytes(),
        ))
        .send()
        .await;
    put.map(|_| ()).map_err(|e| {
        format!(
            "uploading the probe to bucket {}: {} (is the stack deployed? `{}`)",
            s.bucket_name,
            AwsError::new(e),
            s.command("status")
        )
    })
}

async fn items_of(aws: &Clients, s: &Stack, key: &str) -> Result<Vec<LogItem>> {
    Ok(items::for_object(aws, s, key, None, 100).await?.items)
}

/// Runs the check: the chain first, then the probe; stops waiting when `stop` completes
/// (Ctrl-C). Never returns without trying to clean up what it made.
pub async fn run(
    ctx: &Ctx,
    timeout: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Report {
    let (aws, s) = (&ctx.aws, &ctx.stack);
    let mut report = Report {
        bucket: s.bucket_name.clone(),
        table: s.table_name.clone(),
        ..Report::default()
    };
    let started = Instant::now();
    let read = chain::read(ctx).await;
    report.chain_read = Some(started.elapsed());
    match read {
        Ok(c) => report.broken = chain::judge(s, &c),
        Err(e) => report.error = Some(format!("reading the chain: {}", one_line_anyhow(&e))),
    }
    if let Some(b) = report.broken.first() {
        report.error = Some(format!("{}: {}: run `{}`", b.link, b.problem, b.fix));
    }
    if report.error.is_some() {
        report.cleaned_up = true;
        return report;
    }
    let deadline = Instant::now() + timeout;
    let mut probes: Vec<Probe> = Vec::new();
    let found = tokio::select! {
        found = wait_for_item(aws, s, deadline, &mut probes) => Some(found),
        () = stop => None,
    };
    let Some(found) = found else {
        report.interrupted = true;
        report.error = Some("interrupted: smoke stopped waiting; its probes were removed".into());
        report.probes = probes.len();
        report.key = probes.last().map(|p| p.key.clone()).unwrap_or_default();
        if let Err(e) = clean_up(aws, s, &probes, None, Duration::ZERO, &mut report).await {
            report.error = Some(format!(
                "interrupted: smoke stopped waiting; cleaning up: {e}"
            ));
        }
        return report;
    };
    report.probes = probes.len();
    report.key = probes.last().map(|p| p.key.clone()).unwrap_or_default();
    let mut hit = None;
    match found {
        Ok(Some((i, item, at))) => {
            report.key = probes[i].key.clone();
            report.latency = Some(at - probes[i].uploaded);
            report.request_id = Some(item.request_id.clone());
            report.event_time = Some(item.time.clone());
            report.logged_at = item.logged_at.clone();
            hit = Some(i);
        }
        Ok(None) => {
            let keys: Vec<String> = probes.iter().map(|p| p.key.clone()).collect();
            let since = probes.first().map(|p| p.at_ms).unwrap_or_default();
            let d = evidence(aws, s, &keys, since, true).await;
            report.error = Some(match &d {
                Some(d) => format!(
                    "no log item for {} probe(s) within {}s: {}: {}",
                    probes.len(),
                    timeout.as_secs(),
                    d.link,
                    d.evidence
                ),
                None => format!(
                    "no log item for {} probe(s) in table {} within {}s",
                    probes.len(),
                    s.table_name,
                    timeout.as_secs()
                ),
            });
            report.diagnosis = d;
        }
        Err(Failed::Diagnosed(d)) => {
            report.error = Some(format!("{}: {}", d.link, d.evidence));
            report.diagnosis = Some(d);
        }
        Err(Failed::Other(e)) => report.error = Some(e),
    }
    let grace = report
        .latency
        .map_or(GRACE_MIN, |l| (l * 2).clamp(GRACE_MIN, GRACE_MAX));
    if let Err(e) = clean_up(aws, s, &probes, hit, grace, &mut report).await {
        let why = format!("cleaning up: {e}");
        report.error = Some(match report.error.take() {
            Some(first) => format!("{first}; {why}"),
            None => why,
        });
    }
    report
}

/// Uploads probes and polls for their items until one shows up (its probe's index, the item,
/// when it was read) or the deadline passes (`None`). An upload error ends it at once, and so
/// does a failed invocation of a probe in the function's log.
async fn wait_for_item(
    aws: &Clients,
    s: &Stack,
    deadline: Instant,
    probes: &mut Vec<Probe>,
) -> Result<Option<(usize, LogItem, Instant)>, Failed> {
    let mut pause = REUPLOAD_FIRST;
    let mut next_look = Instant::now() + EVIDENCE_EVERY;
    loop {
        let key = probe_key(probes.len());
        let uploaded = Instant::now();
        let at_ms = crate::ops::inspect::now_ms();
        upload(aws, s, &key).await?;
        probes.push(Probe {
            key,
            uploaded,
            at_ms,
        });
        let next_upload = uploaded + pause;
        pause = (pause * 2).min(REUPLOAD_CAP);
        let until = next_upload.min(deadline);
        let mut backoff = Backoff::between(
            Duration::from_millis(200),
            Duration::from_secs(1),
            until.saturating_duration_since(Instant::now()),
        );
        loop {
            for (i, p) in probes.iter().enumerate() {
                let found = items_of(aws, s, &p.key)
                    .await
                    .map_err(|e| one_line_anyhow(&e))?;
                if let Some(item) = found.into_iter().next() {
                    return Ok(Some((i, item, Instant::now())));
                }
            }
            if Instant::now() >= next_look {
                let keys: Vec<String> = probes.iter().map(|p| p.key.clone()).collect();
                if let Some(d) = evidence(aws, s, &keys, probes[0].at_ms, false).await {
                    return Err(Failed::Diagnosed(d));
                }
                next_look = Instant::now() + EVIDENCE_EVERY;
            }
            if !backoff.wait().await {
                break;
            }
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
    }
}

/// Removes every probe object and every item of the probes; waits up to `grace` for the items
/// of the probes uploaded after the found one (`hit`). Counts into `report`; an error or an
/// item that did not arrive leaves `cleaned_up` false and is returned.
async fn clean_up(
    aws: &Clients,
    s: &Stack,
    probes: &[Probe],
    hit: Option<usize>,
    grace: Duration,
    report: &mut Report,
) -> Result<(), String> {
    let mut failures = Vec::new();
    for p in probes {
        let deleted = aws
            .s3
            .delete_object()
            .bucket(&s.bucket_name)
            .expected_bucket_owner(&s.target.account)
            .key(&p.key)
            .send()
            .await
            .aws_context("DeleteObject");
        match deleted {
            Ok(_) => report.objects_removed += 1,
            Err(e) => failures.push(format!("probe {}: {}", p.key, one_line_anyhow(&e))),
        }
    }
    let until = Instant::now() + grace;
    for (i, p) in probes.iter().enumerate() {
        // Announced for sure: the found probe and every later one.
        let expected = hit.is_some_and(|h| i >= h);
        let mut backoff = Backoff::between(
            Duration::from_millis(200),
            Duration::from_secs(1),
            until.saturating_duration_since(Instant::now()),
        );
        let found = loop {
            match items_of(aws, s, &p.key).await {
                Ok(found) if !found.is_empty() || !expected => break Ok(found),
                Ok(_) if backoff.wait().await => {}
                Ok(_) => {
                    break Err(format!(
                        "the log item of probe {:?} had not arrived after {}s: remove it later \
                         ({})",
                        p.key,
                        grace.as_secs(),
                        s.command_with("events", &["--key", &p.key])
                    ));
                }
                Err(e) => break Err(one_line_anyhow(&e)),
            }
        };
        match found {
            Ok(found) => {
                for item in &found {
                    match items::delete(aws, s, item).await {
                        Ok(()) => report.items_removed += 1,
                        Err(e) => failures.push(one_line_anyhow(&e)),
                    }
                }
            }
            Err(e) => failures.push(e),
        }
    }
    report.cleaned_up = failures.is_empty() && report.objects_removed == probes.len();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_keys_are_unique_and_need_decoding() {
        let k = probe_key(0);
        assert!(k.starts_with(PROBE_PREFIX) && k.contains(' '), "{k}");
        assert_ne!(probe_key(0), probe_key(1));
    }
}
