//! Ownership and partial stacks: what is not tapctl's is refused by `up` (unless adopted) and
//! left alone by `down`; a partial stack is completed by `up` and removed by `down`. Buckets
//! made by CloudFormation (system `aws:` tags) are adopted keeping those tags; one with ABAC
//! on is refused before any write; a HeadBucket 403 says whose bucket it is; every bucket
//! call names the expected owner.

use crate::common;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_s3::types::{AbacStatus, BucketAbacStatus};
use common::{ACCOUNT, LocalAws, foreign, status, suffix};
use serde_json::json;
use std::time::Duration;
use tapctl::aws::Clients;
use tapctl::spec::Stack;

/// A table and a bucket with tapctl's names, made by someone else (no tapctl tags).
async fn foreign_table_and_bucket(c: &Clients, s: &Stack) {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    c.dynamodb
        .create_table()
        .table_name(&s.table_name)
        .attribute_definitions(attr("id"))
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    foreign::bucket(&c.s3, &s.bucket_name, "us-west-2").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_resources_are_refused_and_survive_down() {
    refused_and_survive_down(&LocalAws::start()).await;
}

/// The same under AWS's eventual consistency, once the foreign resources are visible (a
/// table or bucket made a moment ago is not, to anyone: tapctl would see them missing).
#[tokio::test(flavor = "multi_thread")]
async fn foreign_resources_are_refused_and_survive_down_under_aws_real() {
    refused_and_survive_down(&LocalAws::start_with(&[("LOCAL_AWS_PROFILE", "aws-real")])).await;
}

async fn refused_and_survive_down(aws: &LocalAws) {
    let sfx = suffix("own");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    foreign_table_and_bucket(&c, &s).await;
    common::eventually(
        "the foreign table and bucket to show",
        Duration::from_secs(30),
        || async {
            let table = c
                .dynamodb
                .describe_table()
                .table_name(&s.table_name)
                .send()
                .await;
            let bucket =
                c.s3.get_bucket_tagging()
                    .bucket(&s.bucket_name)
                    .send()
                    .await;
            let bucket_seen = bucket.is_ok()
                || bucket.is_err_and(|e| {
                    e.as_service_error().and_then(|e| e.meta().code()) == Some("NoSuchTagSet")
                });
            (table.is_ok() && bucket_seen).then_some(())
        },
    )
    .await;

    let status = aws
        .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
        .code(2)
        .json();
    let states = status::column(&status, "state");
    assert_eq!(
        states,
        [
            "not_tapctls",
            "not_tapctls",
            "missing",
            "missing",
            "missing",
            "missing",
            "missing"
        ]
    );

    let mark = aws.mark();
    let up = aws.tapctl(&["up", "--suffix", &sfx]).code(1);
    let err = up.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("tapctl: error: not tapctl's"), "{err}");
    assert!(
        err.contains(&s.table_name) && err.contains(&s.bucket_name) && err.contains("--adopt"),
        "{err}"
    );
    assert_eq!(
        aws.writes_since(mark),
        Vec::<String>::new(),
        "a refused up wrote"
    );

    let mark = aws.mark();
    let down = aws.tapctl(&["down", "--suffix", &sfx, "--yes"]).ok();
    assert!(
        down.stderr.contains("not tapctl's: left alone"),
        "{}",
        down.stderr
    );
    assert_eq!(
        aws.writes_since(mark),
        Vec::<String>::new(),
        "down touched foreign resources"
    );
    c.dynamodb
        .describe_table()
        .table_name(&s.table_name)
        .send()
        .await
        .expect("foreign table survives");
    c.s3.head_bucket()
        .bucket(&s.bucket_name)
        .send()
        .await
        .expect("foreign bucket survives");
}

#[tokio::test(flavor = "multi_thread")]
async fn adopt_takes_over_what_it_can() {
    let aws = LocalAws::start();
    let sfx = suffix("adopt");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    foreign_table_and_bucket(&c, &s).await;
    // The table's keys are not tapctl's: adopting cannot fix that in place, and says so.
    let up = aws.tapctl(&["up", "--suffix", &sfx, "--adopt"]).code(1);
    assert!(
        up.stderr.contains("keys cannot change in place"),
        "{}",
        up.stderr
    );
    // Without the wrong table, adoption completes the stack and tags the bucket.
    c.dynamodb
        .delete_table()
        .table_name(&s.table_name)
        .send()
        .await
        .unwrap();
    aws.tapctl(&["up", "--suffix", &sfx, "--adopt"]).ok();
    aws.tapctl(&["status", "--suffix", &sfx]).code(0);
    // The adopted bucket is tagged as tapctl's and set up as specified.
    common::expect::bucket(&c, &s).await;
    aws.tapctl(&["down", "--suffix", &sfx, "--yes"]).ok();
    assert!(
        c.s3.head_bucket()
            .bucket(&s.bucket_name)
            .send()
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_stack_is_completed_by_up_and_removed_by_down() {
    let aws = LocalAws::start();
    let sfx = suffix("part");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    // Lose the function (with its permission) and the table, as a half-finished run would.
    c.lambda
        .delete_function()
        .function_name(&s.function_name)
        .send()
        .await
        .unwrap();
    c.dynamodb
        .delete_table()
        .table_name(&s.table_name)
        .send()
        .await
        .unwrap();

    let status = aws
        .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
        .code(2)
        .json();
    let states = status::column(&status, "state");
    assert_eq!(
        states,
        [
            "missing", "in_sync", "in_sync", "in_sync", "in_sync", "missing", "drifted"
        ]
    );

    let up = aws
        .tapctl(&["up", "--suffix", &sfx, "--output", "json"])
        .ok()
        .json();
    let actions = status::column(&up, "action");
    assert_eq!(
        actions,
        [
            "created",
            "unchanged",
            "unchanged",
            "unchanged",
            "unchanged",
            "created",
            "updated"
        ]
    );
    aws.tapctl(&["status", "--suffix", &sfx]).code(0);
    common::expect::table(&c, &s).await;
    common::expect::function(&c, &s).await;
    common::expect::trigger(&c, &s).await;

    // Now only half of it: down removes what there is.
    c.s3.delete_bucket_policy()
        .bucket(&s.bucket_name)
        .send()
        .await
        .unwrap();
    c.lambda
        .delete_function()
        .function_name(&s.function_name)
        .send()
        .await
        .unwrap();
    aws.tapctl(&["down", "--suffix", &sfx, "--yes"]).ok();
    let status = aws
        .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
        .code(2)
        .json();
    status::all(&status, "state", "missing");
}

async fn bucket_tags(c: &Clients, s: &Stack) -> Vec<(String, String)> {
    let out =
        c.s3.get_bucket_tagging()
            .bucket(&s.bucket_name)
            .send()
            .await;
    let mut tags: Vec<(String, String)> = out
        .unwrap()
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tags.sort();
    tags
}

/// The S3 calls of tapctl's own runs (log windows) that name a bucket must carry the expected
/// owner; CreateBucket and ListBuckets take none.
fn assert_expected_owner(aws: &LocalAws, windows: &[(usize, usize)]) {
    let requests = aws.requests();
    let mut checked = 0;
    for (from, to) in windows {
        for r in &requests[*from..*to] {
            let op = r["operation"].as_str().unwrap_or("?");
            if r["source"] != "client"
                || r["service"] != "s3"
                || matches!(op, "CreateBucket" | "ListBuckets")
            {
                continue;
            }
            assert_eq!(r["expected_owner"], ACCOUNT, "s3:{op} without it: {r}");
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} bucket calls seen");
}

/// A CloudFormation / CDK bucket (system `aws:` tags, which PutBucketTagging must resend
/// unchanged) is adopted: its aws: tags and its other tags stay, tapctl's are added, and a
/// second `up` writes nothing. A bucket with ABAC on cannot be tagged by PutBucketTagging:
/// `up --adopt` stops on one line before any write.
#[tokio::test(flavor = "multi_thread")]
async fn cloudformation_buckets_are_adopted_and_abac_ones_refused() {
    let aws = LocalAws::start();
    let c = aws.clients().await;
    let sfx = suffix("cfn");
    let s = aws.stack(&sfx);
    foreign::bucket(&c.s3, &s.bucket_name, &aws.var("AWS_REGION")).await;
    let system = json!({
        "aws:cloudformation:stack-name": "legacy",
        "aws:cloudformation:logical-id": "TriggerBucket",
    });
    aws.control(
        "s3/system-tags",
        &json!({"bucket": s.bucket_name, "tags": system}),
    );
    let mut windows = Vec::new();
    let mut run = |args: &[&str], code: i32| {
        let from = aws.mark();
        let out = aws.tapctl(args).code(code);
        windows.push((from, aws.mark()));
        out
    };
    run(&["status", "--suffix", &sfx], 2);
    run(&["up", "--suffix", &sfx, "--adopt"], 0);
    run(&["status", "--suffix", &sfx], 0);
    let tags = bucket_tags(&c, &s).await;
    let mut want: Vec<(String, String)> = s.tags();
    want.push((
        "aws:cloudformation:logical-id".into(),
        "TriggerBucket".into(),
    ));
    want.push(("aws:cloudformation:stack-name".into(), "legacy".into()));
    want.sort();
    assert_eq!(tags, want);
    common::expect::bucket(&c, &s).await;
    let mark = aws.mark();
    run(&["up", "--suffix", &sfx], 0);
    assert_eq!(
        aws.writes_since(mark),
        Vec::<String>::new(),
        "second up wrote"
    );
    run(&["down", "--suffix", &sfx, "--yes"], 0);
    assert_expected_owner(&aws, &windows);

    // ABAC on: refused on one line, before any write of the run.
    let sfx = suffix("abac");
    let s = aws.stack(&sfx);
    foreign::bucket(&c.s3, &s.bucket_name, &aws.var("AWS_REGION")).await;
    let enabled = AbacStatus::builder()
        .status(BucketAbacStatus::Enabled)
        .build();
    c.s3.put_bucket_abac()
        .bucket(&s.bucket_name)
        .abac_status(enabled)
        .send()
        .await
        .unwrap();
    let mark = aws.mark();
    let up = aws.tapctl(&["up", "--suffix", &sfx, "--adopt"]).code(1);
    let err = up.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "tapctl: error: bucket {} has ABAC enabled, so S3 refuses PutBucketTagging",
            s.bucket_name
        )) && err.contains("s3control tag-resource")
            && err.contains("put-bucket-abac"),
        "{err}"
    );
    assert_eq!(
        aws.writes_since(mark),
        Vec::<String>::new(),
        "a refused up wrote"
    );
    // The plan names the conflict; without --adopt the bucket is first of all not tapctl's.
    let plan = aws
        .tapctl(&["plan", "--suffix", &sfx, "--adopt", "--output", "json"])
        .json();
    assert_eq!(plan["resources"][1]["action"], "conflict", "{plan}");
    let up = aws.tapctl(&["up", "--suffix", &sfx]).code(1);
    assert!(up.stderr.contains("not tapctl's"), "{}", up.stderr);
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
}

/// HeadBucket answers 403 both for another account's bucket and for this account's bucket
/// that the caller may not HeadBucket (here: the bucket policy denies s3:ListBucket). tapctl
/// tells them apart (ListBuckets lists only this account's) and says which.
#[tokio::test(flavor = "multi_thread")]
async fn a_head_bucket_403_says_whose_bucket_it_is() {
    let aws = LocalAws::start();
    let c = aws.clients().await;

    // Another account's bucket: other_account, as before.
    let theirs = aws.stack(&suffix("theirs"));
    let region = aws.var("AWS_REGION");
    foreign::bucket_of(&c.s3, &theirs.bucket_name, &region, Some("111122223333")).await;
    let status = aws
        .tapctl(&[
            "status",
            "--suffix",
            &theirs.target.suffix,
            "--output",
            "json",
        ])
        .code(2)
        .json();
    assert_eq!(status["resources"][1]["state"], "other_account", "{status}");

    // This account's bucket, HeadBucket denied: an error naming the permission, no write.
    let sfx = suffix("denied");
    let s = aws.stack(&sfx);
    foreign::bucket(&c.s3, &s.bucket_name, &aws.var("AWS_REGION")).await;
    let deny = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:ListBucket",
        "Resource": s.bucket_arn}]});
    c.s3.put_bucket_policy()
        .bucket(&s.bucket_name)
        .policy(deny.to_string())
        .send()
        .await
        .unwrap();
    let mark = aws.mark();
    for args in [["status", "--suffix", &sfx], ["up", "--suffix", &sfx]] {
        let run = aws.tapctl(&args).code(1);
        let err = run.stderr.trim();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!(
                "bucket {} is this account's, but HeadBucket on it is denied: the caller needs \
                 s3:ListBucket on {}",
                s.bucket_name, s.bucket_arn
            )),
            "{err}"
        );
    }
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
}
