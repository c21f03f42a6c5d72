//! The function's deployment package: a byte-stable zip (entries sorted by path, fixed
//! timestamps and permissions, deflated at a fixed level), so an unchanged handler always gives the same
//! `CodeSha256` (base64 of the zip's SHA-256, as Lambda reports it) and `up` uploads nothing.
//!
//! `build.rs` includes this file to embed the repository's `handler/` in the binary, left out
//! what [`Exclude`] leaves out; at run time [`from_folder`] zips the `handler` setting's folder.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// The module Lambda loads (`index.lambda_handler`).
pub const ENTRY_FILE: &str = "index.py";
/// Lambda's limit for a zip uploaded directly (CreateFunction / UpdateFunctionCode /
/// PublishLayerVersion `ZipFile`), "Lambda quotas": 50 MB.
pub const MAX_ZIP_BYTES: usize = 50 * 1024 * 1024;
/// The request body those calls take, the zip base64 in JSON: "Request must be smaller than
/// 69905067 bytes for the CreateFunction operation" (RequestEntityTooLargeException; the
/// same for UpdateFunctionCode; localstack#2999 quotes AWS). 69905067 = 50 MiB × 4/3, so a
/// zip just under 50 MiB is already refused once its JSON is around it (serverless#10179).
pub const MAX_REQUEST_BYTES: usize = 69_905_067;
/// Room in the request for everything but the zip (names, runtimes, description, JSON).
const REQUEST_OVERHEAD: usize = 16 * 1024;
/// "Lambda quotas": the function's code and all its layers, unzipped, at most 250 MB.
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;
/// The handler folder's dependency list, installed into the dependency layer, never shipped
/// in the function's own zip.
pub const REQUIREMENTS_FILE: &str = "requirements.txt";

/// The request body of a direct upload of a `zip_len`-byte zip: the zip base64 in JSON.
pub fn request_bytes(zip_len: usize) -> usize {
    zip_len.div_ceil(3) * 4 + REQUEST_OVERHEAD
}

/// Why a handler folder's code with a layer of `layer_unzipped` bytes is over Lambda's 250 MB
/// of code and layers unzipped; `None` when it fits.
pub fn with_layer_refusal(dir: &Path, code: &Package, layer_unzipped: u64) -> Option<PackageError> {
    (code.unzipped + layer_unzipped > MAX_UNZIPPED_BYTES).then(|| {
        PackageError(format!(
            "handler folder {}: the code ({} bytes) and its dependency layer \
             ({layer_unzipped} bytes) unzipped are over {MAX_UNZIPPED_BYTES} bytes: Lambda \
             takes at most 250 MB of code and layers",
            dir.display(),
            code.unzipped
        ))
    })
}

/// Why a zip cannot be uploaded directly, naming the limit; `None` when it can.
pub fn upload_refusal(what: &str, zip_len: usize) -> Option<String> {
    let body = request_bytes(zip_len);
    if zip_len > MAX_ZIP_BYTES || body >= MAX_REQUEST_BYTES {
        return Some(format!(
            "{what} is {zip_len} bytes zipped: Lambda takes at most 50 MB in a direct upload \
             (a request under {MAX_REQUEST_BYTES} bytes, the zip base64 in JSON: about \
             {body} here); tapctl does not stage uploads through S3: make it smaller"
        ));
    }
    None
}

/// base64(sha256(bytes)): Lambda's `CodeSha256`.
pub fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// Zips `(path in the zip, contents)` pairs byte-stably: sorted by path, epoch-1980
/// timestamps, mode 0644, deflated at a fixed level (the compressor's version is pinned by
/// Cargo.lock, so the same files give the same bytes).
pub fn zip_entries(entries: &BTreeMap<String, Vec<u8>>) -> std::io::Result<Vec<u8>> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), options)
            .map_err(std::io::Error::other)?;
        zip.write_all(bytes)?;
    }
    Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
}

/// A deployment package and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub zip: Vec<u8>,
    pub sha256: String,
    pub files: usize,
    /// The files' size unzipped (Lambda's 250 MB quota counts it).
    pub unzipped: u64,
}

impl Package {
    pub fn new(entries: &BTreeMap<String, Vec<u8>>) -> std::io::Result<Self> {
        let zip = zip_entries(entries)?;
        Ok(Package {
            sha256: code_sha256(&zip),
            files: entries.len(),
            unzipped: entries.values().map(|v| v.len() as u64).sum(),
            zip,
        })
    }

    /// A package read back from its zip (a cached layer).
    pub fn from_zip(zip: Vec<u8>) -> std::io::Result<Self> {
        let mut archive =
            zip::ZipArchive::new(std::io::Cursor::new(&zip[..])).map_err(std::io::Error::other)?;
        let mut unzipped = 0;
        for i in 0..archive.len() {
            unzipped += archive.by_index(i).map_err(std::io::Error::other)?.size();
        }
        Ok(Package {
            sha256: code_sha256(&zip),
            files: archive.len(),
            unzipped,
            zip,
        })
    }

    /// The paths the zip holds.
    pub fn names(&self) -> Vec<String> {
        zip::ZipArchive::new(std::io::Cursor::new(&self.zip[..]))
            .map(|a| {
                a.file_names()
                    .filter_map(|n| n.ok().map(|n| n.into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Why a folder cannot be packaged: one line, naming the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageError(pub String);

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PackageError {}

/// What is left out of a package: hidden entries, Python's caches (`__pycache__`, `*.pyc`), a
/// top-level `tests/` folder and `requirements.txt` (its packages go into the dependency
/// layer) always; beside them the `exclude` setting's glob patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclude {
    /// A pattern without `/` matches any one component of the path; with `/`, the whole path
    /// below the folder (`*` and `?` within a component, `**` any number of components).
    pub patterns: Vec<String>,
}

/// The top-level folder of a handler's own tests, never shipped.
pub const TESTS_FOLDER: &str = "tests";

impl Exclude {
    pub fn new(patterns: &[String]) -> Self {
        Exclude {
            patterns: patterns.to_vec(),
        }
    }

    /// Whether a path below a handler folder (`/`-separated) is left out of the package.
    pub fn excludes(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        if parts.iter().any(|c| skipped(c))
            || parts.first() == Some(&TESTS_FOLDER)
            || parts[..] == [REQUIREMENTS_FILE]
        {
            return true;
        }
        self.patterns.iter().any(|p| {
            let pat: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
            if pat.len() == 1 {
                parts.iter().any(|c| glob(pat[0], c))
            } else {
                // A folder matched by the pattern leaves out everything below it.
                (1..=parts.len()).any(|n| glob_path(&pat, &parts[..n]))
            }
        })
    }
}

/// Whether a file or folder name is always left out: hidden entries, Python's caches.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || name == "__pycache__" || name.ends_with(".pyc")
}

/// `*` and `?` within one path component.
fn glob(pat: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pat.chars().collect(), name.chars().collect());
    // Classic wildcard matching with one backtrack point for the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// Path components against pattern components, `**` matching any number of them.
fn glob_path(pat: &[&str], parts: &[&str]) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((&"**", rest)) => (0..=parts.len()).any(|k| glob_path(rest, &parts[k..])),
        Some((first, rest)) => parts
            .split_first()
            .is_some_and(|(p, tail)| glob(first, p) && glob_path(rest, tail)),
    }
}

/// Whether a path below a handler folder would go into its package: `watch` ignores saves of
/// editors' swap files, Python's caches and excluded files.
pub fn is_packaged(rel: &Path, exclude: &Exclude) -> bool {
    let rel = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    !exclude.excludes(&rel)
}

/// Zips every file below `dir` but those `exclude` leaves out. Refuses a missing folder, a
/// folder without `index.py`, a link that leads outside the folder, and a package over
/// Lambda's direct-upload limit.
pub fn from_folder(dir: &Path, exclude: &Exclude) -> Result<Package, PackageError> {
    let fail = |why: String| PackageError(format!("handler folder {}: {why}", dir.display()));
    let root = dir.canonicalize().map_err(|e| {
        fail(match e.kind() {
            std::io::ErrorKind::NotFound => "no such folder".to_string(),
            _ => e.to_string(),
        })
    })?;
    if !root.is_dir() {
        return Err(fail("not a folder".into()));
    }
    let mut entries = BTreeMap::new();
    let mut size = 0usize;
    // Each folder to list with the real folders above it: a link back to one of those is a
    // loop (a link to a sibling folder is packaged under both names, as zip -r does).
    let mut pending: Vec<(PathBuf, String, Vec<PathBuf>)> =
        vec![(root.clone(), String::new(), Vec::new())];
    while let Some((path, prefix, above)) = pending.pop() {
        let listing = std::fs::read_dir(&path).map_err(|e| fail(format!("{prefix}: {e}")))?;
        for entry in listing {
            let entry = entry.map_err(|e| fail(e.to_string()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            if exclude.excludes(&rel) {
                continue;
            }
            let real = entry
                .path()
                .canonicalize()
                .map_err(|e| fail(format!("{rel}: {e}")))?;
            if !real.starts_with(&root) {
                return Err(fail(format!(
                    "{rel} links to {}, outside the folder",
                    real.display()
                )));
            }
            if real.is_dir() {
                if real == path || above.contains(&real) {
                    return Err(fail(format!("{rel} links back to a folder above it")));
                }
                let mut chain = above.clone();
                chain.push(path.clone());
                pending.push((real, format!("{rel}/"), chain));
            } else if real.is_file() {
                let bytes = std::fs::read(&real).map_err(|e| fail(format!("{rel}: {e}")))?;
                size += bytes.len();
                if size as u64 > MAX_UNZIPPED_BYTES {
                    return Err(fail(format!(
                        "over {MAX_UNZIPPED_BYTES} bytes unzipped: Lambda takes at most 250 MB \
                         of code and layers"
                    )));
                }
                entries.insert(rel, bytes);
            }
        }
    }
    if !entries.contains_key(ENTRY_FILE) {
        return Err(fail(format!(
            "no {ENTRY_FILE}: the function's handler is index.lambda_handler"
        )));
    }
    let package = Package::new(&entries).map_err(|e| fail(e.to_string()))?;
    if let Some(why) = upload_refusal("the function's zip", package.zip.len()) {
        return Err(fail(why));
    }
    Ok(package)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let p =
                std::env::temp_dir().join(format!("tapctl-package-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }

        fn write(&self, rel: &str, text: &str) {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn same_folder_same_bytes_and_a_change_changes_the_hash() {
        let d = TempDir::new("stable");
        d.write("index.py", "def lambda_handler(e, c):\n    return 1\n");
        d.write("lib/util.py", "X = 1\n");
        d.write("__pycache__/index.cpython-311.pyc", "junk");
        d.write(".env", "SECRET=1");
        let a = from_folder(&d.0, &Exclude::default()).unwrap();
        let b = from_folder(&d.0, &Exclude::default()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.files, 2, "hidden files and caches are left out");
        d.write("tests/test_index.py", "def test(): pass\n");
        assert_eq!(
            from_folder(&d.0, &Exclude::default()).unwrap(),
            a,
            "the handler's tests are never shipped"
        );
        d.write("notes.md", "# notes\n");
        assert_eq!(from_folder(&d.0, &Exclude::default()).unwrap().files, 3);
        let more = from_folder(&d.0, &Exclude::new(&["*.md".into()])).unwrap();
        assert_eq!(more, a, "the exclude setting leaves out more");
        assert_eq!(a.sha256, code_sha256(&a.zip));
        d.write("lib/util.py", "X = 2\n");
        assert_ne!(
            from_folder(&d.0, &Exclude::default()).unwrap().sha256,
            a.sha256
        );
        let names: Vec<String> = {
            let mut z = zip::ZipArchive::new(std::io::Cursor::new(a.zip.clone())).unwrap();
            (0..z.len())
                .map(|i| z.by_index(i).unwrap().name().unwrap().to_string())
                .collect()
        };
        assert_eq!(names, vec!["index.py", "lib/util.py"]);
    }

    #[test]
    fn refusals_are_one_line_and_name_the_folder() {
        let missing = std::env::temp_dir().join("tapctl-package-no-such-folder");
        let e = from_folder(&missing, &Exclude::default()).unwrap_err().0;
        assert!(e.ends_with(": no such folder"), "{e}");
        let d = TempDir::new("noindex");
        d.write("main.py", "x");
        let e = from_folder(&d.0, &Exclude::default()).unwrap_err().0;
        assert!(e.contains("no index.py"), "{e}");
        let file = TempDir::new("file");
        file.write("index.py", "x");
        let e = from_folder(&file.0.join("index.py"), &Exclude::default())
            .unwrap_err()
            .0;
        assert!(e.ends_with("not a folder"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_leaving_the_folder_is_refused() {
        let outside = TempDir::new("outside");
        outside.write("secret.txt", "s");
        let d = TempDir::new("links");
        d.write("index.py", "x");
        std::os::unix::fs::symlink(outside.0.join("secret.txt"), d.0.join("secret.txt")).unwrap();
        let e = from_folder(&d.0, &Exclude::default()).unwrap_err().0;
        assert!(e.contains("secret.txt links to"), "{e}");
        assert!(e.contains("outside the folder"), "{e}");
        std::fs::remove_file(d.0.join("secret.txt")).unwrap();
        // A link inside the folder is packaged as the file it points to.
        d.write("real.py", "y");
        std::os::unix::fs::symlink(d.0.join("real.py"), d.0.join("alias.py")).unwrap();
        assert_eq!(from_folder(&d.0, &Exclude::default()).unwrap().files, 3);
        // A link to a sibling folder is packaged under both names; a loop is refused.
        d.write("lib/util.py", "z");
        std::os::unix::fs::symlink(d.0.join("lib"), d.0.join("lib2")).unwrap();
        let p = from_folder(&d.0, &Exclude::default()).unwrap();
        assert_eq!(p.files, 5);
        std::os::unix::fs::symlink(&d.0, d.0.join("lib/loop")).unwrap();
        let e = from_folder(&d.0, &Exclude::default()).unwrap_err().0;
        assert!(e.contains("links back"), "{e}");
        let none = Exclude::default();
        assert!(is_packaged(Path::new("lib/util.py"), &none));
        assert!(!is_packaged(Path::new("lib/.util.py.swp"), &none));
        assert!(!is_packaged(Path::new("__pycache__/x.pyc"), &none));
        assert!(!is_packaged(Path::new("tests/test_index.py"), &none));
        assert!(
            is_packaged(Path::new("lib/tests/data.py"), &none),
            "only the top tests/"
        );
        let more = Exclude::new(&["*.md".into(), "fixtures/**".into(), "lib/gen_?.py".into()]);
        assert!(!is_packaged(Path::new("README.md"), &more));
        assert!(!is_packaged(Path::new("docs/a.md"), &more));
        assert!(!is_packaged(Path::new("fixtures/a/b.json"), &more));
        assert!(!is_packaged(Path::new("lib/gen_1.py"), &more));
        assert!(is_packaged(Path::new("lib/gen_10.py"), &more));
        assert!(is_packaged(Path::new("lib/fixtures.py"), &more));
    }

    #[test]
    fn an_oversized_folder_is_refused() {
        let d = TempDir::new("big");
        d.write("index.py", "x");
        // Incompressible bytes (xorshift): deflate cannot bring them under the limit.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let chunk: Vec<u8> = (0..8 * 1024 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for i in 0..7 {
            std::fs::write(d.0.join(format!("blob{i}.bin")), &chunk).unwrap();
        }
        let e = from_folder(&d.0, &Exclude::default()).unwrap_err().0;
        assert!(e.contains("at most 50 MB"), "{e}");
        assert!(e.contains("69905067"), "names the request limit: {e}");
    }

    #[test]
    fn the_upload_limit_counts_the_base64_request_body() {
        assert_eq!(upload_refusal("z", 1024), None);
        // Under 50 MiB zipped, but its base64 JSON body reaches 69905067 bytes.
        let e = upload_refusal("the layer", MAX_ZIP_BYTES - 1000).unwrap();
        assert!(e.starts_with("the layer is 52427800 bytes zipped"), "{e}");
        // The largest zip whose body, 4 × ceil(n / 3) plus the overhead, stays under the limit.
        let fits = (MAX_REQUEST_BYTES - REQUEST_OVERHEAD - 1) / 4 * 3;
        assert_eq!(upload_refusal("z", fits), None);
        assert!(upload_refusal("z", fits + 1).is_some());
    }

    #[test]
    fn zips_are_deflated_and_requirements_stay_out() {
        let d = TempDir::new("deflate");
        d.write("index.py", &"print('hello')\n".repeat(1000));
        d.write(REQUIREMENTS_FILE, "requests==2.32.3\n");
        d.write(
            "lib/requirements.txt",
            "kept: only the top one is the layer's\n",
        );
        let p = from_folder(&d.0, &Exclude::default()).unwrap();
        assert_eq!(p.files, 2);
        assert_eq!(p.names(), ["index.py", "lib/requirements.txt"]);
        assert_eq!(p.unzipped, 15_000 + 38);
        assert!(p.zip.len() < 1_000, "deflated: {} bytes", p.zip.len());
        assert_eq!(from_folder(&d.0, &Exclude::default()).unwrap(), p);
    }
}
