//! A model of IAM for the deployer-policy tests: the action(s) each logged call needs, the
//! resource it acts on, and whether a policy document allows it (Allow statements, `*`/`?`
//! wildcards, StringEquals / ArnEquals conditions).

use serde_json::Value;
use std::collections::BTreeSet;
use tapctl::spec::Stack;

/// The IAM action(s) a logged `service:Operation` needs, as tapctl calls it. Most are named as
/// the API; S3's differ (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations.html).
/// Parameter-dependent ones are added: tapctl creates every resource with its tags, which needs
/// the service's tagging action too (CreateBucketConfiguration.Tags needs s3:TagResource), and
/// GetFunction returns the tags only with lambda:ListTags.
pub fn actions(service: &str, op: &str) -> Vec<String> {
    let s3 = |a: &str| vec![format!("s3:{a}")];
    let two = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
    match (service, op) {
        ("s3", "HeadBucket" | "ListObjects" | "ListObjectsV2") => s3("ListBucket"),
        ("s3", "ListObjectVersions") => s3("ListBucketVersions"),
        ("s3", "ListMultipartUploads") => s3("ListBucketMultipartUploads"),
        ("s3", "ListBuckets") => s3("ListAllMyBuckets"),
        ("s3", "GetBucketEncryption") => s3("GetEncryptionConfiguration"),
        ("s3", "PutBucketEncryption" | "DeleteBucketEncryption") => {
            s3("PutEncryptionConfiguration")
        }
        ("s3", "GetPublicAccessBlock") => s3("GetBucketPublicAccessBlock"),
        ("s3", "GetBucketLifecycleConfiguration") => s3("GetLifecycleConfiguration"),
        ("s3", "PutBucketLifecycleConfiguration") => s3("PutLifecycleConfiguration"),
        ("s3", "GetBucketAbac") => s3("GetBucketABAC"),
        ("s3", "PutPublicAccessBlock") => s3("PutBucketPublicAccessBlock"),
        ("s3", "GetBucketNotificationConfiguration") => s3("GetBucketNotification"),
        ("s3", "PutBucketNotificationConfiguration") => s3("PutBucketNotification"),
        ("s3", "DeleteObjects") => two("s3:DeleteObject", "s3:DeleteObjectVersion"),
        ("s3", "HeadObject") => s3("GetObject"),
        ("s3", "CreateBucket") => two("s3:CreateBucket", "s3:TagResource"),
        ("dynamodb", "CreateTable") => two("dynamodb:CreateTable", "dynamodb:TagResource"),
        ("iam", "CreateRole") => two("iam:CreateRole", "iam:TagRole"),
        ("logs", "CreateLogGroup") => two("logs:CreateLogGroup", "logs:TagResource"),
        ("sqs", "CreateQueue") => two("sqs:CreateQueue", "sqs:TagQueue"),
        ("sqs", "DeleteMessageBatch") => vec!["sqs:DeleteMessage".into()],
        ("sqs", "ChangeMessageVisibilityBatch") => vec!["sqs:ChangeMessageVisibility".into()],
        ("lambda", "GetFunction") => two("lambda:GetFunction", "lambda:ListTags"),
        ("lambda", "Invoke") => vec!["lambda:InvokeFunction".into()],
        ("lambda", "CreateFunction") => vec![
            "lambda:CreateFunction".into(),
            "lambda:TagResource".into(),
            "iam:PassRole".into(),
        ],
        ("lambda", "UpdateFunctionConfiguration") => {
            two("lambda:UpdateFunctionConfiguration", "iam:PassRole")
        }
        (svc, op) => vec![format!("{svc}:{op}")],
    }
}

/// The resource a call of tapctl's acts on (its ARN), `*` for the account-wide listings.
pub fn call_resource(s: &Stack, action: &str) -> String {
    let (svc, name) = action.split_once(':').unwrap();
    match svc {
        _ if name.starts_with("List")
            && name.ends_with('s')
            && !matches!(
                name,
                "ListTags"
                    | "ListRoleTags"
                    | "ListRolePolicies"
                    | "ListAttachedRolePolicies"
                    | "ListQueueTags"
                    | "ListBucketVersions"
                    | "ListBucketMultipartUploads"
                    | "ListLayerVersions"
            ) =>
        {
            "*".into()
        }
        "sts" | "cloudwatch" => "*".into(),
        "s3" if matches!(
            name,
            "PutObject"
                | "GetObject"
                | "DeleteObject"
                | "DeleteObjectVersion"
                | "AbortMultipartUpload"
        ) =>
        {
            format!("{}/*", s.bucket_arn)
        }
        "s3" => s.bucket_arn.clone(),
        "dynamodb" => s.table_arn.clone(),
        "iam" => s.role_arn.clone(),
        "lambda" if matches!(name, "ListLayerVersions" | "PublishLayerVersion") => {
            s.layer_arn.clone()
        }
        "lambda" if matches!(name, "GetLayerVersion" | "DeleteLayerVersion") => {
            format!("{}:1", s.layer_arn)
        }
        "lambda" => s.function_arn.clone(),
        "logs" => s.log_group_arn.clone(),
        "sqs" => format!(
            "arn:aws:sqs:{}:{}:s3-processor-failures-{}",
            s.target.region, s.target.account, s.target.suffix
        ),
        other => panic!("no resource model for {other}"),
    }
}

/// IAM's wildcard match (`*` any run, `?` one character).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A policy field that is one string or a list of them.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(l) => l
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

/// Every action docs/deployer-policy.json grants.
pub fn documented_actions() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deployer-policy.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|st| strings(&st["Action"]))
        .collect()
}

/// Whether the policy allows `action` on `resource` in the request context tapctl's call
/// carries (the condition keys the policy uses: StringEquals / ArnEquals).
pub fn allows(policy: &Value, action: &str, resource: &str, context: &[(&str, &str)]) -> bool {
    policy["Statement"].as_array().unwrap().iter().any(|st| {
        st["Effect"] == "Allow"
            && strings(&st["Action"]).iter().any(|a| glob(a, action))
            && strings(&st["Resource"]).iter().any(|r| glob(r, resource))
            && st["Condition"].as_object().is_none_or(|ops| {
                ops.iter().all(|(op, kv)| {
                    assert!(matches!(op.as_str(), "StringEquals" | "ArnEquals"), "{op}");
                    kv.as_object().unwrap().iter().all(|(key, want)| {
                        context
                            .iter()
                            .any(|(k, v)| k == key && strings(want).iter().any(|w| w == v))
                    })
                })
            })
    })
}
