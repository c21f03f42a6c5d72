//! `tapctl backfill`: the bucket's objects that have no log item (uploaded while the trigger
//! was missing or broken, or before a new notification took effect: S3 never announces them),
//! each run through the function once.
//!
//! Which objects: ListObjectsV2 (under `--prefix`, modified at or after `--since`), then per
//! object a one-item Query on the object index for an item at or after its LastModified (less
//! [`CLOCK_MARGIN`]): an older item belongs to an earlier object under that key. The checks run
//! [`PARALLEL`] at a time; while the index is being built the items code answers from a Scan.
//!
//! Exactly once per object: each missing object gets one asynchronous Invoke (as S3 would
//! invoke it: retries and the on-failure destination apply) with the event S3 would have sent
//! ([`inspect::s3_object_event`]), made from the object alone (its LastModified as `eventTime`
//! and `sequencer`, its size and ETag), so the handler's requestId is the same whoever sends
//! it and however often: a second invocation is a duplicate the handler's conditional write
//! refuses, never a second item. Then backfill waits (bounded by `wait`, with progress) for
//! the items of what it invoked, so a backfill run right after finds them and invokes nothing.

use crate::aws::Clients;
use crate::error::{AwsContext, one_line_anyhow};
use crate::ops::inspect::{self, Object};
use crate::ops::items;
use crate::ops::smoke::PROBE_PREFIX;
use crate::resource::retry::Backoff;
use crate::spec::Stack;
use anyhow::{Result, anyhow};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Object checks (and invocations) at once.
pub const PARALLEL: usize = 16;
/// S3's `eventTime` is the request's time, LastModified the object's (with second precision in
/// listings): an item this much older than LastModified still counts as the object's.
pub const CLOCK_MARGIN_MS: i64 = 2_000;
/// The default `--wait`: how long backfill waits for the items of what it invoked.
pub const DEFAULT_WAIT_S: u64 = 120;

/// What to backfill.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub prefix: Option<String>,
    /// Only objects modified at or after this (epoch milliseconds).
    pub since_ms: Option<i64>,
    pub dry_run: bool,
    pub wait: Duration,
}

/// What one run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Objects listed (after `--prefix` and `--since`).
    pub checked: usize,
    /// Objects without an item, in key order.
    pub missing: Vec<Object>,
    /// Invoked (asynchronously) and their items seen.
    pub written: Vec<String>,
    /// Invoked, their items not seen by the deadline (the function may still be running, or
    /// failing: `tapctl logs`, the failure queue).
    pub pending: Vec<String>,
    /// Not invoked: the key and why.
    pub failed: Vec<(String, String)>,
    /// The object index was being built: the checks were Scans.
    pub index_building: bool,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.pending.is_empty() && self.failed.is_empty()
    }
}

/// Progress of a run, for the caller's display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Listed(usize),
    Checked { done: usize, of: usize },
    Invoked { done: usize, of: usize },
    Written { done: usize, of: usize },
}

/// Runs `f` on each item, at most `n` at once; the answers in the items' order.
async fn bounded<T, R, F, Fut>(items: Vec<T>, n: usize, f: F, mut each: impl FnMut(usize)) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = R> + Send + 'static,
{
    let total = items.len();
    let mut out: Vec<Option<R>> = (0..total).map(|_| None).collect();
    let mut set = JoinSet::new();
    let mut done = 0;
    for (i, item) in items.into_iter().enumerate() {
        if set.len() >= n
            && let Some(Ok((j, r))) = set.join_next().await
        {
            out[j] = Some(r);
            done += 1;
            each(done);
        }
        let fut = f(item);
        set.spawn(async move { (i, fut.await) });
    }
    while let Some(joined) = set.join_next().await {
        if let Ok((j, r)) = joined {
            out[j] = Some(r);
            done += 1;
            each(done);
        }
    }
    out.into_iter().flatten().collect()
}

/// The bucket's objects under `prefix` modified at or after `since_ms` (ListObjectsV2, every
/// page); smoke's probes only when the prefix names them.
pub async fn list(aws: &Clients, s: &Stack, o: &Options) -> Result<Vec<Object>> {
    let mut pages = aws
        .s3
        .list_objects_v2()
        .bucket(&s.bucket_name)
        .expected_bucket_owner(&s.target.account)
        .set_prefix(o.prefix.clone())
        .into_paginator()
        .send();
    let probes_asked = o
        .prefix
        .as_deref()
        .is_some_and(|p| p.starts_with(PROBE_PREFIX));
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.aws_context("ListObjectsV2").map_err(|e| {
            anyhow!(
                "listing bucket {}: {} (is the stack deployed? {})",
                s.bucket_name,
                one_line_anyhow(&e),
                s.command("status")
            )
        })?;
        for obj in page.contents() {
            let Some(key) = obj.key() else { continue };
            if key.starts_with(PROBE_PREFIX) && !probes_asked {
                continue;
            }
            let time_ms = obj
                .last_modified()
                .and_then(|t| t.to_millis().ok())
                .unwrap_or_default();
            if o.since_ms.is_some_and(|since| time_ms < since) {
                continue;
            }
            out.push(Object {
                key: key.to_string(),
                size: obj.size().unwrap_or_default(),
                etag: obj.e_tag().map(|e| e.trim_matches('"').to_string()),
                time_ms,
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Whether `o` has a log item of its own (one at or after its LastModified, less the margin);
/// also whether the answer came from a Scan (the index being built).
async fn has_item(aws: &Clients, s: &Stack, o: &Object) -> Result<(bool, bool)> {
    let since = inspect::iso_utc(o.time_ms - CLOCK_MARGIN_MS);
    let found = items::for_object(aws, s, &o.key, Some(&since), 1).await?;
    Ok((!found.items.is_empty(), found.index_building))
}

/// One asynchronous invocation (`Event`: Lambda queues it and answers 202), as S3's own.
async fn invoke_async(aws: &Clients, s: &Stack, o: &Object) -> Result<()> {
    let event = inspect::s3_object_event(s, o, "backfill");
    let sent = aws
        .lambda
        .invoke()
        .function_name(&s.function_name)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(serde_json::to_vec(&event)?))
        .send()
        .await;
    match sent {
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Err(anyhow!(
                "function {} does not exist: is the stack deployed? ({})",
                s.function_name,
                s.command("status")
            ))
        }
        other => other.aws_context("Invoke").map(|_| ()),
    }
}

/// Runs a backfill; `progress` hears each step.
pub async fn run(aws: &Clients, s: &Stack, o: &Options, progress: impl Fn(Step)) -> Result<Report> {
    let objects = list(aws, s, o).await?;
    progress(Step::Listed(objects.len()));
    let mut report = Report {
        checked: objects.len(),
        ..Report::default()
    };
    let of = objects.len();
    let checks = bounded(
        objects,
        PARALLEL,
        |obj| {
            let (aws, s) = (aws.clone(), s.clone());
            async move {
                let r = has_item(&aws, &s, &obj).await;
                (obj, r)
            }
        },
        |done| progress(Step::Checked { done, of }),
    )
    .await;
    for (obj, r) in checks {
        let (has, building) = r?;
        report.index_building |= building;
        if !has {
            report.missing.push(obj);
        }
    }
    if o.dry_run || report.missing.is_empty() {
        return Ok(report);
    }
    let of = report.missing.len();
    let invoked = bounded(
        report.missing.clone(),
        PARALLEL,
        |obj| {
            let (aws, s) = (aws.clone(), s.clone());
            async move {
                let r = invoke_async(&aws, &s, &obj).await;
                (obj, r)
            }
        },
        |done| progress(Step::Invoked { done, of }),
    )
    .await;
    let mut waiting = Vec::new();
    for (obj, r) in invoked {
        match r {
            Ok(()) => waiting.push(obj),
            Err(e) => report.failed.push((obj.key, one_line_anyhow(&e))),
        }
    }
    let of = waiting.len();
    let deadline = Instant::now() + o.wait;
    let mut backoff = Backoff::between(Duration::from_millis(250), Duration::from_secs(2), o.wait);
    loop {
        let checks = bounded(
            std::mem::take(&mut waiting),
            PARALLEL,
            |obj| {
                let (aws, s) = (aws.clone(), s.clone());
                async move {
                    let r = has_item(&aws, &s, &obj).await;
                    (obj, r)
                }
            },
            |_| {},
        )
        .await;
        for (obj, r) in checks {
            match r {
                Ok((true, _)) => report.written.push(obj.key),
                Ok((false, _)) => waiting.push(obj),
                Err(e) => return Err(e),
            }
        }
        progress(Step::Written {
            done: report.written.len(),
            of,
        });
        if waiting.is_empty() || Instant::now() >= deadline || !backoff.wait().await {
            break;
        }
    }
    report.written.sort();
    report.pending = waiting.into_iter().map(|o| o.key).collect();
    Ok(report)
}
