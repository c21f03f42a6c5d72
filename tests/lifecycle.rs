//! The whole life of a stack on the local AWS: up → every setting as specified → up again with
//! zero writes → status 0 → an object produces its log item → down → nothing left → down again.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::{LocalAws, eventually, suffix};
use serde_json::Value;
use std::time::Duration;
use tapctl::aws::Clients;
use tapctl::spec::{self, Stack};

async fn assert_every_setting(c: &Clients, s: &Stack) {
    // Table: keys, on-demand, PITR, tags.
    let t = c
        .dynamodb
        .describe_table()
        .table_name(&s.table_name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<_> = t
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name.clone(), k.key_type.as_str().to_string()))
        .collect();
    assert_eq!(
        keys,
        [
            ("requestId".into(), "HASH".into()),
            ("timestamp".into(), "RANGE".into())
        ]
    );
    assert!(
        t.attribute_definitions()
            .iter()
            .all(|a| a.attribute_type.as_str() == "S")
    );
    assert_eq!(
        t.billing_mode_summary
            .unwrap()
            .billing_mode
            .unwrap()
            .as_str(),
        "PAY_PER_REQUEST"
    );
    let pitr = c
        .dynamodb
        .describe_continuous_backups()
        .table_name(&s.table_name)
        .send()
        .await
        .unwrap();
    let status = pitr
        .continuous_backups_description
        .unwrap()
        .point_in_time_recovery_description
        .unwrap()
        .point_in_time_recovery_status
        .unwrap();
    assert_eq!(status.as_str(), "ENABLED");
    let tags = c
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(&s.table_arn)
        .send()
        .await
        .unwrap();
    assert!(
        s.owns(
            tags.tags()
                .iter()
                .map(|t| (t.key.as_str(), t.value.as_str()))
        )
    );

    // Bucket: public access blocked, SSE-S3, TLS-only policy, owner enforced, tags.
    let b = &s.bucket_name;
    let pab =
        c.s3.get_public_access_block()
            .bucket(b)
            .send()
            .await
            .unwrap()
            .public_access_block_configuration
            .unwrap();
    assert_eq!(
        [
            pab.block_public_acls,
            pab.ignore_public_acls,
            pab.block_public_policy,
            pab.restrict_public_buckets
        ],
        [Some(true); 4]
    );
    let enc = c.s3.get_bucket_encryption().bucket(b).send().await.unwrap();
    let rule = &enc.server_side_encryption_configuration.unwrap().rules[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default
            .as_ref()
            .unwrap()
            .sse_algorithm
            .as_str(),
        "AES256"
    );
    let policy: Value = serde_json::from_str(
        &c.s3
            .get_bucket_policy()
            .bucket(b)
            .send()
            .await
            .unwrap()
            .policy
            .unwrap(),
    )
    .unwrap();
    assert!(spec::same_policy(&policy, &s.bucket_policy()), "{policy}");
    let own =
        c.s3.get_bucket_ownership_controls()
            .bucket(b)
            .send()
            .await
            .unwrap();
    assert_eq!(
        own.ownership_controls.unwrap().rules[0]
            .object_ownership
            .as_str(),
        "BucketOwnerEnforced"
    );
    let tags = c.s3.get_bucket_tagging().bucket(b).send().await.unwrap();
    assert!(
        s.owns(
            tags.tag_set()
                .iter()
                .map(|t| (t.key.as_str(), t.value.as_str()))
        )
    );

    // Role: Lambda trust, basic execution, inline policy scoped to the table and bucket.
    let role = c
        .iam
        .get_role()
        .role_name(&s.role_name)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let trust = percent_decode(role.assume_role_policy_document.as_deref().unwrap());
    assert!(spec::same_policy(
        &serde_json::from_str(&trust).unwrap(),
        &s.trust_policy()
    ));
    let attached = c
        .iam
        .list_attached_role_policies()
        .role_name(&s.role_name)
        .send()
        .await
        .unwrap();
    let arns: Vec<_> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn.clone())
        .collect();
    assert_eq!(arns, std::slice::from_ref(&s.basic_execution_policy_arn));
    let inline = c
        .iam
        .get_role_policy()
        .role_name(&s.role_name)
        .policy_name(spec::INLINE_POLICY_NAME)
        .send()
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&percent_decode(&inline.policy_document)).unwrap();
    assert!(spec::same_policy(&doc, &s.inline_policy()));
    let role_tags = c
        .iam
        .list_role_tags()
        .role_name(&s.role_name)
        .send()
        .await
        .unwrap();
    assert!(
        s.owns(
            role_tags
                .tags()
                .iter()
                .map(|t| (t.key.as_str(), t.value.as_str()))
        )
    );

    // Log group: retention.
    let groups = c
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&s.log_group_name)
        .send()
        .await
        .unwrap();
    let g = groups
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(&s.log_group_name))
        .unwrap();
    assert_eq!(g.retention_in_days(), Some(14));

    // Function: runtime, handler, size, timeout, env, role, code, tags.
    let f = c
        .lambda
        .get_function()
        .function_name(&s.function_name)
        .send()
        .await
        .unwrap();
    let cfg = f.configuration.unwrap();
    assert_eq!(cfg.runtime.unwrap().as_str(), spec::RUNTIME);
    assert!(!spec::RUNTIME.ends_with("3.8"));
    assert_eq!(cfg.handler.as_deref(), Some("index.lambda_handler"));
    assert_eq!((cfg.timeout, cfg.memory_size), (Some(30), Some(128)));
    assert_eq!(cfg.role.as_deref(), Some(s.role_arn.as_str()));
    let env = cfg.environment.unwrap().variables.unwrap();
    assert_eq!(env.get("DYNAMODB_TABLE_NAME"), Some(&s.table_name));
    assert!(env.contains_key("LOG_LEVEL"));
    assert_eq!(
        cfg.code_sha256.as_deref(),
        Some(tapctl::resource::function::CODE_SHA256)
    );
    assert!(
        s.owns(
            f.tags
                .unwrap_or_default()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
        )
    );

    // Permission: s3.amazonaws.com, scoped by SourceArn and SourceAccount.
    let p = c
        .lambda
        .get_policy()
        .function_name(&s.function_name)
        .send()
        .await
        .unwrap();
    let p: Value = serde_json::from_str(p.policy().unwrap()).unwrap();
    let st = p["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["Sid"] == spec::PERMISSION_SID)
        .unwrap()
        .clone();
    assert_eq!(st["Principal"]["Service"], "s3.amazonaws.com");
    assert_eq!(st["Action"], "lambda:InvokeFunction");
    assert_eq!(
        st["Condition"]["ArnLike"]["AWS:SourceArn"],
        s.bucket_arn.as_str()
    );
    assert_eq!(
        st["Condition"]["StringEquals"]["AWS:SourceAccount"],
        common::ACCOUNT
    );

    // Notification: ObjectCreated:* -> the function.
    let n =
        c.s3.get_bucket_notification_configuration()
            .bucket(b)
            .send()
            .await
            .unwrap();
    let lf = n.lambda_function_configurations();
    assert_eq!(lf.len(), 1);
    assert_eq!(lf[0].lambda_function_arn(), s.function_arn);
    assert_eq!(
        lf[0]
            .events()
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>(),
        ["s3:ObjectCreated:*"]
    );
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Puts an object over TLS and waits for the item the function writes for it.
async fn object_makes_its_log_item(c: &Clients, s: &Stack, key: &str) {
    c.s3.put_object()
        .bucket(&s.bucket_name)
        .key(key)
        .body(ByteStream::from_static(b"hello from the lifecycle test"))
        .send()
        .await
        .unwrap();
    let item = eventually("the log item", Duration::from_secs(30), || async {
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
    assert!(
        up["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["action"] == "created"),
        "{up}"
    );
    assert_eq!(up["outputs"]["BucketName"], s.bucket_name.as_str());
    assert_eq!(up["outputs"]["DynamoDBTableName"], s.table_name.as_str());
    assert_eq!(
        up["outputs"]["LambdaFunctionName"],
        s.function_name.as_str()
    );
    assert_every_setting(&c, &s).await;

    let mark = aws.mark();
    let again = aws
        .tapctl(&["up", "--suffix", &sfx, "--output", "json"])
        .ok()
        .json();
    assert!(
        again["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["action"] == "unchanged"),
        "{again}"
    );
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
    assert!(
        down["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["action"] == "deleted"),
        "{down}"
    );
    common::assert_gone(&c, &s).await;
    let again = aws
        .tapctl(&["down", "--suffix", &sfx, "--yes", "--output", "json"])
        .ok()
        .json();
    assert!(
        again["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["action"] == "already_gone"),
        "{again}"
    );
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
