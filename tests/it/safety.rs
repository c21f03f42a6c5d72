//! Safe by default: deletion protection keeps a stack's table (and so the whole stack) from
//! `down` until an `up` turns it off.

use crate::common;

use common::{LocalAws, suffix};

#[tokio::test(flavor = "multi_thread")]
async fn deletion_protection_keeps_the_stack_until_an_up_turns_it_off() {
    let aws = LocalAws::start();
    let sfx = suffix("protect");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    let on = "deletion_protection=true";
    aws.tapctl(&["up", "--suffix", &sfx, "--set", on]).ok();
    let table = c
        .dynamodb
        .describe_table()
        .table_name(&s.table_name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.deletion_protection_enabled, Some(true));
    aws.tapctl(&["status", "--suffix", &sfx, "--set", on]).ok();
    // A plain status: the table has it, the settings do not (drift, named).
    let doc = aws
        .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
        .code(2)
        .json();
    let table_drift = doc["resources"][0]["drift"].clone();
    assert_eq!(table_drift[0]["field"], "deletion_protection", "{doc}");
    assert_eq!(table_drift[0]["have"], "enabled", "{doc}");

    // down refuses on one line, before any write, with or without the setting; plan
    // --destroy says the same.
    for args in [
        &["down", "--suffix", &sfx, "--yes", "--set", on][..],
        &["down", "--suffix", &sfx, "--yes"][..],
    ] {
        let mark = aws.mark();
        let run = aws.tapctl(args);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(
            run.stderr,
            format!(
                "tapctl: error: table {} has deletion protection on (setting \
                 deletion_protection): nothing was deleted; set deletion_protection = false, \
                 run `tapctl up --suffix {sfx} --region {}{}`, then down again\n",
                s.table_name,
                s.target.region,
                if args.len() > 4 {
                    format!(" --set {on}")
                } else {
                    String::new()
                }
            )
        );
        assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    }
    let plan = aws.tapctl(&["plan", "--destroy", "--suffix", &sfx]);
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    assert!(
        plan.stderr.contains("deletion protection on"),
        "{}",
        plan.stderr
    );

    // up with it off: one write, then down removes everything.
    let mark = aws.mark();
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    assert_eq!(aws.writes_since(mark), ["dynamodb:UpdateTable"]);
    aws.tapctl(&["down", "--suffix", &sfx, "--yes"]).ok();
    common::assert_gone(&c, &s).await;
}

/// A `down` racing an `up`: after `down` detached the role's policies, the `up` attaches one
/// again, so DeleteRole keeps answering DeleteConflict (IAM refuses to delete a role with
/// attached policies; moto as IAM). `down` lists and detaches again instead of retrying
/// DeleteRole for two minutes and failing.
#[tokio::test(flavor = "multi_thread")]
async fn a_down_racing_a_reattach_lists_and_detaches_again() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    // DeleteRole answers DeleteConflict for 8 s after each detach (IAM's lag), which gives
    // the racing attach below its moment, even on a loaded machine.
    let aws = LocalAws::start_with(&[("LOCAL_AWS_IAM_DELETE_CONFLICT", "8")]);
    let sfx = suffix("race");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    let mark = aws.mark();
    let started = Instant::now();
    let child = aws
        .tapctl_cmd(&["down", "--suffix", &sfx, "--yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::eventually("down's first DeleteRole", Duration::from_secs(120), || {
        let seen = aws
            .requests()
            .iter()
            .skip(mark)
            .any(|r| r["operation"] == "DeleteRole");
        async move { seen.then_some(()) }
    })
    .await;
    c.iam
        .attach_role_policy()
        .role_name(&s.role_name)
        .policy_arn(&s.basic_execution_policy_arn)
        .send()
        .await
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(100),
        "down took {:?}: it retried DeleteRole instead of detaching again",
        started.elapsed()
    );
    let detaches = aws
        .requests()
        .iter()
        .skip(mark)
        .filter(|r| r["operation"] == "DetachRolePolicy")
        .count();
    assert!(detaches >= 2, "the re-attached policy was detached again");
    common::assert_gone(&c, &s).await;
}

/// Failed events waiting in the queue: `down` refuses to lose them (one line, no write), and
/// `--discard-failed-events` deletes the stack, queue and events with it.
#[tokio::test(flavor = "multi_thread")]
async fn down_keeps_failed_events_unless_told_to_discard_them() {
    let aws = LocalAws::start();
    let sfx = suffix("discard");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    let url = c.sqs.get_queue_url().queue_name(&s.queue_name).send().await;
    let url = url.unwrap().queue_url.unwrap();
    let sent = c.sqs.send_message().queue_url(&url).message_body("{}");
    sent.send().await.unwrap();
    let mark = aws.mark();
    let run = aws.tapctl(&["down", "--suffix", &sfx, "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(&format!(
            "tapctl: error: down would delete 1 failed event(s) waiting in queue {}",
            s.queue_name
        )),
        "{}",
        run.stderr
    );
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    aws.tapctl(&["down", "--suffix", &sfx, "--yes", "--discard-failed-events"])
        .ok();
    common::assert_gone(&c, &s).await;
}

/// `aws s3api put-bucket-tagging` replaces the whole tag set: the bucket then has tags but
/// none of tapctl's. status shows them as they are (not "(none)") and says how to get
/// tapctl's back; `up --adopt` does, keeping the user's tag.
#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_tag_set_is_reported_as_it_is_and_adopt_restores_it() {
    let aws = LocalAws::start();
    let sfx = suffix("retag");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    let tag = aws_sdk_s3::types::Tag::builder()
        .key("owner")
        .value("bob")
        .build()
        .unwrap();
    c.s3.put_bucket_tagging()
        .bucket(&s.bucket_name)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(tag)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let doc = aws
        .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
        .code(2)
        .json();
    let bucket = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "bucket")
        .unwrap()
        .clone();
    assert_eq!(bucket["state"], "not_tapctls", "{bucket}");
    let have = bucket["drift"][0]["have"].as_str().unwrap();
    assert!(
        have.starts_with("owner=bob (no tapctl tag: the tag set was probably replaced")
            && have.contains("--adopt"),
        "{have}"
    );
    aws.tapctl(&["up", "--suffix", &sfx, "--adopt"]).ok();
    aws.tapctl(&["status", "--suffix", &sfx]).ok();
    let tags =
        c.s3.get_bucket_tagging()
            .bucket(&s.bucket_name)
            .send()
            .await
            .unwrap()
            .tag_set;
    assert!(tags.iter().any(|t| t.key == "owner" && t.value == "bob"));
    aws.tapctl(&["down", "--suffix", &sfx, "--yes"]).ok();
}

/// Every wait says what it waits for, in the plain progress (and the live line): here IAM's
/// propagation of a new role (Lambda cannot assume it yet) and a new table becoming ACTIVE,
/// under the aws-like profile.
#[tokio::test(flavor = "multi_thread")]
async fn waits_say_what_they_wait_for() {
    let aws = LocalAws::start_with(&[("LOCAL_AWS_PROFILE", "aws-like")]);
    let sfx = suffix("waits");
    let s = aws.stack(&sfx);
    let up = aws.tapctl(&["up", "--suffix", &sfx]).ok();
    let line = |who: &str, what: &str| {
        up.stderr
            .lines()
            .any(|l| l.contains(who) && l.contains(what))
    };
    assert!(
        line(
            &format!(
                "function {}: waiting out InvalidParameterValueException",
                s.function_name
            ),
            "cannot be assumed by Lambda"
        ),
        "{}",
        up.stderr
    );
    assert!(
        line(&format!("table {}: waiting for", s.table_name), "ACTIVE"),
        "{}",
        up.stderr
    );
    aws.tapctl(&["down", "--suffix", &sfx, "--yes", "-q"]).ok();
}

/// An idle function is Inactive: its first invocation fails and wakes it (Lambda developer
/// guide, "Lambda function states"). `invoke` waits it out and runs the event once.
#[tokio::test(flavor = "multi_thread")]
async fn invoke_wakes_an_inactive_function_and_runs_once() {
    let aws = LocalAws::start();
    let sfx = suffix("idle");
    let s = aws.stack(&sfx);
    aws.tapctl(&["up", "--suffix", &sfx, "-q"]).ok();
    let fn_name = serde_json::json!({"function": s.function_name});
    let inactive = aws.control("lambda/inactive", &fn_name);
    assert_eq!(inactive["state"], "Inactive");
    let mark = aws.mark();
    aws.tapctl(&["invoke", "--suffix", &sfx, "--key", "idle.txt"])
        .ok();
    let invokes: Vec<i64> = aws
        .requests()
        .iter()
        .skip(mark)
        .filter(|r| r["operation"] == "Invoke")
        .map(|r| r["status"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(invokes.first(), Some(&409), "{invokes:?}");
    assert_eq!(invokes.last(), Some(&200), "{invokes:?}");
    aws.tapctl(&["down", "--suffix", &sfx, "--yes", "-q"]).ok();
}
