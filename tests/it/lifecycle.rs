//! The whole life of a stack on the local AWS: up → every setting as specified → up again with
//! zero writes → status 0 → an object produces its log item → down → nothing left → down again.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use common::{LocalAws, eventually, status, suffix};
use std::time::Duration;
use tapctl::aws::Clients;
use tapctl::spec::Stack;

/// Puts an object over TLS and waits for the item the function writes for it. A new
/// notification configuration takes effect late (AWS: "typically about five minutes";
/// aws-real: 2 s) and objects created before that make no event: the object is put again
/// every few seconds until its item shows.
async fn object_makes_its_log_item(c: &Clients, s: &Stack, key: &str) {
    let mut last_put: Option<std::time::Instant> = None;
    let item = eventually("the log item", Duration::from_secs(30), || {
        let put = last_put.is_none_or(|t| t.elapsed() > Duration::from_secs(3));
        if put {
            last_put = Some(std::time::Instant::now());
        }
        async move {
            if put {
                c.s3.put_object()
                    .bucket(&s.bucket_name)
                    .key(key)
                    .body(ByteStream::from_static(b"hello from the lifecycle test"))
                    .send()
                    .await
                    .unwrap();
            }
            let scan = c
                .dynamodb
                .scan()
                .table_name(&s.table_name)
                .send()
                .await
                .unwrap();
            scan.items()
                .iter()
                .find(|i| i.get("objectKey").and_then(|v| v.as_s().ok()) == Some(&key.to_string()))
                .cloned()
        }
    })
    .await;
    assert_eq!(item["bucketName"].as_s().unwrap(), &s.bucket_name);
    assert_eq!(item["eventName"].as_s().unwrap(), "ObjectCreated:Put");
    assert_eq!(item["functionName"].as_s().unwrap(), &s.function_name);
    assert!(item.contains_key("requestId") && item.contains_key("timestamp"));
}

async fn lifecycle(aws: &LocalAws, tag: &str) {
    let sfx = suffix(tag);
    let s = aws.stack(&sfx);
    let c = aws.clients().await;

    let up = aws
        .tapctl(&["up", "--suffix", &sfx, "--output", "json"])
        .ok()
        .json();
    assert_eq!(up["ok"], true);
    status::all(&up, "action", "created");
    assert_eq!(up["outputs"]["BucketName"], s.bucket_name.as_str());
    assert_eq!(up["outputs"]["DynamoDBTableName"], s.table_name.as_str());
    assert_eq!(
        up["outputs"]["LambdaFunctionName"],
        s.function_name.as_str()
    );
    common::expect::every_setting(&c, &s).await;

    let mark = aws.mark();
    let again = aws
        .tapctl(&["up", "--suffix", &sfx, "--output", "json"])
        .ok()
        .json();
    status::all(&again, "action", "unchanged");
    assert_eq!(
        aws.writes_since(mark),
        Vec::<String>::new(),
        "a converged up wrote"
    );

    let mark = aws.mark();
    let status = aws
        .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
        .code(0)
        .json();
    assert_eq!(status["in_sync"], true);
    assert_eq!(aws.writes_since(mark), Vec::<String>::new(), "status wrote");

    object_makes_its_log_item(&c, &s, "reports/my file 2026.txt").await;

    let down = aws
        .tapctl(&["down", "--suffix", &sfx, "--yes", "--output", "json"])
        .ok()
        .json();
    status::all(&down, "action", "deleted");
    common::assert_gone(&c, &s).await;
    let again = aws
        .tapctl(&["down", "--suffix", &sfx, "--yes", "--output", "json"])
        .ok()
        .json();
    status::all(&again, "action", "already_gone");
    aws.tapctl(&["status", "--suffix", &sfx]).code(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn full_lifecycle() {
    let aws = LocalAws::start();
    lifecycle(&aws, "life").await;
}

/// The same story with IAM propagation, table creation, function readiness and request
/// latency as AWS has them: the waits and the propagation retry are exercised.
#[tokio::test(flavor = "multi_thread")]
async fn full_lifecycle_aws_like() {
    let aws = LocalAws::start_with(&[("LOCAL_AWS_PROFILE", "aws-like")]);
    lifecycle(&aws, "like").await;
}

/// And with AWS's eventual consistency and conflicts on top (docs/consistency.md).
#[tokio::test(flavor = "multi_thread")]
async fn full_lifecycle_aws_real() {
    let aws = LocalAws::start_with(&[("LOCAL_AWS_PROFILE", "aws-real")]);
    lifecycle(&aws, "real").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_only_policy_holds() {
    let aws = LocalAws::start();
    let sfx = suffix("tls");
    let s = aws.stack(&sfx);
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    // The same credentials over plain HTTP: the bucket policy denies the request.
    let config = aws.sdk_config().await;
    let plain = aws_sdk_s3::config::Builder::from(&config)
        .endpoint_url(aws.var("LOCAL_AWS_HTTP_URL"))
        .force_path_style(true)
        .build();
    let plain = aws_sdk_s3::Client::from_conf(plain);
    let err = plain
        .put_object()
        .bucket(&s.bucket_name)
        .key("plain.txt")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    let c = aws.clients().await;
    c.s3.put_object()
        .bucket(&s.bucket_name)
        .key("tls.txt")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
}
