//! Faults and concurrency: with 15 % of all requests answered by throttling or 5xx, `up` and
//! `down` still succeed and the end state is exact; two `up` at once both end well; `up` racing
//! `down` leaves a state that one more `up` or `down` settles.

use crate::chaos;
use crate::common;

use common::{LocalAws, suffix};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn up_and_down_succeed_with_15_percent_faults() {
    up_and_down_with_faults("instant").await;
}

/// The same on top of AWS's eventual consistency and conflicts.
#[tokio::test(flavor = "multi_thread")]
async fn up_and_down_succeed_with_15_percent_faults_under_aws_real() {
    up_and_down_with_faults("aws-real").await;
}

async fn up_and_down_with_faults(profile: &str) {
    let aws = LocalAws::start_with(&[
        ("LOCAL_AWS_PROFILE", profile),
        ("LOCAL_AWS_FAULT_RATE", "0.15"),
        ("LOCAL_AWS_FAULT_KIND", "mixed"),
    ]);
    let c = aws.clients().await;
    let s = suffix("faults");
    let st = aws.stack(&s);
    let mark = aws.mark();
    let run = aws.tapctl(&["up", "--suffix", &s]);
    assert_eq!(
        run.code, 0,
        "up under faults:\n{}{}",
        run.stdout, run.stderr
    );
    let up_faults = chaos::faults_since(&aws, mark, "client");
    // status and a second up under the same faults: in sync, nothing to write.
    let run = aws.tapctl(&["status", "--suffix", &s]);
    assert_eq!(
        run.code, 0,
        "status under faults:\n{}{}",
        run.stdout, run.stderr
    );
    let m = aws.mark();
    aws.tapctl(&["up", "--suffix", &s]).ok();
    assert_eq!(aws.writes_since(m), Vec::<String>::new());
    // The end state, read without faults: exactly the stack.
    chaos::calm(&aws);
    chaos::assert_converged(&aws, &s);

    chaos::knobs(&aws, json!({"fault_rate": 0.15, "fault_kind": "mixed"}));
    let mark = aws.mark();
    let run = aws.tapctl(&["down", "--suffix", &s, "--yes"]);
    assert_eq!(
        run.code, 0,
        "down under faults:\n{}{}",
        run.stdout, run.stderr
    );
    let down_faults = chaos::faults_since(&aws, mark, "client");
    aws.tapctl(&["down", "--suffix", &s, "--yes"]).ok();
    chaos::calm(&aws);
    common::assert_gone(&c, &st).await;
    eprintln!("faults injected: up {up_faults}, down {down_faults}");
    assert!(up_faults > 0 && down_faults > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_ups_at_once_both_succeed() {
    let aws = LocalAws::start_with(&[
        ("LOCAL_AWS_LATENCY_MS", "10"),
        ("LOCAL_AWS_JITTER_MS", "10"),
    ]);
    for round in 0..3 {
        let s = suffix("twin");
        let a = chaos::spawn(&aws, &["up", "--suffix", &s]);
        let b = chaos::spawn(&aws, &["up", "--suffix", &s]);
        for run in [chaos::wait(a), chaos::wait(b)] {
            assert_eq!(
                run.code, 0,
                "round {round}: a concurrent up failed:\n{}{}",
                run.stdout, run.stderr
            );
        }
        chaos::assert_converged(&aws, &s);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn up_racing_down_is_settled_by_one_more_run() {
    let aws = LocalAws::start_with(&[
        ("LOCAL_AWS_LATENCY_MS", "10"),
        ("LOCAL_AWS_JITTER_MS", "10"),
    ]);
    let c = aws.clients().await;
    for round in 0..4 {
        let s = suffix("race");
        let st = aws.stack(&s);
        // Half the rounds race on a deployed stack, half on nothing.
        if round % 2 == 0 {
            aws.tapctl(&["up", "--suffix", &s]).ok();
        }
        let up = chaos::spawn(&aws, &["up", "--suffix", &s]);
        let down = chaos::spawn(&aws, &["down", "--suffix", &s, "--yes"]);
        let (up, down) = (chaos::wait(up), chaos::wait(down));
        for run in [&up, &down] {
            // Either may lose the race, but only with a one-line error.
            assert!(
                run.code == 0 || (run.code == 1 && run.stderr.contains("tapctl: error: ")),
                "round {round}: {run:?}"
            );
        }
        eprintln!("round {round}: up {}, down {}", up.code, down.code);
        // One more up settles it in sync ...
        let run = aws.tapctl(&["up", "--suffix", &s]);
        assert_eq!(
            run.code, 0,
            "round {round}: up after the race:\n{}{}",
            run.stdout, run.stderr
        );
        chaos::assert_converged(&aws, &s);
        // ... and after another race, one more down removes everything.
        let up = chaos::spawn(&aws, &["up", "--suffix", &s]);
        let down = chaos::spawn(&aws, &["down", "--suffix", &s, "--yes"]);
        let _ = (chaos::wait(up), chaos::wait(down));
        let run = aws.tapctl(&["down", "--suffix", &s, "--yes"]);
        assert_eq!(
            run.code, 0,
            "round {round}: down after the race:\n{}{}",
            run.stdout, run.stderr
        );
        common::assert_gone(&c, &st).await;
    }
}
