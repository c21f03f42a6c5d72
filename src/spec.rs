//! The desired stack for one (suffix, account, region, partition): names, ARNs, policy
//! documents and settings. Pure: no AWS calls, everything here is unit-tested.

use crate::package::Package;
use crate::settings::{self, Architecture};
use serde_json::{Value, json};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Tag key marking a resource as tapctl's; its value is always [`MANAGED_VALUE`].
pub const MANAGED_TAG: &str = "tapctl:managed";
pub const MANAGED_VALUE: &str = "true";
/// Tag key carrying the environment suffix the resource belongs to.
pub const SUFFIX_TAG: &str = "tapctl:suffix";
/// Tag key carrying the region of the stack a resource belongs to. Role and bucket names are
/// global: this tag tells one region's stack from the same suffix's stack in another.
pub const REGION_TAG: &str = "tapctl:region";

/// The function's entry point (`index.py`'s `lambda_handler`).
pub const HANDLER: &str = "index.lambda_handler";
/// How long the failure queue keeps an event: 14 days, SQS's maximum.
pub const QUEUE_RETENTION_SECONDS: i32 = 1_209_600;
/// The region when nothing names one.
pub use crate::settings::DEFAULT_REGION;

/// The function's variable saying how many days a log item is kept (set only when > 0).
pub const ITEM_RETENTION_ENV: &str = "ITEM_RETENTION_DAYS";
/// The log table's keys: a hash of the event (only the handler knows it) and its time.
pub const HASH_KEY: &str = "requestId";
pub const RANGE_KEY: &str = "timestamp";
/// The log table's index to find one object's events newest first: hash `objectKey`, range
/// `timestamp`, every attribute projected.
pub const OBJECT_INDEX: &str = "by-object";
/// The item attribute DynamoDB's TTL reads (epoch seconds), written by the handler.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

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
pub const LAYER_PREFIX: &str = "s3-processor-deps-";
/// How a dependency layer version says it is tapctl's, and for which content: Lambda layers
/// take no tags, so a version's Description (`tapctl deps KEY`) is its only record. A version
/// without it is someone else's and never deleted.
const LAYER_DESCRIPTION: &str = "tapctl deps ";

/// The description of the dependency layer version built for content `key`.
pub fn layer_description(key: &str) -> String {
    format!("{LAYER_DESCRIPTION}{key}")
}

/// The content key a dependency layer version records, when it is tapctl's.
pub fn layer_key(description: &str) -> Option<&str> {
    description.strip_prefix(LAYER_DESCRIPTION)
}
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

/// The DNS suffix of a partition's service endpoints (the SDK's partitions.json).
pub fn dns_suffix(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "amazonaws.com.cn",
        "aws-iso" => "c2s.ic.gov",
        "aws-iso-b" => "sc2s.sgov.gov",
        "aws-iso-e" => "cloud.adc-e.uk",
        "aws-iso-f" => "csp.hci.ic.gov",
        "aws-eusc" => "amazonaws.eu",
        _ => "amazonaws.com",
    }
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

/// The function's code: the handler embedded in the binary, or a folder zipped at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Embedded,
    Folder {
        path: PathBuf,
        package: Arc<Package>,
        /// What the `exclude` setting leaves out (watch packages the folder again).
        exclude: crate::package::Exclude,
        /// The folder's `requirements.txt`, for the dependency layer; `None` without one.
        deps: Option<Arc<crate::python::Deps>>,
    },
}

impl Code {
    /// The handler's dependencies, when it has a requirements file.
    pub fn deps(&self) -> Option<&crate::python::Deps> {
        match self {
            Code::Folder { deps, .. } => deps.as_deref(),
            Code::Embedded => None,
        }
    }
}

/// The effective settings a stack is built with (`settings::Settings` without provenance).
/// The default is what tapctl deploys without a settings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSettings {
    pub runtime: String,
    pub architecture: Architecture,
    pub memory_mb: i32,
    pub timeout_s: i32,
    /// The function's `LOG_LEVEL`.
    pub log_level: String,
    pub log_retention_days: i32,
    /// 0: log items are kept forever (no TTL on the table).
    pub item_retention_days: i32,
    /// The role's permissions boundary.
    pub permissions_boundary: Option<String>,
    /// The table's deletion protection.
    pub deletion_protection: bool,
    /// Extra tags on every resource, beside tapctl's own.
    pub tags: Vec<(String, String)>,
    pub code: Code,
    /// The function's async invoke config: retries after a failed invocation (0-2) and the
    /// oldest event Lambda still tries (60-21600 s).
    pub retry_attempts: i32,
    pub max_event_age_s: i32,
}

impl Default for StackSettings {
    /// The built-in defaults, as the settings declare them (no second copy here).
    fn default() -> Self {
        Self::from_config(&settings::Settings::default(), Code::Embedded)
    }
}

impl StackSettings {
    /// The effective settings, with the code they name (zipped by the caller).
    pub fn from_config(s: &settings::Settings, code: Code) -> Self {
        StackSettings {
            runtime: s.runtime.value.clone(),
            architecture: s.architecture.value,
            memory_mb: s.memory_mb.value,
            timeout_s: s.timeout_s.value,
            log_level: s.log_level.value.clone(),
            log_retention_days: s.log_retention_days.value,
            item_retention_days: s.item_retention_days.value,
            permissions_boundary: s.permissions_boundary.value.clone(),
            deletion_protection: s.deletion_protection.value,
            tags: s.tag_pairs(),
            code,
            retry_attempts: s.retry_attempts.value,
            max_event_age_s: s.max_event_age_s.value,
        }
    }
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
    /// The URL SQS gives the queue (`https://sqs.REGION.DNS-SUFFIX/ACCOUNT/NAME`), known before
    /// GetQueueUrl answers; SQS identifies the queue by account and name. A reader may use it
    /// and fall back to GetQueueUrl's answer (another endpoint shape behind a proxy or an
    /// emulator).
    pub queue_url: String,
    /// The dependency layer (its versions' ARNs are this and `:N`).
    pub layer_name: String,
    pub layer_arn: String,
    pub basic_execution_policy_arn: String,
    pub settings: StackSettings,
    /// The flags beyond `--suffix` and `--region` that select this stack and its settings
    /// again (`--profile`, `--config`, settings flags), for the commands tapctl suggests.
    pub flags: Vec<String>,
}

impl Stack {
    /// The stack with today's defaults (no settings file).
    pub fn new(target: Target) -> Self {
        Self::configured(target, StackSettings::default())
    }

    pub fn configured(target: Target, settings: StackSettings) -> Self {
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
        let layer_name = format!("{LAYER_PREFIX}{s}");
        Stack {
            layer_arn: format!("arn:{p}:lambda:{r}:{a}:layer:{layer_name}"),
            layer_name,
            table_arn: target.table_arn(&table_name),
            bucket_arn: format!("arn:{p}:s3:::{bucket_name}"),
            role_arn: format!("arn:{p}:iam::{a}:role/{role_name}"),
            function_arn: format!("arn:{p}:lambda:{r}:{a}:function:{function_name}"),
            log_group_arn: target.log_group_arn(&log_group_name),
            queue_arn: target.queue_arn(&queue_name),
            queue_url: format!("https://sqs.{r}.{}/{a}/{queue_name}", dns_suffix(p)),
            basic_execution_policy_arn: format!(
                "arn:{p}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
            ),
            table_name,
            bucket_name,
            role_name,
            function_name,
            log_group_name,
            queue_name,
            target,
            settings,
            flags: Vec::new(),
        }
    }

    /// The same stack, keeping log items `days` days (0: forever).
    pub fn with_item_retention_days(mut self, days: i32) -> Self {
        self.settings.item_retention_days = days;
        self
    }

    pub fn suffix(&self) -> &str {
        &self.target.suffix
    }

    /// The command line of `tapctl VERB` for this same stack, as tapctl suggests it: the
    /// suffix, the region and every flag that selected the stack or its settings.
    pub fn command(&self, verb: &str) -> String {
        self.command_with(verb, &[])
    }

    /// [`Stack::command`] for this suffix's stack in another region.
    pub fn command_in_region(&self, verb: &str, region: &str) -> String {
        let mut other = self.clone();
        other.target.region = region.to_string();
        other.command(verb)
    }

    /// [`Stack::command`] with the command's own arguments after the selecting flags.
    pub fn command_with(&self, verb: &str, args: &[&str]) -> String {
        let mut words = vec![
            "tapctl".to_string(),
            verb.to_string(),
            "--suffix".into(),
            self.target.suffix.clone(),
            "--region".into(),
            self.target.region.clone(),
        ];
        words.extend(self.flags.iter().cloned());
        words.extend(args.iter().map(|a| a.to_string()));
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The tags every resource carries: tapctl's own (the only state it keeps), then the
    /// extra tags of the settings.
    pub fn tags(&self) -> Vec<(String, String)> {
        let mut tags = vec![
            (MANAGED_TAG.to_string(), MANAGED_VALUE.to_string()),
            (SUFFIX_TAG.to_string(), self.target.suffix.clone()),
            (REGION_TAG.to_string(), self.target.region.clone()),
        ];
        tags.extend(self.settings.tags.iter().cloned());
        tags
    }

    /// Whether `arn` names this stack's function by name but in another region (or account):
    /// the same suffix's stack elsewhere, whose trigger entry on the (global) bucket is theirs.
    pub fn is_function_elsewhere(&self, arn: &str) -> bool {
        arn != self.function_arn && arn.ends_with(&format!(":function:{}", self.function_name))
    }

    /// The region of the stack that owns a resource whose tags mark it as this suffix's but
    /// name another region: the same suffix deployed there (role and bucket names are global).
    pub fn other_region<'a>(
        &self,
        tags: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Option<String> {
        if !self.owns(tags.clone()) {
            return None;
        }
        tags.into_iter()
            .find(|(k, v)| *k == REGION_TAG && *v != self.target.region)
            .map(|(_, v)| v.to_string())
    }

    /// The region of the stack a role was made for, read from its inline policy: it grants
    /// PutItem on that stack's table, whose ARN names the region. For a role tagged before
    /// tapctl recorded regions (no `tapctl:region` tag), which would otherwise be claimed by
    /// whichever region ran first.
    pub fn region_of_role_policy(&self, policy: &Value) -> Option<String> {
        let table = format!(":table/{}", self.table_name);
        let mut strings = Vec::new();
        collect_strings(policy, &mut strings);
        strings.into_iter().find_map(|arn| {
            let rest = arn.strip_suffix(table.as_str())?;
            // arn:PARTITION:dynamodb:REGION:ACCOUNT
            match rest.split(':').collect::<Vec<_>>()[..] {
                ["arn", _, "dynamodb", region, _] if !region.is_empty() => Some(region.to_string()),
                _ => None,
            }
        })
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

    /// The function's environment; `ITEM_RETENTION_DAYS` only when items expire, so the
    /// handler writes the table's TTL attribute exactly when the table has TTL on.
    pub fn function_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("DYNAMODB_TABLE_NAME".to_string(), self.table_name.clone()),
            ("LOG_LEVEL".to_string(), self.settings.log_level.clone()),
        ];
        if self.settings.item_retention_days > 0 {
            env.push((
                ITEM_RETENTION_ENV.to_string(),
                self.settings.item_retention_days.to_string(),
            ));
        }
        env
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

/// A word as a POSIX shell reads it back: as is when it is plain, else in single quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
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

/// Every string in a JSON document, depth first.
fn collect_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| collect_strings(v, out)),
        _ => {}
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
    fn a_role_policy_names_the_region_of_its_stack() {
        let home = stack("dev");
        assert_eq!(
            home.region_of_role_policy(&home.inline_policy()).as_deref(),
            Some("us-west-2")
        );
        let away = Stack::new(Target {
            region: "eu-west-1".into(),
            ..home.target.clone()
        });
        assert_eq!(
            away.region_of_role_policy(&home.inline_policy()).as_deref(),
            Some("us-west-2")
        );
        // another suffix's table (a prefix of this name) or no table: nothing to say
        assert_eq!(
            stack("dev-2").region_of_role_policy(&home.inline_policy()),
            None
        );
        assert_eq!(home.region_of_role_policy(&json!({"Statement": []})), None);
    }

    #[test]
    fn names_and_arns() {
        let s = stack("dev");
        assert!(s.is_function_elsewhere(
            "arn:aws:lambda:eu-west-1:123456789012:function:s3-processor-dev"
        ));
        assert!(!s.is_function_elsewhere(&s.function_arn));
        assert!(!s.is_function_elsewhere(
            "arn:aws:lambda:eu-west-1:123456789012:function:s3-processor-dev2"
        ));
        assert_eq!(s.table_name, "lambda-invocation-logs-dev");
        assert_eq!(s.bucket_name, "lambda-trigger-bucket-dev-123456789012");
        assert_eq!(s.role_name, "s3-processor-role-dev");
        assert_eq!(s.function_name, "s3-processor-dev");
        assert_eq!(s.log_group_name, "/aws/lambda/s3-processor-dev");
        assert_eq!(s.queue_name, "s3-processor-failures-dev");
        assert_eq!(
            s.queue_url,
            "https://sqs.us-west-2.amazonaws.com/123456789012/s3-processor-failures-dev"
        );
        assert_eq!(
            s.queue_arn,
            "arn:aws:sqs:us-west-2:123456789012:s3-processor-failures-dev"
        );
        assert_eq!(
            (s.settings.retry_attempts, s.settings.max_event_age_s),
            (2, 21600)
        );
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
        assert_eq!(
            s.queue_url,
            "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/s3-processor-failures-x"
        );
        assert_eq!(partition_of_region("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of_region("eu-west-1"), "aws");
        assert_eq!(partition_of_region("eusc-de-east-1"), "aws-eusc");
        assert_eq!(partition_of_region("us-isob-east-1"), "aws-iso-b");
        assert_eq!(partition_of_region("us-iso-east-1"), "aws-iso");
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
            vec![
                ("tapctl:suffix".to_string(), "dev".to_string()),
                ("tapctl:region".to_string(), "us-west-2".to_string())
            ]
        );
        assert!(
            s.missing_tags([
                ("tapctl:managed", "true"),
                ("tapctl:suffix", "dev"),
                ("tapctl:region", "us-west-2")
            ])
            .is_empty()
        );
        assert_eq!(
            s.other_region([
                ("tapctl:managed", "true"),
                ("tapctl:suffix", "dev"),
                ("tapctl:region", "eu-west-1")
            ]),
            Some("eu-west-1".into())
        );
        assert_eq!(
            s.other_region(s.tags().iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            None
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
    fn retention_reaches_the_function_only_when_items_expire() {
        let keep = stack("dev");
        assert_eq!(keep.settings.item_retention_days, 0);
        assert!(
            keep.function_env()
                .iter()
                .all(|(k, _)| k != ITEM_RETENTION_ENV)
        );
        let expire = stack("dev").with_item_retention_days(30);
        assert!(
            expire
                .function_env()
                .contains(&(ITEM_RETENTION_ENV.to_string(), "30".to_string()))
        );
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
    fn no_settings_file_means_todays_defaults() {
        let from_file = StackSettings::from_config(&settings::Settings::default(), Code::Embedded);
        assert_eq!(from_file, StackSettings::default());
        let s = stack("dev");
        assert_eq!(s.tags().len(), 3);
        assert_eq!(
            s.function_env(),
            vec![
                ("DYNAMODB_TABLE_NAME".to_string(), s.table_name.clone()),
                ("LOG_LEVEL".to_string(), "INFO".to_string())
            ]
        );
    }

    #[test]
    fn suggested_commands_select_the_same_stack() {
        let mut s = stack("dev");
        assert_eq!(s.command("up"), "tapctl up --suffix dev --region us-west-2");
        s.flags = [
            "--profile",
            "ops",
            "--config",
            "my dir/t.toml",
            "--set",
            "tags.o=it's",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            s.command("status"),
            "tapctl status --suffix dev --region us-west-2 --profile ops --config 'my dir/t.toml' \
             --set 'tags.o=it'\\''s'"
        );
        s.settings.tags = vec![("team".into(), "data".into())];
        assert_eq!(s.tags()[3], ("team".to_string(), "data".to_string()));
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
