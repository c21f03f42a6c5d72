//! Each kind of drift: made behind tapctl's back, reported by `status` (exit 2, the field
//! named), repaired by `up` (that field only), and `status` is clean again.

use crate::common;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_s3::types::{
    Event, LambdaFunctionConfiguration, NotificationConfiguration, ObjectOwnership,
    OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use common::status::resource;
use common::{ACCOUNT, LocalAws, suffix};
use serde_json::json;
use tapctl::aws::Clients;
use tapctl::resource::function::CODE_ZIP;
use tapctl::spec::Stack;

/// The same package with a zip comment appended: valid, but another CodeSha256.
fn other_zip() -> Vec<u8> {
    let mut z = CODE_ZIP.to_vec();
    let comment = b"drifted";
    let n = z.len();
    assert_eq!(&z[n - 2..], [0, 0], "the embedded zip has no comment");
    z[n - 2..].copy_from_slice(&(comment.len() as u16).to_le_bytes());
    z.extend_from_slice(comment);
    z
}

/// Makes one drift through the SDK.
async fn make(c: &Clients, s: &Stack, drift: &str) {
    let b = &s.bucket_name;
    let f = &s.function_name;
    match drift {
        "index_deleted" => {
            let delete = aws_sdk_dynamodb::types::DeleteGlobalSecondaryIndexAction::builder()
                .index_name(tapctl::spec::OBJECT_INDEX)
                .build()
                .unwrap();
            c.dynamodb
                .update_table()
                .table_name(&s.table_name)
                .global_secondary_index_updates(
                    aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                        .delete(delete)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        "ttl_enabled" => {
            c.dynamodb
                .update_time_to_live()
                .table_name(&s.table_name)
                .time_to_live_specification(
                    aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                        .attribute_name("someoneElses")
                        .enabled(true)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        }
        "pitr" => {
            c.dynamodb
                .update_continuous_backups()
                .table_name(&s.table_name)
                .point_in_time_recovery_specification(
                    aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                        .point_in_time_recovery_enabled(false)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        }
        "table_suffix_tag" => {
            c.dynamodb
                .untag_resource()
                .resource_arn(&s.table_arn)
                .tag_keys("tapctl:suffix")
                .send()
                .await
                .unwrap();
        }
        "policy_removed" => {
            c.s3.delete_bucket_policy().bucket(b).send().await.unwrap();
        }
        "policy_edited" => {
            let mut p = s.bucket_policy();
            p["Statement"][0]["Resource"] = json!(s.bucket_arn);
            c.s3.put_bucket_policy()
                .bucket(b)
                .policy(p.to_string())
                .send()
                .await
                .unwrap();
        }
        "encryption" => {
            let rule = ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::AwsKms)
                        .build()
                        .unwrap(),
                )
                .build();
            c.s3.put_bucket_encryption()
                .bucket(b)
                .server_side_encryption_configuration(
                    ServerSideEncryptionConfiguration::builder()
                        .rules(rule)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        }
        "public_access" => {
            let pab = PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(false)
                .restrict_public_buckets(true)
                .build();
            c.s3.put_public_access_block()
                .bucket(b)
                .public_access_block_configuration(pab)
                .send()
                .await
                .unwrap();
        }
        "ownership" => {
            let oc = OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::ObjectWriter)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap();
            c.s3.put_bucket_ownership_controls()
                .bucket(b)
                .ownership_controls(oc)
                .send()
                .await
                .unwrap();
        }
        "trust" => {
            let mut t = s.trust_policy();
            t["Statement"][0]["Principal"]["Service"] =
                json!(["lambda.amazonaws.com", "ec2.amazonaws.com"]);
            c.iam
                .update_assume_role_policy()
                .role_name(&s.role_name)
                .policy_document(t.to_string())
                .send()
                .await
                .unwrap();
        }
        "inline_policy" => {
            let mut p = s.inline_policy();
            p["Statement"][0]["Resource"] = json!("*");
            c.iam
                .put_role_policy()
                .role_name(&s.role_name)
                .policy_name(tapctl::spec::INLINE_POLICY_NAME)
                .policy_document(p.to_string())
                .send()
                .await
                .unwrap();
        }
        "boundary_added" => {
            c.iam
                .put_role_permissions_boundary()
                .role_name(&s.role_name)
                .permissions_boundary(format!("arn:aws:iam::{ACCOUNT}:policy/someone-elses"))
                .send()
                .await
                .unwrap();
        }
        "extra_inline_policy" => {
            c.iam
                .put_role_policy()
                .role_name(&s.role_name)
                .policy_name("backdoor")
                .policy_document(
                    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
                        .to_string(),
                )
                .send()
                .await
                .unwrap();
        }
        "managed_detached" => {
            c.iam
                .detach_role_policy()
                .role_name(&s.role_name)
                .policy_arn(&s.basic_execution_policy_arn)
                .send()
                .await
                .unwrap();
        }
        "managed_extra" => {
            c.iam
                .attach_role_policy()
                .role_name(&s.role_name)
                .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
                .send()
                .await
                .unwrap();
        }
        "runtime" | "handler" | "memory" | "timeout" | "environment" => {
            let mut u = c.lambda.update_function_configuration().function_name(f);
            u = match drift {
                "runtime" => u.runtime(aws_sdk_lambda::types::Runtime::Python311),
                "handler" => u.handler("other.handler"),
                "memory" => u.memory_size(512),
                "timeout" => u.timeout(3),
                _ => u.environment(
                    aws_sdk_lambda::types::Environment::builder()
                        .variables("DYNAMODB_TABLE_NAME", "someone-elses-table")
                        .variables("EXTRA", "1")
                        .build(),
                ),
            };
            u.send().await.unwrap();
        }
        "code" => {
            c.lambda
                .update_function_code()
                .function_name(f)
                .zip_file(Blob::new(other_zip()))
                .send()
                .await
                .unwrap();
        }
        "permission_removed" => {
            c.lambda
                .remove_permission()
                .function_name(f)
                .statement_id(tapctl::spec::PERMISSION_SID)
                .send()
                .await
                .unwrap();
        }
        "permission_widened" => {
            c.lambda
                .remove_permission()
                .function_name(f)
                .statement_id(tapctl::spec::PERMISSION_SID)
                .send()
                .await
                .unwrap();
            // Same statement id, no SourceArn / SourceAccount: any bucket could invoke.
            c.lambda
                .add_permission()
                .function_name(f)
                .statement_id(tapctl::spec::PERMISSION_SID)
                .action("lambda:InvokeFunction")
                .principal("s3.amazonaws.com")
                .send()
                .await
                .unwrap();
        }
        "notification_removed" => {
            c.s3.put_bucket_notification_configuration()
                .bucket(b)
                .notification_configuration(NotificationConfiguration::builder().build())
                .send()
                .await
                .unwrap();
        }
        "notification_elsewhere" => {
            // tapctl's entry now sends ObjectCreated:* to the function for removals only.
            let entry = LambdaFunctionConfiguration::builder()
                .id(tapctl::spec::NOTIFICATION_ID)
                .lambda_function_arn(&s.function_arn)
                .events(Event::from("s3:ObjectRemoved:*"))
                .build()
                .unwrap();
            c.s3.put_bucket_notification_configuration()
                .bucket(b)
                .notification_configuration(
                    NotificationConfiguration::builder()
                        .lambda_function_configurations(entry)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        "retention" => {
            c.logs
                .put_retention_policy()
                .log_group_name(&s.log_group_name)
                .retention_in_days(30)
                .send()
                .await
                .unwrap();
        }
        "retention_removed" => {
            c.logs
                .delete_retention_policy()
                .log_group_name(&s.log_group_name)
                .send()
                .await
                .unwrap();
        }
        "queue_retention" | "queue_sse_off" | "queue_tag" => {
            use aws_sdk_sqs::types::QueueAttributeName as A;
            let url = c.sqs.get_queue_url().queue_name(&s.queue_name).send().await;
            let url = url.unwrap().queue_url.unwrap();
            if drift == "queue_tag" {
                c.sqs
                    .untag_queue()
                    .queue_url(&url)
                    .tag_keys("tapctl:suffix")
                    .send()
                    .await
                    .unwrap();
                return;
            }
            let (k, v) = if drift == "queue_retention" {
                (A::MessageRetentionPeriod, "345600")
            } else {
                (A::SqsManagedSseEnabled, "false")
            };
            c.sqs
                .set_queue_attributes()
                .queue_url(&url)
                .attributes(k, v)
                .send()
                .await
                .unwrap();
        }
        "invoke_retries" => {
            c.lambda
                .update_function_event_invoke_config()
                .function_name(f)
                .maximum_retry_attempts(0)
                .send()
                .await
                .unwrap();
        }
        "invoke_destination_removed" => {
            // A Put replaces the whole config: same retries and age, no destination.
            c.lambda
                .put_function_event_invoke_config()
                .function_name(f)
                .maximum_retry_attempts(2)
                .maximum_event_age_in_seconds(21600)
                .send()
                .await
                .unwrap();
        }
        other => panic!("unknown drift {other}"),
    }
}

/// (drift made, resource, field status must name)
const CASES: &[(&str, &str, &str)] = &[
    ("pitr", "table", "point_in_time_recovery"),
    ("index_deleted", "table", "object_index"),
    ("ttl_enabled", "table", "time_to_live"),
    ("table_suffix_tag", "table", "tags"),
    ("policy_removed", "bucket", "tls_only_policy"),
    ("policy_edited", "bucket", "tls_only_policy"),
    ("encryption", "bucket", "encryption"),
    ("public_access", "bucket", "public_access_block"),
    ("ownership", "bucket", "object_ownership"),
    ("trust", "role", "trust_policy"),
    ("inline_policy", "role", "inline_policy"),
    ("extra_inline_policy", "role", "other_inline_policies"),
    ("boundary_added", "role", "permissions_boundary"),
    ("managed_detached", "role", "managed_policies"),
    ("managed_extra", "role", "managed_policies"),
    ("runtime", "function", "runtime"),
    ("handler", "function", "handler"),
    ("memory", "function", "memory_mb"),
    ("timeout", "function", "timeout_s"),
    ("environment", "function", "environment"),
    ("code", "function", "code_sha256"),
    ("permission_removed", "trigger", "permission"),
    ("permission_widened", "trigger", "permission"),
    ("notification_removed", "trigger", "notification"),
    ("notification_elsewhere", "trigger", "notification"),
    ("retention", "log-group", "retention"),
    ("retention_removed", "log-group", "retention"),
    ("queue_retention", "queue", "retention"),
    ("queue_sse_off", "queue", "encryption"),
    ("queue_tag", "queue", "tags"),
    ("invoke_retries", "function", "retry_attempts"),
    (
        "invoke_destination_removed",
        "function",
        "on_failure_destination",
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_drift_is_reported_and_repaired() {
    reported_and_repaired(&LocalAws::start(), CASES).await;
}

/// A few drifts of each service under AWS's eventual consistency and conflicts (the
/// bucket's own settings and the table's tags left out: a test's write of them would meet
/// tapctl's conflict window, or its read their lag).
#[tokio::test(flavor = "multi_thread")]
async fn some_drifts_are_reported_and_repaired_under_aws_real() {
    let aws = LocalAws::start_with(&[("LOCAL_AWS_PROFILE", "aws-real")]);
    let some: Vec<_> = CASES
        .iter()
        .copied()
        .filter(|(d, _, _)| {
            [
                "pitr",
                "inline_policy",
                "memory",
                "environment",
                "notification_removed",
                "retention",
            ]
            .contains(d)
        })
        .collect();
    reported_and_repaired(&aws, &some).await;
}

async fn reported_and_repaired(aws: &LocalAws, cases: &[(&str, &str, &str)]) {
    let sfx = suffix("drift");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    aws.tapctl(&["up", "--suffix", &sfx]).ok();

    for (drift, res, field) in cases {
        make(&c, &s, drift).await;
        let status = aws
            .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
            .code(2)
            .json();
        let r = resource(&status, res);
        assert_eq!(r["state"], "drifted", "{drift}: {r}");
        let fields: Vec<&str> = r["drift"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [*field], "{drift}: {r}");
        let others: Vec<_> = status["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["state"] != "in_sync")
            .collect();
        assert_eq!(others.len(), 1, "{drift}: only {res} drifted: {status}");

        let mark = aws.mark();
        let up = aws
            .tapctl(&["up", "--suffix", &sfx, "--output", "json"])
            .ok()
            .json();
        let r = resource(&up, res);
        assert_eq!(r["action"], "updated", "{drift}: {up}");
        assert_eq!(r["fields"], json!([field]), "{drift}: {up}");
        assert!(!aws.writes_since(mark).is_empty());
        common::expect::resource(&c, &s, res).await;
        let status = aws
            .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
            .json();
        assert_eq!(status["in_sync"], true, "{drift} not repaired: {status}");
    }
    aws.tapctl(&["down", "--suffix", &sfx, "--yes"]).ok();
}

/// Notification entries that are not tapctl's survive up's repair of tapctl's own entry.
#[tokio::test(flavor = "multi_thread")]
async fn foreign_notification_entries_are_kept() {
    let aws = LocalAws::start();
    let sfx = suffix("notif");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    // Someone else's entry on the same function, for removals.
    let theirs = LambdaFunctionConfiguration::builder()
        .id("someone-elses-entry")
        .lambda_function_arn(&s.function_arn)
        .events(Event::from("s3:ObjectRemoved:*"))
        .build()
        .unwrap();
    c.s3.put_bucket_notification_configuration()
        .bucket(&s.bucket_name)
        .notification_configuration(
            NotificationConfiguration::builder()
                .lambda_function_configurations(theirs)
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.tapctl(&["status", "--suffix", &sfx]).code(2);
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    let ids = |n: aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput| {
        let mut ids: Vec<String> = n.lambda_function_configurations().iter().filter_map(|c| c.id().map(str::to_string)).collect();
        ids.sort();
        ids
    };
    let n =
        c.s3.get_bucket_notification_configuration()
            .bucket(&s.bucket_name)
            .send()
            .await
            .unwrap();
    assert_eq!(
        ids(n),
        ["someone-elses-entry", tapctl::spec::NOTIFICATION_ID]
    );
    aws.tapctl(&["status", "--suffix", &sfx]).code(0);
}

/// The permissions boundary setting: the role is created with it; another boundary put
/// behind tapctl's back is drift that `up` puts back (the one write), and then `up` writes
/// nothing. (A boundary on a stack without the setting is the `boundary_added` case.)
#[tokio::test(flavor = "multi_thread")]
async fn the_permissions_boundary_is_applied_and_kept() {
    let aws = LocalAws::start();
    let sfx = suffix("bound");
    let c = aws.clients().await;
    // A boundary is a managed policy of the account.
    let mut arns = Vec::new();
    for name in ["tapctl-boundary", "other-boundary"] {
        let doc = json!({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        let created = c.iam.create_policy().policy_name(name);
        let out = created.policy_document(doc.to_string()).send().await;
        arns.push(out.unwrap().policy.unwrap().arn.unwrap());
    }
    let mut s = aws.stack(&sfx);
    s.settings.permissions_boundary = Some(arns[0].clone());
    let flags = [
        "--suffix",
        &sfx,
        "--permissions-boundary",
        &arns[0],
        "--output",
        "json",
    ];
    let run = |command: &str| aws.tapctl(&[&[command][..], &flags].concat());
    run("up").ok();
    common::expect::role(&c, &s).await;

    c.iam
        .put_role_permissions_boundary()
        .role_name(&s.role_name)
        .permissions_boundary(&arns[1])
        .send()
        .await
        .unwrap();
    let status = run("status").code(2).json();
    let want = json!([{"field": "permissions_boundary", "want": arns[0], "have": arns[1]}]);
    assert_eq!(resource(&status, "role")["drift"], want, "{status}");
    let mark = aws.mark();
    let up = run("up").ok().json();
    assert_eq!(
        resource(&up, "role")["fields"],
        json!(["permissions_boundary"])
    );
    assert_eq!(aws.writes_since(mark), ["iam:PutRolePermissionsBoundary"]);
    common::expect::role(&c, &s).await;
    let mark = aws.mark();
    run("up").ok();
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
}
