//! Resources with tapctl's names made by someone else (without tapctl's tags): the neighbours,
//! leftovers and name clashes of the ownership, crash, bad-input, consistency and regions tests.

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use tapctl::aws::Clients;
use tapctl::spec::Stack;

/// An untagged bucket `name` in `region` (in us-east-1 without a location constraint, as S3
/// wants it).
pub async fn bucket(s3: &aws_sdk_s3::Client, name: &str, region: &str) {
    bucket_of(s3, name, region, None).await;
}

/// The same, owned by `account` when given (the local AWS's `x-moto-account-id`), else by the
/// caller's account.
pub async fn bucket_of(
    s3: &aws_sdk_s3::Client,
    name: &str,
    region: &str,
    account: Option<&'static str>,
) {
    let mut create = s3.create_bucket().bucket(name);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    create
        .customize()
        .mutate_request(move |r| {
            if let Some(a) = account {
                r.headers_mut().insert("x-moto-account-id", a);
            }
        })
        .send()
        .await
        .unwrap();
}

/// The stack's log group as Lambda makes it on its first log write: CreateLogGroup with nothing
/// else (no tags, no retention).
pub async fn log_group(c: &Clients, s: &Stack) {
    c.logs
        .create_log_group()
        .log_group_name(&s.log_group_name)
        .send()
        .await
        .unwrap();
}

/// The stack's log group as someone configured it: untagged, with a 30-day retention.
pub async fn configured_log_group(c: &Clients, s: &Stack) {
    log_group(c, s).await;
    c.logs
        .put_retention_policy()
        .log_group_name(&s.log_group_name)
        .retention_in_days(30)
        .send()
        .await
        .unwrap();
}
