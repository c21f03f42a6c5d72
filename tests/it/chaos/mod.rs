//! Helpers of the reliability tests (faults, crashes, concurrency, bad input, data, security):
//! knob changes at run time, killing tapctl at a point of its run, and checks of the stack.
#![allow(dead_code)]

use crate::common::{LocalAws, Run};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Changes knobs of a running instance (POST /_localaws/config on its plain listener).
pub fn knobs(aws: &LocalAws, changes: Value) -> Value {
    control(aws, "config", changes)
}

/// POSTs `body` to the control endpoint `/_localaws/<path>` of a running instance; its answer.
pub fn control(aws: &LocalAws, path: &str, body: Value) -> Value {
    let url = aws.var("LOCAL_AWS_HTTP_URL");
    let addr = url.trim_start_matches("http://");
    let body = body.to_string();
    let mut s = TcpStream::connect(addr).expect("connect to the control endpoint");
    write!(
        s,
        "POST /_localaws/{path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "control: {answer}");
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or("{}");
    serde_json::from_str(json).expect("control answer is JSON")
}

/// Faults off, no latency.
pub fn calm(aws: &LocalAws) {
    knobs(
        aws,
        serde_json::json!({"fault_rate": 0, "fault_next": 0, "latency_ms": 0, "jitter_ms": 0,
                           "fault_services": [], "fault_operations": [], "fault_source": "any"}),
    );
}

/// Starts tapctl in the background.
pub fn spawn(aws: &LocalAws, args: &[&str]) -> Child {
    aws.tapctl_cmd(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tapctl")
}

pub fn wait(child: Child) -> Run {
    Run::from(child.wait_with_output().expect("wait for tapctl"))
}

/// How a run that was to be killed ended.
#[derive(Debug)]
pub enum Killed {
    /// Killed (SIGKILL) once this many client write calls had been logged.
    At(usize),
    /// Finished before the kill point, with this exit code.
    Finished(i32),
}

/// Runs tapctl and kills it with SIGKILL as soon as the request log shows `writes` client
/// write calls since `mark` (polled every 2 ms, so a call or two in flight may still land,
/// as they would with a real crash).
pub fn kill_after_writes(aws: &LocalAws, args: &[&str], mark: usize, writes: usize) -> Killed {
    kill_when(
        aws,
        args,
        || aws.writes_since(mark).len() >= writes,
        || aws.writes_since(mark).len(),
    )
}

/// The same, counting every client call (reads too), to aim at points between writes.
pub fn kill_after_calls(aws: &LocalAws, args: &[&str], mark: usize, calls: usize) -> Killed {
    kill_when(
        aws,
        args,
        || aws.calls_since(mark) >= calls,
        || aws.calls_since(mark),
    )
}

fn kill_when(
    aws: &LocalAws,
    args: &[&str],
    due: impl Fn() -> bool,
    count: impl Fn() -> usize,
) -> Killed {
    let mut child = spawn(aws, args);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("poll tapctl") {
            return Killed::Finished(status.code().unwrap_or(-1));
        }
        if due() {
            child.kill().expect("kill -9 tapctl");
            child.wait().expect("reap tapctl");
            return Killed::At(count());
        }
        assert!(Instant::now() < deadline, "tapctl neither wrote nor ended");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `status --output json`: every resource's state word.
pub fn states(aws: &LocalAws, suffix: &str) -> Vec<(String, String)> {
    let run = aws.tapctl(&["status", "--suffix", suffix, "--output", "json"]);
    assert!(
        run.code == 0 || run.code == 2,
        "status failed: {}{}",
        run.stdout,
        run.stderr
    );
    let json = run.json();
    json["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no resources in {json}"))
        .iter()
        .map(|r| {
            (
                r["resource"].as_str().unwrap_or("?").to_string(),
                r["state"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

/// Asserts `status` exits 0 (every resource in sync) and that one more `up` writes nothing.
#[track_caller]
pub fn assert_converged(aws: &LocalAws, suffix: &str) {
    let run = aws.tapctl(&["status", "--suffix", suffix]);
    assert_eq!(
        run.code, 0,
        "stack {suffix} not in sync:\n{}{}",
        run.stdout, run.stderr
    );
    let mark = aws.mark();
    aws.tapctl(&["up", "--suffix", suffix]).ok();
    assert_eq!(
        aws.writes_since(mark),
        Vec::<String>::new(),
        "up after convergence wrote"
    );
}

/// Client write calls answered with an injected fault since `mark`.
pub fn faults_since(aws: &LocalAws, mark: usize, source: &str) -> usize {
    aws.requests()
        .into_iter()
        .skip(mark)
        .filter(|r| r["source"] == source && !r["fault"].is_null())
        .count()
}
