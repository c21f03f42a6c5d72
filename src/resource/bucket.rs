//! The trigger bucket: all public access blocked, SSE-S3 by default, a policy denying every
//! request without TLS, object ownership BucketOwnerEnforced. `delete` empties it first
//! ([`super::empty`]).
//!
//! S3 answers overlapping writes of one bucket's configuration with `OperationAborted`, and a
//! new bucket's configuration calls with `NoSuchBucket` for a moment: the configuration is
//! written one call after another, each retrying those answers.

use super::bucket_lifecycle;
use super::empty::{Gone, empty};
use super::retry::{Backoff, retry_on};
use super::sdk::s3::{
    BUCKET_NOT_EMPTY, BUCKET_REGION_HEADER, NO_SUCH_BUCKET_POLICY, NO_SUCH_ENCRYPTION,
    NO_SUCH_OWNERSHIP_CONTROLS, NO_SUCH_PUBLIC_ACCESS_BLOCK, NO_SUCH_TAG_SET, OPERATION_ABORTED,
    no_such_bucket, retryable, transient,
};
use super::sdk::{self, code, found, has_code};
use super::state::{Ctx, Drift, Field, Kind, MetMeanwhile, Owner, State};
use super::tags;
use crate::aws::Clients;
use crate::error::AwsContext;
use crate::spec::{BUCKET_PREFIX, Stack, Target, same_policy};
use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{
    BucketAbacStatus, BucketLocationConstraint, CreateBucketConfiguration, ObjectOwnership,
    OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tagging,
};
use serde_json::Value;
use std::time::Duration;

/// How long `down` keeps emptying a bucket a writer keeps filling.
const EMPTY_BUDGET: Duration = Duration::from_secs(120);
/// How long CreateBucket waits for S3 to release a name deleted moments ago (AWS: minutes
/// to hours; a short hold is worth waiting for, a long one is reported).
const NAME_HOLD_BUDGET: Duration = Duration::from_secs(30);

/// The region whose CreateBucket takes no location constraint and answers 200 to re-creating
/// a bucket you own.
const US_EAST_1: &str = "us-east-1";

/// How long a bucket made meanwhile (by a concurrent run) may still read as missing.
const SETTLE_BUDGET: Duration = Duration::from_secs(10);

/// The bucket lives in another region (HeadBucket's `x-amz-bucket-region`): the same
/// suffix's stack there owns the name, never this region's stack (so `up` refuses it, `status`
/// says so and `down` leaves it alone).
fn elsewhere(ctx: &Ctx, region: Option<&str>) -> Option<State> {
    region
        .filter(|r| !r.is_empty() && *r != ctx.stack.target.region)
        .map(|r| State::Present {
            owner: Owner::OtherRegion(r.to_string()),
            drift: vec![],
        })
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets.
    pub public_access_block: Option<[bool; 4]>,
    pub encryption: Option<String>,
    pub policy: Option<Value>,
    pub ownership: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Every lifecycle rule of the bucket (tapctl's is one of them).
    pub lifecycle: Vec<aws_sdk_s3::types::LifecycleRule>,
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
    drift.extend(bucket_lifecycle::diff(&o.lifecycle));
    drift.extend(tags::drift(stack, &o.tags));
    drift
}

pub async fn observe(ctx: &Ctx) -> Result<State> {
    let s3 = &ctx.aws.s3;
    let b = &ctx.stack.bucket_name;
    // Every bucket call names the expected owner: a bucket of another account answers 403,
    // never someone else's data or configuration.
    let owner = &ctx.stack.target.account;
    // Every read at once: one round trip, not two. When HeadBucket says the bucket is
    // missing or someone else's, the other answers (errors too) are not looked at.
    let (head, tags, pab, enc, policy, own, lifecycle) = tokio::join!(
        s3.head_bucket()
            .bucket(b)
            .expected_bucket_owner(owner)
            .send(),
        s3.get_bucket_tagging()
            .bucket(b)
            .expected_bucket_owner(owner)
            .send(),
        s3.get_public_access_block()
            .bucket(b)
            .expected_bucket_owner(owner)
            .send(),
        s3.get_bucket_encryption()
            .bucket(b)
            .expected_bucket_owner(owner)
            .send(),
        s3.get_bucket_policy()
            .bucket(b)
            .expected_bucket_owner(owner)
            .send(),
        s3.get_bucket_ownership_controls()
            .bucket(b)
            .expected_bucket_owner(owner)
            .send(),
        s3.get_bucket_lifecycle_configuration()
            .bucket(b)
            .expected_bucket_owner(owner)
            .send(),
    );
    if let Err(e) = head {
        let region = e
            .raw_response()
            .and_then(|r| r.headers().get(BUCKET_REGION_HEADER));
        if matches!(sdk::s3::status(&e), Some(301 | 400))
            && let Some(state) = elsewhere(ctx, region)
        {
            return Ok(state);
        }
        return match sdk::s3::status(&e) {
            Some(404) => Ok(State::Missing),
            Some(403) => forbidden(ctx).await,
            _ => Err(e).aws_context("HeadBucket"),
        };
    }
    if let Ok(head) = &head
        && let Some(state) = elsewhere(ctx, head.bucket_region())
    {
        return Ok(state);
    }
    // The reads are no snapshot: a bucket created or deleted while they ran is missing for
    // some of them. It then counts as missing; creating it meets it and looks again.
    let errors: [Option<&dyn ProvideErrorMetadata>; 6] = [
        tags.as_ref().err().map(|e| e as _),
        pab.as_ref().err().map(|e| e as _),
        enc.as_ref().err().map(|e| e as _),
        policy.as_ref().err().map(|e| e as _),
        own.as_ref().err().map(|e| e as _),
        lifecycle.as_ref().err().map(|e| e as _),
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
        lifecycle: bucket_lifecycle::rules_of(lifecycle)?,
    };
    let mut state = tags::judge(&ctx.stack, &observed.tags, diff(&ctx.stack, &observed));
    // Tags to write (tag drift, or a bucket to adopt): they can be written only without ABAC.
    if state.needs(Field::Tags)
        && let State::Present { drift, .. } = &mut state
    {
        match abac_answer(abac_enabled(ctx).await, no_such_bucket) {
            Abac::Off => {}
            Abac::On => drift.push(Drift::new(Field::Abac, "Disabled", "Enabled")),
            Abac::Gone => return Ok(State::Missing),
            Abac::Unknown(why) => tracing::debug!(
                "GetBucketAbac of {} unreadable ({why}): PutBucketTagging will say",
                ctx.stack.bucket_name
            ),
        }
    }
    Ok(state)
}

/// What GetBucketAbac said, for the read.
#[derive(Debug, PartialEq, Eq)]
enum Abac {
    Off,
    On,
    /// The bucket is gone.
    Gone,
    /// Unreadable (e.g. no s3:GetBucketABAC, a newer API the endpoint does not know): not a
    /// reason to fail a read — `status`, `plan` and `down --dry-run` need no ABAC answer, and
    /// `up`'s PutBucketTagging gives its own error if ABAC is really on.
    Unknown(String),
}

fn abac_answer<E: std::error::Error + 'static>(
    read: Result<bool, E>,
    gone: impl Fn(&E) -> bool,
) -> Abac {
    match read {
        Ok(false) => Abac::Off,
        Ok(true) => Abac::On,
        Err(e) if gone(&e) => Abac::Gone,
        Err(e) => Abac::Unknown(crate::error::one_line(&e)),
    }
}

/// Whether the bucket has ABAC on. S3 then refuses PutBucketTagging and DeleteBucketTagging
/// ("when ABAC is enabled, you must use the TagResource and UntagResource actions to manage
/// tags on your buckets", S3 API reference, PutBucketAbac). A bucket never configured is
/// Disabled (S3 user guide, "Enabling ABAC in general purpose buckets"); an answer without a
/// status reads as Disabled too.
async fn abac_enabled(
    ctx: &Ctx,
) -> Result<
    bool,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::get_bucket_abac::GetBucketAbacError>,
> {
    let read = ctx.aws.s3.get_bucket_abac().bucket(&ctx.stack.bucket_name);
    let out = read
        .expected_bucket_owner(&ctx.stack.target.account)
        .send()
        .await?;
    Ok(out.abac_status().and_then(|a| a.status()) == Some(&BucketAbacStatus::Enabled))
}

/// HeadBucket answered 403: either another account owns the bucket, or this account does
/// and the caller may not HeadBucket it (no s3:ListBucket in its IAM policy, or an explicit
/// deny in the bucket policy): the S3 API reference (HeadBucket) gives 403 for a bucket you
/// have no permission to access, and names s3:ListBucket as the permission HeadBucket needs.
/// ListBuckets lists only the caller's own buckets, and its `Prefix` narrows the listing to
/// names that begin with it (S3 API reference, ListBuckets): listed means this account's.
/// With `expected_bucket_owner` a bucket of another account answers the same 403, so both
/// readings meet here.
async fn forbidden(ctx: &Ctx) -> Result<State> {
    let b = &ctx.stack.bucket_name;
    let mut pages = ctx
        .aws
        .s3
        .list_buckets()
        .prefix(b)
        .max_buckets(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page
            .aws_context("ListBuckets")
            .with_context(|| format!("HeadBucket of bucket {b} was denied; telling whose it is"))?;
        if page.buckets().iter().any(|x| x.name() == Some(b.as_str())) {
            bail!(
                "bucket {b} is this account's, but HeadBucket on it is denied: the caller needs \
                 s3:ListBucket on {} (missing from its IAM policy, or denied by the bucket policy)",
                ctx.stack.bucket_arn
            );
        }
    }
    Ok(State::Present {
        owner: Owner::OtherAccount,
        drift: vec![],
    })
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    if state.is_other_account() {
        bail!(
            "bucket {} belongs to another AWS account",
            ctx.stack.bucket_name
        );
    }
    if let Some(r) = state.other_region() {
        bail!(
            "bucket {} belongs to the stack {} in region {r}",
            ctx.stack.bucket_name,
            ctx.stack.suffix()
        );
    }
    // `up` refuses this before any write (plan::refuse_foreign); a bucket met meanwhile may
    // still show it.
    if state.drifted(Field::Abac) {
        bail!(
            "bucket {} has ABAC enabled: S3 refuses PutBucketTagging, so tapctl cannot tag it",
            ctx.stack.bucket_name
        );
    }
    if state.is_missing() && !create(ctx).await? {
        return Err(MetMeanwhile {
            settle: Some(SETTLE_BUDGET),
        }
        .into());
    }
    // Created just now: its configuration calls may not see it yet.
    let fresh = state.is_missing();
    let s3 = &ctx.aws.s3;
    let b = &ctx.stack.bucket_name;
    let owner = &ctx.stack.target.account;
    // One write after another (overlapping ones answer OperationAborted). Tags first: until
    // they are on, the bucket is not recognisably tapctl's.
    if state.needs(Field::Tags) {
        put_tags(ctx, fresh).await?;
    }
    if state.needs(Field::PublicAccessBlock) {
        let c = PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        sdk::write(retryable(fresh), || {
            s3.put_public_access_block()
                .bucket(b)
                .expected_bucket_owner(owner)
                .public_access_block_configuration(c.clone())
                .send()
        })
        .await
        .aws_context("PutPublicAccessBlock")?;
    }
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
        sdk::write(retryable(fresh), || {
            s3.put_bucket_encryption()
                .bucket(b)
                .expected_bucket_owner(owner)
                .server_side_encryption_configuration(c.clone())
                .send()
        })
        .await
        .aws_context("PutBucketEncryption")?;
    }
    if state.needs(Field::ObjectOwnership) {
        let rule = OwnershipControlsRule::builder()
            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
            .build()?;
        let c = OwnershipControls::builder().rules(rule).build()?;
        sdk::write(retryable(fresh), || {
            s3.put_bucket_ownership_controls()
                .bucket(b)
                .expected_bucket_owner(owner)
                .ownership_controls(c.clone())
                .send()
        })
        .await
        .aws_context("PutBucketOwnershipControls")?;
    }
    if state.needs(Field::Lifecycle) {
        bucket_lifecycle::apply(ctx, fresh).await?;
    }
    if state.needs(Field::TlsOnlyPolicy) {
        let doc = ctx.stack.bucket_policy().to_string();
        sdk::write(retryable(fresh), || {
            let put = s3
                .put_bucket_policy()
                .bucket(b)
                .expected_bucket_owner(owner);
            put.policy(&doc).send()
        })
        .await
        .aws_context("PutBucketPolicy")?;
    }
    Ok(())
}

/// Creates the bucket; false when it already existed, owned by this account, or may have: in
/// us-east-1, re-creating a bucket you own answers 200 like a creation ("For legacy
/// compatibility, if you re-create an existing bucket that you already own in the North
/// Virginia Region, Amazon S3 returns 200 OK", S3 API reference, CreateBucket), so a 200
/// there is looked at again like a BucketAlreadyOwnedByYou elsewhere: one made meanwhile by
/// someone else is then not taken over.
async fn create(ctx: &Ctx) -> Result<bool> {
    let s = &ctx.stack;
    // Tagging at creation closes the window in which the bucket exists untagged (where S3
    // supports it; the separate PutBucketTagging after it covers the rest).
    let mut config = CreateBucketConfiguration::builder().set_tags(Some(tags::s3(s)?));
    if s.target.region != US_EAST_1 {
        config =
            config.location_constraint(BucketLocationConstraint::from(s.target.region.as_str()));
    }
    let request = ctx
        .aws
        .s3
        .create_bucket()
        .bucket(&s.bucket_name)
        .create_bucket_configuration(config.build());
    // A name deleted moments ago stays held (409 OperationAborted, like an overlapping write).
    match retry_on(NAME_HOLD_BUDGET, transient, || request.clone().send()).await {
        Ok(_) => Ok(s.target.region != US_EAST_1),
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
        Err(e) if has_code(&e, OPERATION_ABORTED) => Err(anyhow!(
            "bucket name {} was deleted recently and S3 has not released it yet; retry later \
             or use another suffix",
            s.bucket_name
        )),
        Err(e) => Err(e).aws_context("CreateBucket"),
    }
}

/// Puts tapctl's tags, keeping any other tags the bucket has (PutBucketTagging replaces all);
/// nothing when they are there already (CreateBucket carried them). Never DeleteBucketTagging:
/// the set written always holds tapctl's tags.
async fn put_tags(ctx: &Ctx, fresh: bool) -> Result<()> {
    let s3 = &ctx.aws.s3;
    let b = &ctx.stack.bucket_name;
    let owner = &ctx.stack.target.account;
    let read = retry_on(sdk::WRITE_BUDGET, retryable(fresh), || {
        s3.get_bucket_tagging()
            .bucket(b)
            .expected_bucket_owner(owner)
            .send()
    });
    let current: Vec<(String, String)> = found(read.await, code(NO_SUCH_TAG_SET))
        .aws_context("GetBucketTagging")?
        .map(|t| t.tag_set.into_iter().map(|t| (t.key, t.value)).collect())
        .unwrap_or_default();
    if tags::drift(&ctx.stack, &current).is_none() {
        return Ok(());
    }
    let tags = tags::retagged(&ctx.stack, current)
        .iter()
        .map(|(k, v)| tags::s3_tag(k, v))
        .collect::<Result<Vec<_>>>()?;
    let tagging = Tagging::builder().set_tag_set(Some(tags)).build()?;
    sdk::write(retryable(fresh), || {
        s3.put_bucket_tagging()
            .bucket(b)
            .expected_bucket_owner(owner)
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
            let del = s3.delete_bucket().bucket(&ctx.stack.bucket_name);
            del.expected_bucket_owner(&ctx.stack.target.account).send()
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
        let read = aws.s3.get_bucket_tagging().bucket(&name);
        let read = read.expected_bucket_owner(&t.account).send().await;
        // No tags at all, or gone since it was listed: not a stack to report.
        let untagged = |e: &_| has_code(e, NO_SUCH_TAG_SET) || no_such_bucket(e);
        let Some(tags) = found(read, untagged)
            .aws_context("GetBucketTagging")
            .with_context(|| format!("reading the tags of bucket {name}"))?
        else {
            continue;
        };
        let pairs = tags.tag_set().iter().map(|t| (t.key(), t.value()));
        out.extend(tags::stack_of(Kind::Bucket, t, &name, pairs));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_abac_answer_does_not_fail_the_read() {
        let err = |m: &str| Err::<bool, _>(std::io::Error::other(m.to_string()));
        let gone = |e: &std::io::Error| e.to_string() == "NoSuchBucket";
        assert_eq!(abac_answer(Ok(false), gone), Abac::Off);
        assert_eq!(abac_answer(Ok(true), gone), Abac::On);
        assert_eq!(abac_answer(err("NoSuchBucket"), gone), Abac::Gone);
        assert_eq!(
            abac_answer(err("AccessDenied: not authorized"), gone),
            Abac::Unknown("AccessDenied: not authorized".into())
        );
    }
    use crate::spec::test_stack as stack;

    fn good(s: &Stack) -> Observed {
        Observed {
            public_access_block: Some([true; 4]),
            encryption: Some(SSE.into()),
            policy: Some(s.bucket_policy()),
            ownership: Some(OWNERSHIP.into()),
            tags: s.tags(),
            lifecycle: vec![bucket_lifecycle::rule().unwrap()],
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
