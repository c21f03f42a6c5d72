//! Settings: built-in defaults, `tapctl.toml` (`[defaults]`, then `[env.<suffix>]` overriding
//! only what it names), `TAPCTL_<KEY>` environment variables, then command-line flags; each
//! effective value remembers where it came from. Every value is checked against AWS's own limits
//! before any AWS call, and a bad one is refused on one line naming the file and line.
//!
//! Pure apart from reading the file: the environment is passed in as a function.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The file looked for in the current directory when neither `--config` nor `TAPCTL_CONFIG`
/// names one.
pub const DEFAULT_FILE: &str = "tapctl.toml";

/// Lambda's Python runtimes that are not deprecated (Lambda developer guide, "Lambda runtimes").
pub const RUNTIMES: &[&str] = &[
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
];
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

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    /// A section of the settings file: `defaults` or `env.<suffix>`.
    File {
        path: PathBuf,
        section: String,
    },
    /// An environment variable, by name.
    Env(String),
    /// A command-line flag, as typed (`--region`, `--set memory_mb=...`).
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File { path, section } => write!(f, "{} [{section}]", path.display()),
            Source::Env(var) => write!(f, "environment {var}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// One effective value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Setting<T> {
    fn default(value: T) -> Self {
        Setting {
            value,
            source: Source::Default,
        }
    }
}

/// The effective settings of one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// None: aws-config's chain (AWS_REGION, the profile's region), then us-west-2.
    pub region: Setting<Option<String>>,
    pub runtime: Setting<String>,
    pub architecture: Setting<Architecture>,
    pub memory_mb: Setting<i32>,
    pub timeout_s: Setting<i32>,
    pub log_level: Setting<String>,
    pub log_retention_days: Setting<i32>,
    /// None: the handler embedded in the binary.
    pub handler: Setting<Option<PathBuf>>,
    /// 0: items are kept forever (no TTL).
    pub item_retention_days: Setting<i32>,
    pub permissions_boundary: Setting<Option<String>>,
    /// Extra tags on every resource, key by key from the lowest source to the highest.
    pub tags: BTreeMap<String, Setting<String>>,
    /// Lambda's asynchronous retries of a failed invocation.
    pub retry_attempts: Setting<i32>,
    pub max_event_age_s: Setting<i32>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            region: Setting::default(None),
            runtime: Setting::default("python3.13".into()),
            architecture: Setting::default(Architecture::X86_64),
            memory_mb: Setting::default(128),
            timeout_s: Setting::default(30),
            log_level: Setting::default("INFO".into()),
            log_retention_days: Setting::default(14),
            handler: Setting::default(None),
            item_retention_days: Setting::default(0),
            permissions_boundary: Setting::default(None),
            tags: BTreeMap::new(),
            retry_attempts: Setting::default(2),
            max_event_age_s: Setting::default(21_600),
        }
    }
}

/// Every key, in the order `tapctl config` prints them.
pub const KEYS: &[&str] = &[
    "region",
    "runtime",
    "architecture",
    "memory_mb",
    "timeout_s",
    "log_level",
    "log_retention_days",
    "handler",
    "item_retention_days",
    "permissions_boundary",
    "retry_attempts",
    "max_event_age_s",
    "tags",
];

impl Settings {
    /// Each key's effective value as text (`tags` as `k=v,...`) and its source; unset optional
    /// values read `-`.
    pub fn rows(&self) -> Vec<(&'static str, String, String)> {
        fn opt<T: fmt::Display>(v: &Option<T>) -> String {
            v.as_ref().map_or("-".into(), |v| v.to_string())
        }
        let mut rows = vec![
            row("region", opt(&self.region.value), &self.region.source),
            row("runtime", self.runtime.value.clone(), &self.runtime.source),
            row(
                "architecture",
                self.architecture.value.as_str().into(),
                &self.architecture.source,
            ),
            row(
                "memory_mb",
                self.memory_mb.value.to_string(),
                &self.memory_mb.source,
            ),
            row(
                "timeout_s",
                self.timeout_s.value.to_string(),
                &self.timeout_s.source,
            ),
            row(
                "log_level",
                self.log_level.value.clone(),
                &self.log_level.source,
            ),
            row(
                "log_retention_days",
                self.log_retention_days.value.to_string(),
                &self.log_retention_days.source,
            ),
            row(
                "handler",
                self.handler
                    .value
                    .as_ref()
                    .map_or("(embedded)".into(), |p| p.display().to_string()),
                &self.handler.source,
            ),
            row(
                "item_retention_days",
                self.item_retention_days.value.to_string(),
                &self.item_retention_days.source,
            ),
            row(
                "permissions_boundary",
                opt(&self.permissions_boundary.value),
                &self.permissions_boundary.source,
            ),
            row(
                "retry_attempts",
                self.retry_attempts.value.to_string(),
                &self.retry_attempts.source,
            ),
            row(
                "max_event_age_s",
                self.max_event_age_s.value.to_string(),
                &self.max_event_age_s.source,
            ),
        ];
        for (k, v) in &self.tags {
            rows.push(("tags", format!("{k}={}", v.value), v.source.to_string()));
        }
        rows
    }

    /// The extra tags as plain pairs.
    pub fn tag_pairs(&self) -> Vec<(String, String)> {
        self.tags
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect()
    }
}

fn row(key: &'static str, value: String, source: &Source) -> (&'static str, String, String) {
    (key, value, source.to_string())
}

/// Values given on the command line, by key, each with the flag that gave it.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub values: Vec<(String, String, String)>,
}

impl Flags {
    /// A named flag (`--region`) for `key`.
    pub fn named(&mut self, flag: &str, key: &str, value: &str) {
        self.values
            .push((key.to_string(), value.to_string(), flag.to_string()));
    }

    /// `--set KEY=VALUE` (and `--set tags.K=V`).
    pub fn set(&mut self, assignment: &str) -> Result<(), String> {
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| format!("--set {assignment:?}: expected KEY=VALUE"))?;
        let key = key.trim();
        let known = KEYS.contains(&key) && key != "tags" || key.starts_with("tags.");
        if !known {
            return Err(format!(
                "--set {key}: unknown key; the keys are {}",
                KEYS.join(", ")
            ));
        }
        self.values.push((
            key.to_string(),
            value.to_string(),
            format!("--set {key}=..."),
        ));
        Ok(())
    }
}

/// Why the settings cannot be used: one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// One section of the file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    region: Option<Spanned<String>>,
    runtime: Option<Spanned<String>>,
    architecture: Option<Spanned<String>>,
    memory_mb: Option<Spanned<i64>>,
    timeout_s: Option<Spanned<i64>>,
    log_level: Option<Spanned<String>>,
    log_retention_days: Option<Spanned<i64>>,
    handler: Option<Spanned<String>>,
    item_retention_days: Option<Spanned<i64>>,
    permissions_boundary: Option<Spanned<String>>,
    retry_attempts: Option<Spanned<i64>>,
    max_event_age_s: Option<Spanned<i64>>,
    tags: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    defaults: Option<Section>,
    env: Option<BTreeMap<String, Section>>,
}

/// The settings file, read and parsed.
pub struct Loaded {
    path: PathBuf,
    text: String,
    file: File,
}

impl Loaded {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `[env.*]` sections the file has.
    pub fn environments(&self) -> Vec<String> {
        self.file
            .env
            .as_ref()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn line(&self, span: &Range<usize>) -> usize {
        line_of(&self.text, span.start)
    }

    fn err(&self, span: &Range<usize>, what: impl fmt::Display) -> ConfigError {
        ConfigError(format!(
            "{}:{}: {what}",
            self.path.display(),
            self.line(span)
        ))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Parses settings-file text (the path is used for messages and to resolve `handler`).
pub fn parse(path: &Path, text: &str) -> Result<Loaded, ConfigError> {
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        let msg = e.message().trim().replace('\n', " ");
        ConfigError(format!("{}:{line}: {msg}", path.display()))
    })?;
    Ok(Loaded {
        path: path.to_path_buf(),
        text: text.to_string(),
        file,
    })
}

/// Finds and reads the settings file: `explicit` (from `--config` or `TAPCTL_CONFIG`) must
/// exist; otherwise `tapctl.toml` in `dir` is read when it is there.
pub fn load(explicit: Option<&Path>, dir: &Path) -> Result<Option<Loaded>, ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let p = dir.join(DEFAULT_FILE);
            if !p.is_file() {
                return Ok(None);
            }
            PathBuf::from(DEFAULT_FILE)
        }
    };
    let text = std::fs::read_to_string(if explicit.is_some() {
        path.clone()
    } else {
        dir.join(DEFAULT_FILE)
    })
    .map_err(|e| ConfigError(format!("settings file {}: {e}", path.display())))?;
    parse(&path, &text).map(Some)
}

/// A raw value from one source, before it is checked: where it is from, and how to blame it.
struct Raw<'a> {
    text: RawValue,
    source: Source,
    /// For file values: the file and the span to name in an error.
    at: Option<(&'a Loaded, Range<usize>)>,
    /// For env and flag values: how to name it in an error.
    label: String,
}

enum RawValue {
    Str(String),
    Int(i64),
}

impl Raw<'_> {
    fn fail(&self, key: &str, why: impl fmt::Display) -> ConfigError {
        match &self.at {
            Some((loaded, span)) => loaded.err(span, format!("{key}: {why}")),
            None => ConfigError(format!("{}: {key}: {why}", self.label)),
        }
    }

    fn string(&self, key: &str) -> Result<String, ConfigError> {
        match &self.text {
            RawValue::Str(s) => Ok(s.clone()),
            RawValue::Int(_) => Err(self.fail(key, "expected a string")),
        }
    }

    fn int(&self, key: &str) -> Result<i64, ConfigError> {
        match &self.text {
            RawValue::Int(i) => Ok(*i),
            RawValue::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| self.fail(key, format!("{s:?} is not a whole number"))),
        }
    }
}

/// Resolves the effective settings of `suffix`: defaults < file `[defaults]` < file
/// `[env.<suffix>]` < `TAPCTL_<KEY>` environment variables < flags.
pub fn resolve(
    loaded: Option<&Loaded>,
    suffix: &str,
    env: &dyn Fn(&str) -> Option<String>,
    flags: &Flags,
) -> Result<Settings, ConfigError> {
    let mut raws: BTreeMap<String, Vec<Raw<'_>>> = BTreeMap::new();
    if let Some(l) = loaded {
        let mut sections: Vec<(String, &Section)> = Vec::new();
        if let Some(d) = &l.file.defaults {
            sections.push(("defaults".into(), d));
        }
        if let Some(e) = l.file.env.as_ref().and_then(|m| m.get(suffix)) {
            sections.push((format!("env.{suffix}"), e));
        }
        for (name, section) in sections {
            let source = Source::File {
                path: l.path.clone(),
                section: name,
            };
            for (key, raw) in section_values(section) {
                raws.entry(key).or_default().push(Raw {
                    text: raw.0,
                    source: source.clone(),
                    at: Some((l, raw.1)),
                    label: String::new(),
                });
            }
        }
    }
    for key in KEYS.iter().filter(|k| **k != "tags") {
        let var = format!("TAPCTL_{}", key.to_ascii_uppercase());
        if let Some(v) = env(&var).filter(|v| !v.is_empty()) {
            raws.entry(key.to_string()).or_default().push(Raw {
                text: RawValue::Str(v),
                source: Source::Env(var.clone()),
                at: None,
                label: format!("environment {var}"),
            });
        }
    }
    for (key, value, flag) in &flags.values {
        raws.entry(key.clone()).or_default().push(Raw {
            text: RawValue::Str(value.clone()),
            source: Source::Flag(flag.clone()),
            at: None,
            label: flag.clone(),
        });
    }

    let mut s = Settings::default();
    for (key, list) in &raws {
        if let Some(tag) = key.strip_prefix("tags.") {
            for raw in list {
                let value = raw.string(key)?;
                check_tag(tag, &value).map_err(|why| raw.fail("tags", why))?;
                s.tags.insert(
                    tag.to_string(),
                    Setting {
                        value,
                        source: raw.source.clone(),
                    },
                );
            }
            continue;
        }
        for raw in list {
            apply(&mut s, key, raw, loaded)?;
        }
    }
    if s.tags.len() > MAX_USER_TAGS {
        return Err(ConfigError(format!(
            "tags: {} extra tags; at most {MAX_USER_TAGS} fit beside tapctl's own (AWS allows 50 per resource)",
            s.tags.len()
        )));
    }
    Ok(s)
}

/// The values a section sets, by key (`tags.K` for each tag).
/// A value as written in the file, and where.
type Spot = (RawValue, Range<usize>);

fn section_values(sec: &Section) -> Vec<(String, Spot)> {
    fn st(v: &Option<Spanned<String>>) -> Option<Spot> {
        v.as_ref()
            .map(|v| (RawValue::Str(v.get_ref().clone()), v.span()))
    }
    fn int(v: &Option<Spanned<i64>>) -> Option<Spot> {
        v.as_ref().map(|v| (RawValue::Int(*v.get_ref()), v.span()))
    }
    let mut out: Vec<(String, Option<Spot>)> = vec![
        ("region".into(), st(&sec.region)),
        ("runtime".into(), st(&sec.runtime)),
        ("architecture".into(), st(&sec.architecture)),
        ("memory_mb".into(), int(&sec.memory_mb)),
        ("timeout_s".into(), int(&sec.timeout_s)),
        ("log_level".into(), st(&sec.log_level)),
        ("log_retention_days".into(), int(&sec.log_retention_days)),
        ("handler".into(), st(&sec.handler)),
        ("item_retention_days".into(), int(&sec.item_retention_days)),
        ("permissions_boundary".into(), st(&sec.permissions_boundary)),
        ("retry_attempts".into(), int(&sec.retry_attempts)),
        ("max_event_age_s".into(), int(&sec.max_event_age_s)),
    ];
    for (k, v) in sec.tags.iter().flatten() {
        out.push((
            format!("tags.{k}"),
            Some((RawValue::Str(v.get_ref().clone()), v.span())),
        ));
    }
    out.into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

fn in_range(
    raw: &Raw<'_>,
    key: &str,
    (lo, hi): (i32, i32),
    what: &str,
) -> Result<i32, ConfigError> {
    let v = raw.int(key)?;
    if v < i64::from(lo) || v > i64::from(hi) {
        return Err(raw.fail(key, format!("{v} is out of range: {what} {lo} to {hi}")));
    }
    Ok(v as i32)
}

fn one_of(raw: &Raw<'_>, key: &str, allowed: &[&str], upper: bool) -> Result<String, ConfigError> {
    let v = raw.string(key)?;
    let v = if upper { v.to_ascii_uppercase() } else { v };
    if !allowed.contains(&v.as_str()) {
        return Err(raw.fail(key, format!("{v:?} is not one of {}", allowed.join(", "))));
    }
    Ok(v)
}

fn apply(
    s: &mut Settings,
    key: &str,
    raw: &Raw<'_>,
    loaded: Option<&Loaded>,
) -> Result<(), ConfigError> {
    let src = raw.source.clone();
    macro_rules! set {
        ($field:ident, $value:expr) => {
            s.$field = Setting {
                value: $value,
                source: src,
            }
        };
    }
    match key {
        "region" => {
            let v = raw.string(key)?;
            check_region(&v).map_err(|why| raw.fail(key, why))?;
            set!(region, Some(v));
        }
        "runtime" => set!(runtime, one_of(raw, key, RUNTIMES, false)?),
        "architecture" => {
            let v = match one_of(raw, key, &["x86_64", "arm64"], false)?.as_str() {
                "arm64" => Architecture::Arm64,
                _ => Architecture::X86_64,
            };
            set!(architecture, v);
        }
        "memory_mb" => set!(
            memory_mb,
            in_range(raw, key, MEMORY_MB, "Lambda allows MB from")?
        ),
        "timeout_s" => set!(
            timeout_s,
            in_range(raw, key, TIMEOUT_S, "Lambda allows seconds from")?
        ),
        "log_level" => set!(log_level, one_of(raw, key, LOG_LEVELS, true)?),
        "log_retention_days" => {
            let v = raw.int(key)?;
            if !LOG_RETENTIONS.iter().any(|d| i64::from(*d) == v) {
                let allowed: Vec<String> = LOG_RETENTIONS.iter().map(|d| d.to_string()).collect();
                return Err(raw.fail(
                    key,
                    format!(
                        "{v} is not a retention CloudWatch Logs accepts ({})",
                        allowed.join(", ")
                    ),
                ));
            }
            set!(log_retention_days, v as i32);
        }
        "handler" => {
            let v = raw.string(key)?;
            if v.trim().is_empty() {
                return Err(raw.fail(key, "empty folder name"));
            }
            // A relative folder in the file is relative to the file, as in Cargo.toml.
            let path = match (&raw.at, loaded) {
                (Some(_), Some(l)) if Path::new(&v).is_relative() => l
                    .path
                    .parent()
                    .map_or_else(|| PathBuf::from(&v), |d| d.join(&v)),
                _ => PathBuf::from(&v),
            };
            set!(handler, Some(path));
        }
        "item_retention_days" => set!(
            item_retention_days,
            in_range(raw, key, ITEM_RETENTION_DAYS, "days from")?
        ),
        "permissions_boundary" => {
            let v = raw.string(key)?;
            check_policy_arn(&v).map_err(|why| raw.fail(key, why))?;
            set!(permissions_boundary, Some(v));
        }
        "retry_attempts" => set!(
            retry_attempts,
            in_range(raw, key, RETRY_ATTEMPTS, "Lambda allows attempts from")?
        ),
        "max_event_age_s" => set!(
            max_event_age_s,
            in_range(raw, key, MAX_EVENT_AGE_S, "Lambda allows seconds from")?
        ),
        other => return Err(raw.fail(other, "unknown key")),
    }
    Ok(())
}

/// A region's shape (see [`crate::spec::is_region_name`]).
pub fn check_region(r: &str) -> Result<(), String> {
    if crate::spec::is_region_name(r) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[defaults]
region = "eu-west-1"
memory_mb = 256
log_level = "info"
tags = { team = "data", cost-center = "42" }

[env.prod]
memory_mb = 1024
timeout_s = 60
tags = { cost-center = "7" }

[env.dev]
handler = "src/handler"
"#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn loaded(text: &str) -> Loaded {
        parse(Path::new("conf/tapctl.toml"), text).unwrap()
    }

    fn err(text: &str) -> String {
        match parse(Path::new("tapctl.toml"), text) {
            Err(e) => e.0,
            Ok(l) => {
                resolve(Some(&l), "prod", &no_env, &Flags::default())
                    .unwrap_err()
                    .0
            }
        }
    }

    #[test]
    fn no_file_gives_the_built_in_defaults() {
        let s = resolve(None, "dev", &no_env, &Flags::default()).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.memory_mb.value, 128);
        assert_eq!(s.timeout_s.value, 30);
        assert_eq!(s.runtime.value, "python3.13");
        assert_eq!(s.log_retention_days.value, 14);
    }

    #[test]
    fn environment_section_overrides_only_what_it_names() {
        let l = loaded(FILE);
        let prod = resolve(Some(&l), "prod", &no_env, &Flags::default()).unwrap();
        assert_eq!(prod.memory_mb.value, 1024);
        assert_eq!(
            prod.memory_mb.source.to_string(),
            "conf/tapctl.toml [env.prod]"
        );
        assert_eq!(prod.region.value.as_deref(), Some("eu-west-1"));
        assert_eq!(
            prod.region.source.to_string(),
            "conf/tapctl.toml [defaults]"
        );
        assert_eq!(prod.log_level.value, "INFO");
        assert_eq!(prod.timeout_s.value, 60);
        assert_eq!(prod.runtime.source, Source::Default);
        assert_eq!(
            prod.tag_pairs(),
            vec![
                ("cost-center".to_string(), "7".to_string()),
                ("team".to_string(), "data".to_string())
            ]
        );
        let other = resolve(Some(&l), "qa", &no_env, &Flags::default()).unwrap();
        assert_eq!(other.memory_mb.value, 256);
        assert_eq!(other.timeout_s.value, 30);
        let dev = resolve(Some(&l), "dev", &no_env, &Flags::default()).unwrap();
        assert_eq!(
            dev.handler.value,
            Some(PathBuf::from("conf/src/handler")),
            "a relative handler folder is relative to the file"
        );
    }

    #[test]
    fn environment_variables_then_flags_override_the_file() {
        let l = loaded(FILE);
        let env = |k: &str| (k == "TAPCTL_MEMORY_MB").then(|| "512".to_string());
        let s = resolve(Some(&l), "prod", &env, &Flags::default()).unwrap();
        assert_eq!(s.memory_mb.value, 512);
        assert_eq!(s.memory_mb.source, Source::Env("TAPCTL_MEMORY_MB".into()));
        let mut flags = Flags::default();
        flags.set("memory_mb=2048").unwrap();
        flags.named("--region", "region", "us-east-1");
        flags.set("tags.owner=me").unwrap();
        let s = resolve(Some(&l), "prod", &env, &flags).unwrap();
        assert_eq!(s.memory_mb.value, 2048);
        assert_eq!(s.memory_mb.source.to_string(), "flag --set memory_mb=...");
        assert_eq!(s.region.value.as_deref(), Some("us-east-1"));
        assert_eq!(s.tags["owner"].value, "me");
        assert_eq!(s.tags["team"].value, "data");
    }

    #[test]
    fn bad_values_name_the_file_and_line() {
        assert_eq!(
            err("[defaults]\nmemory_mb = 64\n"),
            "tapctl.toml:2: memory_mb: 64 is out of range: Lambda allows MB from 128 to 10240"
        );
        assert_eq!(
            err("[defaults]\n\n[env.prod]\ntimeout_s = 901\n"),
            "tapctl.toml:4: timeout_s: 901 is out of range: Lambda allows seconds from 1 to 900"
        );
        assert!(
            err("[defaults]\nruntime = \"python3.8\"\n")
                .starts_with("tapctl.toml:2: runtime: \"python3.8\" is not one of python3.10,")
        );
        assert!(err("[defaults]\nlog_retention_days = 10\n").starts_with(
            "tapctl.toml:2: log_retention_days: 10 is not a retention CloudWatch Logs accepts"
        ));
        assert_eq!(
            err("[defaults]\narchitecture = \"sparc\"\n"),
            "tapctl.toml:2: architecture: \"sparc\" is not one of x86_64, arm64"
        );
        assert_eq!(
            err("[env.prod]\ntags = { \"aws:x\" = \"1\" }\n"),
            "tapctl.toml:2: tags: tag key \"aws:x\": the prefixes aws: and tapctl: are reserved"
        );
        assert!(
            err("[defaults]\npermissions_boundary = \"boundary\"\n").starts_with(
                "tapctl.toml:2: permissions_boundary: \"boundary\" is not an IAM policy ARN"
            )
        );
        assert_eq!(
            err("[defaults]\nregion = \"US_WEST_2\"\n"),
            "tapctl.toml:2: region: \"US_WEST_2\" is not a region name (like us-west-2)"
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused_with_their_line() {
        let e = err("[defaults]\nmemory = 256\n");
        assert!(
            e.starts_with("tapctl.toml:2: unknown field `memory`"),
            "{e}"
        );
        let e = err("[defaults]\n\nmemory_mb = \"big\"\n");
        assert!(e.starts_with("tapctl.toml:3: "), "{e}");
        assert!(e.contains("string"), "{e}");
        let e = err("[default]\nregion = \"us-west-2\"\n");
        assert!(
            e.starts_with("tapctl.toml:1: unknown field `default`"),
            "{e}"
        );
        let e = err("[defaults\n");
        assert!(e.starts_with("tapctl.toml:1: "), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn bad_environment_and_flag_values_are_named() {
        let env = |k: &str| (k == "TAPCTL_TIMEOUT_S").then(|| "soon".to_string());
        let e = resolve(None, "dev", &env, &Flags::default()).unwrap_err();
        assert_eq!(
            e.0,
            "environment TAPCTL_TIMEOUT_S: timeout_s: \"soon\" is not a whole number"
        );
        let mut flags = Flags::default();
        assert!(flags.set("memory").is_err());
        assert!(
            flags
                .set("colour=blue")
                .unwrap_err()
                .contains("unknown key")
        );
        flags.set("retry_attempts=3").unwrap();
        let e = resolve(None, "dev", &no_env, &flags).unwrap_err();
        assert_eq!(
            e.0,
            "--set retry_attempts=...: retry_attempts: 3 is out of range: Lambda allows attempts from 0 to 2"
        );
    }

    #[test]
    fn regions_of_every_partition_are_accepted() {
        for r in [
            "us-west-2",
            "cn-north-1",
            "us-gov-west-1",
            "eusc-de-east-1",
            "us-isob-east-1",
        ] {
            assert!(check_region(r).is_ok(), "{r}");
        }
        for r in ["mars", "US_WEST_2", "us-west-", "-us-west-2", "us-west-two"] {
            assert!(check_region(r).is_err(), "{r}");
        }
    }

    #[test]
    fn too_many_tags_are_refused() {
        let mut flags = Flags::default();
        for i in 0..=MAX_USER_TAGS {
            flags.set(&format!("tags.k{i}=v")).unwrap();
        }
        assert!(
            resolve(None, "dev", &no_env, &flags)
                .unwrap_err()
                .0
                .contains("extra tags")
        );
    }

    #[test]
    fn rows_show_every_key_with_its_source() {
        let l = loaded(FILE);
        let s = resolve(Some(&l), "prod", &no_env, &Flags::default()).unwrap();
        let rows = s.rows();
        let keys: Vec<&str> = rows.iter().map(|r| r.0).collect();
        for k in KEYS {
            assert!(keys.contains(k), "{k}");
        }
        assert!(rows.contains(&("handler", "(embedded)".into(), "default".into())));
        assert!(rows.contains(&(
            "tags",
            "team=data".into(),
            "conf/tapctl.toml [defaults]".into()
        )));
    }

    #[test]
    fn load_reads_the_default_file_only_when_present() {
        let dir = std::env::temp_dir().join(format!("tapctl-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(load(None, &dir).unwrap().is_none());
        std::fs::write(dir.join(DEFAULT_FILE), "[defaults]\nmemory_mb = 256\n").unwrap();
        let l = load(None, &dir).unwrap().unwrap();
        assert_eq!(l.path(), Path::new(DEFAULT_FILE));
        let missing = dir.join("nope.toml");
        let e = load(Some(&missing), &dir).err().unwrap();
        assert!(e.0.starts_with("settings file "), "{}", e.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
