//! Seeing what the pipeline did: `events` (a Query on the object index, at 20,000 items),
//! `logs` (and `--follow` until Ctrl-C), `invoke` (success and a function error), item expiry
//! and the index as part of the table's spec, and `smoke` right after `up` on aws-real.

use crate::common;

use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate,
    TimeToLiveSpecification,
};
use aws_sdk_lambda::types::Environment;
use aws_sdk_s3::primitives::ByteStream;
use common::status::drift_fields;
use common::{LocalAws, Run, eventually, suffix};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tapctl::aws::Clients;
use tapctl::spec::Stack;

async fn upload(c: &Clients, s: &Stack, key: &str) {
    c.s3.put_object()
        .bucket(&s.bucket_name)
        .key(key)
        .body(ByteStream::from_static(b"seen"))
        .send()
        .await
        .unwrap();
}

/// The items `events --key` shows for `key`, once there are `n`.
async fn events_of(aws: &LocalAws, sfx: &str, key: &str, n: usize) -> Value {
    eventually(
        &format!("{n} event(s) of {key}"),
        Duration::from_secs(30),
        || {
            let doc = aws
                .tapctl(&["events", "--suffix", sfx, "--key", key, "--output", "json"])
                .ok()
                .json();
            let found = doc["items"].as_array().map_or(0, Vec::len);
            async move { (found == n).then_some(doc) }
        },
    )
    .await
}

fn calls(aws: &LocalAws, mark: usize) -> Vec<String> {
    aws.requests()
        .into_iter()
        .skip(mark)
        .filter(|r| r["source"] == "client")
        .map(|r| format!("{}:{}", r["service"], r["operation"]).replace('"', ""))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn events_logs_and_invoke() {
    let aws = LocalAws::start();
    let sfx = suffix("see");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    aws.tapctl(&["up", "--suffix", &sfx, "-q"]).ok();
    let filled = aws.control(
        "dynamodb/fill",
        &json!({"table": s.table_name, "items": 20_000, "bucket": s.bucket_name}),
    );
    assert_eq!(filled["items"], 20_000);

    // events --key: a Query on the index, never a Scan, reading only that object's items.
    let key = "look here/a b+c.txt";
    upload(&c, &s, key).await;
    events_of(&aws, &sfx, key, 1).await;
    let mark = aws.mark();
    let doc = events_of(&aws, &sfx, key, 1).await;
    let item = &doc["items"][0];
    assert_eq!(item["key"], key);
    assert_eq!(item["event"], "ObjectCreated:Put");
    assert_eq!(item["size"], 4);
    assert_eq!(
        (doc["read"].as_str(), doc["scanned"].as_i64()),
        (Some("query"), Some(1))
    );
    let since_mark = calls(&aws, mark);
    assert!(
        since_mark.contains(&"dynamodb:Query".to_string()),
        "{since_mark:?}"
    );
    assert!(
        !since_mark.iter().any(|c| c.contains("Scan")),
        "{since_mark:?}"
    );
    let text = aws
        .tapctl(&["events", "--suffix", &sfx, "--key", "obj/000042"])
        .ok();
    assert!(text.stdout.starts_with("TIME"), "{}", text.stdout);
    assert!(text.stdout.contains("obj/000042"), "{}", text.stdout);
    // Without --key: a Scan that stops at --limit, and says so.
    let doc = aws
        .tapctl(&[
            "events", "--suffix", &sfx, "--limit", "5", "--output", "json",
        ])
        .ok()
        .json();
    assert_eq!(doc["items"].as_array().unwrap().len(), 5);
    assert_eq!(
        (doc["read"].as_str(), doc["complete"].as_bool()),
        (Some("scan"), Some(false))
    );

    // logs: the handler's lines for that upload.
    let doc = aws
        .tapctl(&["logs", "--suffix", &sfx, "--output", "json"])
        .ok()
        .json();
    let lines: Vec<&str> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("record logged") && l.contains(key)),
        "{lines:?}"
    );
    let filtered = aws
        .tapctl(&["logs", "--suffix", &sfx, "--filter", "REPORT"])
        .ok();
    assert!(
        filtered.stdout.lines().all(|l| l.contains("REPORT")),
        "{}",
        filtered.stdout
    );
    follow_until_ctrl_c(&aws, &c, &s, &sfx).await;

    // invoke: the function runs on a synthetic event; its result, log tail and item.
    let key = "invoked/x y.txt";
    let doc = aws
        .tapctl(&["invoke", "--suffix", &sfx, "--key", key, "--output", "json"])
        .ok()
        .json();
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["result"]["processed"], 1, "{doc}");
    assert_eq!(
        doc["event"]["Records"][0]["s3"]["object"]["key"],
        "invoked/x+y.txt"
    );
    let tail = doc["log_tail"].as_str().unwrap();
    assert!(
        tail.contains("record logged") && tail.contains("REPORT"),
        "{tail}"
    );
    events_of(&aws, &sfx, key, 1).await;
    // A function error: exit 1 with the function's error, the log tail still printed.
    c.lambda
        .update_function_configuration()
        .function_name(&s.function_name)
        .environment(
            Environment::builder()
                .variables("DYNAMODB_TABLE_NAME", &s.table_name)
                .variables("ITEM_RETENTION_DAYS", "soon")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let failed = aws
        .tapctl(&["invoke", "--suffix", &sfx, "--key", key])
        .code(1);
    assert!(
        failed
            .stderr
            .contains("failed: Unhandled: ConfigurationError")
            && failed.stderr.contains("ITEM_RETENTION_DAYS"),
        "{}",
        failed.stderr
    );
    // One error line (the key names no object of the bucket: a warning line before it).
    let errors = failed
        .stderr
        .lines()
        .filter(|l| l.starts_with("tapctl: error:"));
    assert_eq!(errors.count(), 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("warning: bucket"),
        "{}",
        failed.stderr
    );
    assert!(failed.stdout.contains("END RequestId"), "{}", failed.stdout);
    aws.tapctl(&["down", "--suffix", &sfx, "--yes", "-q"]).ok();
}

/// `logs --follow` prints a line written after it started, through throttled reads, and ends
/// cleanly on Ctrl-C.
async fn follow_until_ctrl_c(aws: &LocalAws, c: &Clients, s: &Stack, sfx: &str) {
    let mut child = aws
        .tapctl_cmd(&[
            "logs", "--suffix", sfx, "--follow", "--since", "1s", "--output", "json",
        ])
        // Two attempts per call (the user's retry setting): the throttled reads below reach
        // tapctl's own back-off quickly.
        .env("AWS_MAX_ATTEMPTS", "2")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // CloudWatch Logs throttles FilterLogEvents (5 requests/s per account and region,
    // shared): the next 4 reads answer ThrottlingException, more than the SDK's own retries
    // take (2 attempts here). The follow backs off and goes on instead of exiting.
    aws.control("config", &json!({"fault_operations": ["FilterLogEvents"], "fault_kind": "throttle", "fault_next": 4}));
    let key = "followed.txt";
    upload(c, s, key).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("the followed line within 30 s");
        let event: Value = serde_json::from_str(&line).expect("JSON Lines");
        if event["message"].as_str().unwrap().contains(key) {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let run = Run::from(child.wait_with_output().unwrap());
    assert_eq!(run.code, 0, "{}", run.stderr);
}

fn with_retention(aws: &LocalAws, args: &[&str]) -> Run {
    let out = aws
        .tapctl_cmd(args)
        .env("TAPCTL_ITEM_RETENTION_DAYS", "3")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run::from(out)
}

/// Index ACTIVE and TTL ENABLED on expiresAt, read from AWS.
async fn settled(c: &Clients, s: &Stack) -> (String, String) {
    let t = c
        .dynamodb
        .describe_table()
        .table_name(&s.table_name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let index = t
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some("by-object"))
        .and_then(|i| i.index_status())
        .map_or("none".into(), |s| s.as_str().to_string());
    let ttl = c
        .dynamodb
        .describe_time_to_live()
        .table_name(&s.table_name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    let ttl = format!(
        "{} {}",
        ttl.time_to_live_status().unwrap().as_str(),
        ttl.attribute_name().unwrap_or("-")
    );
    (index, ttl)
}

/// With item_retention_days > 0: TTL on expiresAt, items carry it; the index and TTL are
/// drift that status names and up repairs, waiting until the index is ACTIVE and DynamoDB has
/// taken the TTL change (ENABLING counts: it may last an hour; the local AWS keeps a new index
/// CREATING and TTL ENABLING for table_delay).
#[tokio::test(flavor = "multi_thread")]
async fn item_expiry_and_the_index_are_part_of_the_table() {
    let aws = LocalAws::start_with(&[("LOCAL_AWS_TABLE_DELAY", "1")]);
    let sfx = suffix("ttl");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    with_retention(&aws, &["up", "--suffix", &sfx, "-q"]).ok();
    let taken = |(index, ttl): (String, String)| {
        index == "ACTIVE" && ["ENABLING expiresAt", "ENABLED expiresAt"].contains(&ttl.as_str())
    };
    assert!(taken(settled(&c, &s).await));
    upload(&c, &s, "expiring.txt").await;
    let doc = events_of(&aws, &sfx, "expiring.txt", 1).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expires = doc["items"][0]["expires_at"].as_i64().unwrap();
    assert!((expires - (now + 3 * 86_400)).abs() < 120, "{doc}");

    // DynamoDB finishes the TTL change later (ENABLING, here 1 s): wait for it before the
    // changes by hand below, as a user would an hour later.
    eventually("TTL ENABLED", Duration::from_secs(30), || async {
        (settled(&c, &s).await.1 == "ENABLED expiresAt").then_some(())
    })
    .await;
    let db = &c.dynamodb;
    let delete = DeleteGlobalSecondaryIndexAction::builder()
        .index_name("by-object")
        .build()
        .unwrap();
    db.update_table()
        .table_name(&s.table_name)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().delete(delete).build(),
        )
        .send()
        .await
        .unwrap();
    let off = TimeToLiveSpecification::builder()
        .attribute_name("expiresAt")
        .enabled(false)
        .build()
        .unwrap();
    db.update_time_to_live()
        .table_name(&s.table_name)
        .time_to_live_specification(off)
        .send()
        .await
        .unwrap();
    let status = with_retention(&aws, &["status", "--suffix", &sfx, "--output", "json"]).code(2);
    assert_eq!(
        drift_fields(&status.json(), "table"),
        ["object_index", "time_to_live"]
    );
    let up = with_retention(&aws, &["up", "--suffix", &sfx, "--output", "json"]).ok();
    assert!(
        up.stdout
            .contains("\"fields\":[\"object_index\",\"time_to_live\"]"),
        "{}",
        up.stdout
    );
    assert!(taken(settled(&c, &s).await));
    with_retention(&aws, &["status", "--suffix", &sfx]).ok();
    // The same stack with items kept forever: TTL on is drift, and so is the function's env.
    let status = aws
        .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
        .code(2)
        .json();
    assert_eq!(drift_fields(&status, "table"), ["time_to_live"]);
    assert_eq!(drift_fields(&status, "function"), ["environment"]);
    aws.tapctl(&["down", "--suffix", &sfx, "--yes", "-q"]).ok();
}

/// Right after `up` a new notification delivers nothing for a while (aws-real's
/// s3_notification_lag, here 4 s on the aws-like profile: a cold `up` on the full aws-real
/// profile needs the consistency retries): smoke re-uploads fresh probes until
/// one's item shows up, then removes every probe and item.
#[tokio::test(flavor = "multi_thread")]
async fn smoke_right_after_up_with_notification_lag() {
    let aws = LocalAws::start_with(&[
        ("LOCAL_AWS_PROFILE", "aws-like"),
        ("LOCAL_AWS_S3_NOTIFICATION_LAG", "4"),
    ]);
    let sfx = suffix("smk");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    aws.tapctl(&["up", "--suffix", &sfx, "-q"]).ok();
    let smoke = aws
        .tapctl(&[
            "smoke",
            "--suffix",
            &sfx,
            "--timeout",
            "60",
            "--output",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(smoke["cleaned_up"], true, "{smoke}");
    let probes = smoke["probes"].as_u64().unwrap();
    // The first probe went up within the lag: it was never announced.
    assert!(probes >= 2 && smoke["objects_removed"] == probes, "{smoke}");
    assert!(smoke["items_removed"].as_u64().unwrap() >= 1, "{smoke}");
    let left =
        c.s3.list_objects_v2()
            .bucket(&s.bucket_name)
            .prefix("tapctl-smoke/")
            .send()
            .await
            .unwrap();
    assert_eq!(left.key_count(), Some(0), "probe objects left: {smoke}");
    let items = c
        .dynamodb
        .scan()
        .table_name(&s.table_name)
        .filter_expression("begins_with(objectKey, :p)")
        .expression_attribute_values(":p", AttributeValue::S("tapctl-smoke/".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(items.count(), 0, "probe items left: {smoke}");
    aws.tapctl(&["down", "--suffix", &sfx, "--yes", "-q"]).ok();
}
