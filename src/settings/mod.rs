//! Settings: each key declared once ([`declare!`] below: name, type, default, rule, doc,
//! variables), from which the [`Settings`] struct, the file layer, the key list, `config`'s
//! rows and JSON, and the settings table of docs/cli.md all come.
//!
//! One resolution chain for every key, the stack selectors (region, profile, endpoint, CA
//! bundle) included: built-in default < the AWS variable a selector also answers to
//! (`AWS_REGION`, ...) < `[defaults]` < `[env.<suffix>]` < `TAPCTL_<KEY>` < flags. Each effective
//! value remembers where it came from. Every value is checked against AWS's own limits before
//! any AWS call, and a bad one is refused on one line naming the file and line (or the variable,
//! or the flag).
//!
//! Pure apart from reading the file: the environment is passed in as a function.

mod rules;

pub use rules::{
    Architecture, ITEM_RETENTION_DAYS, LOG_LEVELS, LOG_RETENTIONS, MAX_EVENT_AGE_S, MAX_USER_TAGS,
    MEMORY_MB, RETRY_ATTEMPTS, RUNTIME, RUNTIMES, Rule, TIMEOUT_S, check_policy_arn, check_region,
    check_tag, is_region_name,
};
use rules::{FromValue, ShowValue, Value};

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The file looked for in the current directory when neither `--config` nor `TAPCTL_CONFIG`
/// names one.
pub const DEFAULT_FILE: &str = "tapctl.toml";
/// The handler folder used when no setting names one and it holds `index.py` (beside the
/// settings file, else in the current directory), as SAM and cargo find code by convention.
pub const HANDLER_FOLDER: &str = "handler";
/// The region when nothing names one (neither a setting nor the AWS chain).
pub const DEFAULT_REGION: &str = "us-west-2";

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    /// The conventional handler folder, found on disk.
    Found(PathBuf),
    /// A section of the settings file: `defaults` or `env.<suffix>`.
    File {
        path: PathBuf,
        section: String,
    },
    /// An environment variable, by name (`TAPCTL_*`, or the AWS variable of a selector).
    Env(String),
    /// The AWS profile's own setting (`region` of the profile in ~/.aws/config).
    Profile(String),
    /// A command-line flag, as typed (`--region`, `--set memory_mb=...`).
    Flag(String),
}

impl Source {
    /// The kind of source, as `config --output json` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Default | Source::Found(_) => "default",
            Source::File { .. } => "file",
            Source::Env(_) => "environment",
            Source::Profile(_) => "profile",
            Source::Flag(_) => "flag",
        }
    }

    /// Whether the value came from the AWS SDK's own inputs (an `AWS_*` variable, the
    /// profile) rather than from tapctl's chain: such a value is shown, and left to the SDK.
    pub fn is_ambient(&self) -> bool {
        match self {
            Source::Env(var) => var.starts_with("AWS_"),
            Source::Profile(_) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::Found(dir) => write!(f, "default ({} holds index.py)", dir.display()),
            Source::File { path, section } => write!(f, "{} [{section}]", path.display()),
            Source::Env(var) => write!(f, "environment {var}"),
            Source::Profile(p) => write!(f, "profile {p}"),
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

/// One key's declaration, as the docs and `config` show it.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    /// What the key does (one paragraph).
    pub doc: &'static str,
    /// The default, in words (docs/cli.md).
    pub default: &'static str,
    pub rule: Rule,
    /// The AWS variables this key also answers to, below the settings file (selectors only).
    pub aws_vars: &'static [&'static str],
    /// The named flag that sets it, beside `--set KEY=VALUE`.
    pub flag: Option<&'static str>,
}

impl Key {
    /// `TAPCTL_<KEY>`.
    pub fn variable(&self) -> Option<String> {
        (self.name != "tags").then(|| format!("TAPCTL_{}", self.name.to_ascii_uppercase()))
    }
}

/// Declares every key once: the struct field and its type, the default value, the rule that
/// checks it, the AWS variables and flag it answers to, and its doc. Everything else (the
/// struct, `KEYS`, the file layer, `rows`, the JSON, the docs table) is derived.
macro_rules! declare {
    ($(
        $(#[doc = $doc:literal])+
        $key:ident : $ty:ty = $default:expr,
            default $default_doc:literal,
            rule $rule:expr,
            aws [$($aws:literal),*],
            flag $flag:expr;
    )+) => {
        /// The effective settings of one stack.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Settings {
            $( $(#[doc = $doc])+ pub $key: Setting<$ty>, )+
            /// Extra tags on every resource, key by key from the lowest source to the highest.
            pub tags: BTreeMap<String, Setting<String>>,
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings { $( $key: Setting::default($default), )+ tags: BTreeMap::new() }
            }
        }

        /// Every key, in the order `tapctl config` prints them.
        pub const KEYS: &[Key] = &[
            $( Key {
                name: stringify!($key),
                doc: concat!($($doc),+),
                default: $default_doc,
                rule: $rule,
                aws_vars: &[$($aws),*],
                flag: $flag,
            }, )+
            TAGS,
        ];

        impl Settings {
            fn assign(&mut self, key: &str, value: Value, source: Source) -> Result<(), String> {
                match key {
                    $( stringify!($key) => {
                        self.$key = Setting { value: FromValue::from_value(value)?, source };
                    } )+
                    other => return Err(format!("{other}: unknown key")),
                }
                Ok(())
            }

            /// One key's value (as text and as JSON) and its source; None for `tags`.
            fn shown(&self, key: &str) -> Option<(String, serde_json::Value, &Source)> {
                match key {
                    $( stringify!($key) => Some((
                        self.$key.value.text(),
                        self.$key.value.json(),
                        &self.$key.source,
                    )), )+
                    _ => None,
                }
            }
        }
    };
}

const TAGS: Key = Key {
    name: "tags",
    doc: " Extra tags on every resource: created with them, missing or changed ones are drift; \
          tags tapctl did not set are never removed. In the file a table of `key = \"value\"`; \
          on the command line `--set tags.K=V`.",
    default: "none",
    rule: Rule::Tags,
    aws_vars: &[],
    flag: None,
};

declare! {
    /// Where the stack lives. After the settings, the AWS chain (`AWS_REGION`, the profile's
    /// region) decides.
    region: Option<String> = None,
        default "`AWS_REGION`, the profile's region, else `us-west-2`",
        rule Rule::Region, aws ["AWS_REGION", "AWS_DEFAULT_REGION"], flag Some("--region");
    /// The named profile of the AWS config and credentials files.
    profile: Option<String> = None,
        default "`AWS_PROFILE`, else the default profile",
        rule Rule::Name, aws ["AWS_PROFILE"], flag Some("--profile");
    /// Every AWS call goes to this endpoint (a local AWS). Unset, the SDK's own rules apply
    /// (`AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`).
    endpoint_url: Option<String> = None,
        default "the SDK's rules (`AWS_ENDPOINT_URL`, ...)",
        rule Rule::Url, aws ["AWS_ENDPOINT_URL"], flag Some("--endpoint-url");
    /// CA certificates (PEM) trusted instead of the system roots, as the AWS CLI does.
    ca_bundle: Option<PathBuf> = None,
        default "`AWS_CA_BUNDLE`, the profile's `ca_bundle`, else the system roots",
        rule Rule::File, aws ["AWS_CA_BUNDLE"], flag Some("--ca-bundle");
    /// The function's runtime.
    runtime: String = rules::RUNTIME.into(),
        default "`python3.13`",
        rule Rule::OneOf(RUNTIMES), aws [], flag None;
    /// The function's architecture (set with the code, UpdateFunctionCode).
    architecture: Architecture = Architecture::X86_64,
        default "`x86_64`",
        rule Rule::OneOf(&["x86_64", "arm64"]), aws [], flag None;
    /// The function's memory (MB).
    memory_mb: i32 = 128,
        default "`128`",
        rule Rule::Range(MEMORY_MB, "Lambda allows MB from"), aws [], flag None;
    /// The function's timeout (seconds).
    timeout_s: i32 = 30,
        default "`30`",
        rule Rule::Range(TIMEOUT_S, "Lambda allows seconds from"), aws [], flag None;
    /// The function's `LOG_LEVEL`.
    log_level: String = "INFO".into(),
        default "`INFO`",
        rule Rule::OneOfUpper(LOG_LEVELS), aws [], flag None;
    /// The log group's retention (days).
    log_retention_days: i32 = 14,
        default "`14`",
        rule Rule::Retention, aws [], flag None;
    /// The folder whose code is deployed (a relative folder in the file is relative to the
    /// file). Every command reads it, so `status` compares with the same code `up` deployed.
    handler: Option<PathBuf> = None,
        default "`handler/` beside the settings file (else in the current directory) when it holds `index.py`, else the handler built into tapctl",
        rule Rule::Folder, aws [], flag Some("--handler");
    /// Glob patterns of files left out of the package, beside the default exclusions (hidden
    /// files, `tests/`, `__pycache__`, `*.pyc`). A pattern without `/` matches any one path
    /// component; with `/`, the whole path below the folder. In the file a list; in a
    /// variable or `--set`, comma-separated.
    exclude: Vec<String> = Vec::new(),
        default "none (beside the default exclusions)",
        rule Rule::Patterns, aws [], flag None;
    /// The log items' TTL in days; 0 keeps them forever.
    item_retention_days: i32 = 0,
        default "`0` (keep forever)",
        rule Rule::Range(ITEM_RETENTION_DAYS, "days from"), aws [], flag None;
    /// The role's permissions boundary: created with it; another boundary is drift that `up`
    /// puts back; unset, a boundary on the role is drift that `up` removes.
    permissions_boundary: Option<String> = None,
        default "none",
        rule Rule::PolicyArn, aws [], flag Some("--permissions-boundary");
    /// The table's deletion protection (DynamoDB `DeletionProtectionEnabled`): DynamoDB
    /// refuses DeleteTable while it is on, and `down` refuses on one line, deleting nothing,
    /// until an `up` with it off. Typically set in `[env.prod]`.
    deletion_protection: bool = false,
        default "`false`",
        rule Rule::Bool, aws [], flag None;
    /// Lambda's retries of a failed asynchronous invocation.
    retry_attempts: i32 = 2,
        default "`2`",
        rule Rule::Range(RETRY_ATTEMPTS, "Lambda allows attempts from"), aws [], flag None;
    /// How long Lambda keeps retrying an event (seconds).
    max_event_age_s: i32 = 21_600,
        default "`21600`",
        rule Rule::Range(MAX_EVENT_AGE_S, "Lambda allows seconds from"), aws [], flag None;
}

/// The key named `name`.
pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// One row of `tapctl config`: key, value as text, value as JSON, source.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: &'static str,
    pub value: String,
    pub json: serde_json::Value,
    pub source: Source,
}

impl Settings {
    /// Each key's effective value and source, in `KEYS` order (one row per tag).
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for k in KEYS {
            if let Some((value, json, source)) = self.shown(k.name) {
                rows.push(Row {
                    key: k.name,
                    value,
                    json,
                    source: source.clone(),
                });
            }
        }
        for (k, v) in &self.tags {
            rows.push(Row {
                key: "tags",
                value: format!("{k}={}", v.value),
                json: serde_json::json!({ k: v.value }),
                source: v.source.clone(),
            });
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

    /// The region the stack lives in: the setting, else DEFAULT_REGION (after the AWS chain,
    /// which the caller has folded in with [`Settings::with_profile_region`] when it could).
    pub fn region_or_default(&self) -> &str {
        self.region.value.as_deref().unwrap_or(DEFAULT_REGION)
    }

    /// The profile's own region, when nothing above it named one.
    pub fn with_profile_region(&mut self, profile: &str, region: Option<String>) {
        if self.region.value.is_none()
            && let Some(r) = region.filter(|r| is_region_name(r))
        {
            self.region = Setting {
                value: Some(r),
                source: Source::Profile(profile.to_string()),
            };
        }
    }

    /// The conventional handler folder (`handler/` holding `index.py`) in `dir`, when no
    /// source named a folder.
    pub fn with_handler_found_in(&mut self, dir: &Path) {
        if self.handler.value.is_none() {
            let folder = dir.join(HANDLER_FOLDER);
            if folder.join(crate::package::ENTRY_FILE).is_file() {
                self.handler = Setting {
                    value: Some(folder.clone()),
                    source: Source::Found(folder),
                };
            }
        }
    }
}

/// Values given on the command line, by key, each with the flag that gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
        let known = key != "tags" && self::key(key).is_some() || key.starts_with("tags.");
        if !known {
            let names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
            return Err(format!(
                "--set {key}: unknown key; the keys are {}",
                names.join(", ")
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

/// One section of the file, as written: each key with its place in the text.
type Section = BTreeMap<String, Spanned<toml::Value>>;

#[derive(Debug, Default, serde::Deserialize)]
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

    /// The folder relative paths in the file are relative to.
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map_or_else(PathBuf::new, Path::to_path_buf)
    }

    /// The `[env.*]` sections the file has.
    pub fn environments(&self) -> Vec<String> {
        self.file
            .env
            .as_ref()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn err(&self, span: &Range<usize>, what: impl fmt::Display) -> ConfigError {
        ConfigError(format!(
            "{}:{}: {what}",
            self.path.display(),
            line_of(&self.text, span.start)
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

/// Parses settings-file text (the path is used for messages and to resolve relative paths).
/// Unknown keys are refused here, with their line.
pub fn parse(path: &Path, text: &str) -> Result<Loaded, ConfigError> {
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        let msg = e.message().trim().replace('\n', " ");
        ConfigError(format!("{}:{line}: {msg}", path.display()))
    })?;
    let loaded = Loaded {
        path: path.to_path_buf(),
        text: text.to_string(),
        file,
    };
    let sections = loaded
        .file
        .defaults
        .iter()
        .chain(loaded.file.env.iter().flat_map(|m| m.values()));
    for section in sections {
        for (name, value) in section {
            if key(name).is_none() {
                let names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
                return Err(loaded.err(
                    &value.span(),
                    format!(
                        "unknown field `{name}`, expected one of {}",
                        names.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(loaded)
}

/// Finds and reads the settings file: `explicit` (from `--config` or `TAPCTL_CONFIG`) must
/// exist; otherwise `tapctl.toml` in `dir` is read when it is there.
pub fn load(explicit: Option<&Path>, dir: &Path) -> Result<Option<Loaded>, ConfigError> {
    let (shown, read) = match explicit {
        Some(p) => (p.to_path_buf(), p.to_path_buf()),
        None => {
            let p = dir.join(DEFAULT_FILE);
            if !p.is_file() {
                return Ok(None);
            }
            (PathBuf::from(DEFAULT_FILE), p)
        }
    };
    let text = std::fs::read_to_string(&read)
        .map_err(|e| ConfigError(format!("settings file {}: {e}", shown.display())))?;
    parse(&shown, &text).map(Some)
}

/// A raw value from one source, before it is checked: where it is from, and how to blame it.
struct Raw<'a> {
    value: rules::RawValue,
    source: Source,
    /// For file values: the file and the span to name in an error.
    at: Option<(&'a Loaded, Range<usize>)>,
    /// For env and flag values: how to name it in an error.
    label: String,
}

impl Raw<'_> {
    fn fail(&self, key: &str, why: impl fmt::Display) -> ConfigError {
        match &self.at {
            Some((loaded, span)) => loaded.err(span, format!("{key}: {why}")),
            None => ConfigError(format!("{}: {key}: {why}", self.label)),
        }
    }
}

/// Resolves the effective settings of `suffix`: defaults < the AWS variables of the selectors
/// < file `[defaults]` < file `[env.<suffix>]` < `TAPCTL_<KEY>` environment variables < flags.
pub fn resolve(
    loaded: Option<&Loaded>,
    suffix: &str,
    env: &dyn Fn(&str) -> Option<String>,
    flags: &Flags,
) -> Result<Settings, ConfigError> {
    // Lowest first: each later raw value of a key overrides the earlier ones.
    let mut raws: Vec<(String, Raw<'_>)> = Vec::new();
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    for k in KEYS {
        // The first AWS variable set wins (AWS_REGION before AWS_DEFAULT_REGION).
        if let Some((name, v)) = k.aws_vars.iter().find_map(|n| var(n).map(|v| (*n, v))) {
            raws.push((
                k.name.to_string(),
                Raw {
                    value: rules::RawValue::Text(v),
                    source: Source::Env(name.to_string()),
                    at: None,
                    label: format!("environment {name}"),
                },
            ));
        }
    }
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
            for (key, spanned) in section {
                let raw = |value, span| Raw {
                    value,
                    source: source.clone(),
                    at: Some((l, span)),
                    label: String::new(),
                };
                if key == "tags" {
                    let toml::Value::Table(t) = spanned.get_ref() else {
                        return Err(l.err(&spanned.span(), "tags: expected a table"));
                    };
                    for (tag, v) in t {
                        let v = rules::RawValue::from_toml(v);
                        raws.push((format!("tags.{tag}"), raw(v, spanned.span())));
                    }
                } else {
                    let v = rules::RawValue::from_toml(spanned.get_ref());
                    raws.push((key.clone(), raw(v, spanned.span())));
                }
            }
        }
    }
    for k in KEYS {
        if let Some(name) = k.variable()
            && let Some(v) = var(&name)
        {
            raws.push((
                k.name.to_string(),
                Raw {
                    value: rules::RawValue::Text(v),
                    source: Source::Env(name.clone()),
                    at: None,
                    label: format!("environment {name}"),
                },
            ));
        }
    }
    for (key, value, flag) in &flags.values {
        raws.push((
            key.clone(),
            Raw {
                value: rules::RawValue::Text(value.clone()),
                source: Source::Flag(flag.clone()),
                at: None,
                label: flag.clone(),
            },
        ));
    }

    let mut s = Settings::default();
    for (key, raw) in &raws {
        if let Some(tag) = key.strip_prefix("tags.") {
            let value = raw.value.string().map_err(|why| raw.fail("tags", why))?;
            check_tag(tag, &value).map_err(|why| raw.fail("tags", why))?;
            s.tags.insert(
                tag.to_string(),
                Setting {
                    value,
                    source: raw.source.clone(),
                },
            );
            continue;
        }
        let k = self::key(key).ok_or_else(|| raw.fail(key, "unknown key"))?;
        let mut value = k.rule.check(&raw.value).map_err(|why| raw.fail(key, why))?;
        // A relative path in the file is relative to the file, as in Cargo.toml.
        if let (Value::Path(p), Some((l, _))) = (&value, &raw.at)
            && p.is_relative()
        {
            value = Value::Path(l.dir().join(p));
        }
        s.assign(key, value, raw.source.clone())
            .map_err(|why| raw.fail(key, why))?;
    }
    if s.tags.len() > MAX_USER_TAGS {
        return Err(ConfigError(format!(
            "tags: {} extra tags; at most {MAX_USER_TAGS} fit beside tapctl's own (AWS allows 50 per resource)",
            s.tags.len()
        )));
    }
    Ok(s)
}

/// The settings table of docs/cli.md, made from the declarations.
pub fn docs_table() -> String {
    let mut out = String::from(
        "| key | default | limits | variables and flags | what |\n|---|---|---|---|---|\n",
    );
    for k in KEYS {
        let mut vars: Vec<String> = k.variable().into_iter().map(|v| format!("`{v}`")).collect();
        vars.extend(k.aws_vars.iter().map(|v| format!("`{v}`")));
        vars.extend(k.flag.map(|f| format!("`{f}`")));
        vars.push(if k.name == "tags" {
            "`--set tags.K=V`".to_string()
        } else {
            format!("`--set {}=...`", k.name)
        });
        let doc = k.doc.split_whitespace().collect::<Vec<_>>().join(" ");
        out += &format!(
            "| `{}` | {} | {} | {} | {doc} |\n",
            k.name,
            k.default,
            k.rule.describe(),
            vars.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests;
