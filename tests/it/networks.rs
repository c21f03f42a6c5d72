//! Real networks and profiles: proxies from the environment (a dead proxy fails
//! clearly and fast, NO_PROXY bypasses it, a forwarding proxy carries a whole up/down), a CA
//! bundle set globally does not break a plain-HTTP endpoint, a profile's `ca_bundle` is
//! honoured, and a mistyped AWS_PROFILE is refused even when credential variables are set.

use crate::common;

use common::{LocalAws, Run, closed_port, suffix};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// tapctl with this instance's environment plus `set`, minus `unset`.
fn tapctl_env(aws: &LocalAws, args: &[&str], set: &[(&str, &str)], unset: &[&str]) -> Run {
    let mut cmd = aws.tapctl_cmd(args);
    for k in unset {
        cmd.env_remove(k);
    }
    for (k, v) in set {
        cmd.env(k, v);
    }
    aws.run(cmd, args)
}

/// The local AWS's forwarding proxy (`localaws/proxy.py`): stopped when dropped.
struct Proxy {
    child: Child,
    port: u16,
}

impl Proxy {
    fn start() -> Self {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(repo.join(".venv/bin/python"))
            .args(["-m", "localaws.proxy", "--port", "0"])
            .current_dir(repo)
            .env("PYTHONPATH", repo)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit(|c: char| !c.is_ascii_digit())
            .find(|p| !p.is_empty())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("proxy printed no port: {line:?}"));
        Proxy { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stats(&self) -> Value {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            conn,
            "GET /_proxy/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("proxy stats ({e}): {answer}"))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn proxies_from_the_environment() {
    let aws = LocalAws::start();
    let endpoint = aws.var("AWS_ENDPOINT_URL");
    let dead = format!("http://127.0.0.1:{}", closed_port());

    // A proxy that is down: one clear line naming it, exit 1, no call reached the endpoint.
    let mark = aws.mark();
    let run = tapctl_env(
        &aws,
        &["status", "--suffix", "proxy"],
        &[("HTTPS_PROXY", &dead)],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(&format!(
            "tapctl: error: cannot reach AWS (endpoint {endpoint}, region {}, through proxy \
             {dead}): dispatch failure",
            aws.var("AWS_REGION")
        )),
        "{}",
        run.stderr
    );
    assert_eq!(aws.calls_since(mark), 0, "nothing may reach the endpoint");

    // NO_PROXY lets the same run through (lower-case variables too).
    tapctl_env(
        &aws,
        &["status", "--suffix", "proxy"],
        &[("https_proxy", &dead), ("no_proxy", "localhost,127.0.0.1")],
        &[],
    )
    .code(2);

    // A forwarding proxy carries a whole up and down.
    let proxy = Proxy::start();
    let s = suffix("proxied");
    let via = [("HTTPS_PROXY", proxy.url())];
    let via: Vec<(&str, &str)> = via.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tapctl_env(&aws, &["up", "--suffix", &s], &via, &[]).ok();
    tapctl_env(&aws, &["status", "--suffix", &s], &via, &[]).ok();
    let carried = proxy.stats()["requests"].as_u64().unwrap_or(0);
    assert!(carried > 0, "the proxy carried nothing: {}", proxy.stats());
    tapctl_env(&aws, &["down", "--suffix", &s, "--yes"], &via, &[]).ok();
    assert!(proxy.stats()["requests"].as_u64().unwrap_or(0) > carried);
}

#[test]
fn ca_bundles_and_profiles() {
    let aws = LocalAws::start();
    let ca = aws.var("AWS_CA_BUNDLE");
    let plain = aws.var("LOCAL_AWS_HTTP_URL");
    let home = aws.dir.join("home");

    // AWS_CA_BUNDLE set globally and a plain-HTTP endpoint: the bundle is not needed, the
    // run works (nothing deployed: status exit 2).
    tapctl_env(
        &aws,
        &["status", "--suffix", "plain", "--endpoint-url", &plain],
        &[],
        &[],
    )
    .code(2);

    // A profile's ca_bundle is honoured when neither --ca-bundle nor AWS_CA_BUNDLE is set.
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/config"),
        format!("[profile lab]\nca_bundle = {ca}\n\n[profile other]\nregion = eu-west-1\n"),
    )
    .unwrap();
    tapctl_env(
        &aws,
        &["status", "--suffix", "prof", "--profile", "lab"],
        &[],
        &["AWS_CA_BUNDLE"],
    )
    .code(2);
    // Without any bundle the local AWS's certificate is not trusted: the profile made the
    // difference above.
    let run = tapctl_env(
        &aws,
        &["status", "--suffix", "prof", "--profile", "other"],
        &[("AWS_REGION", &aws.var("AWS_REGION"))],
        &["AWS_CA_BUNDLE"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("certificate"), "{}", run.stderr);

    // A mistyped AWS_PROFILE is refused although credential variables are set: they must not
    // stand in for the profile the user named.
    let mark = aws.mark();
    let run = tapctl_env(
        &aws,
        &["status", "--suffix", "prof"],
        &[("AWS_PROFILE", "lba")],
        &[],
    );
    assert_eq!(
        run.stderr,
        format!(
            "tapctl: error: profile \"lba\" (AWS_PROFILE) not found in {} or {}\n",
            home.join(".aws/config").display(),
            home.join(".aws/credentials").display()
        )
    );
    assert_eq!(run.code, 1);
    assert_eq!(aws.calls_since(mark), 0);
    // AWS_PROFILE naming a profile that exists works.
    tapctl_env(
        &aws,
        &["status", "--suffix", "prof"],
        &[("AWS_PROFILE", "lab")],
        &[],
    )
    .code(2);
}

/// `tapctl deployer-policy ARGS` with no environment at all: (exit code, stdout, stderr).
fn deployer_policy(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tapctl"))
        .arg("deployer-policy")
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// `tapctl deployer-policy` for each partition, offline (an account given: no AWS call).
#[test]
fn deployer_policy_per_partition() {
    for (partition, region) in [
        ("aws", "eu-west-1"),
        ("aws-cn", "cn-north-1"),
        ("aws-us-gov", "us-gov-west-1"),
    ] {
        let (code, out, err) = deployer_policy(&["--account", "123456789012", "--region", region]);
        assert_eq!(code, Some(0), "{err}");
        let doc: Value = serde_json::from_str(&out).unwrap();
        let text = doc.to_string();
        assert!(
            text.contains(&format!(
                "arn:{partition}:dynamodb:{region}:123456789012:table/lambda-invocation-logs-*"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "arn:{partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        )));
        assert_eq!(
            text.matches("arn:aws:").count() > 0,
            partition == "aws",
            "{text}"
        );
    }
    // Any account and any region, as the README and --help show it.
    let (code, out, err) = deployer_policy(&["--account", "*", "--region", "*"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("arn:aws:dynamodb:*:*:table/lambda-invocation-logs-*"),
        "{out}"
    );
    let (code, _, err) = deployer_policy(&["--account", "12", "--region", "us-west-2"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        "tapctl: error: --account \"12\": an account id is 12 digits (or * for any)\n"
    );
}

/// The user's retry settings win over tapctl's own (8 attempts): with AWS_MAX_ATTEMPTS=1 one
/// throttled answer is the error; without it the same answer is retried away. As every AWS
/// SDK reads AWS_MAX_ATTEMPTS / AWS_RETRY_MODE and the profile's max_attempts / retry_mode.
#[tokio::test(flavor = "multi_thread")]
async fn the_users_retry_settings_are_honoured() {
    let aws = LocalAws::start();
    let throttle_once = || {
        aws.control(
            "config",
            &serde_json::json!({"fault_operations": ["ListTables", "DescribeTable"],
                               "fault_kind": "throttle", "fault_next": 1}),
        );
    };
    throttle_once();
    let run = tapctl_env(
        &aws,
        &["status", "--suffix", "retry"],
        &[("AWS_MAX_ATTEMPTS", "1")],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("Throttl"), "{}", run.stderr);
    throttle_once();
    let run = tapctl_env(&aws, &["status", "--suffix", "retry"], &[], &[]);
    assert_eq!(run.code, 2, "retried away: {}", run.stderr);
}
