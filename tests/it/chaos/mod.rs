//! Helpers of the reliability tests (faults, crashes, concurrency, bad input, data, security):
//! knob changes at run time, killing tapctl at a point of its run, and checks of the stack.

use crate::common::{LocalAws, Run};
use serde_json::Value;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Changes knobs of a running instance (POST /_localaws/config on its plain listener).
pub fn knobs(aws: &LocalAws, changes: Value) -> Value {
    aws.control("config", &changes)
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
    /// Killed (SIGKILL) once this many client calls, and of them client writes, had been
    /// logged since the mark.
    At { calls: usize, writes: usize },
    /// Finished before the kill point, with this exit code.
    Finished(i32),
}

/// Runs tapctl and kills it with SIGKILL as soon as the request log shows `writes` client
/// write calls since `mark` (polled every 2 ms, so a call or two in flight may still land,
/// as they would with a real crash).
pub fn kill_after_writes(aws: &LocalAws, args: &[&str], mark: usize, writes: usize) -> Killed {
    kill_when(aws, args, mark, || aws.writes_since(mark).len() >= writes)
}

/// The same, counting every client call (reads too), to aim at points between writes.
pub fn kill_after_calls(aws: &LocalAws, args: &[&str], mark: usize, calls: usize) -> Killed {
    kill_when(aws, args, mark, || aws.calls_since(mark) >= calls)
}

fn kill_when(aws: &LocalAws, args: &[&str], mark: usize, due: impl Fn() -> bool) -> Killed {
    let mut child = spawn(aws, args);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("poll tapctl") {
            return Killed::Finished(status.code().unwrap_or(-1));
        }
        if due() {
            child.kill().expect("kill -9 tapctl");
            child.wait().expect("reap tapctl");
            return Killed::At {
                calls: aws.calls_since(mark),
                writes: aws.writes_since(mark).len(),
            };
        }
        assert!(Instant::now() < deadline, "tapctl neither wrote nor ended");
        std::thread::sleep(Duration::from_millis(2));
    }
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
