//! Settings without recompiling and the daily code loop: tapctl.toml (defaults, environment
//! section, TAPCTL_* variables, flags; refusals with their line, before any AWS call), drift
//! relative to the configured values, a handler folder deployed by `up` (and the new code
//! observably running), `watch` deploying saves until SIGINT, Ctrl-C during `up`, and the
//! commands tapctl suggests carrying the flags that select the same stack.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use common::{LocalAws, Run, eventually, lines_of, sigint, suffix, wait_line};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tapctl::aws::Clients;
use tapctl::spec::Stack;

/// A scratch folder for settings files and handler folders, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(aws: &LocalAws, name: &str) -> Self {
        let p = aws.dir.join(name);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A handler folder: the real handler with its "record logged" line and its log item
    /// marked `version`.
    fn handler(&self, rel: &str, version: &str) -> PathBuf {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("handler/index.py"))
                .unwrap();
        let edited = mark(&text, version);
        self.write(&format!("{rel}/index.py"), &edited);
        self.0.join(rel)
    }
}

/// The handler's source with a version in its log line and an extra item attribute.
fn mark(text: &str, version: &str) -> String {
    assert!(text.contains("message=\"record logged\"") && text.contains("loggedAt=_now(),"));
    text.replace(
        "message=\"record logged\"",
        &format!("message=\"record logged {version}\""),
    )
    .replace(
        "loggedAt=_now(),",
        &format!("loggedAt=_now(), codeVersion=\"{version}\","),
    )
}

/// tapctl run in `dir` with extra environment.
fn tapctl_in(aws: &LocalAws, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = aws.tapctl_cmd(args);
    cmd.current_dir(dir).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().expect("run tapctl"))
}

fn setting<'a>(doc: &'a Value, key: &str) -> &'a Value {
    &doc["settings"][key]
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_file_environment_and_flags_and_every_refusal_before_any_call() {
    let aws = LocalAws::start();
    let sfx = suffix("cfg");
    let dir = Scratch::new(&aws, "cfg");
    dir.write(
        "tapctl.toml",
        &format!(
            "[defaults]\nmemory_mb = 256\nlog_level = \"debug\"\ntags = {{ team = \"data\" }}\n\n\
             [env.{sfx}]\ntimeout_s = 60\ntags = {{ team = \"web\" }}\n\n[env.other]\nmemory_mb = 2048\n"
        ),
    );
    let mark = aws.mark();

    // The file in the current directory: [defaults], then [env.<suffix>] over it.
    let doc = tapctl_in(
        &aws,
        &dir.0,
        &[],
        &["config", "--suffix", &sfx, "--output", "json"],
    )
    .ok()
    .json();
    assert_eq!(
        (&doc["schema"], &doc["command"], &doc["ok"], &doc["suffix"]),
        (
            &1.into(),
            &"config".into(),
            &true.into(),
            &sfx.as_str().into()
        )
    );
    assert_eq!(doc["file"], "tapctl.toml");
    assert_eq!(setting(&doc, "memory_mb")["value"], 256);
    assert_eq!(setting(&doc, "memory_mb")["from"], "tapctl.toml [defaults]");
    assert_eq!(setting(&doc, "timeout_s")["value"], 60);
    assert_eq!(
        setting(&doc, "timeout_s")["from"],
        format!("tapctl.toml [env.{sfx}]")
    );
    assert_eq!(setting(&doc, "log_level")["value"], "DEBUG");
    assert_eq!(setting(&doc, "runtime")["source"], "default");
    assert_eq!(setting(&doc, "tags")["team"]["value"], "web");

    // An environment variable over the file, a flag over both; --config from elsewhere.
    let env = [("TAPCTL_MEMORY_MB", "512"), ("TAPCTL_TIMEOUT_S", "90")];
    let doc = tapctl_in(
        &aws,
        &dir.0,
        &env,
        &["config", "--suffix", &sfx, "--output", "json"],
    )
    .ok()
    .json();
    assert_eq!(setting(&doc, "memory_mb")["value"], 512);
    assert_eq!(setting(&doc, "memory_mb")["from"], "TAPCTL_MEMORY_MB");
    let args = [
        "config",
        "--suffix",
        &sfx,
        "--output",
        "json",
        "--set",
        "memory_mb=1024",
    ];
    let doc = tapctl_in(&aws, &dir.0, &env, &args).ok().json();
    assert_eq!(setting(&doc, "memory_mb")["value"], 1024);
    assert_eq!(setting(&doc, "memory_mb")["source"], "flag");
    assert_eq!(setting(&doc, "timeout_s")["value"], 90);
    let file = dir.0.join("tapctl.toml");
    let text = tapctl_in(
        &aws,
        &aws.dir,
        &[],
        &[
            "config",
            "--suffix",
            "other",
            "--config",
            file.to_str().unwrap(),
        ],
    )
    .ok()
    .stdout;
    assert!(
        text.contains("memory_mb") && text.contains("2048"),
        "{text}"
    );
    assert!(text.contains("[env.other]"), "{text}");

    // Each refused input: one line naming the file and line, exit 1, no AWS call at all.
    let refusals: &[(&str, &str)] = &[
        (
            "[defaults]\nmemory = 256\n",
            "bad.toml:2: unknown field `memory`",
        ),
        ("[defaults]\n\nmemory_mb = \"big\"\n", "bad.toml:3: "),
        (
            "[defaults]\nmemory_mb = 64\n",
            "bad.toml:2: memory_mb: 64 is out of range",
        ),
        (
            "[env.x]\n\ntimeout_s = 901\n",
            "bad.toml:3: timeout_s: 901 is out of range",
        ),
        (
            "[defaults]\nruntime = \"python3.8\"\n",
            "bad.toml:2: runtime: \"python3.8\" is not one of",
        ),
        (
            "[defaults]\narchitecture = \"sparc\"\n",
            "bad.toml:2: architecture:",
        ),
        (
            "[defaults]\nlog_retention_days = 10\n",
            "bad.toml:2: log_retention_days: 10 is not a retention",
        ),
        (
            "[defaults]\nlog_level = \"LOUD\"\n",
            "bad.toml:2: log_level:",
        ),
        (
            "[defaults]\n\n\ntags = { \"aws:x\" = \"1\" }\n",
            "bad.toml:4: tags:",
        ),
        (
            "[defaults]\npermissions_boundary = \"boundary\"\n",
            "bad.toml:2: permissions_boundary:",
        ),
        ("[defaults\n", "bad.toml:1: "),
    ];
    for (text, want) in refusals {
        // The environment section applies to suffix x: refusals there count too.
        let bad = dir.write("bad.toml", text);
        for command in ["status", "up"] {
            let run = tapctl_in(
                &aws,
                &dir.0,
                &[],
                &[command, "--suffix", "x", "--config", bad.to_str().unwrap()],
            );
            let err = run.stderr.trim_end();
            assert_eq!(run.code, 1, "{text:?}: {err}");
            assert!(
                err.starts_with(&format!("tapctl: error: {}", bad.display()))
                    && err.contains(want.trim_start_matches("bad.toml")),
                "{text:?}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
    // Bad handler folders and bad flags: refused the same way.
    let outside = dir.write("secret.txt", "s");
    let no_index = dir.write("noindex/main.py", "x = 1\n");
    let linked = dir.handler("linked", "v1");
    std::os::unix::fs::symlink(&outside, linked.join("secret.txt")).unwrap();
    let missing = dir.0.join("missing");
    for (args, want) in [
        (
            vec!["--handler", missing.to_str().unwrap()],
            "no such folder",
        ),
        (
            vec!["--handler", no_index.parent().unwrap().to_str().unwrap()],
            "no index.py",
        ),
        (
            vec!["--handler", linked.to_str().unwrap()],
            "secret.txt links to",
        ),
        (vec!["--set", "memory_mb=99999"], "out of range"),
        (vec!["--set", "colour=blue"], "unknown key"),
        (vec!["--region", "Mars"], "unknown region \"Mars\""),
    ] {
        let mut all = vec!["up", "--suffix", "x"];
        all.extend(args);
        let run = tapctl_in(&aws, &dir.0, &[], &all);
        assert_eq!(run.code, 1, "{all:?}: {}", run.stderr);
        assert!(run.stderr.contains(want), "{all:?}: {}", run.stderr);
        assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    }
    assert_eq!(aws.calls_since(mark), 0, "a refused input made an AWS call");
}

async fn function_config(
    c: &Clients,
    s: &Stack,
) -> aws_sdk_lambda::operation::get_function::GetFunctionOutput {
    c.lambda
        .get_function()
        .function_name(&s.function_name)
        .send()
        .await
        .unwrap()
}

/// Uploads an object and returns its log item once the function wrote it.
async fn item_of(
    c: &Clients,
    s: &Stack,
    key: &str,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    c.s3.put_object()
        .bucket(&s.bucket_name)
        .key(key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    eventually("the object's log item", Duration::from_secs(30), || async {
        let scan = c
            .dynamodb
            .scan()
            .table_name(&s.table_name)
            .send()
            .await
            .ok()?;
        scan.items()
            .iter()
            .find(|i| i.get("objectKey").and_then(|v| v.as_s().ok()) == Some(&key.to_string()))
            .cloned()
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_is_relative_to_the_settings_and_a_handler_folder_deploys_code_only() {
    let aws = LocalAws::start();
    let c = aws.clients().await;
    let sfx = suffix("set");
    let s = aws.stack(&sfx);
    let dir = Scratch::new(&aws, "set");
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    assert_eq!(
        function_config(&c, &s)
            .await
            .configuration
            .unwrap()
            .memory_size,
        Some(128)
    );
    // A user's own tag, which tapctl never set: kept through every run.
    c.lambda
        .tag_resource()
        .resource(&s.function_arn)
        .tags("owner", "bob")
        .send()
        .await
        .unwrap();

    let file = dir.write(
        "tapctl.toml",
        "[defaults]\nmemory_mb = 256\nlog_retention_days = 30\ntags = { team = \"data\" }\n",
    );
    let cfg = file.to_str().unwrap();
    let status = aws.tapctl(&[
        "status", "--suffix", &sfx, "--config", cfg, "--output", "json",
    ]);
    let doc = status.code(2).json();
    let drift = |label: &str| -> Vec<Value> {
        doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == label)
            .unwrap()["drift"]
            .as_array()
            .unwrap()
            .clone()
    };
    let function = drift("function");
    assert!(
        function
            .iter()
            .any(|d| d["field"] == "memory_mb" && d["want"] == "256" && d["have"] == "128"),
        "{function:?}"
    );
    assert!(
        function.iter().any(|d| d["field"] == "tags"),
        "{function:?}"
    );
    assert!(
        drift("log-group")
            .iter()
            .any(|d| d["field"] == "retention" && d["want"] == "30 days")
    );
    for label in ["table", "bucket", "role"] {
        assert_eq!(drift(label).len(), 1, "{label}: only the extra tag drifted");
    }
    aws.tapctl(&["up", "--suffix", &sfx, "--config", cfg]).ok();
    aws.tapctl(&["status", "--suffix", &sfx, "--config", cfg])
        .ok();
    let f = function_config(&c, &s).await;
    assert_eq!(f.configuration.unwrap().memory_size, Some(256));
    let tags = f.tags.unwrap();
    assert_eq!(tags.get("team").map(String::as_str), Some("data"));
    assert_eq!(
        tags.get("owner").map(String::as_str),
        Some("bob"),
        "a user tag was removed"
    );
    let bucket_tags =
        c.s3.get_bucket_tagging()
            .bucket(&s.bucket_name)
            .send()
            .await
            .unwrap();
    assert!(
        bucket_tags
            .tag_set()
            .iter()
            .any(|t| t.key() == "team" && t.value() == "data")
    );

    // An edited handler folder: `up` makes one code-only update, and the new code runs.
    let h = dir.handler("h", "v2");
    let hs = h.to_str().unwrap();
    let mark = aws.mark();
    let up = aws
        .tapctl(&["up", "--suffix", &sfx, "--config", cfg, "--handler", hs])
        .ok();
    assert_eq!(aws.writes_since(mark), ["lambda:UpdateFunctionCode"]);
    assert!(
        up.stdout
            .contains(&format!("New code live on function {}", s.function_name)),
        "{}",
        up.stdout
    );
    let item = item_of(&c, &s, "after-edit.txt").await;
    assert_eq!(
        item.get("codeVersion")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some("v2")
    );
    // The same folder again: nothing to upload, nothing written.
    let mark = aws.mark();
    aws.tapctl(&["up", "--suffix", &sfx, "--config", cfg, "--handler", hs])
        .ok();
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());

    // Where the code comes from is one setting every command reads: a `handler/` folder beside
    // the settings file is its default, so a plain `status` and a plain `up` compare with the
    // code deployed from it (before, they compared with the built-in handler: code_sha256
    // drift, and `up` put the built-in code back). Its tests and caches are not shipped.
    let conventional = dir.handler("handler", "v2");
    dir.write("handler/tests/test_index.py", "def test_x():\n    pass\n");
    dir.write("handler/__pycache__/index.cpython-313.pyc", "junk");
    aws.tapctl(&["status", "--suffix", &sfx, "--config", cfg])
        .ok();
    let mark = aws.mark();
    aws.tapctl(&["up", "--suffix", &sfx, "--config", cfg]).ok();
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    std::fs::remove_dir_all(&conventional).unwrap();

    // The commands tapctl suggests carry the flags that select this stack and its settings.
    std::fs::write(h.join("index.py"), mark_file(&h, "v3")).unwrap();
    let region = aws.var("AWS_REGION");
    let plan = aws
        .tapctl(&["plan", "--suffix", &sfx, "--config", cfg, "--handler", hs])
        .code(2);
    let want = format!(
        "Run `tapctl up --suffix {sfx} --region {region} --config {cfg} --handler {hs}` to apply."
    );
    assert!(plan.stdout.contains(&want), "{}", plan.stdout);
    let home = aws.dir.join("home/.aws");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config"),
        format!("[profile ops]\nregion = {region}\n"),
    )
    .unwrap();
    let other = suffix("none");
    let run = aws
        .tapctl(&[
            "outputs",
            "--suffix",
            &other,
            "--profile",
            "ops",
            "--config",
            cfg,
        ])
        .code(1);
    let want =
        format!("run `tapctl up --suffix {other} --region {region} --profile ops --config {cfg}`");
    assert!(run.stderr.contains(&want), "{}", run.stderr);
    let table = s.table_name.clone();
    c.dynamodb
        .untag_resource()
        .resource_arn(&s.table_arn)
        .tag_keys("tapctl:managed")
        .send()
        .await
        .unwrap();
    let run = aws
        .tapctl(&["up", "--suffix", &sfx, "--config", cfg])
        .code(1);
    let want = format!("rerun `tapctl up --suffix {sfx} --region {region} --config {cfg} --adopt`");
    assert!(
        run.stderr.contains(&want) && run.stderr.contains(&table),
        "{}",
        run.stderr
    );
}

/// The folder's index.py re-marked with another version.
fn mark_file(h: &Path, version: &str) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("handler/index.py"))
            .unwrap();
    assert!(h.join("index.py").is_file());
    mark(&text, version)
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_deploys_each_save_shows_the_new_logs_and_stops_on_sigint() {
    let aws = LocalAws::start();
    let c = aws.clients().await;
    let sfx = suffix("watch");
    let s = aws.stack(&sfx);
    let dir = Scratch::new(&aws, "watch");
    let h = dir.handler("h", "v1");
    let hs = h.to_str().unwrap();
    aws.tapctl(&["up", "--suffix", &sfx, "--handler", hs]).ok();

    let mut child = aws
        .tapctl_cmd(&["watch", "--suffix", &sfx, "--handler", hs])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    let mut seen = Vec::new();
    wait_line(&rx, &mut seen, &|l| l.contains("watching"));
    // Two saves, each a burst of writes: two deploys.
    for version in ["v2", "v3"] {
        let text = mark_file(&h, version);
        std::fs::write(h.join("index.py"), &text).unwrap();
        std::fs::write(h.join("index.py"), &text).unwrap();
        dir.write("h/.index.py.swp", "editor swap file: not packaged");
        wait_line(&rx, &mut seen, &|l| l.contains("deployed: new code live"));
    }
    let item = item_of(&c, &s, "watched.txt").await;
    assert_eq!(
        item.get("codeVersion")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some("v3")
    );
    wait_line(&rx, &mut seen, &|l| {
        l.contains("log: ") && l.contains("record logged v3")
    });
    sigint(child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("watch stopped"), "{stderr}");
    let deploys = seen.iter().filter(|l| l.contains("deployed")).count();
    assert_eq!(deploys, 2, "{}", seen.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_up_says_what_it_stopped_and_a_rerun_converges() {
    let aws = LocalAws::start_with(&[("LOCAL_AWS_TABLE_DELAY", "6")]);
    let sfx = suffix("int");
    let child = aws
        .tapctl_cmd(&["up", "--suffix", &sfx])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the table is being created (its creation takes 6 s here).
    eventually("CreateTable", Duration::from_secs(20), || async {
        aws.requests()
            .iter()
            .any(|r| r["operation"] == "CreateTable")
            .then_some(())
    })
    .await;
    sigint(child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let region = aws.var("AWS_REGION");
    assert!(
        stderr.contains("interrupted: up stopped while creating table")
            && stderr.contains(&format!(
                "run `tapctl up --suffix {sfx} --region {region}` to converge"
            )),
        "{stderr}"
    );
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    aws.tapctl(&["status", "--suffix", &sfx]).ok();
}

/// An organisation's SCP denies every create that does not carry its required tags
/// (`aws:RequestTag/...`: tagging afterwards is too late). Without them in the settings a
/// cold `up` is refused on one line naming the SCP and leaves nothing behind; with them
/// (`--set tags.K=V`) every create sends them and the whole cycle passes.
#[tokio::test(flavor = "multi_thread")]
async fn an_scp_requiring_tags_on_every_create_is_met_by_the_settings_tags() {
    let aws = LocalAws::start_with(&[("LOCAL_AWS_REQUIRED_REQUEST_TAGS", "team,cost-center")]);
    let sfx = suffix("scp");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;

    let refused = aws.tapctl(&["up", "--suffix", &sfx]).code(1);
    eprintln!("{}", refused.stderr);
    let errors: Vec<&str> = refused
        .stderr
        .lines()
        .filter(|l| l.starts_with("tapctl: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{}", refused.stderr);
    assert!(
        errors[0].contains("with an explicit deny in a service control policy"),
        "{}",
        errors[0]
    );
    common::assert_gone(&c, &s).await;

    let tags = ["--set", "tags.team=data", "--set", "tags.cost-center=42"];
    let with = |verb: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = verb.iter().map(|a| a.to_string()).collect();
        args.extend(["--suffix".to_string(), sfx.clone()]);
        args.extend(tags.iter().map(|a| a.to_string()));
        args
    };
    let run = |verb: &[&str]| {
        let args = with(verb);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        aws.tapctl(&args)
    };
    run(&["up"]).ok();
    run(&["status"]).ok();
    let f = function_config(&c, &s).await;
    assert_eq!(
        f.tags.unwrap().get("cost-center").map(String::as_str),
        Some("42")
    );
    run(&["down", "--yes"]).ok();
    common::assert_gone(&c, &s).await;
}
