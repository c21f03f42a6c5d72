//! Crashes: `kill -9` at many points of `up` and of `down` (after the Nth write call reached the
//! local AWS, N spread over the whole run); a plain rerun converges every time, without
//! `--adopt`, and what existed before tapctl is never taken over.

use crate::chaos;
use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use chaos::Killed;
use common::{LocalAws, eventually, foreign, suffix};
use std::time::Duration;
use tapctl::aws::Clients;

/// Every request takes a little while, so that a run spans many poll intervals and the kill
/// lands where it is aimed.
const KNOBS: &[(&str, &str)] = &[("LOCAL_AWS_LATENCY_MS", "25"), ("LOCAL_AWS_JITTER_MS", "5")];

/// Neighbours that are not tapctl's: same account, names of another suffix, untagged. They
/// must come out of every crash and rerun exactly as they were.
async fn neighbours(aws: &LocalAws, c: &Clients) -> String {
    let n = suffix("neighbour");
    let s = aws.stack(&n);
    foreign::bucket(&c.s3, &s.bucket_name, &aws.var("AWS_REGION")).await;
    foreign::log_group(c, &s).await;
    n
}

async fn assert_neighbours_untouched(aws: &LocalAws, c: &Clients, n: &str) {
    let s = aws.stack(n);
    let tags =
        c.s3.get_bucket_tagging()
            .bucket(&s.bucket_name)
            .send()
            .await;
    assert!(tags.is_err(), "neighbour bucket got tags: {tags:?}");
    let groups = c
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&s.log_group_name)
        .send()
        .await
        .unwrap();
    let g = &groups.log_groups()[0];
    assert_eq!(g.retention_in_days(), None, "neighbour log group changed");
    let arn = format!(
        "arn:aws:logs:{}:{}:log-group:{}",
        aws.var("AWS_REGION"),
        common::ACCOUNT,
        s.log_group_name
    );
    let tags = c
        .logs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap();
    assert!(tags.tags().is_none_or(|t| t.is_empty()), "{tags:?}");
}

/// Where to kill a run: after the Nth client call (any kind: the observe phase has no writes)
/// or after the Nth client write.
#[derive(Debug, Clone, Copy)]
enum Point {
    Call(usize),
    Write(usize),
}

/// The kill points of a run that makes `calls` calls and `writes` writes: two in the reads
/// before the first write, then after each write but the last.
fn points(calls: usize, writes: usize) -> Vec<Point> {
    let mut p = vec![Point::Call(1), Point::Call(calls / 4)];
    p.extend((1..writes).map(Point::Write));
    p
}

/// More kill points, aimed at calls spread over a run of `calls` calls, for when kills aimed at
/// writes that go out together land at the same place: tried until 10 landing places differ.
fn spare_points(calls: usize) -> impl Iterator<Item = Point> {
    let odd = (3..calls).step_by(2);
    let even = (2..calls).step_by(2);
    odd.chain(even).map(Point::Call)
}

/// Runs `args`, killing it with SIGKILL at `point`; returns (calls, writes) logged by then, or
/// None when the run finished (successfully) before reaching `point`: a run can make fewer
/// calls than the measured one (a retry it did not need this time), so that point is spent and
/// the spare points make up for it.
fn kill_at(aws: &LocalAws, args: &[&str], point: Point) -> Option<(usize, usize)> {
    let mark = aws.mark();
    let killed = match point {
        Point::Call(n) => chaos::kill_after_calls(aws, args, mark, n),
        Point::Write(n) => chaos::kill_after_writes(aws, args, mark, n),
    };
    match killed {
        Killed::At { calls, writes } => Some((calls, writes)),
        Killed::Finished(code) => {
            assert_eq!(code, 0, "{args:?} failed (exit {code}) before {point:?}");
            None
        }
    }
}

/// Distinct (calls, writes) positions the kills landed at.
fn distinct(mut at: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    at.sort();
    at.dedup();
    at
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_up_then_rerun_converges() {
    let aws = LocalAws::start_with(KNOBS);
    let c = aws.clients().await;
    let n = neighbours(&aws, &c).await;
    let mark = aws.mark();
    aws.tapctl(&["up", "--suffix", &suffix("full")]).ok();
    let (calls, writes) = (aws.calls_since(mark), aws.writes_since(mark).len());
    assert!(writes >= 12, "a whole up makes {writes} writes");
    let mut landed = Vec::new();
    let mut planned = points(calls, writes).into_iter();
    let mut spare = spare_points(calls);
    while let Some(point) = planned
        .next()
        .or_else(|| (distinct(landed.clone()).len() < 10).then(|| spare.next())?)
    {
        let s = suffix("up");
        landed.extend(kill_at(&aws, &["up", "--suffix", &s], point));
        // Rerun: no --adopt; it must finish the job and end in sync.
        let run = aws.tapctl(&["up", "--suffix", &s]);
        assert_eq!(
            run.code, 0,
            "rerun after kill at {point:?}:\n{}{}",
            run.stdout, run.stderr
        );
        chaos::assert_converged(&aws, &s);
    }
    let landed = distinct(landed);
    eprintln!("up: {calls} calls, {writes} writes; killed after (calls, writes) {landed:?}");
    assert!(landed.len() >= 10, "kill points {landed:?}");
    assert_neighbours_untouched(&aws, &c, &n).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_down_then_rerun_removes_everything() {
    let aws = LocalAws::start_with(KNOBS);
    let c = aws.clients().await;
    let n = neighbours(&aws, &c).await;
    let (mut calls, mut writes) = (0, 0);
    let mut landed = Vec::new();
    let mut todo: Vec<Option<Point>> = vec![None];
    let mut spare = None;
    let mut i = 0;
    loop {
        if i == todo.len() && distinct(landed.clone()).len() < 10 {
            let Some(point) = spare.as_mut().and_then(Iterator::next) else {
                break;
            };
            todo.push(Some(point));
        }
        if i == todo.len() {
            break;
        }
        let point = todo[i];
        i += 1;
        let s = suffix("down");
        let st = aws.stack(&s);
        aws.tapctl(&["up", "--suffix", &s]).ok();
        // Objects to empty: two that ran the function, and an unfinished multipart upload.
        for key in ["a.txt", "b c.txt"] {
            c.s3.put_object()
                .bucket(&st.bucket_name)
                .key(key)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .unwrap();
        }
        c.s3.create_multipart_upload()
            .bucket(&st.bucket_name)
            .key("big.bin")
            .send()
            .await
            .unwrap();
        // Let both invocations finish (their log streams are written last), so that none is
        // in flight to recreate the log group after the test's final down.
        eventually(
            "two invocations logged",
            Duration::from_secs(60),
            || async {
                let streams = c
                    .logs
                    .describe_log_streams()
                    .log_group_name(&st.log_group_name)
                    .send()
                    .await
                    .ok()?;
                (streams.log_streams().len() >= 2).then_some(())
            },
        )
        .await;
        let down = ["down", "--suffix", s.as_str(), "--yes"];
        let Some(point) = point else {
            // The first round measures a whole down and plans the kill points from it.
            let mark = aws.mark();
            aws.tapctl(&down).ok();
            (calls, writes) = (aws.calls_since(mark), aws.writes_since(mark).len());
            assert!(writes >= 10, "a whole down makes {writes} writes");
            common::assert_gone(&c, &st).await;
            todo.extend(points(calls, writes).into_iter().map(Some));
            spare = Some(spare_points(calls));
            continue;
        };
        landed.extend(kill_at(&aws, &down, point));
        let run = aws.tapctl(&down);
        assert_eq!(
            run.code, 0,
            "rerun after kill at {point:?}:\n{}{}",
            run.stdout, run.stderr
        );
        assert!(!run.stderr.contains("warning"), "{}", run.stderr);
        common::assert_gone(&c, &st).await;
        aws.tapctl(&down).ok();
    }
    let landed = distinct(landed);
    eprintln!("down: {calls} calls, {writes} writes; killed after (calls, writes) {landed:?}");
    assert!(landed.len() >= 10, "kill points {landed:?}");
    assert_neighbours_untouched(&aws, &c, &n).await;
}

/// The log group Lambda recreates, untagged and without retention, when an invocation still in
/// flight writes after `down` deleted it (or after a `down` killed between the function and the
/// log group): it is the function's, so the next `up` takes it back without `--adopt` and the
/// next `down` removes it. A group someone configured (a retention, any tag) stays foreign.
#[tokio::test(flavor = "multi_thread")]
async fn a_log_group_recreated_by_lambda_after_down_is_settled() {
    let aws = LocalAws::start();
    let c = aws.clients().await;
    let s = suffix("lg");
    let st = aws.stack(&s);
    aws.tapctl(&["up", "--suffix", &s]).ok();
    aws.tapctl(&["down", "--suffix", &s, "--yes"]).ok();
    // What Lambda does on its first log write: CreateLogGroup with nothing else.
    foreign::log_group(&c, &st).await;
    let run = aws.tapctl(&["down", "--suffix", &s, "--yes"]).ok();
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    common::assert_gone(&c, &st).await;

    foreign::log_group(&c, &st).await;
    aws.tapctl(&["up", "--suffix", &s]).ok();
    chaos::assert_converged(&aws, &s);
    aws.tapctl(&["down", "--suffix", &s, "--yes"]).ok();
    common::assert_gone(&c, &st).await;

    // Configured by someone: foreign, up refuses without --adopt.
    foreign::configured_log_group(&c, &st).await;
    let run = aws.tapctl(&["up", "--suffix", &s]).code(1);
    assert!(run.stderr.contains("not tapctl's"), "{}", run.stderr);
}

/// A few kills of `up` under AWS's eventual consistency and conflicts: after the bucket or
/// table was created but before its reads see it, mid-way, near the end. The rerun meets
/// what the killed run left (a bucket or table not visible yet, tags not yet listed) and
/// converges.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_up_under_aws_real_then_rerun_converges() {
    let aws = LocalAws::start_with(&[("LOCAL_AWS_PROFILE", "aws-real")]);
    for point in [Point::Write(2), Point::Write(6), Point::Write(12)] {
        let s = suffix("real");
        kill_at(&aws, &["up", "--suffix", &s], point);
        let run = aws.tapctl(&["up", "--suffix", &s]);
        assert_eq!(
            run.code, 0,
            "rerun after kill at {point:?}:\n{}{}",
            run.stdout, run.stderr
        );
        chaos::assert_converged(&aws, &s);
    }
}
