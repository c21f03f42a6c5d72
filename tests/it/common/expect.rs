//! What tapctl builds, checked setting by setting through the SDK (not through tapctl): one
//! expectation per resource, for the lifecycle, drift and ownership tests.

use serde_json::Value;
use tapctl::aws::Clients;
use tapctl::spec::{self, Stack};

/// IAM hands policy documents back URL-encoded.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Every setting of every resource, as specified.
pub async fn every_setting(c: &Clients, s: &Stack) {
    table(c, s).await;
    bucket(c, s).await;
    role(c, s).await;
    log_group(c, s).await;
    queue(c, s).await;
    function(c, s).await;
    trigger(c, s).await;
}

/// The settings of one resource, by its label in tapctl's output (`table`, `log-group`...).
pub async fn resource(c: &Clients, s: &Stack, label: &str) {
    match label {
        "table" => table(c, s).await,
        "bucket" => bucket(c, s).await,
        "role" => role(c, s).await,
        "log-group" => log_group(c, s).await,
        "queue" => queue(c, s).await,
        "function" => function(c, s).await,
        "trigger" => trigger(c, s).await,
        other => panic!("no expectation for {other}"),
    }
}

/// The permission and the notification: the S3 -> Lambda link.
pub async fn trigger(c: &Clients, s: &Stack) {
    permission(c, s).await;
    notification(c, s).await;
}

/// Table: keys, on-demand, PITR, tags.
pub async fn table(c: &Clients, s: &Stack) {
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
    let index = t
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some(tapctl::spec::OBJECT_INDEX))
        .expect("the object index");
    let index_keys: Vec<_> = index
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name.as_str(), k.key_type.as_str()))
        .collect();
    assert_eq!(index_keys, [("objectKey", "HASH"), ("timestamp", "RANGE")]);
    assert_eq!(
        index
            .projection()
            .and_then(|p| p.projection_type())
            .map(|p| p.as_str()),
        Some("ALL")
    );
    let ttl = c
        .dynamodb
        .describe_time_to_live()
        .table_name(&s.table_name)
        .send()
        .await
        .unwrap();
    let ttl = ttl
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status());
    let want = if s.settings.item_retention_days > 0 {
        "ENABLED"
    } else {
        "DISABLED"
    };
    assert_eq!(ttl.map(|t| t.as_str()), Some(want));
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
}

/// Bucket: public access blocked, SSE-S3, TLS-only policy, owner enforced, tags.
pub async fn bucket(c: &Clients, s: &Stack) {
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
    // Incomplete multipart uploads are aborted after a week (tapctl's lifecycle rule).
    let rules =
        c.s3.get_bucket_lifecycle_configuration()
            .bucket(b)
            .send()
            .await
            .unwrap()
            .rules
            .unwrap_or_default();
    let ours = rules
        .iter()
        .find(|r| r.id() == Some(tapctl::resource::bucket_lifecycle::RULE_ID))
        .expect("tapctl's lifecycle rule");
    assert_eq!(
        ours.abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(tapctl::resource::bucket_lifecycle::DAYS)
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
}

/// Role: Lambda trust, basic execution, inline policy scoped to the table and bucket.
pub async fn role(c: &Clients, s: &Stack) {
    let role = c
        .iam
        .get_role()
        .role_name(&s.role_name)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let boundary = role.permissions_boundary.as_ref();
    assert_eq!(
        boundary.and_then(|b| b.permissions_boundary_arn.as_ref()),
        s.settings.permissions_boundary.as_ref(),
        "the role's permissions boundary"
    );
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
}

/// Log group: retention.
pub async fn log_group(c: &Clients, s: &Stack) {
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
}

/// Failure queue: 14-day retention, SSE-SQS, tags.
pub async fn queue(c: &Clients, s: &Stack) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let url = c
        .sqs
        .get_queue_url()
        .queue_name(&s.queue_name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = c
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(A::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attrs[&A::MessageRetentionPeriod], "1209600");
    assert_eq!(attrs[&A::SqsManagedSseEnabled], "true");
    assert_eq!(attrs[&A::QueueArn], s.queue_arn);
    let tags = c
        .sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .unwrap();
    let tags = tags.tags.unwrap_or_default();
    assert!(s.owns(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
}

/// Function: runtime, handler, size, timeout, env, role, code, tags; async invoke config.
pub async fn function(c: &Clients, s: &Stack) {
    let f = c
        .lambda
        .get_function()
        .function_name(&s.function_name)
        .send()
        .await
        .unwrap();
    let cfg = f.configuration.unwrap();
    assert_eq!(cfg.runtime.unwrap().as_str(), tapctl::settings::RUNTIME);
    assert!(!tapctl::settings::RUNTIME.ends_with("3.8"));
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
    let invoke = c
        .lambda
        .get_function_event_invoke_config()
        .function_name(&s.function_name)
        .send()
        .await
        .unwrap();
    assert_eq!(invoke.maximum_retry_attempts, Some(2));
    assert_eq!(invoke.maximum_event_age_in_seconds, Some(21600));
    let on_failure = invoke.destination_config.and_then(|d| d.on_failure);
    assert_eq!(
        on_failure.and_then(|f| f.destination).as_deref(),
        Some(s.queue_arn.as_str())
    );
}

/// Permission: s3.amazonaws.com, scoped by SourceArn and SourceAccount.
async fn permission(c: &Clients, s: &Stack) {
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
        super::ACCOUNT
    );
}

/// Notification: ObjectCreated:* -> the function.
async fn notification(c: &Clients, s: &Stack) {
    let b = &s.bucket_name;
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
