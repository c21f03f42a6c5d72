//! Ownership and partial stacks: what is not tapctl's is refused by `up` (unless adopted) and
//! left alone by `down`; a partial stack is completed by `up` and removed by `down`.

mod common;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use common::{LocalAws, suffix};
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
    c.s3.create_bucket()
        .bucket(&s.bucket_name)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await
        .unwrap();
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
    let states: Vec<&str> = status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
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
    let states: Vec<&str> = status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
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
    let actions: Vec<&str> = up["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
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
    assert!(
        status["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "missing"),
        "{status}"
    );
}
