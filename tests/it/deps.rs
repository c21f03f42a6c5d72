//! A handler's dependencies: `requirements.txt` installed (with uv, from a wheelhouse built
//! here: no network) for the function's runtime and architecture into the dependency layer,
//! imported by the running function; published once per content, cached, code-only changes
//! staying code-only, drift of the layers repaired, unused versions deleted, `down` leaving
//! none; and every bad input refused in one line before any AWS call.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use common::{LocalAws, Run, eventually, suffix};
use sha2::Digest;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tapctl::aws::Clients;
use tapctl::spec::Stack;

/// The project venv's `bin`, where scripts/lib/pyenv.sh installed uv (requirements-dev.txt).
fn venv_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin")
}

/// PATH with the venv's uv first; `None`: without uv (and without the venv).
fn path_with_uv(uv: bool) -> String {
    let host = std::env::var("PATH").unwrap_or_default();
    let rest: Vec<&str> = host
        .split(':')
        .filter(|p| !p.contains(".venv") && !Path::new(p).join("uv").exists())
        .collect();
    if uv {
        assert!(
            venv_bin().join("uv").exists(),
            "uv is not in the venv: run scripts/test (it installs requirements-dev.txt)"
        );
        format!("{}:{}", venv_bin().display(), rest.join(":"))
    } else {
        rest.join(":")
    }
}

/// A wheel file: the package's files plus its dist-info (METADATA, WHEEL, RECORD).
fn wheel(dir: &Path, name: &str, tag: &str, files: &[(&str, &str)], requires: &[&str]) {
    let dist = format!("{name}-1.0");
    let mut all: BTreeMap<String, String> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    let mut meta = format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n");
    for r in requires {
        meta += &format!("Requires-Dist: {r}\n");
    }
    all.insert(format!("{dist}.dist-info/METADATA"), meta);
    all.insert(
        format!("{dist}.dist-info/WHEEL"),
        format!("Wheel-Version: 1.0\nGenerator: tapctl-tests\nRoot-Is-Purelib: true\nTag: {tag}\n"),
    );
    use base64::Engine;
    let mut record = String::new();
    for (p, t) in &all {
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(t.as_bytes()));
        record += &format!("{p},sha256={digest},{}\n", t.len());
    }
    record += &format!("{dist}.dist-info/RECORD,,\n");
    all.insert(format!("{dist}.dist-info/RECORD"), record);
    let file = std::fs::File::create(dir.join(format!("{dist}-{tag}.whl"))).unwrap();
    let mut z = zip::ZipWriter::new(file);
    for (p, t) in &all {
        z.start_file(p.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(t.as_bytes()).unwrap();
    }
    z.finish().unwrap();
}

/// A wheelhouse: `tapdep_a` (pure Python) importing `tapdep_b`; `tapplat` with one wheel per
/// Linux architecture; `tapwin` with a Windows wheel only.
fn wheelhouse(dir: &Path) -> PathBuf {
    let wh = dir.join("wheelhouse");
    std::fs::create_dir_all(&wh).unwrap();
    wheel(
        &wh,
        "tapdep_a",
        "py3-none-any",
        &[(
            "tapdep_a/__init__.py",
            "import tapdep_b\nVALUE = tapdep_b.VALUE + 1\n",
        )],
        &["tapdep-b>=1"],
    );
    wheel(
        &wh,
        "tapdep_b",
        "py3-none-any",
        &[("tapdep_b/__init__.py", "VALUE = 41\n")],
        &[],
    );
    for (tag, arch) in [
        ("manylinux_2_17_x86_64.manylinux2014_x86_64", "x86_64"),
        ("manylinux_2_17_aarch64.manylinux2014_aarch64", "aarch64"),
    ] {
        wheel(
            &wh,
            "tapplat",
            &format!("cp313-cp313-{tag}"),
            &[("tapplat/__init__.py", &format!("ARCH = '{arch}'\n"))],
            &[],
        );
    }
    wheel(
        &wh,
        "tapwin",
        "cp313-cp313-win_amd64",
        &[("tapwin/__init__.py", "")],
        &[],
    );
    wh
}

/// The real handler, writing `dep` (from `tapdep_a`) and `version` into its item.
fn index_text(version: &str) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("handler/index.py"))
            .unwrap();
    assert!(text.contains("loggedAt=_now(),"));
    text.replace(
        "loggedAt=_now(),",
        &format!(
            "loggedAt=_now(), codeVersion=\"{version}\", \
             dep=str(__import__(\"tapdep_a\").VALUE),"
        ),
    )
}

/// The lines a running process writes on stderr, as they come.
fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The handler folder: the real handler, writing `dep` (from the layer's `tapdep_a`) and
/// `version` into its item.
fn handler(dir: &Path, version: &str, requirements: Option<&str>) -> PathBuf {
    let h = dir.join("h");
    std::fs::create_dir_all(&h).unwrap();
    std::fs::write(h.join("index.py"), index_text(version)).unwrap();
    match requirements {
        Some(r) => std::fs::write(h.join("requirements.txt"), r).unwrap(),
        None => {
            let _ = std::fs::remove_file(h.join("requirements.txt"));
        }
    }
    h
}

fn requirements(wh: &Path, extra: &str) -> String {
    format!(
        "--no-index\n--find-links {}\ntapdep-a==1.0\ntapplat==1.0\n{extra}",
        wh.display()
    )
}

fn tapctl(aws: &LocalAws, uv: bool, args: &[&str]) -> Run {
    let mut cmd = aws.tapctl_cmd(args);
    cmd.env("PATH", path_with_uv(uv));
    aws.run(cmd, args)
}

async fn layers_of(c: &Clients, s: &Stack) -> Vec<String> {
    let f = c
        .lambda
        .get_function()
        .function_name(&s.function_name)
        .send()
        .await
        .unwrap();
    f.configuration()
        .unwrap()
        .layers()
        .iter()
        .filter_map(|l| l.arn().map(String::from))
        .collect()
}

async fn versions_of(c: &Clients, s: &Stack) -> Vec<(i64, Vec<String>)> {
    let out = c
        .lambda
        .list_layer_versions()
        .layer_name(&s.layer_name)
        .send()
        .await
        .unwrap();
    out.layer_versions()
        .iter()
        .map(|v| {
            let arch = v
                .compatible_architectures()
                .iter()
                .map(|a| a.as_str().to_string())
                .collect();
            (v.version(), arch)
        })
        .collect()
}

/// Uploads an object and returns its log item's `(dep, codeVersion)`.
async fn run_object(c: &Clients, s: &Stack, key: &str) -> (String, String) {
    c.s3.put_object()
        .bucket(&s.bucket_name)
        .key(key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    eventually("the object's log item", Duration::from_secs(60), || async {
        let scan = c
            .dynamodb
            .scan()
            .table_name(&s.table_name)
            .send()
            .await
            .ok()?;
        let item = scan
            .items()
            .iter()
            .find(|i| i.get("objectKey").and_then(|v| v.as_s().ok()) == Some(&key.to_string()))?
            .clone();
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        Some((text("dep")?, text("codeVersion")?))
    })
    .await
}

/// The files of the layer zip tapctl cached for the run it made last, by name.
fn cached_layer(aws: &LocalAws, contains: &str) -> BTreeMap<String, String> {
    let dir = aws.home.join(".cache/tapctl/deps");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "zip") {
            continue;
        }
        let mut z = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        let mut files = BTreeMap::new();
        for i in 0..z.len() {
            let mut f = z.by_index(i).unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut f, &mut text).unwrap_or_default();
            files.insert(f.name().unwrap().to_string(), text);
        }
        if files
            .get("python/tapplat/__init__.py")
            .is_some_and(|t| t.contains(contains))
        {
            return files;
        }
    }
    panic!("no cached layer in {} holds {contains}", dir.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn dependencies_go_into_a_layer_published_once_and_code_changes_stay_code_only() {
    let aws = LocalAws::start();
    let sfx = suffix("deps");
    let c = aws.clients().await;
    let s = aws.stack(&sfx);
    let wh = wheelhouse(&aws.dir);
    let h = handler(&aws.dir, "v1", Some(&requirements(&wh, "")));
    let hs = h.to_str().unwrap();

    // First up: installed (for x86_64), published as version 1, attached, imported.
    let up = tapctl(
        &aws,
        true,
        &["up", "--suffix", &sfx, "--handler", hs, "--output", "json"],
    )
    .ok();
    let doc = up.json();
    assert!(doc["dependencies"]["install_s"].is_number(), "{doc}");
    assert_eq!(doc["dependencies"]["platform"], "x86_64-manylinux_2_34");
    let layers = layers_of(&c, &s).await;
    assert_eq!(layers, [format!("{}:1", s.layer_arn)]);
    assert_eq!(versions_of(&c, &s).await, [(1, vec!["x86_64".to_string()])]);
    assert_eq!(
        run_object(&c, &s, "a.txt").await,
        ("42".into(), "v1".into())
    );
    let files = cached_layer(&aws, "x86_64");
    assert!(files.contains_key("python/tapdep_a/__init__.py"));
    assert!(files.contains_key("python/tapdep_b/__init__.py"));
    assert!(
        !files
            .keys()
            .any(|f| f.ends_with("uv_cache.json") || f.contains("/."))
    );

    // In sync: no write, and no installer needed (the cache is used: no uv on PATH).
    let mark = aws.mark();
    tapctl(&aws, false, &["up", "--suffix", &sfx, "--handler", hs]).ok();
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    tapctl(&aws, false, &["status", "--suffix", &sfx, "--handler", hs]).ok();

    // A code-only change is one UpdateFunctionCode: no layer published.
    handler(&aws.dir, "v2", Some(&requirements(&wh, "")));
    let mark = aws.mark();
    tapctl(&aws, false, &["up", "--suffix", &sfx, "--handler", hs]).ok();
    assert_eq!(aws.writes_since(mark), ["lambda:UpdateFunctionCode"]);
    assert_eq!(
        run_object(&c, &s, "b.txt").await,
        ("42".into(), "v2".into())
    );

    // The layer detached by hand is drift (`layers`), repaired without a new version.
    c.lambda
        .update_function_configuration()
        .function_name(&s.function_name)
        .set_layers(Some(Vec::new()))
        .send()
        .await
        .unwrap();
    eventually("the detach to settle", Duration::from_secs(30), || async {
        let f = c
            .lambda
            .get_function_configuration()
            .function_name(&s.function_name)
            .send()
            .await
            .ok()?;
        (f.last_update_status().map(|s| s.as_str()) != Some("InProgress")).then_some(())
    })
    .await;
    let status = tapctl(&aws, false, &["status", "--suffix", &sfx, "--handler", hs]);
    assert_eq!(status.code, 2, "{}", status.stdout);
    assert!(status.stdout.contains("layers"), "{}", status.stdout);
    let mark = aws.mark();
    tapctl(&aws, false, &["up", "--suffix", &sfx, "--handler", hs]).ok();
    assert_eq!(
        aws.writes_since(mark),
        ["lambda:UpdateFunctionConfiguration"]
    );
    assert_eq!(layers_of(&c, &s).await, [format!("{}:1", s.layer_arn)]);

    // Another architecture: new wheels (aarch64), a new version; the old one deleted.
    let up = tapctl(
        &aws,
        true,
        &[
            "up",
            "--suffix",
            &sfx,
            "--handler",
            hs,
            "--set",
            "architecture=arm64",
        ],
    )
    .ok();
    assert!(
        up.stdout.contains("aarch64-manylinux_2_34"),
        "{}",
        up.stdout
    );
    assert_eq!(versions_of(&c, &s).await, [(2, vec!["arm64".to_string()])]);
    assert_eq!(layers_of(&c, &s).await, [format!("{}:2", s.layer_arn)]);
    let files = cached_layer(&aws, "aarch64");
    assert_eq!(files["python/tapplat/__init__.py"], "ARCH = 'aarch64'\n");
    let mark = aws.mark();
    let args = [
        "up",
        "--suffix",
        &sfx,
        "--handler",
        hs,
        "--set",
        "architecture=arm64",
    ];
    tapctl(&aws, false, &args).ok();
    assert_eq!(
        aws.writes_since(mark),
        Vec::<String>::new(),
        "arm64 converges: a second up makes no write"
    );

    // Requirements removed: the function runs without layers and no version is left.
    handler(&aws.dir, "v3", None);
    tapctl(&aws, false, &["up", "--suffix", &sfx, "--handler", hs]).ok();
    assert_eq!(layers_of(&c, &s).await, Vec::<String>::new());
    assert_eq!(versions_of(&c, &s).await, []);

    // down deletes every version of tapctl's (one published again first).
    handler(&aws.dir, "v4", Some(&requirements(&wh, "")));
    tapctl(&aws, false, &["up", "--suffix", &sfx, "--handler", hs]).ok();
    assert_eq!(versions_of(&c, &s).await.len(), 1);
    tapctl(&aws, false, &["down", "--suffix", &sfx, "--yes"]).ok();
    assert_eq!(versions_of(&c, &s).await, []);
    common::assert_gone(&c, &s).await;

    // A function deleted by hand leaves its layer: down still deletes tapctl's versions, and
    // leaves a version that is not tapctl's.
    tapctl(&aws, false, &["up", "--suffix", &sfx, "--handler", hs]).ok();
    c.lambda
        .delete_function()
        .function_name(&s.function_name)
        .send()
        .await
        .unwrap();
    c.lambda
        .publish_layer_version()
        .layer_name(&s.layer_name)
        .description("someone else's")
        .content(
            aws_sdk_lambda::types::LayerVersionContentInput::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(
                    std::fs::read(wh.join("tapdep_b-1.0-py3-none-any.whl")).unwrap(),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(versions_of(&c, &s).await.len(), 2);
    tapctl(&aws, false, &["down", "--suffix", &sfx, "--yes"]).ok();
    let left = versions_of(&c, &s).await;
    assert_eq!(left.len(), 1, "{left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_dependencies_are_one_line_and_change_nothing() {
    let aws = LocalAws::start();
    let sfx = suffix("baddeps");
    let wh = wheelhouse(&aws.dir);
    let closed = common::closed_port();
    let cases: Vec<(&str, String, bool, &str)> = vec![
        (
            "installer missing",
            requirements(&wh, ""),
            false,
            "uv not found on PATH: tapctl installs dependencies with uv (`pip install uv`",
        ),
        (
            "unknown package",
            requirements(&wh, "nosuchpkg\n"),
            true,
            "nosuchpkg was not found in the provided package locations",
        ),
        (
            "unknown version",
            requirements(&wh, "tapdep-b==9\n"),
            true,
            "there is no version of tapdep-b==9",
        ),
        (
            "no wheel for the platform",
            requirements(&wh, "tapwin\n"),
            true,
            "tapwin==1.0 has no wheels with a matching platform tag (e.g., `manylinux_2_34_x86_64`)",
        ),
        (
            "resolver conflict",
            requirements(&wh, "tapdep-b<1\n"),
            true,
            "you require tapdep-b<1, we can conclude that your requirements are unsatisfiable",
        ),
        (
            "no network to the index",
            format!("--index-url http://127.0.0.1:{closed}/simple\nsix==1.16.0\n"),
            true,
            &*Box::leak(format!("(index: http://127.0.0.1:{closed}/simple)").into_boxed_str()),
        ),
    ];
    for (what, req, uv, want) in cases {
        let h = handler(&aws.dir, "v1", Some(&req));
        let mark = aws.mark();
        let run = tapctl(
            &aws,
            uv,
            &["up", "--suffix", &sfx, "--handler", h.to_str().unwrap()],
        );
        assert_eq!(run.code, 1, "{what}: {}", run.stderr);
        let line = run.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{what}: {line}");
        assert!(
            line.contains(&format!(
                "dependencies of {}",
                h.join("requirements.txt").display()
            )),
            "{what}: {line}"
        );
        assert!(line.contains("for python3.13 x86_64"), "{what}: {line}");
        assert!(line.contains(want), "{what}: {line}");
        assert_eq!(aws.calls_since(mark), 0, "{what}: an AWS call was made");
    }
    // A SyntaxError: file and line, nothing deployed. (The check needs a host Python at least
    // as new as the runtime's: python3.11 is the oldest a test machine has.)
    let h = handler(&aws.dir, "v1", Some(&requirements(&wh, "")));
    std::fs::create_dir_all(h.join("lib")).unwrap();
    std::fs::write(h.join("lib/util.py"), "x = 1\nif x\n    pass\n").unwrap();
    let mark = aws.mark();
    let args = [
        "up",
        "--suffix",
        &sfx,
        "--handler",
        h.to_str().unwrap(),
        "--set",
        "runtime=python3.11",
    ];
    let run = tapctl(&aws, true, &args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "tapctl: error: handler folder {}: lib/util.py:2: SyntaxError: expected ':'",
            h.display()
        )
    );
    assert_eq!(aws.calls_since(mark), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_publishes_the_layer_when_requirements_change_and_refuses_bad_syntax() {
    use std::process::Stdio;
    let aws = LocalAws::start();
    let sfx = suffix("watchdeps");
    let c = aws.clients().await;
    let s = aws.stack(&sfx);
    let wh = wheelhouse(&aws.dir);
    // python3.11: the syntax check needs a host Python at least as new as the runtime's.
    let base = ["--suffix", &sfx, "--set", "runtime=python3.11"];
    let h = handler(&aws.dir, "v1", Some("--no-index\ntapdep-b==1.0\n"));
    let hs = h.to_str().unwrap();
    std::fs::write(
        h.join("requirements.txt"),
        format!("--no-index\n--find-links {}\ntapdep-b==1.0\n", wh.display()),
    )
    .unwrap();
    // tapplat's wheels are for cp313 only: not in this runtime's requirements.
    let with_a = format!("--no-index\n--find-links {}\ntapdep-a==1.0\n", wh.display());
    let up: Vec<&str> = ["up", "--handler", hs]
        .iter()
        .chain(&base)
        .copied()
        .collect();
    tapctl(&aws, true, &up).ok();
    assert_eq!(layers_of(&c, &s).await, [format!("{}:1", s.layer_arn)]);

    let watch: Vec<&str> = ["watch", "--handler", hs]
        .iter()
        .chain(&base)
        .copied()
        .collect();
    let mut cmd = aws.tapctl_cmd(&watch);
    cmd.env("PATH", path_with_uv(true));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = common::lines_of(&mut child);
    let mut seen = Vec::new();
    common::wait_line(&rx, &mut seen, &|l| l.contains("watching"));
    // requirements.txt changed: installed, published as version 2, attached; 1 deleted.
    std::fs::write(h.join("requirements.txt"), &with_a).unwrap();
    common::wait_line(&rx, &mut seen, &|l| l.contains("dependencies deployed"));
    assert_eq!(layers_of(&c, &s).await, [format!("{}:2", s.layer_arn)]);
    assert_eq!(versions_of(&c, &s).await.len(), 1);
    // The code that imports them runs.
    std::fs::write(h.join("index.py"), index_text("v2")).unwrap();
    common::wait_line(&rx, &mut seen, &|l| l.contains("deployed: new code live"));
    assert_eq!(
        run_object(&c, &s, "w.txt").await,
        ("42".into(), "v2".into())
    );
    // A SyntaxError is shown (on stderr) and nothing is deployed; the fix is.
    let errors = stderr_lines(&mut child);
    let mark = aws.mark();
    std::fs::write(
        h.join("index.py"),
        "def lambda_handler(e, c)\n    return 1\n",
    )
    .unwrap();
    let mut problems = Vec::new();
    common::wait_line(&errors, &mut problems, &|l| l.contains("SyntaxError"));
    assert!(
        problems
            .last()
            .unwrap()
            .ends_with("index.py:1: SyntaxError: expected ':'"),
        "{problems:?}"
    );
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    std::fs::write(h.join("index.py"), index_text("v3")).unwrap();
    common::wait_line(&rx, &mut seen, &|l| l.contains("deployed: new code live"));
    assert_eq!(aws.writes_since(mark), ["lambda:UpdateFunctionCode"]);
    common::sigint(child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}
