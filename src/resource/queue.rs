//! The failure queue `s3-processor-failures-S` (SQS): the function's on-failure destination.
//! Lambda sends it each S3 event whose asynchronous invocation failed every retry, so no event
//! is lost; `tapctl redrive` runs them through the function again. Encrypted (SSE-SQS), kept
//! 14 days (SQS's maximum), tagged like every other resource, created before the function
//! and deleted after it. Also the data-plane calls `status` and `redrive` make on it.

use super::retry::{Backoff, poll_gone};
use super::sdk::{self, found, sqs::deleted_recently, sqs::no_such_queue, sqs::transient};
use super::state::{Ctx, Drift, Field, Kind, State, met_meanwhile};
use super::tags;
use crate::aws::Clients;
use crate::error::AwsContext;
use crate::spec::{QUEUE_PREFIX, QUEUE_RETENTION_SECONDS, Stack, Target};
use anyhow::{Context, Result, bail};
use aws_sdk_sqs::types::QueueAttributeName as Attr;
use std::collections::HashMap;
use std::time::Duration;

/// SQS holds a deleted queue's name for 60 s (CreateQueue answers `QueueDeletedRecently`,
/// SQS API reference): `up` right after `down` waits that out, within this budget.
const NAME_HOLD_BUDGET: Duration = Duration::from_secs(75);

/// A deleted queue may go on answering for up to 60 s (SQS API reference, DeleteQueue):
/// `down` waits until it is gone, within this budget.
const DELETE_BUDGET: Duration = Duration::from_secs(90);

/// How many not-found answers in a row mean gone: during the deletion some requests "might
/// succeed", so one answer is not trusted (terraform-provider-aws waits for 12).
const GONE_ANSWERS: u32 = 3;

/// How `encryption` reads for each server-side encryption setting.
const SSE_SQS: &str = "SSE-SQS";
const SSE_KMS: &str = "SSE-KMS";
const SSE_OFF: &str = "disabled";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub retention_seconds: Option<i32>,
    /// [`SSE_SQS`], [`SSE_KMS`] or [`SSE_OFF`].
    pub encryption: &'static str,
    pub tags: Vec<(String, String)>,
}

fn retention_text(seconds: i32) -> String {
    if seconds % 86_400 == 0 {
        format!("{} days", seconds / 86_400)
    } else {
        format!("{seconds} s")
    }
}

pub fn diff(stack: &Stack, o: &Observed) -> Vec<Drift> {
    let mut drift = Vec::new();
    if o.retention_seconds != Some(QUEUE_RETENTION_SECONDS) {
        let have = o.retention_seconds.map_or("unknown".into(), retention_text);
        drift.push(Drift::new(
            Field::Retention,
            retention_text(QUEUE_RETENTION_SECONDS),
            have,
        ));
    }
    if o.encryption != SSE_SQS {
        drift.push(Drift::new(Field::Encryption, SSE_SQS, o.encryption));
    }
    drift.extend(tags::drift(stack, &o.tags));
    drift
}

/// What the queue's attributes say of its encryption.
fn encryption_of(attrs: &HashMap<Attr, String>) -> &'static str {
    if attrs
        .get(&Attr::KmsMasterKeyId)
        .is_some_and(|k| !k.is_empty())
    {
        SSE_KMS
    } else if attrs.get(&Attr::SqsManagedSseEnabled).map(String::as_str) == Some("true") {
        SSE_SQS
    } else {
        SSE_OFF
    }
}

/// GetQueueUrl: the queue's URL, `None` when there is no such queue.
pub async fn url(aws: &Clients, s: &Stack) -> Result<Option<String>> {
    let read = aws
        .sqs
        .get_queue_url()
        .queue_name(&s.queue_name)
        .send()
        .await;
    let out = found(read, no_such_queue).aws_context("GetQueueUrl")?;
    Ok(out.and_then(|o| o.queue_url))
}

/// GetQueueAttributes; `None` when the queue is gone.
async fn attributes(
    aws: &Clients,
    url: &str,
    names: &[Attr],
) -> Result<Option<HashMap<Attr, String>>> {
    let read = aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .set_attribute_names(Some(names.to_vec()))
        .send()
        .await;
    let out = found(read, no_such_queue).aws_context("GetQueueAttributes")?;
    Ok(out.map(|o| o.attributes.unwrap_or_default()))
}

/// ListQueueTags; `None` when the queue is gone.
async fn read_tags(aws: &Clients, url: &str) -> Result<Option<Vec<(String, String)>>> {
    let read = aws.sqs.list_queue_tags().queue_url(url).send().await;
    let out = found(read, no_such_queue).aws_context("ListQueueTags")?;
    Ok(out.map(|o| o.tags.unwrap_or_default().into_iter().collect()))
}

/// Runs `read` on the queue: at once with the URL SQS gives it ([`Stack::queue_url`]) while
/// GetQueueUrl runs beside it, so a read costs one round trip, not two; again with
/// GetQueueUrl's URL only when the first try found nothing or failed (another endpoint shape).
/// `None` when there is no such queue, or it went while it was read.
async fn read_queue<T, F, Fut>(aws: &Clients, s: &Stack, read: F) -> Result<Option<T>>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    read_at(s.queue_url.clone(), url(aws, s), read).await
}

/// [`read_queue`]'s rule, over any URL lookup: `read` at `guess` beside `lookup`, then at the
/// looked-up URL unless the first read found the queue.
async fn read_at<T, F, Fut>(
    guess: String,
    lookup: impl Future<Output = Result<Option<String>>>,
    read: F,
) -> Result<Option<T>>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let (real, early) = tokio::join!(lookup, read(guess));
    let Some(real) = real? else {
        return Ok(None);
    };
    match early {
        Ok(Some(found)) => Ok(Some(found)),
        _ => read(real).await,
    }
}

pub async fn observe(ctx: &Ctx) -> Result<State> {
    let s = &ctx.stack;
    let aws = &ctx.aws;
    let wanted = [
        Attr::MessageRetentionPeriod,
        Attr::SqsManagedSseEnabled,
        Attr::KmsMasterKeyId,
    ];
    let wanted = &wanted;
    let read = |url: String| async move {
        let (attrs, tags) = tokio::join!(attributes(aws, &url, wanted), read_tags(aws, &url));
        // Deleted while it was being read: nothing.
        Ok(attrs?.zip(tags?))
    };
    let Some((attrs, tags)) = read_queue(aws, s, read).await? else {
        return Ok(State::Missing);
    };
    let observed = Observed {
        retention_seconds: attrs
            .get(&Attr::MessageRetentionPeriod)
            .and_then(|v| v.parse().ok()),
        encryption: encryption_of(&attrs),
        tags,
    };
    Ok(tags::judge(s, &observed.tags, diff(s, &observed)))
}

/// The attributes tapctl sets: on create all of them, on repair those that drifted.
fn desired(state: &State) -> HashMap<Attr, String> {
    let mut attrs = HashMap::new();
    if state.needs(Field::Retention) {
        attrs.insert(
            Attr::MessageRetentionPeriod,
            QUEUE_RETENTION_SECONDS.to_string(),
        );
    }
    if state.needs(Field::Encryption) {
        attrs.insert(Attr::SqsManagedSseEnabled, "true".into());
        // One server-side encryption at a time: SSE-SQS replaces a KMS key.
        let kms = state
            .drift()
            .iter()
            .any(|d| d.field == Field::Encryption && d.have == SSE_KMS);
        if kms {
            attrs.insert(Attr::KmsMasterKeyId, String::new());
        }
    }
    attrs
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    let s = &ctx.stack;
    let sqs = &ctx.aws.sqs;
    if state.is_missing() {
        let request = sqs
            .create_queue()
            .queue_name(&s.queue_name)
            .set_attributes(Some(desired(state)))
            .set_tags(Some(tags::map(s)));
        // A name SQS still holds after a delete is waited out, in steps of up to 5 s.
        let mut hold = Backoff::between(
            Duration::from_secs(1),
            Duration::from_secs(5),
            NAME_HOLD_BUDGET,
        );
        loop {
            match request.clone().send().await {
                Ok(_) => return Ok(()),
                Err(e) if e.as_service_error().is_some_and(deleted_recently) => {
                    if !hold.wait().await {
                        bail!(
                            "queue {}: SQS still holds the name of the queue deleted with it \
                             after {}s (CreateQueue: QueueDeletedRecently: a queue's name can be \
                             reused only 60 s after its deletion); run up again in a minute",
                            s.queue_name,
                            NAME_HOLD_BUDGET.as_secs()
                        );
                    }
                }
                // Made meanwhile with other attributes (a concurrent run, or someone else).
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_queue_name_exists()) =>
                {
                    return Err(met_meanwhile());
                }
                Err(e) => return Err(e).aws_context("CreateQueue"),
            }
        }
    }
    let url = url(&ctx.aws, s).await?.with_context(|| {
        format!(
            "queue {} was deleted while tapctl repaired it",
            s.queue_name
        )
    })?;
    if state.drifted(Field::Tags) {
        sdk::write(transient, || {
            sqs.tag_queue()
                .queue_url(&url)
                .set_tags(Some(tags::map(s)))
                .send()
        })
        .await
        .aws_context("TagQueue")?;
    }
    let attrs = desired(state);
    if !attrs.is_empty() {
        sdk::write(transient, || {
            sqs.set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(attrs.clone()))
                .send()
        })
        .await
        .aws_context("SetQueueAttributes")?;
    }
    Ok(())
}

/// Deletes the queue (and the failed events still in it), then waits until it is gone: SQS
/// takes up to 60 s and answers for the queue meanwhile, so an `up` or `status` right after
/// `down` would otherwise find it in sync and lose it a minute later.
pub async fn delete(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    let Some(queue_url) = url(&ctx.aws, s).await? else {
        return Ok(());
    };
    let deleted = sdk::write(transient, || {
        ctx.aws.sqs.delete_queue().queue_url(&queue_url).send()
    });
    found(deleted.await, no_such_queue).aws_context("DeleteQueue")?;
    let backoff = Backoff::between(
        Duration::from_millis(200),
        Duration::from_secs(2),
        DELETE_BUDGET,
    );
    let gone = poll_gone(backoff, GONE_ANSWERS, || async {
        Ok(url(&ctx.aws, s).await?.is_some())
    });
    if !gone.await? {
        bail!(
            "queue {}: SQS still shows it {}s after DeleteQueue (a deletion takes up to 60 s); \
             run down again",
            s.queue_name,
            DELETE_BUDGET.as_secs()
        );
    }
    Ok(())
}

/// The queue's name: the last segment of its URL.
fn name_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The suffixes of the stacks whose queue is in this account and region, by its tags.
pub async fn list(aws: &Clients, t: &Target) -> Result<Vec<String>> {
    let mut urls = Vec::new();
    let mut pages = aws
        .sqs
        .list_queues()
        .queue_name_prefix(QUEUE_PREFIX)
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.aws_context("ListQueues")?;
        urls.extend(page.queue_urls().iter().cloned());
    }
    let mut out = Vec::new();
    for url in urls {
        let name = name_of(&url);
        // Gone since it was listed: not a stack to report.
        let Some(tags) = read_tags(aws, &url)
            .await
            .with_context(|| format!("reading the tags of queue {name}"))?
        else {
            continue;
        };
        let pairs = tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        out.extend(tags::stack_of(Kind::Queue, t, name, pairs));
    }
    Ok(out)
}

/// The failed events waiting in the queue (visible and in flight); `None` without a queue.
pub async fn failed_events(aws: &Clients, s: &Stack) -> Result<Option<u64>> {
    let counts = [
        Attr::ApproximateNumberOfMessages,
        Attr::ApproximateNumberOfMessagesNotVisible,
    ];
    let wanted = &counts;
    let read = |url: String| async move { attributes(aws, &url, wanted).await };
    let Some(attrs) = read_queue(aws, s, read).await? else {
        return Ok(None);
    };
    let count = |a: &Attr| {
        attrs
            .get(a)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Some(counts.iter().map(count).sum()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `read_at` with a lookup answering `real` and reads answering per URL; the URLs read.
    fn read_at_with(
        real: Result<Option<&str>, &str>,
        answers: &[(&str, Result<Option<u32>, &str>)],
    ) -> (Result<Option<u32>, String>, Vec<String>) {
        let seen = std::sync::Mutex::new(Vec::new());
        let lookup = async move {
            real.map(|r| r.map(str::to_string))
                .map_err(|e| anyhow::anyhow!("{e}"))
        };
        let read = |url: String| {
            seen.lock().unwrap().push(url.clone());
            let answer = answers
                .iter()
                .find(|(u, _)| *u == url)
                .map(|(_, a)| *a)
                .unwrap_or(Ok(None));
            async move { answer.map_err(|e| anyhow::anyhow!("{e}")) }
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let out = rt.block_on(read_at("guess".into(), lookup, read));
        (out.map_err(|e| e.to_string()), seen.into_inner().unwrap())
    }

    #[test]
    fn a_queue_read_at_its_known_url_takes_one_round_trip() {
        let (out, seen) = read_at_with(Ok(Some("real")), &[("guess", Ok(Some(7)))]);
        assert_eq!((out, seen), (Ok(Some(7)), vec!["guess".to_string()]));
    }

    #[test]
    fn a_queue_behind_another_url_is_read_again_there() {
        // Found nothing, or failed, at the known URL: read again at GetQueueUrl's.
        for early in [Ok(None), Err("InvalidAddress")] {
            let (out, seen) =
                read_at_with(Ok(Some("real")), &[("guess", early), ("real", Ok(Some(3)))]);
            assert_eq!(out, Ok(Some(3)));
            assert_eq!(seen, vec!["guess".to_string(), "real".to_string()]);
        }
    }

    #[test]
    fn no_queue_is_none_and_a_failed_lookup_is_the_error() {
        let (out, _) = read_at_with(Ok(None), &[("guess", Err("QueueDoesNotExist"))]);
        assert_eq!(out, Ok(None));
        let (out, _) = read_at_with(Err("GetQueueUrl: AccessDenied"), &[("guess", Ok(Some(1)))]);
        assert_eq!(out, Err("GetQueueUrl: AccessDenied".to_string()));
    }
    use crate::spec::test_stack as stack;

    fn good(s: &Stack) -> Observed {
        Observed {
            retention_seconds: Some(QUEUE_RETENTION_SECONDS),
            encryption: SSE_SQS,
            tags: s.tags(),
        }
    }

    #[test]
    fn in_shape_queue_has_no_drift() {
        let s = stack();
        assert!(diff(&s, &good(&s)).is_empty());
    }

    #[test]
    fn retention_encryption_and_tags_drift_by_name() {
        let s = stack();
        let o = Observed {
            retention_seconds: Some(345_600),
            encryption: SSE_OFF,
            tags: vec![],
        };
        let d = diff(&s, &o);
        let fields: Vec<_> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["retention", "encryption", "tags"]);
        assert_eq!(d[0], Drift::new(Field::Retention, "14 days", "4 days"));
        assert_eq!(d[1], Drift::new(Field::Encryption, "SSE-SQS", "disabled"));
        assert_eq!(retention_text(90), "90 s");
    }

    #[test]
    fn encryption_reads_from_the_attributes() {
        let mut a = HashMap::new();
        assert_eq!(encryption_of(&a), SSE_OFF);
        a.insert(Attr::SqsManagedSseEnabled, "true".to_string());
        assert_eq!(encryption_of(&a), SSE_SQS);
        a.insert(Attr::KmsMasterKeyId, "alias/x".to_string());
        assert_eq!(encryption_of(&a), SSE_KMS);
    }

    #[test]
    fn create_sets_everything_repair_only_what_drifted() {
        let all = desired(&State::Missing);
        assert_eq!(all[&Attr::MessageRetentionPeriod], "1209600");
        assert_eq!(all[&Attr::SqsManagedSseEnabled], "true");
        assert!(!all.contains_key(&Attr::KmsMasterKeyId));
        let kms = State::present(true, vec![Drift::new(Field::Encryption, SSE_SQS, SSE_KMS)]);
        let fix = desired(&kms);
        assert_eq!(fix.len(), 2);
        assert_eq!(fix[&Attr::KmsMasterKeyId], "");
        let tags_only = State::present(true, vec![Drift::new(Field::Tags, "a", "b")]);
        assert!(desired(&tags_only).is_empty());
    }

    #[test]
    fn names_come_from_urls() {
        assert_eq!(
            name_of("https://sqs.us-west-2.amazonaws.com/123456789012/s3-processor-failures-x"),
            "s3-processor-failures-x"
        );
    }
}
