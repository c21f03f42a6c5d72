//! Test harness: a fresh local AWS per test (scripts/local-aws), the tapctl binary run against
//! it with a clean environment, SDK clients to check what tapctl built, and the request log.

pub mod expect;
pub mod foreign;
pub mod iam;
pub mod objects;
pub mod status;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tapctl::aws::{Clients, Options};
use tapctl::spec::{Stack, Target};

pub const ACCOUNT: &str = "123456789012";

/// The longest any single tapctl run may take in a test before it is killed.
pub const TAPCTL_BUDGET: Duration = Duration::from_secs(240);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A local port nothing listens on.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A unique, valid suffix for one test: `<tag>-<pid>-<n>`.
pub fn suffix(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// One running local AWS; stopped when dropped.
pub struct LocalAws {
    pub vars: Vec<(String, String)>,
    pub dir: PathBuf,
    pub home: PathBuf,
}

impl LocalAws {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts an instance with extra environment (e.g. `LOCAL_AWS_PROFILE=aws-like`).
    pub fn start_with(knobs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(repo().join("scripts/local-aws"));
        cmd.arg("start").current_dir(repo());
        for (k, v) in knobs {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run scripts/local-aws start");
        assert!(
            out.status.success(),
            "local-aws start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                (
                    k.to_string(),
                    v.trim_matches(|c| c == '\'' || c == '"').to_string(),
                )
            })
            .collect();
        let dir = PathBuf::from(
            vars.iter()
                .find(|(k, _)| k == "LOCAL_AWS_DIR")
                .map(|(_, v)| v.clone())
                .expect("LOCAL_AWS_DIR exported"),
        );
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("test HOME");
        LocalAws { vars, dir, home }
    }

    pub fn var(&self, name: &str) -> String {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} not exported by local-aws"))
    }

    /// The tapctl binary with only this instance's environment (an empty HOME, so nothing
    /// of the developer's AWS configuration leaks in).
    pub fn tapctl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tapctl"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    /// Runs tapctl to the end, or kills it and fails the test after [`TAPCTL_BUDGET`].
    pub fn tapctl(&self, args: &[&str]) -> Run {
        self.run(self.tapctl_cmd(args), args)
    }

    /// Runs a prepared tapctl command (e.g. [`LocalAws::tapctl_cmd`] with more environment)
    /// to the end, bounded like [`LocalAws::tapctl`].
    pub fn run(&self, mut cmd: Command, args: &[&str]) -> Run {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tapctl");
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output()));
        match rx.recv_timeout(TAPCTL_BUDGET) {
            Ok(out) => Run::from(out.expect("wait for tapctl")),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("tapctl {args:?} did not finish within {TAPCTL_BUDGET:?}");
            }
        }
    }

    /// SDK clients talking to this instance, as tapctl's would.
    pub async fn clients(&self) -> Clients {
        let config = self.sdk_config().await;
        Clients::new(&config, true)
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        let opts = Options {
            region: Some(self.var("AWS_REGION")),
            profile: None,
            endpoint_url: Some(self.var("AWS_ENDPOINT_URL")),
            ca_bundle: Some(PathBuf::from(self.var("AWS_CA_BUNDLE"))),
        };
        let config = tapctl::aws::sdk_config(&opts).await.expect("sdk config");
        let creds = Credentials::new(
            self.var("AWS_ACCESS_KEY_ID"),
            self.var("AWS_SECRET_ACCESS_KEY"),
            None,
            None,
            "local-aws",
        );
        config
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .build()
    }

    pub fn stack(&self, suffix: &str) -> Stack {
        Stack::new(Target {
            suffix: suffix.into(),
            account: ACCOUNT.into(),
            region: self.var("AWS_REGION"),
            partition: "aws".into(),
        })
    }

    /// Every API call logged so far.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("requests.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// A point in the request log to look back to.
    pub fn mark(&self) -> usize {
        self.requests().len()
    }

    /// `service:Operation` of each write call made by clients (not by Lambda functions) since
    /// `mark`.
    pub fn writes_since(&self, mark: usize) -> Vec<String> {
        self.requests()
            .into_iter()
            .skip(mark)
            .filter(|r| r["source"] == "client")
            .filter(is_write)
            .map(|r| {
                format!(
                    "{}:{}",
                    r["service"].as_str().unwrap_or("?"),
                    r["operation"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    /// Calls made by clients since `mark`.
    pub fn calls_since(&self, mark: usize) -> usize {
        self.requests()
            .into_iter()
            .skip(mark)
            .filter(|r| r["source"] == "client")
            .count()
    }
}

/// Whether a request-log record is a write, as the local AWS classified it (its `write`
/// field).
pub fn is_write(record: &Value) -> bool {
    record["write"] == true
}

impl Drop for LocalAws {
    /// Stops the instance; its state folder (request log, server log, Lambda logs) is kept
    /// for a failed test to be looked into, and removed after a passing one.
    fn drop(&mut self) {
        let stopped = Command::new(repo().join("scripts/local-aws"))
            .arg("stop")
            .arg(&self.dir)
            .current_dir(repo())
            .output();
        if stopped.is_ok_and(|o| o.status.success()) && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A finished tapctl run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "tapctl failed:\n{}\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code:\n{}\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Polls `check` every 100 ms until it returns Some, or panics after `budget`.
pub async fn eventually<T, F, Fut>(what: &str, budget: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < budget,
            "timed out after {budget:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts nothing of the stack is left, looking at AWS directly (not through tapctl).
pub async fn assert_gone(c: &Clients, s: &Stack) {
    let table = c
        .dynamodb
        .describe_table()
        .table_name(&s.table_name)
        .send()
        .await;
    assert!(table.is_err(), "table {} left", s.table_name);
    let bucket = c.s3.head_bucket().bucket(&s.bucket_name).send().await;
    assert!(bucket.is_err(), "bucket {} left", s.bucket_name);
    let role = c.iam.get_role().role_name(&s.role_name).send().await;
    assert!(role.is_err(), "role {} left", s.role_name);
    let function = c
        .lambda
        .get_function()
        .function_name(&s.function_name)
        .send()
        .await;
    assert!(function.is_err(), "function {} left", s.function_name);
    let groups = c
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&s.log_group_name)
        .send()
        .await
        .unwrap();
    assert!(
        !groups
            .log_groups()
            .iter()
            .any(|g| g.log_group_name() == Some(s.log_group_name.as_str())),
        "log group {} left",
        s.log_group_name
    );
    let queue = c.sqs.get_queue_url().queue_name(&s.queue_name).send().await;
    assert!(queue.is_err(), "queue {} left", s.queue_name);
}

impl LocalAws {
    /// POSTs a JSON body to a control path of this instance (`/_localaws/PATH` on its plain
    /// listener) and answers its JSON.
    pub fn control(&self, path: &str, body: &Value) -> Value {
        use std::io::{Read, Write};
        let url = self.var("LOCAL_AWS_HTTP_URL");
        let addr = url.trim_start_matches("http://");
        let body = body.to_string();
        let mut s = std::net::TcpStream::connect(addr).expect("connect to the control endpoint");
        write!(
            s,
            "POST /_localaws/{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "control {path}: {answer}"
        );
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or("{}"))
            .expect("control answer is JSON")
    }
}

/// Lines of a running process's stdout, as they come.
pub fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line matching `want`, returning every line seen until then.
pub fn wait_line(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>, want: &dyn Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = want(&line);
                seen.push(line);
                if hit {
                    return;
                }
            }
            Err(_) => panic!("no such line within 60s; saw:\n{}", seen.join("\n")),
        }
    }
}

/// Sends SIGINT (Ctrl-C) to a process.
pub fn sigint(pid: u32) {
    let ok = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}
