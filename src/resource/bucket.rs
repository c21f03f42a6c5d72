//! The trigger bucket: all public access blocked, SSE-S3 by default, a policy denying every
//! request without TLS, object ownership BucketOwnerEnforced. `delete` empties it first.

use super::retry::Backoff;
use super::sdk::s3::{
    BUCKET_NOT_EMPTY, NO_SUCH_BUCKET_POLICY, NO_SUCH_ENCRYPTION, NO_SUCH_OWNERSHIP_CONTROLS,
    NO_SUCH_PUBLIC_ACCESS_BLOCK, NO_SUCH_TAG_SET, NO_SUCH_UPLOAD, no_such_bucket, transient,
};
use super::sdk::{self, code, found, has_code};
use super::state::{Ctx, Drift, Field, Kind, Owner, State, created_meanwhile};
use super::tags;
use crate::aws::Clients;
use crate::error::AwsContext;
use crate::spec::{BUCKET_PREFIX, Stack, Target, same_policy};
use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier, ObjectOwnership,
    OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging,
};
use serde_json::Value;
use std::time::Duration;
use tokio::task::JoinSet;

/// DeleteObjects takes at most 1,000 keys a call.
const DELETE_BATCH: usize = 1000;
/// DeleteObjects calls in flight at once while emptying.
const DELETE_PARALLELISM: usize = 16;
/// How long `down` keeps emptying a bucket a writer keeps filling.
const EMPTY_BUDGET: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets.
    pub public_access_block: Option<[bool; 4]>,
    pub encryption: Option<String>,
    pub policy: Option<Value>,
    pub ownership: Option<String>,
    pub tags: Vec<(String, String)>,
}

const SSE: &str = "AES256";
const OWNERSHIP: &str = "BucketOwnerEnforced";

pub fn diff(stack: &Stack, o: &Observed) -> Vec<Drift> {
    let mut drift = Vec::new();
    if o.public_access_block != Some([true; 4]) {
        let have = o.public_access_block.map_or("(none)".to_string(), |b| {
            format!(
                "BlockPublicAcls={},IgnorePublicAcls={},BlockPublicPolicy={},RestrictPublicBuckets={}",
                b[0], b[1], b[2], b[3]
            )
        });
        drift.push(Drift::new(Field::PublicAccessBlock, "all blocked", have));
    }
    if o.encryption.as_deref() != Some(SSE) {
        drift.push(Drift::new(
            Field::Encryption,
            SSE,
            o.encryption.as_deref().unwrap_or("(none)"),
        ));
    }
    let policy = stack.bucket_policy();
    if !o.policy.as_ref().is_some_and(|p| same_policy(p, &policy)) {
        let have = o.policy.as_ref().map_or("(none)".into(), |p| p.to_string());
        drift.push(Drift::new(Field::TlsOnlyPolicy, policy.to_string(), have));
    }
    if o.ownership.as_deref() != Some(OWNERSHIP) {
        drift.push(Drift::new(
            Field::ObjectOwnership,
            OWNERSHIP,
            o.ownership.as_deref().unwrap_or("(none)"),
        ));
    }
    drift.extend(tags::drift(stack, &o.tags));
    drift
}

pub async fn observe(ctx: &Ctx) -> Result<State> {
    let s3 = &ctx.aws.s3;
    let b = &ctx.stack.bucket_name;
    // Every read at once: one round trip, not two. When HeadBucket says the bucket is
    // missing or someone else's, the other answers (errors too) are not looked at.
    let (head, tags, pab, enc, policy, own) = tokio::join!(
        s3.head_bucket().bucket(b).send(),
        s3.get_bucket_tagging().bucket(b).send(),
        s3.get_public_access_block().bucket(b).send(),
        s3.get_bucket_encryption().bucket(b).send(),
        s3.get_bucket_policy().bucket(b).send(),
        s3.get_bucket_ownership_controls().bucket(b).send(),
    );
    if let Err(e) = head {
        return match sdk::s3::status(&e) {
            Some(404) => Ok(State::Missing),
            Some(403) => Ok(State::Present {
                owner: Owner::OtherAccount,
                drift: vec![],
            }),
            _ => Err(e).aws_context("HeadBucket"),
        };
    }
    // The reads are no snapshot: a bucket created or deleted while they ran is missing for
    // some of them. It then counts as missing; creating it meets it and looks again.
    let errors: [Option<&dyn ProvideErrorMetadata>; 5] = [
        tags.as_ref().err().map(|e| e as _),
        pab.as_ref().err().map(|e| e as _),
        enc.as_ref().err().map(|e| e as _),
        policy.as_ref().err().map(|e| e as _),
        own.as_ref().err().map(|e| e as _),
    ];
    if errors.into_iter().flatten().any(no_such_bucket) {
        return Ok(State::Missing);
    }
    let tags = found(tags, code(NO_SUCH_TAG_SET))
        .aws_context("GetBucketTagging")?
        .map(|t| t.tag_set.into_iter().map(|t| (t.key, t.value)).collect())
        .unwrap_or_default();
    let public_access_block = found(pab, code(NO_SUCH_PUBLIC_ACCESS_BLOCK))
        .aws_context("GetPublicAccessBlock")?
        .and_then(|o| o.public_access_block_configuration)
        .map(|c| {
            [
                c.block_public_acls.unwrap_or(false),
                c.ignore_public_acls.unwrap_or(false),
                c.block_public_policy.unwrap_or(false),
                c.restrict_public_buckets.unwrap_or(false),
            ]
        });
    let encryption = found(enc, code(NO_SUCH_ENCRYPTION))
        .aws_context("GetBucketEncryption")?
        .and_then(|o| o.server_side_encryption_configuration)
        .and_then(|c| c.rules.into_iter().next())
        .and_then(|r| r.apply_server_side_encryption_by_default)
        .map(|d| d.sse_algorithm.as_str().to_string());
    let policy = found(policy, code(NO_SUCH_BUCKET_POLICY))
        .aws_context("GetBucketPolicy")?
        .and_then(|o| o.policy)
        .map(|p| serde_json::from_str(&p).unwrap_or(Value::String(p)));
    let ownership = found(own, code(NO_SUCH_OWNERSHIP_CONTROLS))
        .aws_context("GetBucketOwnershipControls")?
        .and_then(|o| o.ownership_controls)
        .and_then(|c| c.rules.into_iter().next())
        .map(|r| r.object_ownership.as_str().to_string());
    let observed = Observed {
        public_access_block,
        encryption,
        policy,
        ownership,
        tags,
    };
    Ok(tags::judge(
        &ctx.stack,
        &observed.tags,
        diff(&ctx.stack, &observed),
    ))
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    if state.is_other_account() {
        bail!(
            "bucket {} belongs to another AWS account",
            ctx.stack.bucket_name
        );
    }
    if state.is_missing() && !create(ctx).await? {
        let now = created_meanwhile(Kind::Bucket, ctx, observe(ctx).await?)?;
        return Box::pin(apply(ctx, &now)).await;
    }
    let s3 = &ctx.aws.s3;
    let b = &ctx.stack.bucket_name;
    // Tags first: until they are on, the bucket is not recognisably tapctl's.
    if state.needs(Field::Tags) {
        put_tags(ctx).await?;
    }
    let pab = async {
        if state.needs(Field::PublicAccessBlock) {
            let c = PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build();
            sdk::write(transient, || {
                s3.put_public_access_block()
                    .bucket(b)
                    .public_access_block_configuration(c.clone())
                    .send()
            })
            .await
            .aws_context("PutPublicAccessBlock")?;
        }
        anyhow::Ok(())
    };
    let enc = async {
        if state.needs(Field::Encryption) {
            let by_default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()?;
            let rule = ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(by_default)
                .build();
            let c = ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()?;
            sdk::write(transient, || {
                s3.put_bucket_encryption()
                    .bucket(b)
                    .server_side_encryption_configuration(c.clone())
                    .send()
            })
            .await
            .aws_context("PutBucketEncryption")?;
        }
        anyhow::Ok(())
    };
    let own = async {
        if state.needs(Field::ObjectOwnership) {
            let rule = OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                .build()?;
            let c = OwnershipControls::builder().rules(rule).build()?;
            sdk::write(transient, || {
                s3.put_bucket_ownership_controls()
                    .bucket(b)
                    .ownership_controls(c.clone())
                    .send()
            })
            .await
            .aws_context("PutBucketOwnershipControls")?;
        }
        anyhow::Ok(())
    };
    let policy = async {
        if state.needs(Field::TlsOnlyPolicy) {
            let doc = ctx.stack.bucket_policy().to_string();
            sdk::write(transient, || {
                s3.put_bucket_policy().bucket(b).policy(&doc).send()
            })
            .await
            .aws_context("PutBucketPolicy")?;
        }
        anyhow::Ok(())
    };
    tokio::try_join!(pab, enc, own, policy)?;
    Ok(())
}

/// Creates the bucket; false when it already existed, owned by this account.
async fn create(ctx: &Ctx) -> Result<bool> {
    let s = &ctx.stack;
    // Tagging at creation closes the window in which the bucket exists untagged (where S3
    // supports it; the separate PutBucketTagging after it covers the rest).
    let mut config = CreateBucketConfiguration::builder().set_tags(Some(tags::s3(s)?));
    if s.target.region != "us-east-1" {
        config =
            config.location_constraint(BucketLocationConstraint::from(s.target.region.as_str()));
    }
    let request = ctx
        .aws
        .s3
        .create_bucket()
        .bucket(&s.bucket_name)
        .create_bucket_configuration(config.build());
    match sdk::write(transient, || request.clone().send()).await {
        Ok(_) => Ok(true),
        // Made meanwhile (by a concurrent tapctl run, or by someone else): look again.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
        {
            Ok(false)
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_exists()) =>
        {
            Err(anyhow!(
                "bucket name {} is taken by another AWS account",
                s.bucket_name
            ))
        }
        Err(e) => Err(e).aws_context("CreateBucket"),
    }
}

/// Puts tapctl's tags, keeping any other tags the bucket has (PutBucketTagging replaces all).
async fn put_tags(ctx: &Ctx) -> Result<()> {
    let s3 = &ctx.aws.s3;
    let b = &ctx.stack.bucket_name;
    let read = s3.get_bucket_tagging().bucket(b).send().await;
    let current = found(read, code(NO_SUCH_TAG_SET))
        .aws_context("GetBucketTagging")?
        .map(|t| t.tag_set)
        .unwrap_or_default();
    let mut tags: Vec<Tag> = current
        .into_iter()
        .filter(|t| !tags::is_ours(&ctx.stack, &t.key))
        .collect();
    tags.extend(tags::s3(&ctx.stack)?);
    let tagging = Tagging::builder().set_tag_set(Some(tags)).build()?;
    sdk::write(transient, || {
        s3.put_bucket_tagging()
            .bucket(b)
            .tagging(tagging.clone())
            .send()
    })
    .await
    .aws_context("PutBucketTagging")?;
    Ok(())
}

/// Empties the bucket (every version, delete marker and unfinished multipart upload), then
/// deletes it. A writer racing the teardown makes DeleteBucket fail with BucketNotEmpty: the
/// bucket is emptied again, within a bounded time.
pub async fn delete(ctx: &Ctx) -> Result<()> {
    let mut backoff = Backoff::new(EMPTY_BUDGET);
    loop {
        match empty(ctx).await {
            Ok(()) => {}
            Err(e) if e.downcast_ref::<Gone>().is_some() => return Ok(()),
            Err(e) => return Err(e),
        }
        let deleted = sdk::write(transient, || {
            let s3 = &ctx.aws.s3;
            s3.delete_bucket().bucket(&ctx.stack.bucket_name).send()
        });
        match deleted.await {
            Ok(_) => return Ok(()),
            Err(e) if no_such_bucket(&e) => return Ok(()),
            Err(e) if has_code(&e, BUCKET_NOT_EMPTY) && backoff.wait().await => {
                tracing::info!("bucket refilled during teardown; emptying it again");
            }
            Err(e) => return Err(e).aws_context("DeleteBucket"),
        }
    }
}

/// The bucket went away while tapctl was emptying it.
#[derive(Debug)]
struct Gone;

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the bucket is gone")
    }
}

impl std::error::Error for Gone {}

/// Deletes every object version and delete marker: each listed page of up to 1,000 keys goes
/// straight to a DeleteObjects call, up to [`DELETE_PARALLELISM`] in flight, while the next
/// page is listed. Then aborts unfinished multipart uploads.
pub async fn empty(ctx: &Ctx) -> Result<()> {
    let s3 = &ctx.aws.s3;
    let b = &ctx.stack.bucket_name;
    let mut deletes: JoinSet<Result<()>> = JoinSet::new();
    // The SDK has no paginator for ListObjectVersions (it pages on two markers).
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = match s3
            .list_object_versions()
            .bucket(b)
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
        let mut ids = Vec::with_capacity(DELETE_BATCH);
        let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = page
            .delete_markers()
            .iter()
            .map(|m| (m.key(), m.version_id()));
        for (key, version) in versions.chain(markers) {
            let Some(key) = key else { continue };
            ids.push(
                ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.map(str::to_string))
                    .build()?,
            );
        }
        for chunk in ids.chunks(DELETE_BATCH) {
            while deletes.len() >= DELETE_PARALLELISM {
                join_one(&mut deletes).await?;
            }
            let call = s3.delete_objects().bucket(b).delete(
                Delete::builder()
                    .set_objects(Some(chunk.to_vec()))
                    .quiet(true)
                    .build()?,
            );
            deletes.spawn(async move {
                let out = sdk::write(transient, || call.clone().send())
                    .await
                    .aws_context("DeleteObjects")?;
                if let Some(err) = out.errors().first() {
                    bail!(
                        "DeleteObjects could not delete {} object(s), first {:?}: {} {}",
                        out.errors().len(),
                        err.key().unwrap_or_default(),
                        err.code().unwrap_or_default(),
                        err.message().unwrap_or_default()
                    );
                }
                Ok(())
            });
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
        if key_marker.is_none() && version_marker.is_none() {
            break;
        }
    }
    while !deletes.is_empty() {
        join_one(&mut deletes).await?;
    }
    // No SDK paginator here either (key and upload-id markers).
    let (mut key_marker, mut upload_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = match s3
            .list_multipart_uploads()
            .bucket(b)
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

/// The suffixes of the stacks whose bucket is in this account and region, by its tags.
pub async fn list(aws: &Clients, t: &Target) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut pages = aws
        .s3
        .list_buckets()
        .bucket_region(&t.region)
        .max_buckets(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.aws_context("ListBuckets")?;
        names.extend(
            page.buckets()
                .iter()
                .filter_map(|b| b.name())
                .filter(|n| n.starts_with(BUCKET_PREFIX))
                .map(str::to_string),
        );
    }
    let mut out = Vec::new();
    for name in names {
        let read = aws.s3.get_bucket_tagging().bucket(&name).send().await;
        // No tags at all, or gone since it was listed: not a stack to report.
        let untagged = |e: &_| has_code(e, NO_SUCH_TAG_SET) || no_such_bucket(e);
        let Some(tags) = found(read, untagged)
            .aws_context("GetBucketTagging")
            .with_context(|| format!("reading the tags of bucket {name}"))?
        else {
            continue;
        };
        let suffix = tags::suffix_of(tags.tag_set().iter().map(|t| (t.key(), t.value())));
        out.extend(tags::listed(Kind::Bucket, t, &name, suffix));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack as stack;

    fn good(s: &Stack) -> Observed {
        Observed {
            public_access_block: Some([true; 4]),
            encryption: Some(SSE.into()),
            policy: Some(s.bucket_policy()),
            ownership: Some(OWNERSHIP.into()),
            tags: s.tags(),
        }
    }

    #[test]
    fn in_shape_bucket_has_no_drift() {
        let s = stack();
        assert!(diff(&s, &good(&s)).is_empty());
    }

    #[test]
    fn each_drift_is_named() {
        let s = stack();
        let mut o = good(&s);
        o.public_access_block = Some([true, true, false, true]);
        o.encryption = Some("aws:kms".into());
        o.policy = None;
        o.ownership = Some("ObjectWriter".into());
        o.tags = vec![("team".into(), "x".into())];
        let d = diff(&s, &o);
        let fields: Vec<_> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "public_access_block",
                "encryption",
                "tls_only_policy",
                "object_ownership",
                "tags"
            ]
        );
        assert!(d[0].have.contains("BlockPublicPolicy=false"));
    }

    #[test]
    fn an_edited_tls_policy_is_drift() {
        let s = stack();
        let mut o = good(&s);
        let mut p = s.bucket_policy();
        p["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"] = "true".into();
        o.policy = Some(p);
        assert_eq!(diff(&s, &o)[0].field, Field::TlsOnlyPolicy);
    }
}
