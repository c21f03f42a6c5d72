//! Lose no event: what Lambda gives up on waits in the failure queue (`status` counts it, exit
//! 2) until `tapctl redrive` runs it again; throttling shorter than the retries loses nothing
//! and the function's log says why each attempt failed; a multipart upload is one event.
//! One local AWS and one stack, the phases in turn (the fault switch is instance-wide).

use crate::chaos;
use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::objects::{assert_one_item_per_object, items, upload};
use common::{LocalAws, eventually, suffix};
use serde_json::{Value, json};
use std::time::Duration;
use tapctl::aws::Clients;
use tapctl::spec::Stack;

const OBJECTS: usize = 200;

/// ApproximateNumberOfMessages + NotVisible, through the SDK.
async fn queued(c: &Clients, st: &Stack) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let url = c
        .sqs
        .get_queue_url()
        .queue_name(&st.queue_name)
        .send()
        .await;
    let url = url.unwrap().queue_url.unwrap();
    let attrs = c
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let n = |a: A| attrs[&a].parse::<u64>().unwrap();
    n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible)
}

/// Every line the function logged: its JSON lines parsed, other lines as strings.
async fn log_lines(c: &Clients, st: &Stack) -> Vec<Value> {
    let mut out = Vec::new();
    let mut pages = c
        .logs
        .filter_log_events()
        .log_group_name(&st.log_group_name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for e in page.unwrap().events() {
            let m = e.message().unwrap_or_default().trim();
            out.push(serde_json::from_str(m).unwrap_or_else(|_| json!(m)));
        }
    }
    out
}

/// Writes fail for longer than every retry: 200 events in the queue, `status` says so, and
/// `redrive` writes exactly one item per object, empties the queue, and changes nothing when
/// run again.
async fn exhausted_events_are_kept_and_redriven(aws: &LocalAws, c: &Clients, sfx: &str) {
    let st = aws.stack(sfx);
    // A 3 s function gives up on its first failed write (the handler retries only while the
    // invocation has room), and without Lambda's retries (the local AWS's own tests cover
    // them) each event fails once: 200 attempts, not 600. `up` restores 30 s and 2 retries.
    c.lambda
        .update_function_configuration()
        .function_name(&st.function_name)
        .timeout(3)
        .send()
        .await
        .unwrap();
    c.lambda
        .update_function_event_invoke_config()
        .function_name(&st.function_name)
        .maximum_retry_attempts(0)
        .send()
        .await
        .unwrap();
    chaos::knobs(
        aws,
        json!({"handler_write_faults_for": 900, "async_retry_delay": 0.2}),
    );
    let t = std::time::Instant::now();
    upload(c, &st, "lost", OBJECTS).await;
    eventually(
        "200 failed events in the queue",
        Duration::from_secs(400),
        || async { (queued(c, &st).await >= OBJECTS as u64).then_some(()) },
    )
    .await;
    eprintln!("queue holds {OBJECTS} events after {:?}", t.elapsed());
    let up = aws
        .tapctl(&["up", "--suffix", sfx, "--output", "json"])
        .ok()
        .json();
    let function = &up["resources"][5];
    assert_eq!(function["resource"], "function");
    assert_eq!(
        function["fields"],
        json!(["timeout_s", "retry_attempts"]),
        "{up}"
    );
    let status = aws.tapctl(&["status", "--suffix", sfx, "--output", "json"]);
    let doc = status.code(2).json();
    assert_eq!(doc["in_sync"], true, "{doc}");
    assert_eq!(doc["failed_events"], OBJECTS, "{doc}");
    let text = aws.tapctl(&["status", "--suffix", sfx]).code(2).stdout;
    let line = format!("failed events waiting: {OBJECTS} (tapctl redrive --suffix {sfx} --region ");
    assert!(text.contains(&line), "{text}");
    // down would lose them: refused on one line with their count and the redrive command,
    // nothing deleted.
    let mark = aws.mark();
    let run = aws.tapctl(&["down", "--suffix", sfx, "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(&format!(
            "tapctl: error: down would delete {OBJECTS} failed event(s) waiting in queue {}; \
             nothing was deleted: run `tapctl redrive --suffix {sfx} --region ",
            st.queue_name
        )) && run
            .stderr
            .ends_with("or pass --discard-failed-events to lose them\n")
            && run.stderr.lines().count() == 1,
        "{}",
        run.stderr
    );
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    let lost = items(c, &st).await;
    assert!(
        !lost.iter().any(|(_, k)| k.starts_with("lost/")),
        "{lost:?}"
    );

    // A dry run lists them all and leaves them waiting.
    let mark = aws.mark();
    let dry = aws.tapctl(&["redrive", "--suffix", sfx, "--dry-run", "--output", "json"]);
    let dry = dry.code(2).json();
    assert_eq!(dry["would_redrive"], OBJECTS, "{dry}");
    let objects = dry["events"][0]["objects"][0].as_str().unwrap();
    assert!(objects.starts_with(&format!("{}/lost/object ", st.bucket_name)));
    assert_eq!(dry["events"][0]["condition"], "RetriesExhausted");
    assert!(
        aws.writes_since(mark)
            .iter()
            .all(|w| w == "sqs:ChangeMessageVisibilityBatch"),
        "{:?}",
        aws.writes_since(mark)
    );
    assert_eq!(queued(c, &st).await, OBJECTS as u64);

    chaos::knobs(aws, json!({"handler_write_faults_for": 0}));
    let t = std::time::Instant::now();
    let run = aws.tapctl(&["redrive", "--suffix", sfx, "--output", "json"]);
    eprintln!("redrive of {OBJECTS} events: {:?}", t.elapsed());
    let doc = run.ok().json();
    assert_eq!(
        (&doc["redriven"], &doc["processed"], &doc["duplicates"]),
        (&json!(OBJECTS), &json!(OBJECTS), &json!(0)),
        "{doc}"
    );
    assert_eq!(doc["still_failing"], 0);
    assert_one_item_per_object(c, &st, "lost", OBJECTS).await;
    assert_eq!(queued(c, &st).await, 0);
    let doc = aws
        .tapctl(&["status", "--suffix", sfx, "--output", "json"])
        .ok()
        .json();
    assert_eq!(doc["failed_events"], 0);

    // Again: nothing to take, nothing written.
    let mark = aws.mark();
    let again = aws.tapctl(&["redrive", "--suffix", sfx, "--output", "json"]);
    assert_eq!(again.ok().json()["redriven"], 0);
    assert!(
        aws.writes_since(mark).is_empty(),
        "{:?}",
        aws.writes_since(mark)
    );
    let all = items(c, &st).await;
    let lost = all.iter().filter(|(_, k)| k.starts_with("lost/")).count();
    assert_eq!(lost, OBJECTS, "the redrive's rerun wrote");
}

/// Writes fail for a shorter time than the handler's retries: every object gets its item,
/// nothing reaches the queue, and the log names the reason of each failed attempt.
async fn short_throttling_is_retried_and_logged(aws: &LocalAws, c: &Clients, sfx: &str) {
    let st = aws.stack(sfx);
    let mark = aws.mark();
    chaos::knobs(aws, json!({"handler_write_faults_for": 3}));
    upload(c, &st, "throttled", OBJECTS).await;
    assert_one_item_per_object(c, &st, "throttled", OBJECTS).await;
    let failed_writes = chaos::faults_since(aws, mark, "lambda");
    assert_eq!(queued(c, &st).await, 0);
    let lines = log_lines(c, &st).await;
    let retries: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["outcome"] == "retry"
                && l["objectKey"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("throttled/"))
        })
        .collect();
    eprintln!(
        "failed handler writes: {failed_writes}, retry lines: {}",
        retries.len()
    );
    assert!(failed_writes > 0, "the fault window hit no write");
    assert_eq!(
        retries.len(),
        failed_writes,
        "one retry line per failed write"
    );
    for r in &retries {
        assert_eq!(
            r["errorCode"], "ProvisionedThroughputExceededException",
            "{r}"
        );
        assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");
    }
    let text = |l: &Value| l.as_str().map_or_else(|| l.to_string(), str::to_string);
    assert!(!lines.iter().any(|l| text(l).contains("Task timed out")));
    assert!(!lines.iter().any(|l| l["outcome"] == "error"));
}

/// A 20 MB multipart upload is one `ObjectCreated:CompleteMultipartUpload` event: one item.
async fn a_multipart_upload_is_one_item(c: &Clients, st: &Stack) {
    let key = "big/twenty megabytes.bin";
    let start =
        c.s3.create_multipart_upload()
            .bucket(&st.bucket_name)
            .key(key)
            .send()
            .await
            .unwrap();
    let id = start.upload_id.unwrap();
    let mut parts = Vec::new();
    for n in 1..=4 {
        let part =
            c.s3.upload_part()
                .bucket(&st.bucket_name)
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(vec![b'x'; 5 * 1024 * 1024]))
                .send()
                .await
                .unwrap();
        let done = CompletedPart::builder()
            .part_number(n)
            .set_e_tag(part.e_tag);
        parts.push(done.build());
    }
    c.s3.complete_multipart_upload()
        .bucket(&st.bucket_name)
        .key(key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mine = || async {
        let all = items(c, st).await;
        let n = all.iter().filter(|(_, k)| k == key).count();
        (n > 0).then_some(n)
    };
    assert_eq!(
        eventually("the upload's item", Duration::from_secs(60), mine).await,
        1
    );
    // A second event would have come with the first (S3 sends them together): give it time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(mine().await, Some(1), "one item for one multipart upload");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_event_is_lost() {
    let aws = LocalAws::start();
    let c = aws.clients().await;
    let sfx = suffix("events");
    let st = aws.stack(&sfx);
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    let t = std::time::Instant::now();
    a_multipart_upload_is_one_item(&c, &st).await;
    eprintln!("multipart: {:?}", t.elapsed());
    short_throttling_is_retried_and_logged(&aws, &c, &sfx).await;
    eprintln!("+ short throttling: {:?}", t.elapsed());
    exhausted_events_are_kept_and_redriven(&aws, &c, &sfx).await;
    eprintln!("+ exhausted and redriven: {:?}", t.elapsed());
    aws.tapctl(&["down", "--suffix", &sfx, "--yes"]).ok();
}
