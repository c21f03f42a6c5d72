//! The trigger bucket: all public access blocked, SSE-S3 by default, a policy denying every
//! request without TLS, object ownership BucketOwnerEnforced. `delete` empties it first.

use super::{Backoff, Ctx, Drift, Kind, Owner, State, created_meanwhile, has_code, tag_drift};
use crate::spec::{MANAGED_TAG, SUFFIX_TAG, Stack, same_policy};
use anyhow::{Context, Result, anyhow, bail};
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
        drift.push(Drift::new("public_access_block", "all blocked", have));
    }
    if o.encryption.as_deref() != Some(SSE) {
        drift.push(Drift::new(
            "encryption",
            SSE,
            o.encryption.as_deref().unwrap_or("(none)"),
        ));
    }
    let policy = stack.bucket_policy();
    if !o.policy.as_ref().is_some_and(|p| same_policy(p, &policy)) {
        let have = o.policy.as_ref().map_or("(none)".into(), |p| p.to_string());
        drift.push(Drift::new("tls_only_policy", policy.to_string(), have));
    }
    if o.ownership.as_deref() != Some(OWNERSHIP) {
        drift.push(Drift::new(
            "object_ownership",
            OWNERSHIP,
            o.ownership.as_deref().unwrap_or("(none)"),
        ));
    }
    drift.extend(tag_drift(
        stack,
        o.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ));
    drift
}

/// `None` where S3 says the configuration is not set.
fn absent<T, E>(r: Result<T, E>, not_set: &str, op: &'static str) -> Result<Option<T>>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if has_code(&e, not_set) => Ok(None),
        Err(e) => Err(e).context(op),
    }
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
        return match e.raw_response().map(|r| r.status().as_u16()) {
            Some(404) => Ok(State::Missing),
            Some(403) => Ok(State::Present {
                owner: Owner::OtherAccount,
                drift: vec![],
            }),
            _ => Err(e).context("HeadBucket"),
        };
    }
    // The reads are no snapshot: a bucket created or deleted while they ran is missing for
    // some of them. It then counts as missing; creating it meets it and looks again.
    let gone = |e: Option<&dyn aws_sdk_s3::error::ProvideErrorMetadata>| {
        e.is_some_and(|e| e.code() == Some("NoSuchBucket"))
    };
    if gone(tags.as_ref().err().map(|e| e as _))
        || gone(pab.as_ref().err().map(|e| e as _))
        || gone(enc.as_ref().err().map(|e| e as _))
        || gone(policy.as_ref().err().map(|e| e as _))
        || gone(own.as_ref().err().map(|e| e as _))
    {
        return Ok(State::Missing);
    }
    let tags = absent(tags, "NoSuchTagSet", "GetBucketTagging")?
        .map(|t| t.tag_set.into_iter().map(|t| (t.key, t.value)).collect())
        .unwrap_or_default();
    let public_access_block = absent(
        pab,
        "NoSuchPublicAccessBlockConfiguration",
        "GetPublicAccessBlock",
    )?
    .and_then(|o| o.public_access_block_configuration)
    .map(|c| {
        [
            c.block_public_acls.unwrap_or(false),
            c.ignore_public_acls.unwrap_or(false),
            c.block_public_policy.unwrap_or(false),
            c.restrict_public_buckets.unwrap_or(false),
        ]
    });
    let encryption = absent(
        enc,
        "ServerSideEncryptionConfigurationNotFoundError",
        "GetBucketEncryption",
    )?
    .and_then(|o| o.server_side_encryption_configuration)
    .and_then(|c| c.rules.into_iter().next())
    .and_then(|r| r.apply_server_side_encryption_by_default)
    .map(|d| d.sse_algorithm.as_str().to_string());
    let policy = absent(policy, "NoSuchBucketPolicy", "GetBucketPolicy")?
        .and_then(|o| o.policy)
        .map(|p| serde_json::from_str(&p).unwrap_or(Value::String(p)));
    let ownership = absent(
        own,
        "OwnershipControlsNotFoundError",
        "GetBucketOwnershipControls",
    )?
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
    let owned = ctx
        .stack
        .owns(observed.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(State::present(owned, diff(&ctx.stack, &observed)))
}

fn s3_tag(k: &str, v: &str) -> Result<Tag> {
    Tag::builder().key(k).value(v).build().context("tag")
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    if matches!(
        state,
        State::Present {
            owner: Owner::OtherAccount,
            ..
        }
    ) {
        bail!(
            "bucket {} belongs to another AWS account",
            ctx.stack.bucket_name
        );
    }
    if state.is_missing() && !create(ctx).await? {
        return created_meanwhile(Kind::Bucket, ctx).await;
    }
    let all = state.is_missing();
    let s3 = &ctx.aws.s3;
    let b = &ctx.stack.bucket_name;
    // Tags first: until they are on, the bucket is not recognisably tapctl's.
    if all || state.drifted("tags") {
        put_tags(ctx).await?;
    }
    let pab = async {
        if all || state.drifted("public_access_block") {
            let c = PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build();
            s3.put_public_access_block()
                .bucket(b)
                .public_access_block_configuration(c)
                .send()
                .await
                .context("PutPublicAccessBlock")?;
        }
        anyhow::Ok(())
    };
    let enc = async {
        if all || state.drifted("encryption") {
            let rule = ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()?,
                )
                .build();
            s3.put_bucket_encryption()
                .bucket(b)
                .server_side_encryption_configuration(
                    ServerSideEncryptionConfiguration::builder()
                        .rules(rule)
                        .build()?,
                )
                .send()
                .await
                .context("PutBucketEncryption")?;
        }
        anyhow::Ok(())
    };
    let own = async {
        if all || state.drifted("object_ownership") {
            let c = OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                        .build()?,
                )
                .build()?;
            s3.put_bucket_ownership_controls()
                .bucket(b)
                .ownership_controls(c)
                .send()
                .await
                .context("PutBucketOwnershipControls")?;
        }
        anyhow::Ok(())
    };
    let policy = async {
        if all || state.drifted("tls_only_policy") {
            s3.put_bucket_policy()
                .bucket(b)
                .policy(ctx.stack.bucket_policy().to_string())
                .send()
                .await
                .context("PutBucketPolicy")?;
        }
        anyhow::Ok(())
    };
    tokio::try_join!(pab, enc, own, policy)?;
    Ok(())
}

/// Creates the bucket; false when it already existed, owned by this account.
async fn create(ctx: &Ctx) -> Result<bool> {
    let s = &ctx.stack;
    let mut config = CreateBucketConfiguration::builder();
    // Tagging at creation closes the window in which the bucket exists untagged (where S3
    // supports it; the separate PutBucketTagging after it covers the rest).
    for (k, v) in s.tags() {
        config = config.tags(s3_tag(&k, &v)?);
    }
    if s.target.region != "us-east-1" {
        config =
            config.location_constraint(BucketLocationConstraint::from(s.target.region.as_str()));
    }
    let created = ctx
        .aws
        .s3
        .create_bucket()
        .bucket(&s.bucket_name)
        .create_bucket_configuration(config.build())
        .send()
        .await;
    match created {
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
        Err(e) => Err(e).context("CreateBucket"),
    }
}

/// Puts tapctl's tags, keeping any other tags the bucket has (PutBucketTagging replaces all).
async fn put_tags(ctx: &Ctx) -> Result<()> {
    let s3 = &ctx.aws.s3;
    let b = &ctx.stack.bucket_name;
    let current = absent(
        s3.get_bucket_tagging().bucket(b).send().await,
        "NoSuchTagSet",
        "GetBucketTagging",
    )?
    .map(|t| t.tag_set)
    .unwrap_or_default();
    let mut tags: Vec<Tag> = current
        .into_iter()
        .filter(|t| t.key != MANAGED_TAG && t.key != SUFFIX_TAG)
        .collect();
    for (k, v) in ctx.stack.tags() {
        tags.push(s3_tag(&k, &v)?);
    }
    s3.put_bucket_tagging()
        .bucket(b)
        .tagging(Tagging::builder().set_tag_set(Some(tags)).build()?)
        .send()
        .await
        .context("PutBucketTagging")?;
    Ok(())
}

fn is_no_such_bucket<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> bool {
    has_code(e, "NoSuchBucket")
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
        match ctx
            .aws
            .s3
            .delete_bucket()
            .bucket(&ctx.stack.bucket_name)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if is_no_such_bucket(&e) => return Ok(()),
            Err(e) if has_code(&e, "BucketNotEmpty") && backoff.wait().await => {
                tracing::info!("bucket refilled during teardown; emptying it again");
            }
            Err(e) => return Err(e).context("DeleteBucket"),
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
            Err(e) if is_no_such_bucket(&e) => return Err(Gone.into()),
            Err(e) => return Err(e).context("ListObjectVersions"),
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
                let out = call.send().await.context("DeleteObjects")?;
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
            Err(e) if is_no_such_bucket(&e) => return Err(Gone.into()),
            Err(e) => return Err(e).context("ListMultipartUploads"),
        };
        for u in page.uploads() {
            let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                continue;
            };
            match s3
                .abort_multipart_upload()
                .bucket(b)
                .key(key)
                .upload_id(id)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if has_code(&e, "NoSuchUpload") => {}
                Err(e) => return Err(e).context("AbortMultipartUpload"),
            }
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
        let fields: Vec<_> = d.iter().map(|d| d.field).collect();
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
        assert_eq!(diff(&s, &o)[0].field, "tls_only_policy");
    }
}
