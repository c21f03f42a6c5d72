//! The IAM policy a deployer needs to run every tapctl command, for one partition, account and
//! region (`*` for any), scoped to tapctl's resource names and tightened with the condition
//! keys the services offer. `tapctl deployer-policy` prints it; docs/deployer-policy.json is
//! its output for the `aws` partition, any account, any region. Pure.
//!
//! Parameter-dependent permissions are granted where tapctl's calls need them: creating a
//! resource with tags needs the service's tagging action besides the create (S3
//! `CreateBucketConfiguration.Tags` needs `s3:TagResource`; likewise `dynamodb:TagResource`,
//! `iam:TagRole`, `lambda:TagResource`, `logs:TagResource`, `sqs:TagQueue`), and GetFunction
//! returns the tags only with `lambda:ListTags`.

use crate::spec::{
    BUCKET_PREFIX, FUNCTION_PREFIX, LOG_GROUP_PREFIX, MANAGED_TAG, MANAGED_VALUE, QUEUE_PREFIX,
    ROLE_PREFIX, TABLE_PREFIX,
};
use serde_json::{Value, json};

/// Where the deployer works: `*` stands for any account or region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub partition: String,
    pub account: String,
    pub region: String,
    /// When set, roles may only be created with this permissions boundary, and no boundary
    /// may be removed; when unset, tapctl may remove a boundary from its own (tagged) role.
    pub permissions_boundary: Option<String>,
}

fn statement(sid: &str, actions: &[&str], resource: Value) -> Value {
    json!({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource})
}

fn with_condition(mut st: Value, condition: Value) -> Value {
    st["Condition"] = condition;
    st
}

/// The policy document.
pub fn policy(s: &Scope) -> Value {
    let (p, a, r) = (&s.partition, &s.account, &s.region);
    let lambda_role_policy =
        format!("arn:{p}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole");
    let role_arn = format!("arn:{p}:iam::{a}:role/{ROLE_PREFIX}*");
    let bucket_arn = format!("arn:{p}:s3:::{BUCKET_PREFIX}*");
    let table_arn = format!("arn:{p}:dynamodb:{r}:{a}:table/{TABLE_PREFIX}*");
    let function_arn = format!("arn:{p}:lambda:{r}:{a}:function:{FUNCTION_PREFIX}*");
    let log_group_arn =
        format!("arn:{p}:logs:{r}:{a}:log-group:{LOG_GROUP_PREFIX}{FUNCTION_PREFIX}*");
    let queue_arn = format!("arn:{p}:sqs:{r}:{a}:{QUEUE_PREFIX}*");
    // Bucket names are global: the bucket must be the deployer's own account's.
    let own_account = if a == "*" {
        "${aws:PrincipalAccount}".to_string()
    } else {
        a.clone()
    };
    let mut create_role = statement(
        "CreateRole",
        &["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
        json!(role_arn),
    );
    if let Some(boundary) = &s.permissions_boundary {
        create_role = with_condition(
            create_role,
            json!({"StringEquals": {"iam:PermissionsBoundary": boundary}}),
        );
    }
    let mut statements = vec![
        statement("WhoAmI", &["sts:GetCallerIdentity"], json!("*")),
        statement(
            "DiscoverStacks",
            &[
                "dynamodb:ListTables",
                "iam:ListRoles",
                "lambda:ListFunctions",
                "logs:DescribeLogGroups",
                "s3:ListAllMyBuckets",
                "sqs:ListQueues",
            ],
            json!("*"),
        ),
        statement(
            "Table",
            &[
                "dynamodb:CreateTable",
                "dynamodb:DeleteItem",
                "dynamodb:DeleteTable",
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:DescribeTable",
                "dynamodb:DescribeTimeToLive",
                "dynamodb:ListTagsOfResource",
                "dynamodb:Query",
                "dynamodb:Scan",
                "dynamodb:TagResource",
                "dynamodb:UpdateContinuousBackups",
                "dynamodb:UpdateTable",
                "dynamodb:UpdateTimeToLive",
            ],
            json!([table_arn, format!("{table_arn}/index/*")]),
        ),
        // CreateBucket has no s3:ResourceAccount yet (the bucket does not exist); its tags
        // (CreateBucketConfiguration.Tags) need s3:TagResource.
        statement(
            "CreateBucket",
            &["s3:CreateBucket", "s3:TagResource"],
            json!(bucket_arn),
        ),
        with_condition(
            statement(
                "Bucket",
                &[
                    "s3:DeleteBucket",
                    // GetBucketAbac, read before tags are written (S3 API reference,
                    // PutBucketAbac names s3:PutBucketABAC; Get follows it).
                    "s3:GetBucketABAC",
                    "s3:GetBucketNotification",
                    "s3:GetBucketOwnershipControls",
                    "s3:GetBucketPolicy",
                    "s3:GetBucketPublicAccessBlock",
                    "s3:GetBucketTagging",
                    "s3:GetEncryptionConfiguration",
                    "s3:GetLifecycleConfiguration",
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                    "s3:ListBucketVersions",
                    "s3:PutBucketNotification",
                    "s3:PutBucketOwnershipControls",
                    "s3:PutBucketPolicy",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:PutBucketTagging",
                    "s3:PutEncryptionConfiguration",
                    "s3:PutLifecycleConfiguration",
                ],
                json!(bucket_arn),
            ),
            json!({"StringEquals": {"s3:ResourceAccount": own_account}}),
        ),
        with_condition(
            statement(
                "BucketObjects",
                &[
                    "s3:AbortMultipartUpload",
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                    "s3:PutObject",
                ],
                json!(format!("{bucket_arn}/*")),
            ),
            json!({"StringEquals": {"s3:ResourceAccount": own_account}}),
        ),
        create_role,
        statement(
            "Role",
            &[
                "iam:DeleteRole",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
                "iam:ListRoleTags",
                "iam:PutRolePolicy",
                "iam:TagRole",
                "iam:UpdateAssumeRolePolicy",
            ],
            json!(role_arn),
        ),
        // The one managed policy tapctl attaches.
        with_condition(
            statement(
                "AttachBasicExecution",
                &["iam:AttachRolePolicy"],
                json!(role_arn),
            ),
            json!({"ArnEquals": {"iam:PolicyARN": lambda_role_policy}}),
        ),
        with_condition(
            statement("PassRoleToLambda", &["iam:PassRole"], json!(role_arn)),
            json!({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
        ),
        statement(
            "Function",
            &[
                "lambda:CreateFunction",
                "lambda:DeleteFunction",
                "lambda:DeleteFunctionEventInvokeConfig",
                "lambda:GetFunction",
                "lambda:GetFunctionConcurrency",
                "lambda:GetFunctionConfiguration",
                "lambda:GetFunctionEventInvokeConfig",
                "lambda:GetPolicy",
                "lambda:InvokeFunction",
                "lambda:ListTags",
                "lambda:PutFunctionEventInvokeConfig",
                "lambda:RemovePermission",
                "lambda:TagResource",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
                "lambda:UpdateFunctionEventInvokeConfig",
            ],
            json!(function_arn),
        ),
        // Only S3 may be allowed to invoke the function.
        with_condition(
            statement(
                "AllowS3Invoke",
                &["lambda:AddPermission"],
                json!(function_arn),
            ),
            json!({"StringEquals": {"lambda:Principal": "s3.amazonaws.com"}}),
        ),
        statement(
            "LogGroup",
            &[
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:DescribeLogStreams",
                "logs:FilterLogEvents",
                "logs:GetLogEvents",
                "logs:ListTagsForResource",
                "logs:PutRetentionPolicy",
                "logs:TagResource",
            ],
            json!([log_group_arn, format!("{log_group_arn}:*")]),
        ),
        statement(
            "FailureQueue",
            &[
                "sqs:ChangeMessageVisibility",
                "sqs:CreateQueue",
                "sqs:DeleteMessage",
                "sqs:DeleteQueue",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ListQueueTags",
                "sqs:ReceiveMessage",
                "sqs:SetQueueAttributes",
                "sqs:TagQueue",
            ],
            json!(queue_arn),
        ),
    ];
    // Without a boundary setting, `up` removes a boundary someone put on tapctl's role (the
    // setting is the truth); only from a role tagged as tapctl's. With one, the deployer may
    // never remove it: that is what the boundary guards.
    if s.permissions_boundary.is_none() {
        statements.push(with_condition(
            statement(
                "RemoveBoundary",
                &["iam:DeleteRolePermissionsBoundary"],
                json!(role_arn),
            ),
            json!({"StringEquals": {format!("aws:ResourceTag/{MANAGED_TAG}"): MANAGED_VALUE}}),
        ));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The policy as docs/deployer-policy.json holds it: pretty-printed, newline-terminated.
pub fn document(s: &Scope) -> String {
    let mut text = serde_json::to_string_pretty(&policy(s)).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(p: &str, a: &str, r: &str) -> Scope {
        Scope {
            partition: p.into(),
            account: a.into(),
            region: r.into(),
            permissions_boundary: None,
        }
    }

    fn resources(doc: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for st in doc["Statement"].as_array().unwrap() {
            match &st["Resource"] {
                Value::String(s) => out.push(s.clone()),
                Value::Array(list) => {
                    out.extend(list.iter().map(|v| v.as_str().unwrap().to_string()))
                }
                other => panic!("{other}"),
            }
        }
        out
    }

    #[test]
    fn every_resource_is_in_the_partition_and_scoped_to_tapctl_names() {
        for p in ["aws", "aws-cn", "aws-us-gov"] {
            let doc = policy(&scope(p, "123456789012", "eu-west-1"));
            for r in resources(&doc) {
                if r == "*" {
                    continue;
                }
                assert!(r.starts_with(&format!("arn:{p}:")), "{r}");
                assert!(
                    r.contains(TABLE_PREFIX)
                        || r.contains(BUCKET_PREFIX)
                        || r.contains(ROLE_PREFIX)
                        || r.contains(FUNCTION_PREFIX)
                        || r.contains(QUEUE_PREFIX),
                    "{r} is not scoped to a tapctl name"
                );
                assert!(!r.contains("arn:aws:") || p == "aws", "{r}");
            }
            let text = document(&scope(p, "123456789012", "eu-west-1"));
            assert!(text.contains(&format!(
                "arn:{p}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
            )));
        }
    }

    #[test]
    fn only_discovery_and_identity_are_unscoped() {
        let doc = policy(&scope("aws", "*", "*"));
        let unscoped: Vec<&str> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|st| st["Resource"] == "*")
            .map(|st| st["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(unscoped, ["WhoAmI", "DiscoverStacks"]);
    }

    #[test]
    fn conditions_tighten_what_can_be_broad() {
        let doc = policy(&scope("aws", "123456789012", "us-west-2"));
        let by_sid = |sid: &str| {
            doc["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|st| st["Sid"] == sid)
                .cloned()
                .unwrap()
        };
        assert_eq!(
            by_sid("AttachBasicExecution")["Condition"]["ArnEquals"]["iam:PolicyARN"],
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        );
        assert_eq!(
            by_sid("AllowS3Invoke")["Condition"]["StringEquals"]["lambda:Principal"],
            "s3.amazonaws.com"
        );
        assert_eq!(
            by_sid("Bucket")["Condition"]["StringEquals"]["s3:ResourceAccount"],
            "123456789012"
        );
        assert!(by_sid("CreateRole").get("Condition").is_none());
        let any = policy(&scope("aws", "*", "*"));
        assert!(any.to_string().contains("${aws:PrincipalAccount}"));
        let bounded = policy(&Scope {
            permissions_boundary: Some("arn:aws:iam::123456789012:policy/Boundary".into()),
            ..scope("aws", "123456789012", "us-west-2")
        });
        let create = bounded["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["Sid"] == "CreateRole")
            .unwrap();
        assert_eq!(
            create["Condition"]["StringEquals"]["iam:PermissionsBoundary"],
            "arn:aws:iam::123456789012:policy/Boundary"
        );
        // A bounded deployer can never remove the boundary; an unbounded one only from a
        // role tagged as tapctl's.
        assert!(
            !bounded
                .to_string()
                .contains("DeleteRolePermissionsBoundary")
        );
        assert_eq!(
            by_sid("RemoveBoundary")["Condition"]["StringEquals"]["aws:ResourceTag/tapctl:managed"],
            "true"
        );
    }

    #[test]
    fn tagging_at_create_is_granted_beside_each_create() {
        let text = policy(&scope("aws", "*", "*")).to_string();
        for pair in [
            ("s3:CreateBucket", "s3:TagResource"),
            ("dynamodb:CreateTable", "dynamodb:TagResource"),
            ("iam:CreateRole", "iam:TagRole"),
            ("lambda:CreateFunction", "lambda:TagResource"),
            ("lambda:GetFunction", "lambda:ListTags"),
            ("logs:CreateLogGroup", "logs:TagResource"),
            ("sqs:CreateQueue", "sqs:TagQueue"),
        ] {
            assert!(text.contains(pair.0) && text.contains(pair.1), "{pair:?}");
        }
    }

    #[test]
    fn the_documented_policy_is_this_policy() {
        let doc = include_str!("../docs/deployer-policy.json");
        assert_eq!(
            doc,
            document(&scope("aws", "*", "*")),
            "docs/deployer-policy.json is out of date: regenerate it with \
             `tapctl deployer-policy --partition aws --account '*'` (the region is then any)"
        );
    }
}
