//! The handler's Python beyond its own files: its dependencies, installed for the function's
//! runtime and architecture into the dependency layer's zip, and a syntax check before a
//! deploy. A leaf: no AWS here.
//!
//! Dependencies come from the handler folder's `requirements.txt` and are installed with
//! [uv](https://docs.astral.sh/uv/) (`uv pip install --target`) for Lambda's platform, never
//! the host's: binary wheels only (`--only-binary :all:`), for the runtime's Python version and
//! the manylinux of its Amazon Linux (`--python-platform`), as the Lambda developer guide's
//! "Working with .zip file archives for Python Lambda functions" asks of pip. The tree goes
//! under `python/` (Lambda puts `/opt/python` on the path) in a byte-stable zip, cached per
//! content key in the user's cache folder: unchanged requirements install nothing and need no
//! network.

use crate::package::{self, Package, PackageError};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the installs are cached when set; else `$XDG_CACHE_HOME/tapctl`, else
/// `~/.cache/tapctl`.
pub const CACHE_DIR_VAR: &str = "TAPCTL_CACHE_DIR";
/// The installer tapctl runs.
pub const INSTALLER: &str = "uv";
/// Changes when what goes into a layer changes, so older caches and layers are not reused.
const LAYOUT_VERSION: &str = "tapctl-deps-1";
/// Files the installer writes for itself, left out of the layer (uv's lock file is hidden and
/// so left out too): `uv_cache.json` holds the install time.
const INSTALLER_FILES: &[&str] = &["uv_cache.json"];

/// The platform dependencies are installed for: the runtime's Python and the manylinux of
/// the Amazon Linux it runs on (python3.12 and later: Amazon Linux 2023, glibc 2.34; earlier:
/// Amazon Linux 2, glibc 2.26, whose newest manylinux tag is manylinux2014). Lambda developer
/// guide, "Lambda runtimes" (the OS of each runtime).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub runtime: String,
    /// `3.13`
    pub python: String,
    /// Lambda's architecture name: `x86_64` or `arm64`.
    pub architecture: String,
    /// uv's `--python-platform`, e.g. `aarch64-manylinux_2_34`.
    pub tag: String,
}

impl Platform {
    pub fn new(runtime: &str, architecture: &str) -> Platform {
        let python = runtime.trim_start_matches("python").to_string();
        let minor: u32 = python
            .split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let machine = if architecture == "arm64" {
            "aarch64"
        } else {
            "x86_64"
        };
        let glibc = if minor >= 12 {
            "manylinux_2_34"
        } else {
            "manylinux2014"
        };
        Platform {
            runtime: runtime.to_string(),
            python,
            architecture: architecture.to_string(),
            tag: format!("{machine}-{glibc}"),
        }
    }
}

/// The handler's dependencies: what identifies them and, once built, the layer's zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deps {
    pub requirements: PathBuf,
    pub platform: Platform,
    /// sha256 (hex) of the requirements' text, the platform and the layout: the layer version
    /// built from them records it (`spec::layer_description`).
    pub key: String,
    /// The layer's zip; `None` until [`Deps::build`] (status and plan need only the key).
    pub layer: Option<Arc<Package>>,
    /// How long this run spent installing; `None` when the cache had them.
    pub installed: Option<Duration>,
}

/// The dependencies of the handler in `dir` (its `requirements.txt`), `None` without one.
/// Reads the file only: nothing is installed.
pub fn find(dir: &Path, platform: Platform) -> Result<Option<Deps>, PackageError> {
    let requirements = dir.join(package::REQUIREMENTS_FILE);
    let text = match std::fs::read(&requirements) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(PackageError(format!("{}: {e}", requirements.display())));
        }
    };
    let mut h = Sha256::new();
    for part in [
        LAYOUT_VERSION.as_bytes(),
        platform.runtime.as_bytes(),
        platform.tag.as_bytes(),
        &text,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let key = h
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Ok(Some(Deps {
        requirements,
        platform,
        key,
        layer: None,
        installed: None,
    }))
}

/// The folder installs are cached in.
pub fn cache_root() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var(CACHE_DIR_VAR)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("tapctl")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("tapctl")))
        .unwrap_or_else(|| std::env::temp_dir().join("tapctl-cache"))
}

impl Deps {
    /// One line naming the requirements and the platform, for errors and progress.
    fn what(&self) -> String {
        format!(
            "dependencies of {} for {} {}",
            self.requirements.display(),
            self.platform.runtime,
            self.platform.architecture
        )
    }

    /// Builds the layer's zip: from the cache when these requirements were installed for this
    /// platform before, else by installing them (and caching the result).
    pub fn build(&mut self, cache: &Path) -> Result<(), PackageError> {
        let fail = |why: String| PackageError(format!("{}: {why}", self.what()));
        let dir = cache.join("deps");
        let cached = dir.join(format!("{}.zip", self.key));
        if let Ok(zip) = std::fs::read(&cached) {
            let package = Package::from_zip(zip).map_err(|e| {
                fail(format!(
                    "cached layer {}: {e} (delete it)",
                    cached.display()
                ))
            })?;
            self.layer = Some(Arc::new(package));
            return Ok(());
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| fail(format!("cache folder {}: {e}", dir.display())))?;
        let start = Instant::now();
        let work = dir.join(format!(".{}.{}", self.key, std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        let built = self.install(&work).and_then(|()| {
            let entries = layer_entries(&work).map_err(|e| e.to_string())?;
            Package::new(&entries).map_err(|e| e.to_string())
        });
        let _ = std::fs::remove_dir_all(&work);
        let package = built.map_err(fail)?;
        if let Some(why) = package::upload_refusal("the dependency layer", package.zip.len()) {
            return Err(fail(why));
        }
        // Written whole, then renamed: a concurrent or killed run never reads half a zip.
        let partial = dir.join(format!(".{}.{}.zip", self.key, std::process::id()));
        std::fs::write(&partial, &package.zip)
            .and_then(|()| std::fs::rename(&partial, &cached))
            .map_err(|e| fail(format!("cache {}: {e}", cached.display())))?;
        self.installed = Some(start.elapsed());
        self.layer = Some(Arc::new(package));
        Ok(())
    }

    /// Runs the installer into `work/python`.
    fn install(&self, work: &Path) -> Result<(), String> {
        let target = work.join("python");
        let args = install_args(&self.platform, &target, &self.requirements);
        let mut cmd = Command::new(INSTALLER);
        cmd.args(&args);
        let index = index_args(&|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        cmd.args(&index.args);
        if let Some(dir) = self.requirements.parent() {
            cmd.current_dir(dir);
        }
        let out = cmd.output().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "{INSTALLER} not found on PATH: tapctl installs dependencies with uv \
                 (`pip install uv`, or https://docs.astral.sh/uv/getting-started/installation/)"
            ),
            _ => format!("cannot run {INSTALLER}: {e}"),
        })?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let named = std::fs::read_to_string(&self.requirements)
            .ok()
            .and_then(|t| requirements_index(&t));
        Err(installer_error(&stderr, named.or(index.url).as_deref()))
    }
}

/// `uv pip install` for Lambda's platform: wheels only, into `target`.
fn install_args(p: &Platform, target: &Path, requirements: &Path) -> Vec<String> {
    [
        "pip",
        "install",
        "--no-progress",
        "--target",
        &target.to_string_lossy(),
        "--python-platform",
        &p.tag,
        "--python-version",
        &p.python,
        "--only-binary",
        ":all:",
        "-r",
        &requirements.to_string_lossy(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The index arguments tapctl adds, and the index URL it names in errors.
#[derive(Debug, Default, PartialEq, Eq)]
struct Index {
    args: Vec<String>,
    url: Option<String>,
}

/// uv reads its own `UV_INDEX_URL` / `UV_DEFAULT_INDEX` / `UV_INDEX`; when none is set, pip's
/// `PIP_INDEX_URL` and `PIP_EXTRA_INDEX_URL` are passed on, so a machine set up for pip
/// installs from the same index. (uv does not read pip's config files: say it in the docs.)
fn index_args(env: &dyn Fn(&str) -> Option<String>) -> Index {
    let own = ["UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX"]
        .iter()
        .find_map(|k| env(k));
    if let Some(url) = own {
        return Index {
            args: Vec::new(),
            url: Some(url),
        };
    }
    let mut index = Index::default();
    if let Some(url) = env("PIP_INDEX_URL") {
        index.args = vec!["--index-url".into(), url.clone()];
        index.url = Some(url);
    }
    if env("UV_EXTRA_INDEX_URL").is_none()
        && let Some(extra) = env("PIP_EXTRA_INDEX_URL")
    {
        for url in extra.split_whitespace() {
            index
                .args
                .extend(["--extra-index-url".into(), url.to_string()]);
        }
    }
    index
}

/// The index a requirements file names itself (`--index-url URL`, `-i URL`).
fn requirements_index(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim();
        let rest = l
            .strip_prefix("--index-url")
            .or_else(|| l.strip_prefix("-i "))?;
        let url = rest.trim_start_matches([' ', '=']).trim();
        (!url.is_empty()).then(|| url.to_string())
    })
}

/// The installer's failure as one line: its `error:` and each `cause:` and `hint:`, joined;
/// a failed download names the index.
fn installer_error(stderr: &str, index: Option<&str>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for line in stderr.lines() {
        let t = line.trim();
        let text = ["error:", "cause:", "hint:"]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .map(str::trim);
        match text {
            Some(t) => parts.push(t.to_string()),
            // A continuation of the part above (uv wraps long causes).
            None if !t.is_empty() && !parts.is_empty() && line.starts_with(' ') => {
                let last = parts.last_mut().expect("not empty");
                last.push(' ');
                last.push_str(t);
            }
            None => {}
        }
    }
    if parts.is_empty() {
        parts = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
    }
    let last = parts.len().saturating_sub(1);
    for p in &mut parts[..last] {
        let t = p.trim_end_matches('.').len();
        p.truncate(t);
    }
    let mut line = parts.join(": ");
    line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    let fetch = line.contains("Failed to fetch") || line.contains("error sending request");
    if fetch {
        line = format!(
            "{line} (index: {})",
            index.unwrap_or("https://pypi.org/simple, uv's default")
        );
    }
    if line.is_empty() {
        line = format!("{INSTALLER} failed without a message");
    }
    line
}

/// The installed tree as layer entries under `python/`, without the installer's own files
/// and Python's caches.
fn layer_entries(work: &Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![(work.join("python"), "python/".to_string())];
    while let Some((dir, prefix)) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.')
                || name == "__pycache__"
                || name.ends_with(".pyc")
                || INSTALLER_FILES.contains(&name.as_str())
            {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push((entry.path(), format!("{prefix}{name}/")));
            } else {
                entries.insert(format!("{prefix}{name}"), std::fs::read(entry.path())?);
            }
        }
    }
    Ok(entries)
}

/// Compiles the handler's Python files with the host's `python3` before a deploy, so a
/// SyntaxError is one line (`file:line: SyntaxError: message`) and nothing is deployed. It
/// uses the runtime's Python when the host has it (`python3.13` on PATH), else `python3` when
/// that is at least the runtime's version (an older one would refuse newer syntax), parsing
/// for the runtime's version; otherwise it is skipped (Lambda then reports the error on the
/// first event).
pub fn check_syntax(dir: &Path, files: &[String], runtime: &str) -> Result<(), PackageError> {
    let py: Vec<&String> = files.iter().filter(|f| f.ends_with(".py")).collect();
    if py.is_empty() {
        return Ok(());
    }
    let minor = runtime
        .trim_start_matches("python3.")
        .parse::<u32>()
        .unwrap_or(0);
    // The runtime's own Python when the host has it (`python3.13`), else `python3`. An
    // interpreter that cannot run the check (a pyenv shim of a version not installed exits
    // non-zero with nothing on stdout) is passed over.
    for python in [format!("python3.{minor}"), "python3".to_string()] {
        let Ok(out) = Command::new(&python)
            .arg("-c")
            .arg(SYNTAX_CHECK)
            .arg(minor.to_string())
            .args(&py)
            .current_dir(dir)
            .output()
        else {
            continue;
        };
        if out.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap_or("").trim();
        if !first.is_empty() {
            return Err(PackageError(format!(
                "handler folder {}: {first}",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Exits 0 when every file compiles (or this Python is older than the runtime's), else
/// prints `file:line: SyntaxError: message` and exits 1.
const SYNTAX_CHECK: &str = r#"
import ast, sys
minor = int(sys.argv[1])
if sys.version_info[:2] < (3, minor):
    sys.exit(0)
for path in sys.argv[2:]:
    with open(path, 'rb') as f:
        src = f.read()
    try:
        ast.parse(src, path, feature_version=(3, minor))
        compile(src, path, 'exec', dont_inherit=True)
    except SyntaxError as e:
        print(f"{path}:{e.lineno}: {type(e).__name__}: {e.msg}")
        sys.exit(1)
    except ValueError as e:
        print(f"{path}:0: ValueError: {e}")
        sys.exit(1)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_follow_the_runtime_and_architecture() {
        let p = Platform::new("python3.13", "arm64");
        assert_eq!(
            (p.python.as_str(), p.tag.as_str()),
            ("3.13", "aarch64-manylinux_2_34")
        );
        let p = Platform::new("python3.11", "x86_64");
        assert_eq!(
            (p.python.as_str(), p.tag.as_str()),
            ("3.11", "x86_64-manylinux2014")
        );
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tapctl-python-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_key_changes_with_the_requirements_and_the_platform() {
        let d = temp("key");
        assert_eq!(
            find(&d, Platform::new("python3.13", "x86_64")).unwrap(),
            None
        );
        std::fs::write(d.join("requirements.txt"), "six==1.16.0\n").unwrap();
        let key = |rt: &str, arch: &str| find(&d, Platform::new(rt, arch)).unwrap().unwrap().key;
        let a = key("python3.13", "x86_64");
        assert_eq!(a.len(), 64);
        assert_eq!(a, key("python3.13", "x86_64"));
        assert_ne!(a, key("python3.13", "arm64"));
        assert_ne!(a, key("python3.12", "x86_64"));
        std::fs::write(d.join("requirements.txt"), "six==1.17.0\n").unwrap();
        assert_ne!(a, key("python3.13", "x86_64"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn pip_settings_are_passed_on_unless_uv_has_its_own() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let none = index_args(&env(&[]));
        assert_eq!(none, Index::default());
        let pip = index_args(&env(&[
            ("PIP_INDEX_URL", "https://mirror/simple"),
            ("PIP_EXTRA_INDEX_URL", "https://a/simple https://b/simple"),
        ]));
        assert_eq!(
            pip.args,
            [
                "--index-url",
                "https://mirror/simple",
                "--extra-index-url",
                "https://a/simple",
                "--extra-index-url",
                "https://b/simple"
            ]
        );
        assert_eq!(pip.url.as_deref(), Some("https://mirror/simple"));
        let uv = index_args(&env(&[
            ("UV_INDEX_URL", "https://uv/simple"),
            ("PIP_INDEX_URL", "https://mirror/simple"),
        ]));
        assert!(uv.args.is_empty());
        assert_eq!(uv.url.as_deref(), Some("https://uv/simple"));
    }

    #[test]
    fn installer_errors_are_one_line() {
        let no_wheel = "error: No solution found when resolving dependencies\n  cause: Because \
            tapwin==1.0 has no wheels with a matching platform tag (e.g., `manylinux_2_34_x86_64`) \
            and only\n         tapwin==1.0 is available, we can conclude that all versions cannot \
            be used.\n\nhint: Wheels are available for `tapwin` (v1.0) on the following platform: \
            `win_amd64`\n";
        let line = installer_error(no_wheel, None);
        assert!(!line.contains('\n'));
        assert!(line.starts_with("No solution found when resolving dependencies: Because tapwin"));
        assert!(
            line.contains("`manylinux_2_34_x86_64`) and only tapwin==1.0"),
            "{line}"
        );
        assert!(line.ends_with("platform: `win_amd64`"), "{line}");
        assert!(line.contains("cannot be used: Wheels are"), "{line}");
        let offline = "error: Request failed after 3 retries in 7.1s\n  cause: Failed to fetch: \
            http://127.0.0.1:9/simple/six/\n  cause: Connection refused (os error 111)\n";
        let line = installer_error(offline, Some("http://127.0.0.1:9/simple"));
        assert_eq!(
            line,
            "Request failed after 3 retries in 7.1s: Failed to fetch: \
             http://127.0.0.1:9/simple/six/: Connection refused (os error 111) \
             (index: http://127.0.0.1:9/simple)"
        );
        assert_eq!(installer_error("", None), "uv failed without a message");
        let named = "--no-index\n--index-url=https://a/simple\nsix\n";
        assert_eq!(
            requirements_index(named).as_deref(),
            Some("https://a/simple")
        );
        assert_eq!(
            requirements_index("-i https://b/simple\n").as_deref(),
            Some("https://b/simple")
        );
        assert_eq!(requirements_index("six\n"), None);
    }

    #[test]
    fn a_syntax_error_names_file_and_line() {
        let d = temp("syntax");
        std::fs::write(d.join("index.py"), "def f():\n    return 1\n").unwrap();
        std::fs::create_dir_all(d.join("lib")).unwrap();
        std::fs::write(d.join("lib/util.py"), "x = 1\nif x\n    pass\n").unwrap();
        let files = vec!["index.py".to_string()];
        assert_eq!(check_syntax(&d, &files, "python3.10"), Ok(()));
        let files = vec!["index.py".to_string(), "lib/util.py".to_string()];
        match check_syntax(&d, &files, "python3.10") {
            // Without python3 on the host the check is skipped.
            Ok(()) => assert!(Command::new("python3").arg("-V").output().is_err()),
            Err(e) => {
                assert!(
                    e.0.ends_with("lib/util.py:2: SyntaxError: expected ':'"),
                    "{}",
                    e.0
                );
                assert!(e.0.starts_with("handler folder "), "{}", e.0);
            }
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}
