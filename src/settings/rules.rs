//! The rules values are checked by (AWS's own limits), the typed values they give, and how a
//! value is shown. Each limit is written here once.

use std::path::PathBuf;

/// Lambda's Python runtimes that are not deprecated (Lambda developer guide, "Lambda runtimes").
pub const RUNTIMES: &[&str] = &[
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
];
/// The runtime tapctl deploys by default.
pub const RUNTIME: &str = "python3.13";
/// The `LOG_LEVEL` values the handler understands (Python's logging levels).
pub const LOG_LEVELS: &[&str] = &["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
/// The retention periods CloudWatch Logs accepts (PutRetentionPolicy, `retentionInDays`).
pub const LOG_RETENTIONS: &[i32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
/// Lambda's limits (CreateFunction: `MemorySize`, `Timeout`; PutFunctionEventInvokeConfig:
/// `MaximumRetryAttempts`, `MaximumEventAgeInSeconds`).
pub const MEMORY_MB: (i32, i32) = (128, 10_240);
pub const TIMEOUT_S: (i32, i32) = (1, 900);
pub const RETRY_ATTEMPTS: (i32, i32) = (0, 2);
pub const MAX_EVENT_AGE_S: (i32, i32) = (60, 21_600);
/// DynamoDB TTL takes any epoch; a century is a generous bound for a log item's retention.
pub const ITEM_RETENTION_DAYS: (i32, i32) = (0, 36_500);
/// Tags: 50 per resource on every service here; tapctl keeps a few for itself.
pub const MAX_USER_TAGS: usize = 40;

/// The function's instruction set architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    X86_64,
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// A value as a source gave it, before it is checked.
#[derive(Debug, Clone)]
pub enum RawValue {
    /// A TOML string.
    Str(String),
    /// Text from a variable or a flag: parsed as the key's type.
    Text(String),
    Int(i64),
    List(Vec<String>),
    Bool(bool),
    /// Anything else TOML can hold (a table, a float, a date): its type name.
    Other(&'static str),
}

impl RawValue {
    pub fn from_toml(v: &toml::Value) -> Self {
        match v {
            toml::Value::String(s) => RawValue::Str(s.clone()),
            toml::Value::Integer(i) => RawValue::Int(*i),
            toml::Value::Boolean(b) => RawValue::Bool(*b),
            toml::Value::Array(a) => {
                let strings: Option<Vec<String>> =
                    a.iter().map(|v| v.as_str().map(str::to_string)).collect();
                strings.map_or(RawValue::Other("array of non-strings"), RawValue::List)
            }
            other => RawValue::Other(other.type_str()),
        }
    }

    pub fn string(&self) -> Result<String, String> {
        match self {
            RawValue::Str(s) | RawValue::Text(s) => Ok(s.clone()),
            RawValue::Int(_) => Err("expected a string, found integer".into()),
            RawValue::List(_) => Err("expected a string, found array".into()),
            RawValue::Bool(_) => Err("expected a string, found boolean".into()),
            RawValue::Other(t) => Err(format!("expected a string, found {t}")),
        }
    }

    fn int(&self) -> Result<i64, String> {
        match self {
            RawValue::Int(i) => Ok(*i),
            RawValue::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a whole number")),
            RawValue::Str(s) => Err(format!("expected a whole number, found string {s:?}")),
            RawValue::List(_) => Err("expected a whole number, found array".into()),
            RawValue::Bool(_) => Err("expected a whole number, found boolean".into()),
            RawValue::Other(t) => Err(format!("expected a whole number, found {t}")),
        }
    }

    /// true or false: a TOML boolean, or `true`/`false` (also 1/0, yes/no) as text.
    fn bool(&self) -> Result<bool, String> {
        match self {
            RawValue::Bool(b) => Ok(*b),
            RawValue::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(format!("{t:?} is not true or false")),
            },
            RawValue::Str(s) => Err(format!("expected true or false, found string {s:?}")),
            _ => Err("expected true or false".into()),
        }
    }

    /// A list: a TOML array, or comma-separated text (variables, `--set`).
    fn list(&self) -> Result<Vec<String>, String> {
        match self {
            RawValue::List(l) => Ok(l.clone()),
            RawValue::Text(s) => Ok(s
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect()),
            _ => Err("expected a list of strings".into()),
        }
    }
}

/// A checked value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i32),
    Path(PathBuf),
    List(Vec<String>),
    Bool(bool),
}

/// How a key's values are checked.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// A region's shape ([`is_region_name`]).
    Region,
    /// Any non-empty name.
    Name,
    /// An `http://` or `https://` URL.
    Url,
    /// A file's path.
    File,
    /// A folder's path.
    Folder,
    /// One of these words, as written.
    OneOf(&'static [&'static str]),
    /// One of these words, in any case (kept upper case).
    OneOfUpper(&'static [&'static str]),
    /// A whole number in this range; the words before the range in the error.
    Range((i32, i32), &'static str),
    /// A retention CloudWatch Logs accepts.
    Retention,
    /// A managed-policy ARN.
    PolicyArn,
    /// Glob patterns.
    Patterns,
    /// true or false.
    Bool,
    /// The tags table.
    Tags,
}

impl Rule {
    /// Checks one raw value; the reason is one line without the key's name.
    pub fn check(&self, raw: &RawValue) -> Result<Value, String> {
        match *self {
            Rule::Region => {
                let v = raw.string()?;
                check_region(&v)?;
                Ok(Value::Str(v))
            }
            Rule::Name => {
                let v = raw.string()?;
                if v.trim().is_empty() {
                    return Err("empty".into());
                }
                Ok(Value::Str(v))
            }
            Rule::Url => {
                let v = raw.string()?;
                let lower = v.to_ascii_lowercase();
                if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                    return Err(format!("{v:?} is not an http:// or https:// URL"));
                }
                Ok(Value::Str(v))
            }
            Rule::File | Rule::Folder => {
                let v = raw.string()?;
                if v.trim().is_empty() {
                    return Err(if matches!(self, Rule::Folder) {
                        "empty folder name".into()
                    } else {
                        "empty file name".into()
                    });
                }
                Ok(Value::Path(PathBuf::from(v)))
            }
            Rule::OneOf(allowed) | Rule::OneOfUpper(allowed) => {
                let v = raw.string()?;
                let v = if matches!(self, Rule::OneOfUpper(_)) {
                    v.to_ascii_uppercase()
                } else {
                    v
                };
                if !allowed.contains(&v.as_str()) {
                    return Err(format!("{v:?} is not one of {}", allowed.join(", ")));
                }
                Ok(Value::Str(v))
            }
            Rule::Range((lo, hi), what) => {
                let v = raw.int()?;
                if v < i64::from(lo) || v > i64::from(hi) {
                    return Err(format!("{v} is out of range: {what} {lo} to {hi}"));
                }
                Ok(Value::Int(v as i32))
            }
            Rule::Retention => {
                let v = raw.int()?;
                if !LOG_RETENTIONS.iter().any(|d| i64::from(*d) == v) {
                    return Err(format!(
                        "{v} is not a retention CloudWatch Logs accepts ({})",
                        retentions()
                    ));
                }
                Ok(Value::Int(v as i32))
            }
            Rule::PolicyArn => {
                let v = raw.string()?;
                check_policy_arn(&v)?;
                Ok(Value::Str(v))
            }
            Rule::Patterns => {
                let v = raw.list()?;
                if let Some(bad) = v.iter().find(|p| p.starts_with('/') || p.contains("..")) {
                    return Err(format!(
                        "{bad:?}: a pattern is relative to the handler folder (no leading / or ..)"
                    ));
                }
                Ok(Value::List(v))
            }
            Rule::Bool => raw.bool().map(Value::Bool),
            Rule::Tags => Err("expected a table of tags".into()),
        }
    }

    /// The limits in words, for docs/cli.md.
    pub fn describe(&self) -> String {
        match *self {
            Rule::Region => "a region name (`us-west-2`)".into(),
            Rule::Name => "a profile name".into(),
            Rule::Url => "an `http://` or `https://` URL".into(),
            Rule::File => "a PEM file".into(),
            Rule::Folder => "a folder with `index.py`; no link leaving it; zip ≤ 50 MB".into(),
            Rule::OneOf(a) => a.join(", "),
            Rule::OneOfUpper(a) => format!("{} (any case)", a.join(", ")),
            Rule::Range((lo, hi), _) => format!("{lo} to {hi}"),
            Rule::Retention => format!("a value CloudWatch Logs accepts: {}", retentions()),
            Rule::PolicyArn => "an IAM policy ARN".into(),
            Rule::Patterns => "glob patterns (`*`, `?`, `**`)".into(),
            Rule::Bool => "`true` or `false`".into(),
            Rule::Tags => format!(
                "at most {MAX_USER_TAGS}; keys 1–128 and values ≤ 256 characters of letters, \
                 digits, spaces and `_ . : / = + - @`; not `aws:` or `tapctl:`"
            ),
        }
    }
}

fn retentions() -> String {
    let all: Vec<String> = LOG_RETENTIONS.iter().map(|d| d.to_string()).collect();
    all.join(", ")
}

/// A checked value as a field's type.
pub trait FromValue: Sized {
    fn from_value(v: Value) -> Result<Self, String>;
}

impl FromValue for String {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Str(s) => Ok(s),
            other => Err(format!("expected text, got {other:?}")),
        }
    }
}

impl FromValue for i32 {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Int(i) => Ok(i),
            other => Err(format!("expected a number, got {other:?}")),
        }
    }
}

impl FromValue for PathBuf {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Path(p) => Ok(p),
            Value::Str(s) => Ok(PathBuf::from(s)),
            other => Err(format!("expected a path, got {other:?}")),
        }
    }
}

impl FromValue for Vec<String> {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::List(l) => Ok(l),
            other => Err(format!("expected a list, got {other:?}")),
        }
    }
}

impl FromValue for bool {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Bool(b) => Ok(b),
            other => Err(format!("expected true or false, got {other:?}")),
        }
    }
}

impl FromValue for Architecture {
    fn from_value(v: Value) -> Result<Self, String> {
        match String::from_value(v)?.as_str() {
            "arm64" => Ok(Architecture::Arm64),
            "x86_64" => Ok(Architecture::X86_64),
            other => Err(format!("{other:?} is not an architecture")),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Self, String> {
        T::from_value(v).map(Some)
    }
}

/// How `config` shows a value: as text (unset reads `-`) and as JSON (unset is null).
pub trait ShowValue {
    fn text(&self) -> String;
    fn json(&self) -> serde_json::Value;
}

impl ShowValue for String {
    fn text(&self) -> String {
        self.clone()
    }
    fn json(&self) -> serde_json::Value {
        self.as_str().into()
    }
}

impl ShowValue for i32 {
    fn text(&self) -> String {
        self.to_string()
    }
    fn json(&self) -> serde_json::Value {
        (*self).into()
    }
}

impl ShowValue for PathBuf {
    fn text(&self) -> String {
        self.display().to_string()
    }
    fn json(&self) -> serde_json::Value {
        self.display().to_string().into()
    }
}

impl ShowValue for bool {
    fn text(&self) -> String {
        self.to_string()
    }
    fn json(&self) -> serde_json::Value {
        (*self).into()
    }
}

impl ShowValue for Architecture {
    fn text(&self) -> String {
        self.as_str().into()
    }
    fn json(&self) -> serde_json::Value {
        self.as_str().into()
    }
}

impl ShowValue for Vec<String> {
    fn text(&self) -> String {
        if self.is_empty() {
            "-".into()
        } else {
            self.join(",")
        }
    }
    fn json(&self) -> serde_json::Value {
        self.clone().into()
    }
}

impl<T: ShowValue> ShowValue for Option<T> {
    fn text(&self) -> String {
        self.as_ref().map_or_else(|| "-".into(), T::text)
    }
    fn json(&self) -> serde_json::Value {
        self.as_ref().map_or(serde_json::Value::Null, T::json)
    }
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

/// A region's shape (see [`is_region_name`]).
pub fn check_region(r: &str) -> Result<(), String> {
    if is_region_name(r) {
        Ok(())
    } else {
        Err(format!("{r:?} is not a region name (like us-west-2)"))
    }
}

/// A managed-policy ARN: `arn:PARTITION:iam::ACCOUNT:policy/PATH/NAME`.
pub fn check_policy_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "iam"
        && parts[3].is_empty()
        && (parts[4] == "aws"
            || (parts[4].len() == 12 && parts[4].bytes().all(|b| b.is_ascii_digit())))
        && parts[5].starts_with("policy/")
        && parts[5].len() > "policy/".len();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not an IAM policy ARN (arn:aws:iam::ACCOUNT:policy/NAME)"
        ))
    }
}

/// A user tag: AWS's key and value limits; `aws:` is AWS's own prefix and `tapctl:` tapctl's.
pub fn check_tag(key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(format!("tag key {key:?} must be 1 to 128 characters"));
    }
    if value.chars().count() > 256 {
        return Err(format!("tag {key:?}: the value is over 256 characters"));
    }
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("aws:") || lower.starts_with("tapctl:") {
        return Err(format!(
            "tag key {key:?}: the prefixes aws: and tapctl: are reserved"
        ));
    }
    let allowed = |c: char| c.is_alphanumeric() || " _.:/=+-@".contains(c);
    if let Some(c) = key.chars().chain(value.chars()).find(|c| !allowed(*c)) {
        return Err(format!(
            "tag {key:?}: {c:?} is not allowed (letters, digits, spaces and _ . : / = + - @)"
        ));
    }
    Ok(())
}
