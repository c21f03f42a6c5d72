//! The bucket's lifecycle rule that aborts incomplete multipart uploads: their parts are
//! stored (and billed) until the upload is completed or aborted, and S3 recommends such a
//! rule ("Configuring a bucket lifecycle configuration to delete incomplete multipart
//! uploads", S3 user guide). PutBucketLifecycleConfiguration replaces the whole
//! configuration: rules tapctl did not write are read and sent back unchanged.

use super::sdk::{self, code, found, s3::retryable};
use super::state::{Ctx, Drift, Field};
use crate::error::AwsContext;
use anyhow::Result;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleRule,
    LifecycleRuleFilter,
};

/// The rule's id: how tapctl recognises its own rule among the bucket's.
pub const RULE_ID: &str = "tapctl-abort-incomplete-multipart-uploads";
/// Days after which an incomplete upload is aborted (the S3 user guide's example).
pub const DAYS: i32 = 7;
/// S3's answer for a bucket without a lifecycle configuration.
pub const NO_SUCH_LIFECYCLE: &str = "NoSuchLifecycleConfiguration";

/// tapctl's rule as it should be.
pub fn rule() -> Result<LifecycleRule> {
    Ok(LifecycleRule::builder()
        .id(RULE_ID)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(DAYS)
                .build(),
        )
        .build()?)
}

/// How tapctl's rule reads in a drift line.
fn describe(r: Option<&LifecycleRule>) -> String {
    match r {
        None => "(none)".into(),
        Some(r) => format!(
            "{}: abort incomplete uploads after {} days ({})",
            RULE_ID,
            r.abort_incomplete_multipart_upload()
                .and_then(|a| a.days_after_initiation())
                .map_or("-".to_string(), |d| d.to_string()),
            r.status().as_str()
        ),
    }
}

/// Whether tapctl's rule is there and as it should be, among `rules` (pure).
pub fn diff(rules: &[LifecycleRule]) -> Option<Drift> {
    let ours = rules.iter().find(|r| r.id() == Some(RULE_ID));
    let ok = ours.is_some_and(|r| {
        r.status() == &ExpirationStatus::Enabled
            && r.abort_incomplete_multipart_upload()
                .and_then(|a| a.days_after_initiation())
                == Some(DAYS)
            && r.filter()
                .is_none_or(|f| f.prefix().is_none_or(str::is_empty))
    });
    (!ok).then(|| {
        Drift::new(
            Field::Lifecycle,
            format!("{RULE_ID}: abort incomplete uploads after {DAYS} days (Enabled)"),
            describe(ours),
        )
    })
}

/// The bucket's lifecycle rules (none without a configuration), from a
/// GetBucketLifecycleConfiguration answer.
pub fn rules_of<E>(
    read: Result<
        aws_sdk_s3::operation::get_bucket_lifecycle_configuration::GetBucketLifecycleConfigurationOutput,
        aws_sdk_s3::error::SdkError<E>,
    >,
) -> Result<Vec<LifecycleRule>>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    Ok(found(read, code(NO_SUCH_LIFECYCLE))
        .aws_context("GetBucketLifecycleConfiguration")?
        .map(|o| o.rules.unwrap_or_default())
        .unwrap_or_default())
}

/// Puts tapctl's rule in place, keeping every other rule of the bucket as it is.
pub async fn apply(ctx: &Ctx, fresh: bool) -> Result<()> {
    let s3 = &ctx.aws.s3;
    let (b, owner) = (&ctx.stack.bucket_name, &ctx.stack.target.account);
    let read = sdk::write(retryable(fresh), || {
        s3.get_bucket_lifecycle_configuration()
            .bucket(b)
            .expected_bucket_owner(owner)
            .send()
    })
    .await;
    let mut rules: Vec<LifecycleRule> = rules_of(read)?
        .into_iter()
        .filter(|r| r.id() != Some(RULE_ID))
        .collect();
    rules.push(rule()?);
    let config = BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()?;
    sdk::write(retryable(fresh), || {
        s3.put_bucket_lifecycle_configuration()
            .bucket(b)
            .expected_bucket_owner(owner)
            .lifecycle_configuration(config.clone())
            .send()
    })
    .await
    .aws_context("PutBucketLifecycleConfiguration")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tapctls_rule_is_found_among_others_and_checked() {
        assert!(diff(&[rule().unwrap()]).is_none());
        let other = LifecycleRule::builder()
            .id("team-expire-logs")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
            .build()
            .unwrap();
        assert!(diff(&[other.clone(), rule().unwrap()]).is_none());
        let missing = diff(std::slice::from_ref(&other)).unwrap();
        assert_eq!(missing.field, Field::Lifecycle);
        assert_eq!(missing.have, "(none)");
        let mut off = rule().unwrap();
        off.status = ExpirationStatus::Disabled;
        assert_eq!(
            diff(&[off]).unwrap().have,
            format!("{RULE_ID}: abort incomplete uploads after {DAYS} days (Disabled)")
        );
    }
}
