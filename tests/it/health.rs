//! The pipeline's health in `status`: Lambda's and SQS's built-in metrics over a window, read
//! in the same round as the resources; errors shown plainly; a function that cannot run
//! named as such.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use common::{LocalAws, eventually, suffix};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_invocations_errors_and_a_function_that_cannot_run() {
    let aws = LocalAws::start_with(&[("LOCAL_AWS_SQS_METRICS_INTERVAL", "0.2")]);
    let sfx = suffix("health");
    let c = aws.clients().await;
    let s = aws.stack(&sfx);
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    let quiet = aws
        .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
        .ok()
        .json();
    assert_eq!(quiet["health"]["invocations"], 0.0, "{quiet}");
    assert_eq!(quiet["health"]["ok"], true);

    for i in 0..3 {
        c.s3.put_object()
            .bucket(&s.bucket_name)
            .key(format!("h{i}.txt"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let doc = eventually(
        "three invocations in the health",
        Duration::from_secs(30),
        || async {
            let doc = aws
                .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
                .ok()
                .json();
            (doc["health"]["invocations"] == 3.0).then_some(doc)
        },
    )
    .await;
    assert_eq!(doc["health"]["errors"], 0.0);
    assert!(
        doc["health"]["duration_max_ms"].as_f64().unwrap() > 0.0,
        "{doc}"
    );
    let text = aws.tapctl(&["status", "--suffix", &sfx]).ok().stdout;
    assert!(text.contains("health since "), "{text}");
    assert!(
        text.contains(": 3 invocation(s), 0 error(s), 0 throttle(s)"),
        "{text}"
    );

    // A function that writes nowhere fails: errors in the window, shown with where to look.
    c.lambda
        .update_function_configuration()
        .function_name(&s.function_name)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .variables("DYNAMODB_TABLE_NAME", "no-such-table")
                .build(),
        )
        .send()
        .await
        .unwrap();
    eventually("the update to settle", Duration::from_secs(30), || async {
        let f = c
            .lambda
            .get_function_configuration()
            .function_name(&s.function_name)
            .send()
            .await
            .ok()?;
        (f.last_update_status().map(|s| s.as_str()) == Some("Successful")).then_some(())
    })
    .await;
    c.lambda
        .invoke()
        .function_name(&s.function_name)
        .payload(aws_sdk_lambda::primitives::Blob::new(
            serde_json::to_vec(&tapctl::ops::inspect::s3_put_event(&s, "bad.txt", 0)).unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let doc = aws
        .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
        .json();
    assert!(doc["health"]["errors"].as_f64().unwrap() >= 1.0, "{doc}");
    assert_eq!(doc["health"]["ok"], false);
    let text = aws
        .tapctl(&["status", "--suffix", &sfx, "--since", "1h"])
        .stdout;
    assert!(
        text.contains("invocations failed in the window: see `tapctl logs"),
        "{text}"
    );

    // Reserved concurrency 0: the function cannot run, and status says so.
    c.lambda
        .put_function_concurrency()
        .function_name(&s.function_name)
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    let text = aws.tapctl(&["status", "--suffix", &sfx]).stdout;
    assert!(
        text.contains("the function cannot run: reserved concurrency is 0"),
        "{text}"
    );
    aws.tapctl(&["down", "--suffix", &sfx, "--yes"]).ok();
}
