//! Emptying the bucket before DeleteBucket: every object version and delete marker, then every
//! unfinished multipart upload. S3 answers DeleteObjects with 200 and per-key errors under
//! load (`SlowDown`, `InternalError`): those keys are resubmitted with backoff, and the
//! number of calls in flight starts modest and adapts (S3 allows about 3,500 deletes/s per
//! prefix, each key counting). A key another run deleted first (`NoSuchVersion`) counts as
//! deleted. Keys are listed URL-encoded, so a key XML 1.0 cannot carry (a control character)
//! is listed too, and deleted on its own (DeleteObject names it in the URL, not in XML).

use super::retry::Backoff;
use super::sdk::s3::{
    ACCESS_DENIED, NO_SUCH_UPLOAD, NO_SUCH_VERSION, SLOW_DOWN, no_such_bucket, retry_key, transient,
};
use super::sdk::{self, code, found};
use super::state::Ctx;
use crate::error::AwsContext;
use anyhow::{Context, Result, bail};
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, EncodingType, ObjectIdentifier};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::task::JoinSet;

/// DeleteObjects takes at most 1,000 keys a call.
const DELETE_BATCH: usize = 1000;
/// DeleteObjects calls in flight at first, and at most.
const START_PARALLELISM: usize = 4;
const MAX_PARALLELISM: usize = 16;
/// How long one batch keeps resubmitting the keys S3 answered with a retryable error.
const KEY_RETRY_BUDGET: Duration = Duration::from_secs(60);

/// The bucket went away while tapctl was emptying it.
#[derive(Debug)]
pub struct Gone;

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the bucket is gone")
    }
}

impl std::error::Error for Gone {}

/// How many DeleteObjects calls may be in flight: one more after each clean call, half as
/// many after a `SlowDown` (additive increase, multiplicative decrease).
#[derive(Debug)]
struct Pace(AtomicUsize);

impl Pace {
    fn new() -> Self {
        Pace(AtomicUsize::new(START_PARALLELISM))
    }

    fn limit(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn clean(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some((n + 1).min(MAX_PARALLELISM))
            });
    }

    fn slow_down(&self) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some((n / 2).max(1))
            });
    }
}

/// One per-key error of a DeleteObjects answer.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyError {
    pub key: String,
    pub version: Option<String>,
    pub code: String,
    pub message: String,
}

/// What to do with a DeleteObjects answer's per-key errors: the keys to resubmit, or the
/// error that ends the teardown. `NoSuchVersion` (deleted by someone else first) is done.
pub fn sort_errors(errors: Vec<KeyError>) -> Result<Vec<KeyError>> {
    let mut again = Vec::new();
    for e in errors {
        match e.code.as_str() {
            NO_SUCH_VERSION => {}
            c if retry_key(c) => again.push(e),
            ACCESS_DENIED => bail!(
                "DeleteObjects: AccessDenied: {} (key {:?}): the caller may not delete this \
                 bucket's object versions (s3:DeleteObjectVersion), or a bucket policy denies it",
                e.message,
                e.key
            ),
            c => bail!("DeleteObjects: {c}: {} (key {:?})", e.message, e.key),
        }
    }
    Ok(again)
}

/// Whether XML 1.0 can carry the key (DeleteObjects' request is XML); the SDK escapes the
/// characters it can, such as carriage returns.
pub fn xml_safe(key: &str) -> bool {
    key.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    })
}

/// A key or marker of a listing asked for with `EncodingType=url` (a space arrives as `+`).
pub fn url_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Deletes every object version and delete marker: each listed page of up to 1,000 keys goes
/// straight to a DeleteObjects call, as many in flight as [`Pace`] allows, while the next page
/// is listed. Then aborts unfinished multipart uploads.
pub async fn empty(ctx: &Ctx) -> Result<()> {
    let s3 = &ctx.aws.s3;
    let b = &ctx.stack.bucket_name;
    // Every call names the bucket's expected owner: another account's bucket is never emptied.
    let owner = &ctx.stack.target.account;
    let pace = Arc::new(Pace::new());
    let mut deletes: JoinSet<Result<()>> = JoinSet::new();
    // The SDK has no paginator for ListObjectVersions (it pages on two markers).
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = match s3
            .list_object_versions()
            .bucket(b)
            .expected_bucket_owner(owner)
            .encoding_type(EncodingType::Url)
            .max_keys(DELETE_BATCH as i32)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if no_such_bucket(&e) => return Err(Gone.into()),
            Err(e) => return Err(e).aws_context("ListObjectVersions"),
        };
        let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = page
            .delete_markers()
            .iter()
            .map(|m| (m.key(), m.version_id()));
        let mut ids = Vec::with_capacity(DELETE_BATCH);
        for (key, version) in versions.chain(markers) {
            let Some(key) = key.map(url_decode) else {
                continue;
            };
            if !xml_safe(&key) {
                delete_one(s3, (b, owner), &key, version).await?;
                continue;
            }
            ids.push(
                ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.map(str::to_string))
                    .build()?,
            );
        }
        if !ids.is_empty() {
            while deletes.len() >= pace.limit() {
                join_one(&mut deletes).await?;
            }
            let (s3, b, owner, pace) = (s3.clone(), b.clone(), owner.clone(), pace.clone());
            deletes.spawn(async move { delete_batch(&s3, (&b, &owner), ids, &pace).await });
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(url_decode);
        version_marker = page.next_version_id_marker().map(str::to_string);
        if key_marker.is_none() && version_marker.is_none() {
            break;
        }
    }
    while !deletes.is_empty() {
        join_one(&mut deletes).await?;
    }
    abort_uploads(ctx).await
}

/// One DeleteObjects batch, resubmitting the keys S3 answered with a retryable error.
/// `(b, owner)`: the bucket and its expected owner's account.
async fn delete_batch(
    s3: &Client,
    (b, owner): (&str, &str),
    ids: Vec<ObjectIdentifier>,
    pace: &Pace,
) -> Result<()> {
    let mut todo = ids;
    let mut backoff = Backoff::between(
        Duration::from_millis(200),
        Duration::from_secs(5),
        KEY_RETRY_BUDGET,
    );
    loop {
        let delete = Delete::builder()
            .set_objects(Some(todo))
            .quiet(true)
            .build()?;
        let call = s3.delete_objects().bucket(b).expected_bucket_owner(owner);
        let call = call.delete(delete);
        let out = match sdk::write(transient, || call.clone().send()).await {
            Ok(out) => out,
            // Another run (a second `down`) emptied and deleted it meanwhile.
            Err(e) if no_such_bucket(&e) => return Err(Gone.into()),
            Err(e) => return Err(e).aws_context("DeleteObjects"),
        };
        let errors = out
            .errors()
            .iter()
            .map(|e| KeyError {
                key: e.key().unwrap_or_default().to_string(),
                version: e.version_id().map(str::to_string),
                code: e.code().unwrap_or_default().to_string(),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect();
        let again = sort_errors(errors)?;
        let Some(first) = again.first().cloned() else {
            pace.clean();
            return Ok(());
        };
        if again.iter().any(|e| e.code == SLOW_DOWN) {
            pace.slow_down();
        }
        if !backoff.wait().await {
            bail!(
                "DeleteObjects: {}: {} (key {:?}; {} key(s) still failing after {}s)",
                first.code,
                first.message,
                first.key,
                again.len(),
                KEY_RETRY_BUDGET.as_secs()
            );
        }
        tracing::info!(
            "resubmitting {} key(s) S3 could not delete yet",
            again.len()
        );
        todo = again
            .into_iter()
            .map(|e| {
                ObjectIdentifier::builder()
                    .key(e.key)
                    .set_version_id(e.version)
                    .build()
            })
            .collect::<Result<_, _>>()?;
    }
}

/// Deletes one version by DeleteObject (the key travels in the URL).
async fn delete_one(
    s3: &Client,
    (b, owner): (&str, &str),
    key: &str,
    version: Option<&str>,
) -> Result<()> {
    let deleted = sdk::write(transient, || {
        s3.delete_object()
            .bucket(b)
            .expected_bucket_owner(owner)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
    });
    let deleted = deleted.await;
    if deleted.as_ref().is_err_and(no_such_bucket) {
        return Err(Gone.into());
    }
    found(deleted, code(NO_SUCH_VERSION))
        .aws_context("DeleteObject")
        .with_context(|| format!("deleting key {key:?}"))?;
    Ok(())
}

async fn abort_uploads(ctx: &Ctx) -> Result<()> {
    let s3 = &ctx.aws.s3;
    let b = &ctx.stack.bucket_name;
    let owner = &ctx.stack.target.account;
    // No SDK paginator here either (key and upload-id markers).
    let (mut key_marker, mut upload_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = match s3
            .list_multipart_uploads()
            .bucket(b)
            .expected_bucket_owner(owner)
            .set_key_marker(key_marker.take())
            .set_upload_id_marker(upload_marker.take())
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if no_such_bucket(&e) => return Err(Gone.into()),
            Err(e) => return Err(e).aws_context("ListMultipartUploads"),
        };
        for u in page.uploads() {
            let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                continue;
            };
            let aborted = sdk::write(transient, || {
                s3.abort_multipart_upload()
                    .bucket(b)
                    .expected_bucket_owner(owner)
                    .key(key)
                    .upload_id(id)
                    .send()
            });
            found(aborted.await, code(NO_SUCH_UPLOAD)).aws_context("AbortMultipartUpload")?;
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        upload_marker = page.next_upload_id_marker().map(str::to_string);
    }
    Ok(())
}

async fn join_one(set: &mut JoinSet<Result<()>>) -> Result<()> {
    match set.join_next().await {
        Some(r) => r.context("a DeleteObjects task panicked")?,
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(key: &str, code: &str) -> KeyError {
        KeyError {
            key: key.into(),
            version: Some("v1".into()),
            code: code.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn per_key_errors_are_resubmitted_done_or_fatal() {
        let again = sort_errors(vec![
            err("a", "SlowDown"),
            err("b", "NoSuchVersion"),
            err("c", "InternalError"),
        ])
        .unwrap();
        let keys: Vec<_> = again.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "c"]);
        let denied = sort_errors(vec![err("a", "SlowDown"), err("x", "AccessDenied")]);
        let text = denied.unwrap_err().to_string();
        assert!(
            text.starts_with("DeleteObjects: AccessDenied: m (key \"x\")"),
            "{text}"
        );
        assert!(!text.contains('\n'));
        let other = sort_errors(vec![err("y", "InvalidObjectState")]).unwrap_err();
        assert_eq!(
            other.to_string(),
            "DeleteObjects: InvalidObjectState: m (key \"y\")"
        );
    }

    #[test]
    fn pace_grows_on_clean_calls_and_halves_on_slow_down() {
        let p = Pace::new();
        assert_eq!(p.limit(), START_PARALLELISM);
        for _ in 0..100 {
            p.clean();
        }
        assert_eq!(p.limit(), MAX_PARALLELISM);
        p.slow_down();
        assert_eq!(p.limit(), MAX_PARALLELISM / 2);
        for _ in 0..10 {
            p.slow_down();
        }
        assert_eq!(p.limit(), 1);
    }

    #[test]
    fn url_encoded_keys_decode_and_xml_unsafe_keys_are_told_apart() {
        assert_eq!(url_decode("a+b%2Bc%01.txt"), "a b+c\u{1}.txt");
        assert_eq!(url_decode("reports/my%20file"), "reports/my file");
        assert!(xml_safe("cr\rkey\n\tok é 😀"));
        assert!(!xml_safe("ctl\u{1}char"));
        assert!(!xml_safe("\u{FFFE}"));
    }
}
