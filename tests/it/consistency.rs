//! tapctl's answer to each of AWS's consistency and conflict behaviours, under the
//! local AWS's `aws-real` profile (or the behaviour's knob alone): docs/consistency.md.

use crate::chaos;
use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Event, LambdaFunctionConfiguration, NotificationConfiguration};
use common::status::{all, resource};
use common::{LocalAws, Run, foreign, suffix};
use serde_json::json;
use std::time::Duration;
use tapctl::aws::Clients;
use tapctl::spec::{NOTIFICATION_EVENT, NOTIFICATION_ID, Stack};

/// How long a test waits for the local AWS to settle a change it made itself.
const SETTLE: Duration = Duration::from_secs(30);

const AWS_REAL: &[(&str, &str)] = &[("LOCAL_AWS_PROFILE", "aws-real")];

/// `operation status` of each client call of `service` since `mark`.
fn answers(aws: &LocalAws, mark: usize, service: &str) -> Vec<String> {
    aws.requests()
        .into_iter()
        .skip(mark)
        .filter(|r| r["source"] == "client" && r["service"] == service)
        .map(|r| format!("{} {}", r["operation"].as_str().unwrap(), r["status"]))
        .collect()
}

fn count(answers: &[String], what: &str) -> usize {
    answers.iter().filter(|a| a.as_str() == what).count()
}

/// The error: one readable line on stderr, without the SDK's debug form.
#[track_caller]
fn one_line_error(run: &Run) -> String {
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("tapctl: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    let err = errors[0].to_string();
    assert!(
        !err.contains("Error {") && !err.contains("unhandled"),
        "{err}"
    );
    err
}

/// Puts objects that a bucket listing without `EncodingType=url` cannot carry in XML 1.0.
async fn put_awkward_keys(c: &Clients, s: &Stack) -> Vec<&'static str> {
    let keys = vec!["ctl\u{1}char.txt", "cr\rkey.txt", "a b+c%.txt"];
    for k in &keys {
        c.s3.put_object()
            .bucket(&s.bucket_name)
            .key(*k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    keys
}

/// Replaces the bucket's notification entries, without destination validation.
async fn put_entries(c: &Clients, s: &Stack, entries: Vec<LambdaFunctionConfiguration>) {
    let config = NotificationConfiguration::builder()
        .set_lambda_function_configurations(Some(entries))
        .build();
    common::eventually("the bucket to take a notification", SETTLE, || {
        let put =
            c.s3.put_bucket_notification_configuration()
                .bucket(&s.bucket_name)
                .notification_configuration(config.clone())
                .skip_destination_validation(true)
                .send();
        async { put.await.ok() }
    })
    .await;
}

/// A cold `up`, then `status` in sync and a second `up` that writes nothing; keys with control
/// characters and 4,000 versions with 10 % per-key DeleteObjects errors, removed by `down`;
/// `up` at once after `down` (the bucket name still held, then a table still DELETING);
/// someone else's broken notification entry, named by `up` and no obstacle to `down`; two
/// `down` at once. All under aws-real.
#[tokio::test(flavor = "multi_thread")]
async fn up_down_up_at_once_under_aws_real() {
    let aws = LocalAws::start_with(AWS_REAL);
    let sfx = suffix("real");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;

    let up = aws.tapctl(&["up", "--suffix", &sfx, "--output", "json"]);
    all(&up.ok().json(), "action", "created");
    let status = aws.tapctl(&["status", "--suffix", &sfx, "--output", "json"]);
    assert_eq!(status.code(0).json()["in_sync"], true);
    let mark = aws.mark();
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    common::expect::every_setting(&c, &s).await;

    // Emptying: awkward keys, and enough versions for several DeleteObjects calls, a tenth
    // of whose keys fail with SlowDown / InternalError.
    put_awkward_keys(&c, &s).await;
    let filled = aws.control(
        "s3/fill",
        &json!({"bucket": s.bucket_name, "keys": 2000, "versions": 2}),
    );
    assert_eq!(filled["objects"], 4000, "{filled}");
    // SQS holds a deleted queue's name 60 s: long enough here to outlast the rest of down.
    aws.control("config", &json!({"sqs_name_hold": 20}));
    let mark = aws.mark();
    let down = aws.tapctl(&["down", "--suffix", &sfx, "--yes", "--output", "json"]);
    all(&down.ok().json(), "action", "deleted");
    common::assert_gone(&c, &s).await;
    let s3 = answers(&aws, mark, "s3");
    let batches = count(&s3, "DeleteObjects 200");
    // 4,003 versions fit in 5 calls; the failed keys went again.
    assert!(batches > 5, "no key was resubmitted: {s3:?}");
    assert_eq!(count(&s3, "DeleteObject 204"), 1, "{s3:?}");
    let iam = answers(&aws, mark, "iam");
    assert!(
        count(&iam, "DeleteRole 409") > 0,
        "no DeleteConflict: {iam:?}"
    );
    assert_eq!(count(&iam, "DeleteRole 200"), 1, "{iam:?}");
    // The deleted queue went on answering for a while; down waited until it was gone
    // (assert_gone above found no queue).
    let sqs = answers(&aws, mark, "sqs");
    assert_eq!(count(&sqs, "DeleteQueue 200"), 1, "{sqs:?}");
    assert!(
        count(&sqs, "GetQueueUrl 200") > 1,
        "the queue never answered after DeleteQueue: {sqs:?}"
    );

    // up at once; its bucket writes overlap (OperationAborted), retried; the queue's name
    // is still held (QueueDeletedRecently), waited out.
    let mark = aws.mark();
    let up = aws.tapctl(&["up", "--suffix", &sfx, "--output", "json"]);
    all(&up.ok().json(), "action", "created");
    let s3 = answers(&aws, mark, "s3");
    assert!(count(&s3, "PutBucketPolicy 409") > 0, "no conflict: {s3:?}");
    let sqs = answers(&aws, mark, "sqs");
    assert!(count(&sqs, "CreateQueue 400") > 0, "name not held: {sqs:?}");
    assert_eq!(count(&sqs, "CreateQueue 200"), 1, "{sqs:?}");

    // The table and the (empty) bucket deleted behind tapctl's back: the table still
    // DELETING, the bucket's name still held. up waits for both, then creates them.
    c.dynamodb
        .delete_table()
        .table_name(&s.table_name)
        .send()
        .await
        .unwrap();
    c.s3.delete_bucket()
        .bucket(&s.bucket_name)
        .send()
        .await
        .unwrap();
    let mark = aws.mark();
    let up = aws.tapctl(&["up", "--suffix", &sfx, "--output", "json"]);
    let up = up.ok();
    assert_eq!(resource(&up.json(), "table")["action"], "created");
    assert_eq!(resource(&up.json(), "bucket")["action"], "created");
    assert!(
        !up.stderr.contains("someone else") && !up.stderr.contains("disappeared"),
        "{}",
        up.stderr
    );
    let s3 = answers(&aws, mark, "s3");
    assert!(count(&s3, "CreateBucket 409") > 0, "name not held: {s3:?}");

    // Someone else's entry for a function that does not exist, stored without validation.
    let theirs = LambdaFunctionConfiguration::builder()
        .id("theirs")
        .lambda_function_arn(s.function_arn.replace(&s.function_name, "gone-fn"))
        .events(Event::from("s3:ObjectRemoved:*"))
        .build()
        .unwrap();
    let ours = LambdaFunctionConfiguration::builder()
        .id(NOTIFICATION_ID)
        .lambda_function_arn(&s.function_arn)
        .events(Event::from(NOTIFICATION_EVENT))
        .build()
        .unwrap();
    // tapctl's own entry gone: up must write the document, and S3 rejects theirs.
    put_entries(&c, &s, vec![theirs.clone()]).await;
    let mark = aws.mark();
    let up = aws.tapctl(&["up", "--suffix", &sfx]).code(1);
    let err = one_line_error(&up);
    assert!(
        err.contains("\"theirs\"") && err.contains("gone-fn") && err.contains("not tapctl's"),
        "{err}"
    );
    let s3 = answers(&aws, mark, "s3");
    assert_eq!(
        count(&s3, "PutBucketNotificationConfiguration 400"),
        1,
        "retried someone else's broken entry: {s3:?}"
    );
    put_entries(&c, &s, vec![ours, theirs]).await;

    // Two downs at once both finish, removing tapctl's entry next to the broken one.
    aws.control(
        "s3/fill",
        &json!({"bucket": s.bucket_name, "keys": 1500, "versions": 1}),
    );
    let a = chaos::spawn(&aws, &["down", "--suffix", &sfx, "--yes"]);
    let b = chaos::spawn(&aws, &["down", "--suffix", &sfx, "--yes"]);
    for run in [chaos::wait(a), chaos::wait(b)] {
        assert_eq!(
            run.code, 0,
            "a concurrent down:\n{}{}",
            run.stdout, run.stderr
        );
    }
    common::assert_gone(&c, &s).await;
}

/// IAM's conflicts, the KMS-grant message of a young role, an Inactive function and a Failed
/// one, each knob alone (no delays otherwise, to stay quick).
#[tokio::test(flavor = "multi_thread")]
async fn iam_conflicts_kms_message_inactive_and_failed_functions() {
    let aws = LocalAws::start_with(&[
        ("LOCAL_AWS_ROLE_DELAY", "2"),
        ("LOCAL_AWS_ROLE_ENV_KMS_ERROR", "true"),
        ("LOCAL_AWS_IAM_CONFLICT_WINDOW", "0.5"),
        ("LOCAL_AWS_IAM_DELETE_CONFLICT", "1"),
    ]);
    let sfx = suffix("fn");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    let mark = aws.mark();
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    let lambda = answers(&aws, mark, "lambda");
    // The function has environment variables: the young role gives the KMS-grant message.
    assert!(count(&lambda, "CreateFunction 400") > 0, "{lambda:?}");
    assert_eq!(count(&lambda, "CreateFunction 201"), 1, "{lambda:?}");

    // The basic execution policy swapped for another: the detach and the attach that repair
    // it overlap (ConcurrentModification), retried.
    let extra = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    c.iam
        .attach_role_policy()
        .role_name(&s.role_name)
        .policy_arn(extra)
        .send()
        .await
        .unwrap();
    common::eventually("the policy swap", SETTLE, || {
        let detach = c
            .iam
            .detach_role_policy()
            .role_name(&s.role_name)
            .policy_arn(&s.basic_execution_policy_arn)
            .send();
        async { detach.await.ok() }
    })
    .await;
    let mark = aws.mark();
    let up = aws.tapctl(&["up", "--suffix", &sfx, "--output", "json"]);
    assert_eq!(resource(&up.ok().json(), "role")["action"], "updated");
    let iam = answers(&aws, mark, "iam");
    assert!(count(&iam, "AttachRolePolicy 409") > 0, "{iam:?}");
    common::expect::resource(&c, &s, "role").await;

    // A drifted function made Inactive: updated all the same, then in sync.
    c.lambda
        .update_function_configuration()
        .function_name(&s.function_name)
        .memory_size(512)
        .send()
        .await
        .unwrap();
    common::eventually("the function update", SETTLE, || {
        let get = c
            .lambda
            .get_function_configuration()
            .function_name(&s.function_name)
            .send();
        async { get.await.ok().filter(|f| f.memory_size() == Some(512)) }
    })
    .await;
    let fn_name = json!({"function": s.function_name});
    let inactive = aws.control("lambda/inactive", &fn_name);
    assert_eq!(inactive["state"], "Inactive");
    let up = aws.tapctl(&["up", "--suffix", &sfx, "--output", "json"]);
    assert_eq!(
        resource(&up.ok().json(), "function")["fields"],
        json!(["memory_mb"])
    );
    aws.tapctl(&["status", "--suffix", &sfx]).code(0);
    // Inactive and otherwise as specified: in sync, nothing to write.
    aws.control("lambda/inactive", &fn_name);
    let mark = aws.mark();
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());

    // Failed: drift with Lambda's reason, never in sync; up updates it back.
    let mut failed = fn_name.clone();
    failed["reason"] = json!("InternalError: could not set up the function");
    aws.control("lambda/failed", &failed);
    let status = aws.tapctl(&["status", "--suffix", &sfx, "--output", "json"]);
    let status = status.code(2).json();
    let f = resource(&status, "function");
    assert_eq!(f["state"], "drifted", "{f}");
    assert_eq!(f["drift"][0]["field"], "state", "{f}");
    assert!(
        f["drift"][0]["have"]
            .as_str()
            .unwrap()
            .contains("could not set up"),
        "{f}"
    );
    let up = aws.tapctl(&["up", "--suffix", &sfx, "--output", "json"]);
    assert_eq!(
        resource(&up.ok().json(), "function")["fields"],
        json!(["state"])
    );
    aws.tapctl(&["status", "--suffix", &sfx]).code(0);

    let mark = aws.mark();
    aws.tapctl(&["down", "--suffix", &sfx, "--yes"]).ok();
    let iam = answers(&aws, mark, "iam");
    assert!(count(&iam, "DeleteRole 409") > 0, "{iam:?}");
    common::assert_gone(&c, &s).await;
}

/// A bucket of that name in another region: one clear line naming the region, never "in
/// sync", and `down` from here deletes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_in_another_region_is_reported_not_touched() {
    let aws = LocalAws::start_with(&[("LOCAL_AWS_S3_REGION_REDIRECT", "true")]);
    let sfx = suffix("rgn");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    // The bucket moved to eu-west-1 (same name, tapctl's tags).
    let tags =
        c.s3.get_bucket_tagging()
            .bucket(&s.bucket_name)
            .send()
            .await
            .unwrap();
    c.s3.delete_bucket()
        .bucket(&s.bucket_name)
        .send()
        .await
        .unwrap();
    let eu = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws.sdk_config().await)
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .force_path_style(true)
            .build(),
    );
    foreign::bucket(&eu, &s.bucket_name, "eu-west-1").await;
    eu.put_bucket_tagging()
        .bucket(&s.bucket_name)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .set_tag_set(Some(tags.tag_set().to_vec()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // The bucket is the same suffix's stack in eu-west-1 now: status says so (exit
    // 2), up refuses naming the region, down removes this region's resources and leaves it.
    let status = aws
        .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
        .code(2);
    let doc = status.json();
    let bucket = resource(&doc, "bucket").clone();
    assert_eq!(bucket["state"], "other_region", "{bucket}");
    let mark = aws.mark();
    let up = aws.tapctl(&["up", "--suffix", &sfx]).code(1);
    assert!(one_line_error(&up).contains("region eu-west-1"));
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    let down = aws.tapctl(&["down", "--suffix", &sfx, "--yes"]).ok();
    assert!(
        down.stderr.contains(&format!(
            "bucket {} belongs to stack {sfx} in region eu-west-1: left alone",
            s.bucket_name
        )),
        "{}",
        down.stderr
    );
    eu.head_bucket()
        .bucket(&s.bucket_name)
        .send()
        .await
        .expect("the other region's bucket survives");
}

/// DynamoDB's limit on switches back to on-demand (4 per table and 24 h; the knob makes it
/// 1): `up` repairs a PROVISIONED table once; the next time it meets the limit, which is
/// final: one UpdateTable (no retry, the SDK's included), exit 1, one line that says what
/// happened and when to run `up` again.
#[tokio::test(flavor = "multi_thread")]
async fn the_on_demand_switch_limit_is_final() {
    let aws = LocalAws::start_with(&[("LOCAL_AWS_DYNAMODB_ON_DEMAND_SWITCHES", "1")]);
    let sfx = suffix("switch");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    let throughput = aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
        .read_capacity_units(1)
        .write_capacity_units(1)
        .build()
        .unwrap();
    let provisioned = || {
        let update = c.dynamodb.update_table().table_name(&s.table_name);
        let update = update.billing_mode(aws_sdk_dynamodb::types::BillingMode::Provisioned);
        update.provisioned_throughput(throughput.clone()).send()
    };
    provisioned().await.unwrap();
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    provisioned().await.unwrap();
    let status = aws.tapctl(&["status", "--suffix", &sfx, "--output", "json"]);
    let doc = status.code(2).json();
    assert_eq!(
        doc["resources"][0]["drift"][0]["field"], "billing_mode",
        "{doc}"
    );

    let mark = aws.mark();
    let up = aws.tapctl(&["up", "--suffix", &sfx]).code(1);
    let line = one_line_error(&up);
    for part in [
        format!(
            "error: table {}: DynamoDB allows switching a table to on-demand only 4 times",
            s.table_name
        ),
        "(UpdateTable: LimitExceededException: Subscriber limit exceeded: Update to \
         PayPerRequest mode are limited to once in 1 day(s)."
            .to_string(),
        format!(
            "run `tapctl up --suffix {sfx} --region {}` again after ",
            s.target.region
        ),
    ] {
        assert!(line.contains(&part), "{part:?} not in {line}");
    }
    assert_eq!(line.matches(&s.table_name).count(), 1, "{line}");
    let updates = answers(&aws, mark, "dynamodb");
    let updates: Vec<_> = updates
        .iter()
        .filter(|a| a.starts_with("UpdateTable"))
        .collect();
    assert_eq!(updates, ["UpdateTable 400"], "no retry");
}

/// DynamoDB's TTL changes: ENABLING lasts up to an hour and is a change in progress (up does
/// not wait it out, status is in sync), and a second change within the hour is refused with
/// "Time to live has been modified multiple times within a fixed interval": one line saying
/// when to run up again, the rest of the stack applied.
#[tokio::test(flavor = "multi_thread")]
async fn ttl_in_progress_is_no_error_and_the_hourly_limit_is_one_line() {
    let aws = LocalAws::start_with(&[
        ("LOCAL_AWS_DYNAMODB_TTL_DELAY", "3600"),
        ("LOCAL_AWS_DYNAMODB_TTL_CHANGE_INTERVAL", "3600"),
    ]);
    let sfx = suffix("ttl");
    let keep = "item_retention_days=7";
    let started = std::time::Instant::now();
    aws.tapctl(&["up", "--suffix", &sfx, "--set", keep]).ok();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "up waited for ENABLING to end: {:?}",
        started.elapsed()
    );
    aws.tapctl(&["status", "--suffix", &sfx, "--set", keep])
        .ok();
    // Items kept forever again: a second TTL change within the hour.
    let run = aws.tapctl(&[
        "up",
        "-q",
        "--suffix",
        &sfx,
        "--set",
        "log_retention_days=30",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let s = aws.stack(&sfx);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "DynamoDB allows one time-to-live change per table per hour and table {} had one \
             within the hour",
            s.table_name
        )) && run.stderr.contains("run `tapctl up --suffix"),
        "{}",
        run.stderr
    );
    // The rest was applied: only the TTL differs.
    let doc = aws
        .tapctl(&[
            "status",
            "--suffix",
            &sfx,
            "--set",
            "log_retention_days=30",
            "--output",
            "json",
        ])
        .code(2)
        .json();
    let drifted: Vec<String> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["drift"].as_array().unwrap().clone())
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(drifted, ["time_to_live"], "{doc}");
    aws.tapctl(&["down", "--suffix", &sfx, "--yes"]).ok();
}

/// Adding the object index to a table with items: DynamoDB backfills it for minutes to hours
/// and refuses a Query on it meanwhile ("Cannot read from backfilling global secondary
/// index"). up applies everything and leaves the index building (no 300 s failure on every
/// run), status is in sync, and events --key says so on one line and answers from a Scan.
#[tokio::test(flavor = "multi_thread")]
async fn an_index_being_backfilled_is_left_to_build_and_reads_fall_back() {
    use aws_sdk_dynamodb::types::{DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate};
    let aws = LocalAws::start_with(&[("LOCAL_AWS_DYNAMODB_INDEX_BACKFILL", "3600")]);
    let sfx = suffix("backfill");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    common::objects::upload(&c, &s, "seen", 3).await;
    common::eventually("the 3 items", Duration::from_secs(60), || async {
        let n = common::objects::items(&c, &s).await.len();
        (n >= 3).then_some(())
    })
    .await;
    let delete = DeleteGlobalSecondaryIndexAction::builder()
        .index_name("by-object")
        .build()
        .unwrap();
    c.dynamodb
        .update_table()
        .table_name(&s.table_name)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().delete(delete).build(),
        )
        .send()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let up = aws.tapctl(&["up", "--suffix", &sfx]).ok();
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
    assert!(
        up.stderr.contains("index by-object is building"),
        "{}",
        up.stderr
    );
    aws.tapctl(&["status", "--suffix", &sfx]).ok();
    let run = aws.tapctl(&[
        "events",
        "--suffix",
        &sfx,
        "--key",
        "seen/object 001.txt",
        "--output",
        "json",
    ]);
    let run = run.ok();
    let doc = run.json();
    assert_eq!(doc["index_building"], true, "{doc}");
    assert_eq!(doc["read"], "scan", "{doc}");
    assert_eq!(doc["items"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("is still being built"),
        "{}",
        run.stderr
    );
}
