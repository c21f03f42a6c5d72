//! Bad input: each case gives one line on stderr (`tapctl: error: ...`, asserted exactly), its
//! exit code, and no write call in the local AWS's request log. Also: a silent endpoint fails
//! within bounded time.

use crate::chaos;
use crate::common;

use common::{ACCOUNT, LocalAws, Run, closed_port, foreign, suffix};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Asserts the exact one-line error and exit code.
#[track_caller]
fn fails(run: Run, code: i32, msg: &str) {
    assert_eq!(
        run.stderr,
        format!("tapctl: error: {msg}\n"),
        "stderr (exit {}), stdout:\n{}",
        run.code,
        run.stdout
    );
    assert_eq!(run.code, code, "exit code for {msg}");
}

const CHARS: &str = "only lowercase letters, digits and hyphens are allowed";

#[tokio::test(flavor = "multi_thread")]
async fn catalogue_of_bad_input() {
    let aws = LocalAws::start();
    let mark = aws.mark();
    let region = aws.var("AWS_REGION");
    let ca = aws.var("AWS_CA_BUNDLE");
    let plain = aws.var("LOCAL_AWS_HTTP_URL");
    let mut cases = 0;
    let mut case = |args: &[&str], code: i32, msg: &str| {
        fails(aws.tapctl(args), code, msg);
        cases += 1;
    };

    // 1-8: suffixes that cannot make valid names, refused before any AWS call.
    case(
        &["up", "--suffix", ""],
        1,
        "invalid suffix \"\": the suffix is empty",
    );
    let long = "a".repeat(29);
    case(
        &["up", "--suffix", &long],
        1,
        &format!(
            "invalid suffix \"{long}\": the suffix is 29 characters long; at most 28 fit the \
             bucket name lambda-trigger-bucket-SUFFIX-ACCOUNT (63 characters)"
        ),
    );
    case(
        &["up", "--suffix", "Dev"],
        1,
        &format!("invalid suffix \"Dev\": the suffix contains 'D'; {CHARS}"),
    );
    case(
        &["up", "--suffix", "a_b"],
        1,
        &format!("invalid suffix \"a_b\": the suffix contains '_'; {CHARS}"),
    );
    case(
        &["up", "--suffix", "dev.1"],
        1,
        &format!("invalid suffix \"dev.1\": the suffix contains '.'; {CHARS}"),
    );
    case(
        &["status", "--suffix", "dév"],
        1,
        &format!("invalid suffix \"dév\": the suffix contains 'é'; {CHARS}"),
    );
    case(
        &["up", "--suffix", "-ab"],
        1,
        "invalid suffix \"-ab\": the suffix must not start or end with a hyphen",
    );
    case(
        &["down", "--yes", "--suffix", "ab-"],
        1,
        "invalid suffix \"ab-\": the suffix must not start or end with a hyphen",
    );
    // 9: the suffix from ENVIRONMENT_SUFFIX is checked the same way.
    let run = aws
        .tapctl_cmd(&["up"])
        .env("ENVIRONMENT_SUFFIX", "Prod")
        .output()
        .unwrap();
    fails(
        run.into(),
        1,
        &format!("invalid suffix \"Prod\": the suffix contains 'P'; {CHARS}"),
    );
    cases += 1;

    // 10-11: regions that do not exist.
    let mut case = |args: &[&str], code: i32, msg: &str| {
        fails(aws.tapctl(args), code, msg);
        cases += 1;
    };
    case(
        &["up", "--suffix", "ok", "--region", "mars-1"],
        1,
        "unknown region \"mars-1\": a region looks like us-west-2 or eu-central-1",
    );
    case(
        &["status", "--suffix", "ok", "--region", "US_WEST_2"],
        1,
        "unknown region \"US_WEST_2\": a region looks like us-west-2 or eu-central-1",
    );
    // 12: a profile that is in no file (environment credentials must not stand in for it).
    let home = aws.dir.join("home");
    case(
        &["up", "--suffix", "ok", "--profile", "nope"],
        1,
        &format!(
            "profile \"nope\" not found in {} or {}",
            home.join(".aws/config").display(),
            home.join(".aws/credentials").display()
        ),
    );
    // 13: an endpoint that refuses connections.
    let port = closed_port();
    let url = format!("https://127.0.0.1:{port}");
    case(
        &["up", "--suffix", "ok", "--endpoint-url", &url],
        1,
        &format!(
            "cannot reach AWS (endpoint {url}, region {region}): dispatch failure: io error: \
             client error (Connect): tcp connect error: Connection refused (os error 111)"
        ),
    );
    // 14: a plain-HTTP endpoint while a CA bundle given for this run asks for TLS (a bundle
    // set globally in AWS_CA_BUNDLE is not needed there and does not fail: tests/networks.rs).
    case(
        &[
            "up",
            "--suffix",
            "ok",
            "--endpoint-url",
            &plain,
            "--ca-bundle",
            &ca,
        ],
        1,
        &format!(
            "the endpoint {plain} is plain HTTP but a CA bundle ({ca}) was given for TLS: use \
             an https:// endpoint, or drop the CA bundle"
        ),
    );
    // 15-17: CA bundles that cannot be used.
    case(
        &["up", "--suffix", "ok", "--ca-bundle", "/nonexistent/ca.pem"],
        1,
        "cannot read the CA bundle /nonexistent/ca.pem: No such file or directory (os error 2)",
    );
    let dir = aws.dir.display().to_string();
    case(
        &["up", "--suffix", "ok", "--ca-bundle", &dir],
        1,
        &format!("cannot read the CA bundle {dir}: Is a directory (os error 21)"),
    );
    let junk = aws.dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let junk = junk.display().to_string();
    case(
        &["up", "--suffix", "ok", "--ca-bundle", &junk],
        1,
        &format!("the CA bundle {junk} holds no PEM certificate"),
    );
    // 18: a CA bundle that did not sign the endpoint's certificate (another CA, made here).
    let other = aws.dir.join("other-ca");
    std::fs::create_dir_all(&other).unwrap();
    let made = std::process::Command::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
    )
    .args([
        "-c",
        "import sys; from localaws.certs import make_certs; make_certs(sys.argv[1])",
    ])
    .arg(&other)
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .status()
    .unwrap();
    assert!(made.success());
    let wrong = other.join("ca.pem").display().to_string();
    let run = aws.tapctl(&["up", "--suffix", "ok", "--ca-bundle", &wrong]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(&format!(
            "tapctl: error: cannot reach AWS (endpoint {}, region {region}): dispatch failure",
            aws.var("AWS_ENDPOINT_URL")
        )) && run.stderr.contains("certificate"),
        "{}",
        run.stderr
    );
    cases += 1;

    // 19: no credentials anywhere (instance metadata off, so the chain ends at once).
    let run = aws
        .tapctl_cmd(&["up", "--suffix", "ok"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    fails(
        run.into(),
        1,
        "no AWS credentials: none found in the environment, the shared config and credentials \
         files, SSO, web identity, the container or the instance metadata (set \
         AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or use --profile)",
    );
    cases += 1;

    // 20: down without --yes and without a terminal to ask on.
    fails(
        aws.tapctl(&["down", "--suffix", "ok"]),
        1,
        "down deletes the whole stack: pass --yes to confirm (stdin is not a terminal)",
    );
    cases += 1;

    // 21-22: status and down with nothing deployed: not errors, but nothing is made either.
    let s = suffix("none");
    let run = aws.tapctl(&["status", "--suffix", &s]).code(2);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout
            .lines()
            .filter(|l| l.ends_with(" missing"))
            .count(),
        7,
        "{}",
        run.stdout
    );
    let run = aws.tapctl(&["down", "--suffix", &s, "--yes"]).ok();
    assert_eq!(
        run.stdout.matches("already gone").count(),
        7,
        "{}",
        run.stdout
    );
    cases += 2;

    // 23-24: an invalid --output and an unknown command: clap's usage errors, one line too.
    let run = aws.tapctl(&["status", "--suffix", "ok", "--output", "yaml"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "tapctl: error: invalid value 'yaml' for '--output <OUTPUT>' [possible values: text, \
         json] (see tapctl --help)\n"
    );
    let run = aws.tapctl(&["deploy", "--suffix", "ok"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        "tapctl: error: unrecognized subcommand 'deploy'; tip: a similar subcommand exists: \
         'deployer-policy' (see tapctl --help)\n"
    );
    cases += 2;

    assert!(cases >= 24, "{cases} cases");
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
}

/// Resources with tapctl's names that are not tapctl's: `up` names them and changes nothing;
/// a bucket name held by another account is a clear error too.
#[tokio::test(flavor = "multi_thread")]
async fn foreign_resources_and_a_taken_bucket_name() {
    let aws = LocalAws::start();
    let c = aws.clients().await;
    let region = aws.var("AWS_REGION");

    // Same account, untagged, tapctl's names.
    let s1 = suffix("foreign");
    let st = aws.stack(&s1);
    foreign::bucket(&c.s3, &st.bucket_name, &region).await;
    foreign::configured_log_group(&c, &st).await;
    let mark = aws.mark();
    fails(
        aws.tapctl(&["up", "--suffix", &s1]),
        1,
        &format!(
            "not tapctl's (no tapctl tags for suffix {s1}): bucket {}, log-group {}; nothing \
             was changed; rerun `tapctl up --suffix {s1} --region {} --adopt` to take them over",
            st.bucket_name,
            st.log_group_name,
            aws.var("AWS_REGION")
        ),
    );
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    // down leaves them alone, with a warning each.
    let run = aws.tapctl(&["down", "--suffix", &s1, "--yes"]).ok();
    assert!(
        run.stderr.contains(&format!(
            "tapctl: warning: bucket {} is not tapctl's: left alone",
            st.bucket_name
        )),
        "{}",
        run.stderr
    );
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    c.s3.head_bucket()
        .bucket(&st.bucket_name)
        .send()
        .await
        .unwrap();

    // A bucket with this stack's name, owned by another account.
    let s2 = suffix("taken");
    let st = aws.stack(&s2);
    let other = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws.sdk_config().await)
            .force_path_style(true)
            .build(),
    );
    foreign::bucket_of(&other, &st.bucket_name, &region, Some("111122223333")).await;
    let mark = aws.mark();
    fails(
        aws.tapctl(&["up", "--suffix", &s2]),
        1,
        &format!(
            "bucket {} belongs to another AWS account; choose another suffix",
            st.bucket_name
        ),
    );
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    assert!(st.bucket_name.ends_with(ACCOUNT));
    // status says so and exits 2; nothing written.
    let run = aws.tapctl(&["status", "--suffix", &s2, "--output", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.json()["resources"][1]["state"], "other_account");
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());

    // tapctl's own function, read by a deployer without lambda:ListTags: GetFunction has a
    // TagsError and no tags. An error naming the permission, never "not tapctl's".
    let s3 = suffix("notags");
    let function = aws.stack(&s3).function_name;
    aws.tapctl(&["up", "--suffix", &s3]).ok();
    aws.control(
        "lambda/tags-denied",
        &serde_json::json!({"function": function}),
    );
    let mark = aws.mark();
    let arn = format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{function}");
    let want = format!(
        "reading the function: GetFunction returned no tags of {function}: AccessDeniedException: User: \
         arn:aws:iam::{ACCOUNT}:user/moto is not authorized to perform: lambda:ListTags on \
         resource: {arn} because no identity-based policy allows the lambda:ListTags action \
         (tapctl needs lambda:ListTags)"
    );
    for command in ["status", "up"] {
        fails(aws.tapctl(&[command, "--suffix", &s3]), 1, &want);
    }
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
}

/// An endpoint that accepts connections and never answers: an error within 30 s, for https
/// (stuck in the TLS handshake) and for plain http (stuck waiting for the response).
#[tokio::test(flavor = "multi_thread")]
async fn a_silent_endpoint_fails_within_30_seconds() {
    let aws = LocalAws::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn); // keep it open, say nothing
        }
    });
    let region = aws.var("AWS_REGION");
    let https = format!("https://127.0.0.1:{port}");
    let http = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    let a = chaos::spawn(&aws, &["up", "--suffix", "ok", "--endpoint-url", &https]);
    let b = aws
        .tapctl_cmd(&["status", "--suffix", "ok", "--endpoint-url", &http])
        .env_remove("AWS_CA_BUNDLE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (chaos::wait(a), chaos::wait(b));
    let took = t.elapsed();
    // https: the TLS handshake counts against the 5 s connect timeout (4 identity-check
    // attempts); plain http: each attempt waits for an answer until the 25 s cap.
    fails(
        a,
        1,
        &format!(
            "cannot reach AWS (endpoint {https}, region {region}): dispatch failure: timeout: \
             client error (Connect): HTTP connect timeout occurred after 5s: timed out"
        ),
    );
    fails(
        b,
        1,
        &format!("no answer from AWS (endpoint {http}, region {region}) within 25s"),
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

/// `tapctl logs | head`: a reader that stops early closes stdout. Every command ends quietly
/// then, exit 0 and nothing on stderr (it panicked: exit 101, with a backtrace under
/// RUST_BACKTRACE). No AWS needed: `config` and `completions` print without a call.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    use std::process::{Command, Stdio};
    for args in [
        &["config", "--suffix", "pipe"][..],
        &["config", "--suffix", "pipe", "--output", "json"][..],
        &["completions", "bash"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tapctl"))
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tapctl");
        // The reader is gone before tapctl writes its first byte.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait for tapctl");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}
