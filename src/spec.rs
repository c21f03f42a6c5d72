//! The desired stack for one (suffix, account, region, partition): names, ARNs, policy
//! documents and settings. Pure: no AWS calls, everything here is unit-tested.

use serde_json::{Value, json};
use std::fmt;

/// Tag key marking a resource as tapctl's; its value is always [`MANAGED_VALUE`].
pub const MANAGED_TAG: &str = "tapctl:managed";
pub const MANAGED_VALUE: &str = "true";
/// Tag key carrying the environment suffix the resource belongs to.
pub const SUFFIX_TAG: &str = "tapctl:suffix";

/// Python runtime of the function (3.8 is deprecated; 3.13 is current).
pub const RUNTIME: &str = "python3.13";
pub const HANDLER: &str = "index.lambda_handler";
pub const TIMEOUT_SECONDS: i32 = 30;
pub const MEMORY_MB: i32 = 128;
pub const LOG_LEVEL: &str = "INFO";
pub const LOG_RETENTION_DAYS: i32 = 14;
/// How long the failure queue keeps an event: 14 days, SQS's maximum.
pub const QUEUE_RETENTION_SECONDS: i32 = 1_209_600;
/// Lambda's own defaults for asynchronous invocations, set explicitly (the settings file's
/// `retry_attempts` and `max_event_age_s`): 2 retries, events up to 6 hours old.
pub const DEFAULT_RETRY_ATTEMPTS: i32 = 2;
pub const DEFAULT_MAX_EVENT_AGE_S: i32 = 21_600;
pub const DEFAULT_REGION: &str = "us-west-2";

/// Statement id of the S3 -> Lambda permission on the function.
pub const PERMISSION_SID: &str = "tapctl-s3-invoke";
/// Id of tapctl's entry in the bucket notification configuration.
pub const NOTIFICATION_ID: &str = "tapctl-s3-processor";
pub const NOTIFICATION_EVENT: &str = "s3:ObjectCreated:*";
/// Name of the inline policy on the role.
pub const INLINE_POLICY_NAME: &str = "s3-processor-access";

/// The names' prefixes: each resource's name is its prefix and the suffix (the bucket's also
/// ends in the account id, the log group's is the function's name under [`LOG_GROUP_PREFIX`]).
pub const TABLE_PREFIX: &str = "lambda-invocation-logs-";
pub const BUCKET_PREFIX: &str = "lambda-trigger-bucket-";
pub const ROLE_PREFIX: &str = "s3-processor-role-";
pub const FUNCTION_PREFIX: &str = "s3-processor-";
pub const LOG_GROUP_PREFIX: &str = "/aws/lambda/";
pub const QUEUE_PREFIX: &str = "s3-processor-failures-";
const ACCOUNT_ID_LEN: usize = 12;
const MAX_BUCKET_NAME: usize = 63;
/// The longest suffix whose bucket name `lambda-trigger-bucket-S-ACCOUNT` fits 63 characters.
pub const MAX_SUFFIX_LEN: usize = MAX_BUCKET_NAME - BUCKET_PREFIX.len() - 1 - ACCOUNT_ID_LEN;

/// Why a suffix cannot make valid resource names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuffixError {
    Empty,
    TooLong(usize),
    BadChar(char),
    EdgeHyphen,
}

impl fmt::Display for SuffixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SuffixError::Empty => write!(f, "the suffix is empty"),
            SuffixError::TooLong(n) => write!(
                f,
                "the suffix is {n} characters long; at most {MAX_SUFFIX_LEN} fit the bucket name \
                 {BUCKET_PREFIX}SUFFIX-ACCOUNT (63 characters)"
            ),
            SuffixError::BadChar(c) => write!(
                f,
                "the suffix contains {c:?}; only lowercase letters, digits and hyphens are allowed"
            ),
            SuffixError::EdgeHyphen => write!(f, "the suffix must not start or end with a hyphen"),
        }
    }
}

impl std::error::Error for SuffixError {}

/// Checks that `suffix` makes valid names for every resource (the bucket name is the tightest).
pub fn validate_suffix(suffix: &str) -> Result<(), SuffixError> {
    if suffix.is_empty() {
        return Err(SuffixError::Empty);
    }
    if let Some(c) = suffix
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(SuffixError::BadChar(c));
    }
    if suffix.starts_with('-') || suffix.ends_with('-') {
        return Err(SuffixError::EdgeHyphen);
    }
    if suffix.len() > MAX_SUFFIX_LEN {
        return Err(SuffixError::TooLong(suffix.len()));
    }
    Ok(())
}

/// Whether `region` has a region's shape: lowercase words, a number last, the first word of 2
/// to 4 letters (`us-west-2`, `cn-north-1`, `us-gov-west-1`, `us-isob-east-1`,
/// `eusc-de-east-1`). New regions keep this shape, so no fixed list is needed.
pub fn is_region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let word = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(word)
        && (2..=4).contains(&parts[0].len())
        && parts
            .last()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The partition of a region, used before STS has told us the real one (the SDK's
/// partitions.json: aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f,
/// aws-eusc).
pub fn partition_of_region(region: &str) -> &'static str {
    const PREFIXES: &[(&str, &str)] = &[
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-isof-", "aws-iso-f"),
        ("eusc-", "aws-eusc"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

/// The partition named by an ARN (`arn:PARTITION:...`).
pub fn partition_of_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next()) {
        (Some("arn"), Some(p)) if !p.is_empty() => Some(p),
        _ => None,
    }
}

/// Where the stack lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub suffix: String,
    pub account: String,
    pub region: String,
    pub partition: String,
}

impl Target {
    /// The same account, region and partition, another suffix.
    pub fn with_suffix(&self, suffix: &str) -> Target {
        Target {
            suffix: suffix.to_string(),
            ..self.clone()
        }
    }

    pub fn table_arn(&self, table_name: &str) -> String {
        let Target {
            account: a,
            region: r,
            partition: p,
            ..
        } = self;
        format!("arn:{p}:dynamodb:{r}:{a}:table/{table_name}")
    }

    pub fn log_group_arn(&self, log_group_name: &str) -> String {
        let Target {
            account: a,
            region: r,
            partition: p,
            ..
        } = self;
        format!("arn:{p}:logs:{r}:{a}:log-group:{log_group_name}")
    }

    pub fn queue_arn(&self, queue_name: &str) -> String {
        let Target {
            account: a,
            region: r,
            partition: p,
            ..
        } = self;
        format!("arn:{p}:sqs:{r}:{a}:{queue_name}")
    }
}

/// The prefix of every log group tapctl's functions write to.
pub fn log_group_name_prefix() -> String {
    format!("{LOG_GROUP_PREFIX}{FUNCTION_PREFIX}")
}

/// Everything tapctl wants to exist for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub target: Target,
    pub table_name: String,
    pub table_arn: String,
    pub bucket_name: String,
    pub bucket_arn: String,
    pub role_name: String,
    pub role_arn: String,
    pub function_name: String,
    pub function_arn: String,
    pub log_group_name: String,
    pub log_group_arn: String,
    /// The failure queue: the function's on-failure destination for async invocations.
    pub queue_name: String,
    pub queue_arn: String,
    pub basic_execution_policy_arn: String,
    /// The function's async invoke config: retries after a failed invocation (0-2) and the
    /// oldest event Lambda still tries (60-21600 s).
    pub retry_attempts: i32,
    pub max_event_age_s: i32,
}

impl Stack {
    pub fn new(target: Target) -> Self {
        let Target {
            suffix: s,
            account: a,
            region: r,
            partition: p,
        } = &target;
        let table_name = format!("{TABLE_PREFIX}{s}");
        let bucket_name = format!("{BUCKET_PREFIX}{s}-{a}");
        let role_name = format!("{ROLE_PREFIX}{s}");
        let function_name = format!("{FUNCTION_PREFIX}{s}");
        let log_group_name = format!("{LOG_GROUP_PREFIX}{function_name}");
        let queue_name = format!("{QUEUE_PREFIX}{s}");
        Stack {
            table_arn: target.table_arn(&table_name),
            bucket_arn: format!("arn:{p}:s3:::{bucket_name}"),
            role_arn: format!("arn:{p}:iam::{a}:role/{role_name}"),
            function_arn: format!("arn:{p}:lambda:{r}:{a}:function:{function_name}"),
            log_group_arn: target.log_group_arn(&log_group_name),
            queue_arn: target.queue_arn(&queue_name),
            basic_execution_policy_arn: format!(
                "arn:{p}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
            ),
            table_name,
            bucket_name,
            role_name,
            function_name,
            log_group_name,
            queue_name,
            retry_attempts: DEFAULT_RETRY_ATTEMPTS,
            max_event_age_s: DEFAULT_MAX_EVENT_AGE_S,
            target,
        }
    }

    pub fn suffix(&self) -> &str {
        &self.target.suffix
    }

    /// The tags every resource carries: the only state tapctl keeps.
    pub fn tags(&self) -> Vec<(String, String)> {
        vec![
            (MANAGED_TAG.to_string(), MANAGED_VALUE.to_string()),
            (SUFFIX_TAG.to_string(), self.target.suffix.clone()),
        ]
    }

    /// Whether a resource's tags mark it as this stack's: tapctl's managed tag, and no suffix
    /// tag naming another stack. (A lost suffix tag on a resource that carries tapctl's name
    /// and managed tag is drift that `up` repairs; without the managed tag it is not ours.)
    pub fn owns<'a>(&self, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        let (mut managed, mut other_suffix) = (false, false);
        for (k, v) in tags {
            managed |= k == MANAGED_TAG && v == MANAGED_VALUE;
            other_suffix |= k == SUFFIX_TAG && v != self.target.suffix;
        }
        managed && !other_suffix
    }

    /// The tags of [`Stack::tags`] that `tags` lacks or has with another value.
    pub fn missing_tags<'a>(
        &self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Vec<(String, String)> {
        self.tags()
            .into_iter()
            .filter(|(k, v)| !tags.clone().into_iter().any(|(hk, hv)| hk == k && hv == v))
            .collect()
    }

    pub fn function_env(&self) -> Vec<(String, String)> {
        vec![
            ("DYNAMODB_TABLE_NAME".to_string(), self.table_name.clone()),
            ("LOG_LEVEL".to_string(), LOG_LEVEL.to_string()),
        ]
    }

    /// Who may assume the role: the Lambda service only.
    pub fn trust_policy(&self) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole"
            }]
        })
    }

    /// What the function may do beyond logging: put items into this table, read objects of
    /// this bucket, send its failed events to this queue (Lambda sends to the on-failure
    /// destination with the function's role). Nothing else, on nothing else.
    pub fn inline_policy(&self) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "WriteInvocationLogs",
                    "Effect": "Allow",
                    "Action": ["dynamodb:PutItem"],
                    "Resource": self.table_arn
                },
                {
                    "Sid": "ReadTriggerObjects",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                    "Resource": format!("{}/*", self.bucket_arn)
                },
                {
                    "Sid": "KeepFailedEvents",
                    "Effect": "Allow",
                    "Action": ["sqs:SendMessage"],
                    "Resource": self.queue_arn
                }
            ]
        })
    }

    /// Denies every request to the bucket or its objects that does not come over TLS.
    pub fn bucket_policy(&self) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [self.bucket_arn, format!("{}/*", self.bucket_arn)],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }]
        })
    }
}

/// Compares two policy documents as AWS does: by meaning, not by spelling. Statement-level
/// single values and one-element lists are the same thing, and so are lists in any order.
pub fn same_policy(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

fn normalize(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalize).collect();
            items.sort_by_key(|x| x.to_string());
            items.dedup();
            if items.len() == 1 {
                items.pop().unwrap_or(Value::Null)
            } else {
                Value::Array(items)
            }
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        Value::Bool(b) => Value::String(b.to_string()),
        other => other.clone(),
    }
}

/// The stack the unit tests of every module use: suffix `dev` in account 123456789012,
/// us-west-2.
#[cfg(test)]
pub(crate) fn test_stack() -> Stack {
    Stack::new(Target {
        suffix: "dev".into(),
        account: "123456789012".into(),
        region: "us-west-2".into(),
        partition: "aws".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(suffix: &str) -> Stack {
        Stack::new(Target {
            suffix: suffix.into(),
            account: "123456789012".into(),
            region: "us-west-2".into(),
            partition: "aws".into(),
        })
    }

    #[test]
    fn names_and_arns() {
        let s = stack("dev");
        assert_eq!(s.table_name, "lambda-invocation-logs-dev");
        assert_eq!(s.bucket_name, "lambda-trigger-bucket-dev-123456789012");
        assert_eq!(s.role_name, "s3-processor-role-dev");
        assert_eq!(s.function_name, "s3-processor-dev");
        assert_eq!(s.log_group_name, "/aws/lambda/s3-processor-dev");
        assert_eq!(s.queue_name, "s3-processor-failures-dev");
        assert_eq!(
            s.queue_arn,
            "arn:aws:sqs:us-west-2:123456789012:s3-processor-failures-dev"
        );
        assert_eq!((s.retry_attempts, s.max_event_age_s), (2, 21600));
        assert!(s.log_group_name.starts_with(&log_group_name_prefix()));
        assert_eq!(s.target.with_suffix("x").suffix, "x");
        assert_eq!(
            s.table_arn,
            "arn:aws:dynamodb:us-west-2:123456789012:table/lambda-invocation-logs-dev"
        );
        assert_eq!(
            s.bucket_arn,
            "arn:aws:s3:::lambda-trigger-bucket-dev-123456789012"
        );
        assert_eq!(
            s.role_arn,
            "arn:aws:iam::123456789012:role/s3-processor-role-dev"
        );
        assert_eq!(
            s.function_arn,
            "arn:aws:lambda:us-west-2:123456789012:function:s3-processor-dev"
        );
        assert_eq!(
            s.basic_execution_policy_arn,
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        );
    }

    #[test]
    fn other_partition_reaches_every_arn() {
        let s = Stack::new(Target {
            suffix: "x".into(),
            account: "123456789012".into(),
            region: "cn-north-1".into(),
            partition: partition_of_region("cn-north-1").into(),
        });
        for arn in [
            &s.table_arn,
            &s.bucket_arn,
            &s.role_arn,
            &s.function_arn,
            &s.log_group_arn,
            &s.queue_arn,
        ] {
            assert!(arn.starts_with("arn:aws-cn:"), "{arn}");
        }
        assert_eq!(partition_of_region("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of_region("eu-west-1"), "aws");
        assert_eq!(partition_of_region("eusc-de-east-1"), "aws-eusc");
        assert_eq!(partition_of_region("us-isob-east-1"), "aws-iso-b");
        assert_eq!(partition_of_region("us-iso-east-1"), "aws-iso");
        for r in [
            "us-west-2",
            "cn-north-1",
            "us-gov-west-1",
            "eusc-de-east-1",
            "us-isob-east-1",
        ] {
            assert!(is_region_name(r), "{r}");
        }
        for r in [
            "mars-1",
            "US_WEST_2",
            "us-west-",
            "-us-west-2",
            "us-west-two",
            "abcde-x-1",
        ] {
            assert!(!is_region_name(r), "{r}");
        }
        assert_eq!(partition_of_arn("arn:aws-cn:iam::1:user/x"), Some("aws-cn"));
        assert_eq!(partition_of_arn("nonsense"), None);
    }

    #[test]
    fn suffix_rules() {
        assert_eq!(validate_suffix("dev"), Ok(()));
        assert_eq!(validate_suffix("pr-123"), Ok(()));
        assert_eq!(validate_suffix("a"), Ok(()));
        assert_eq!(validate_suffix(""), Err(SuffixError::Empty));
        assert_eq!(validate_suffix("Dev"), Err(SuffixError::BadChar('D')));
        assert_eq!(validate_suffix("a_b"), Err(SuffixError::BadChar('_')));
        assert_eq!(validate_suffix("a.b"), Err(SuffixError::BadChar('.')));
        assert_eq!(validate_suffix("a b"), Err(SuffixError::BadChar(' ')));
        assert_eq!(validate_suffix("é"), Err(SuffixError::BadChar('é')));
        assert_eq!(validate_suffix("-dev"), Err(SuffixError::EdgeHyphen));
        assert_eq!(validate_suffix("dev-"), Err(SuffixError::EdgeHyphen));
        let longest = "a".repeat(MAX_SUFFIX_LEN);
        assert_eq!(validate_suffix(&longest), Ok(()));
        assert_eq!(stack(&longest).bucket_name.len(), 63);
        let too_long = "a".repeat(MAX_SUFFIX_LEN + 1);
        assert_eq!(
            validate_suffix(&too_long),
            Err(SuffixError::TooLong(MAX_SUFFIX_LEN + 1))
        );
        assert_eq!(MAX_SUFFIX_LEN, 28);
        for e in [
            SuffixError::Empty,
            SuffixError::TooLong(40),
            SuffixError::BadChar('X'),
        ] {
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn every_name_fits_its_service_limit() {
        let s = stack(&"a".repeat(MAX_SUFFIX_LEN));
        assert!(s.role_name.len() <= 64);
        assert!(s.function_name.len() <= 64);
        assert!(s.table_name.len() <= 255);
        assert!(s.log_group_name.len() <= 512);
        assert!(s.queue_name.len() <= 80);
    }

    #[test]
    fn ownership_needs_the_managed_tag_and_no_other_suffix() {
        let s = stack("dev");
        assert!(s.owns([("tapctl:managed", "true"), ("tapctl:suffix", "dev")]));
        assert!(s.owns([
            ("x", "y"),
            ("tapctl:suffix", "dev"),
            ("tapctl:managed", "true")
        ]));
        assert!(s.owns([("tapctl:managed", "true")]));
        assert!(!s.owns([("tapctl:suffix", "dev")]));
        assert!(!s.owns([("tapctl:managed", "true"), ("tapctl:suffix", "prod")]));
        assert!(!s.owns([("tapctl:managed", "false"), ("tapctl:suffix", "dev")]));
        assert!(!s.owns([]));
        assert_eq!(
            s.missing_tags([("tapctl:managed", "true"), ("tapctl:suffix", "other")]),
            vec![("tapctl:suffix".to_string(), "dev".to_string())]
        );
        assert!(
            s.missing_tags([("tapctl:managed", "true"), ("tapctl:suffix", "dev")])
                .is_empty()
        );
    }

    #[test]
    fn inline_policy_is_least_privilege() {
        let s = stack("dev");
        let p = s.inline_policy();
        let statements = p["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 3);
        for st in statements {
            assert_eq!(st["Effect"], "Allow");
            let actions = st["Action"].as_array().unwrap();
            assert!(actions.iter().all(|a| !a.as_str().unwrap().contains('*')));
            let resource = st["Resource"].as_str().unwrap();
            assert!(resource != "*");
        }
        assert_eq!(statements[0]["Action"], json!(["dynamodb:PutItem"]));
        assert_eq!(statements[0]["Resource"], json!(s.table_arn));
        assert_eq!(
            statements[1]["Resource"],
            json!(format!("{}/*", s.bucket_arn))
        );
        assert_eq!(statements[2]["Action"], json!(["sqs:SendMessage"]));
        assert_eq!(statements[2]["Resource"], json!(s.queue_arn));
    }

    #[test]
    fn trust_is_lambda_only() {
        let p = stack("dev").trust_policy();
        assert_eq!(
            p["Statement"][0]["Principal"]["Service"],
            "lambda.amazonaws.com"
        );
        assert_eq!(p["Statement"][0]["Action"], "sts:AssumeRole");
        assert_eq!(p["Statement"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn bucket_policy_denies_plain_http_on_bucket_and_objects() {
        let s = stack("dev");
        let p = s.bucket_policy();
        let st = &p["Statement"][0];
        assert_eq!(st["Effect"], "Deny");
        assert_eq!(st["Principal"], "*");
        assert_eq!(st["Condition"]["Bool"]["aws:SecureTransport"], "false");
        assert_eq!(
            st["Resource"],
            json!([s.bucket_arn, format!("{}/*", s.bucket_arn)])
        );
    }

    #[test]
    fn policies_compare_by_meaning() {
        let a = json!({"Statement": [{"Action": ["s3:GetObject"], "Resource": ["b", "a"]}]});
        let b = json!({"Statement": {"Action": "s3:GetObject", "Resource": ["a", "b"]}});
        assert!(same_policy(&a, &b));
        let c = json!({"Statement": {"Action": "s3:*", "Resource": ["a", "b"]}});
        assert!(!same_policy(&a, &c));
        let t = json!({"Condition": {"Bool": {"aws:SecureTransport": false}}});
        let f = json!({"Condition": {"Bool": {"aws:SecureTransport": "false"}}});
        assert!(same_policy(&t, &f));
        let g = json!({"Condition": {"Bool": {"aws:SecureTransport": "true"}}});
        assert!(!same_policy(&g, &f));
    }
}
