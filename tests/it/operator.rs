//! Operator experience on the local AWS: plan / dry runs (no write call, exit codes), the JSON
//! documents of every command, smoke, outputs, list, live progress under a pseudo-terminal,
//! `-v` call lines without secrets, and the deployer policy covering every call of a full cycle.

use crate::common;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use common::{LocalAws, iam, status, suffix};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

/// The keys every document starts with.
#[track_caller]
fn envelope(v: &Value, command: &str, ok: bool) {
    assert_eq!(v["schema"], 1, "{v}");
    assert_eq!(v["command"], command, "{v}");
    assert_eq!(v["ok"], ok, "{v}");
    assert!(v["region"].is_string() && v["account"].is_string(), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_shows_changes_and_never_writes() {
    let aws = LocalAws::start();
    let sfx = suffix("plan");
    let s = aws.stack(&sfx);

    let mark = aws.mark();
    let plan = aws
        .tapctl(&["plan", "--suffix", &sfx, "--output", "json"])
        .code(2)
        .json();
    envelope(&plan, "plan", true);
    assert_eq!(plan["mode"], "up");
    assert_eq!(plan["changes_pending"], true);
    assert_eq!(status::column(&plan, "action"), ["create"; 7]);
    let dry = aws
        .tapctl(&["up", "--dry-run", "--suffix", &sfx, "--output", "json"])
        .code(2)
        .json();
    assert_eq!(dry["resources"], plan["resources"]);
    let text = aws.tapctl(&["plan", "--suffix", &sfx]).code(2);
    assert!(text.stdout.contains("7 to create"), "{}", text.stdout);
    assert_eq!(aws.writes_since(mark), Vec::<String>::new(), "plan wrote");

    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    let plan = aws
        .tapctl(&["plan", "--suffix", &sfx, "--output", "json"])
        .ok()
        .json();
    assert_eq!(plan["changes_pending"], false);
    assert_eq!(status::column(&plan, "action"), ["no_change"; 7]);

    // A drifted setting: have -> want, field by field.
    let c = aws.clients().await;
    c.logs
        .put_retention_policy()
        .log_group_name(&s.log_group_name)
        .retention_in_days(30)
        .send()
        .await
        .unwrap();
    let mark = aws.mark();
    let plan = aws
        .tapctl(&["plan", "--suffix", &sfx, "--output", "json"])
        .code(2)
        .json();
    let group = &plan["resources"][3];
    assert_eq!(group["resource"], "log-group");
    assert_eq!(group["action"], "update");
    let change = group["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["have"].as_str().unwrap().contains("30"))
        .unwrap_or_else(|| panic!("no retention change in {plan}"));
    assert!(change["want"].as_str().unwrap().contains("14"), "{plan}");
    let line = format!(
        "{}: {} -> {}",
        change["field"].as_str().unwrap(),
        change["have"].as_str().unwrap(),
        change["want"].as_str().unwrap()
    );
    let text = aws.tapctl(&["plan", "--suffix", &sfx]).code(2);
    assert!(text.stdout.contains(&line), "{line} not in {}", text.stdout);

    // The teardown plan.
    let destroy = aws
        .tapctl(&["plan", "--destroy", "--suffix", &sfx, "--output", "json"])
        .code(2)
        .json();
    assert_eq!(destroy["mode"], "down");
    assert_eq!(status::column(&destroy, "action"), ["delete"; 7]);
    let dry = aws
        .tapctl(&["down", "--dry-run", "--suffix", &sfx, "--output", "json"])
        .code(2)
        .json();
    assert_eq!(dry["resources"], destroy["resources"]);
    assert_eq!(aws.writes_since(mark), Vec::<String>::new(), "plan wrote");

    aws.tapctl(&["up", "--suffix", &sfx]).ok();
    aws.tapctl(&["plan", "--suffix", &sfx]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_names_what_up_would_refuse() {
    let aws = LocalAws::start();
    let sfx = suffix("conflict");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    // A same-named table without tapctl's tags.
    c.dynamodb
        .create_table()
        .table_name(&s.table_name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("requestId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("requestId")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mark = aws.mark();
    let run = aws
        .tapctl(&["plan", "--suffix", &sfx, "--output", "json"])
        .code(1);
    let v = run.json();
    envelope(&v, "plan", false);
    assert_eq!(v["resources"][0]["action"], "conflict");
    assert_eq!(aws.writes_since(mark), Vec::<String>::new(), "plan wrote");
    assert!(run.stderr.contains("not tapctl's"), "{}", run.stderr);
    let adopt = aws
        .tapctl(&["plan", "--adopt", "--suffix", &sfx, "--output", "json"])
        .code(2)
        .json();
    assert_eq!(adopt["resources"][0]["action"], "adopt");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_on_every_command_smoke_outputs_list() {
    let aws = LocalAws::start();
    let sfx = suffix("json");
    let s = aws.stack(&sfx);

    // Before anything exists: outputs and smoke fail, in the same envelope.
    let out = aws
        .tapctl(&["outputs", "--suffix", &sfx, "--output", "json"])
        .code(1)
        .json();
    envelope_error(&out, "outputs");
    let smoke = aws
        .tapctl(&[
            "smoke",
            "--suffix",
            &sfx,
            "--timeout",
            "2",
            "--output",
            "json",
        ])
        .code(1)
        .json();
    envelope(&smoke, "smoke", false);
    // Named by the first read round, before any upload.
    let error = smoke["error"].as_str().unwrap();
    assert!(
        error.starts_with("bucket: ") && error.contains("is the stack deployed?"),
        "{smoke}"
    );
    assert_eq!(smoke["probes"], 0, "{smoke}");

    let up = aws
        .tapctl(&["up", "--suffix", &sfx, "--output", "json"])
        .ok()
        .json();
    envelope(&up, "up", true);
    assert!(up["seconds"].is_number() && up["outputs"].is_object());
    let status = aws
        .tapctl(&["status", "--suffix", &sfx, "--output", "json"])
        .ok()
        .json();
    envelope(&status, "status", true);
    assert_eq!(status["in_sync"], true);

    let out = aws
        .tapctl(&["outputs", "--suffix", &sfx, "--output", "json"])
        .ok()
        .json();
    envelope(&out, "outputs", true);
    assert_eq!(out["suffix"], sfx.as_str());
    assert_eq!(out["outputs"]["BucketName"], s.bucket_name.as_str());
    assert_eq!(out["outputs"]["DynamoDBTableName"], s.table_name.as_str());
    assert_eq!(out["outputs"]["LambdaFunctionArn"], s.function_arn.as_str());
    let text = aws.tapctl(&["outputs", "--suffix", &sfx]).ok();
    assert!(text.stdout.contains(&s.bucket_name));

    let smoke = aws
        .tapctl(&["smoke", "--suffix", &sfx, "--output", "json"])
        .ok()
        .json();
    envelope(&smoke, "smoke", true);
    assert!(smoke["latency_seconds"].as_f64().unwrap() > 0.0, "{smoke}");
    assert_eq!(smoke["cleaned_up"], true);
    assert!(
        smoke["request_id"].as_str().unwrap().starts_with("s3:"),
        "{smoke}"
    );
    // The probe and its item are gone.
    let c = aws.clients().await;
    let objects =
        c.s3.list_objects_v2()
            .bucket(&s.bucket_name)
            .send()
            .await
            .unwrap();
    assert!(objects.contents().is_empty(), "{objects:?}");
    let items = c
        .dynamodb
        .scan()
        .table_name(&s.table_name)
        .send()
        .await
        .unwrap();
    assert!(items.items().is_empty(), "{items:?}");
    let text = aws.tapctl(&["smoke", "--suffix", &sfx]).ok();
    assert!(text.stdout.contains("smoke ok"), "{}", text.stdout);

    // A second, partial stack; list finds both, by their tags.
    let other = suffix("json-other");
    aws.tapctl(&["up", "--suffix", &other]).ok();
    let so = aws.stack(&other);
    c.lambda
        .delete_function()
        .function_name(&so.function_name)
        .send()
        .await
        .unwrap();
    let list = aws.tapctl(&["list", "--output", "json"]).ok().json();
    assert_eq!(list["schema"], 1);
    assert_eq!(list["command"], "list");
    assert_eq!(list["ok"], true);
    let stacks = list["stacks"].as_array().unwrap();
    let find = |x: &str| {
        stacks
            .iter()
            .find(|st| st["suffix"] == x)
            .unwrap_or_else(|| panic!("{x} not listed: {list}"))
    };
    assert_eq!(find(&sfx)["complete"], true);
    assert_eq!(find(&other)["complete"], false);
    assert!(
        !find(&other)["resources"]
            .as_array()
            .unwrap()
            .contains(&Value::from("function"))
    );
    let text = aws.tapctl(&["list"]).ok();
    assert!(text.stdout.contains(&sfx), "{}", text.stdout);

    let down = aws
        .tapctl(&["down", "--yes", "--suffix", &sfx, "--output", "json"])
        .ok()
        .json();
    envelope(&down, "down", true);
    assert!(down.get("outputs").is_none());
    // A bad suffix: refused before any AWS call, still a JSON document.
    let bad = aws
        .tapctl(&["status", "--suffix", "Bad_Suffix", "--output", "json"])
        .code(1)
        .json();
    envelope_error(&bad, "status");
}

#[track_caller]
fn envelope_error(v: &Value, command: &str) {
    assert_eq!(v["schema"], 1, "{v}");
    assert_eq!(v["command"], command, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
}

/// Runs tapctl under a pseudo-terminal (util-linux `script`) and returns what the terminal got.
fn under_pty(aws: &LocalAws, args: &[&str], extra_env: &[(&str, &str)]) -> (i32, String) {
    let mut line = shell_quote(env!("CARGO_BIN_EXE_tapctl"));
    for a in args {
        line.push(' ');
        line.push_str(&shell_quote(a));
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", aws.dir.join("home"))
        .env("TERM", "xterm-256color")
        .env("SHELL", "/bin/sh")
        .envs(aws.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(extra_env.iter().copied())
        .stdin(Stdio::null());
    let out = cmd.output().expect("run script(1)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn has_color(s: &str) -> bool {
    // SGR colour sequences (indicatif's cursor movement alone is not colour).
    ["\x1b[32m", "\x1b[36m", "\x1b[31m", "\x1b[2m"]
        .iter()
        .any(|c| s.contains(c))
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_is_live_on_a_terminal_and_plain_elsewhere() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: script(1) (util-linux) is not installed");
        return;
    }
    let aws = LocalAws::start();
    let sfx = suffix("tty");

    let (code, screen) = under_pty(&aws, &["up", "--suffix", &sfx], &[]);
    assert_eq!(code, 0, "{screen}");
    assert!(has_color(&screen), "no colour on a terminal:\n{screen:?}");
    // Live lines: a spinner while running, a sign, the action and the step's time at the end.
    assert!(screen.contains("creating…"), "{screen:?}");
    assert!(screen.contains("created\x1b[0m ("), "{screen:?}");
    // The summary with total time and outputs; the per-resource table is not repeated.
    assert!(screen.contains("up done in "), "{screen:?}");
    assert!(screen.contains("Outputs:") && screen.contains("LambdaFunctionArn"));
    assert!(
        !screen.contains("[  "),
        "plain lines on a terminal: {screen:?}"
    );

    // NO_COLOR: still live, no colour.
    let (code, screen) = under_pty(&aws, &["up", "--suffix", &sfx], &[("NO_COLOR", "1")]);
    assert_eq!(code, 0, "{screen}");
    assert!(!has_color(&screen), "colour despite NO_COLOR: {screen:?}");
    assert!(screen.contains("= table"), "{screen:?}");
    let (_, screen) = under_pty(
        &aws,
        &["plan", "--destroy", "--suffix", &sfx],
        &[("NO_COLOR", "1")],
    );
    assert!(
        !has_color(&screen) && screen.contains("- table"),
        "{screen:?}"
    );

    // --quiet on a terminal: the result only.
    let (code, screen) = under_pty(&aws, &["down", "--yes", "--quiet", "--suffix", &sfx], &[]);
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("deleting…"), "{screen:?}");
    assert!(screen.contains("down done in"), "{screen:?}");

    // Not a terminal: plain timestamped lines, no escape sequence at all.
    let run = aws.tapctl(&["up", "--suffix", &sfx]).ok();
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
    assert!(run.stderr.contains("] creating table"), "{}", run.stderr);
    assert!(run.stderr.contains("table "), "{}", run.stderr);
    assert!(run.stdout.contains("  table "), "{}", run.stdout);
    let run = aws.tapctl(&["down", "--yes", "-q", "--suffix", &sfx]).ok();
    assert_eq!(run.stderr, "", "--quiet printed progress");
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_logs_each_call_and_no_secret() {
    let aws = LocalAws::start();
    let sfx = suffix("verbose");
    let token = "FwoGZXIvYXdzEXAMPLESESSIONTOKENdoNotPrint";
    let run = aws.tapctl(&["-v", "status", "--suffix", &sfx]).code(2);
    assert!(
        run.stderr.contains("operation=GetCallerIdentity")
            && run.stderr.contains("operation=DescribeTable")
            && run.stderr.contains("ms="),
        "{}",
        run.stderr
    );
    let quiet = aws.tapctl(&["status", "--suffix", &sfx]).code(2);
    assert!(!quiet.stderr.contains("operation="), "{}", quiet.stderr);

    let mut cmd = aws.tapctl_cmd(&["-vv", "up", "--suffix", &sfx]);
    cmd.env("AWS_SESSION_TOKEN", token);
    let run = common::Run::from(cmd.output().unwrap());
    let secret = aws.var("AWS_SECRET_ACCESS_KEY");
    for line in run.stderr.lines() {
        assert!(
            !line.contains(&secret) && !line.contains(token),
            "a secret on stderr: {line}"
        );
    }
    assert!(
        run.stderr.contains("operation=CreateTable"),
        "{}",
        run.stderr
    );
}

#[test]
fn help_version_and_completions_need_no_aws() {
    let bin = env!("CARGO_BIN_EXE_tapctl");
    let out = Command::new(bin).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("tapctl "));
    for sub in [
        "up",
        "down",
        "status",
        "plan",
        "outputs",
        "smoke",
        "list",
        "completions",
    ] {
        let out = Command::new(bin).args([sub, "--help"]).output().unwrap();
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Example"), "{sub} --help: {help}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(bin)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("tapctl") && script.contains("smoke"),
            "{shell}"
        );
    }
}

#[test]
fn the_policy_model_can_refuse() {
    let policy = serde_json::json!({"Statement": [
        {"Effect": "Allow", "Action": ["s3:Get*"], "Resource": "arn:aws:s3:::b-*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
         "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}
    ]});
    assert!(iam::allows(
        &policy,
        "s3:GetBucketTagging",
        "arn:aws:s3:::b-1",
        &[]
    ));
    assert!(!iam::allows(
        &policy,
        "s3:PutBucketTagging",
        "arn:aws:s3:::b-1",
        &[]
    ));
    assert!(!iam::allows(
        &policy,
        "s3:GetBucketTagging",
        "arn:aws:s3:::c-1",
        &[]
    ));
    assert!(!iam::allows(&policy, "iam:PassRole", "x", &[]));
    assert!(iam::allows(
        &policy,
        "iam:PassRole",
        "x",
        &[("iam:PassedToService", "lambda.amazonaws.com")]
    ));
    assert!(iam::glob("a*b?d", "axxbcd") && !iam::glob("a*b?d", "axxbd"));
}

#[tokio::test(flavor = "multi_thread")]
async fn deployer_policy_covers_a_full_cycle() {
    let aws = LocalAws::start_with(&[("LOCAL_AWS_PROFILE", "aws-like")]);
    let sfx = suffix("policy");
    let s = aws.stack(&sfx);
    let c = aws.clients().await;
    // The cycle runs under a permissions boundary (a managed policy of the account), as a
    // guard-railed deployer must: the role is created with it, a change repaired.
    let doc = serde_json::json!({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let created = c.iam.create_policy().policy_name("deployer-boundary");
    let out = created.policy_document(doc.to_string()).send().await;
    let boundary = out.unwrap().policy.unwrap().arn.unwrap();
    let bounded = [("TAPCTL_PERMISSIONS_BOUNDARY", boundary.as_str())];
    // The log windows of tapctl's own runs: the test's drift-making calls are left out. Each
    // with the boundary setting or without (its calls are judged by that policy).
    let mut windows = Vec::new();
    let mut run_with = |args: &[&str], code: i32, env: &[(&str, &str)]| {
        let from = aws.mark();
        let mut cmd = aws.tapctl_cmd(args);
        cmd.envs(env.iter().copied());
        aws.run(cmd, args).code(code);
        windows.push((from, aws.mark(), !env.is_empty()));
    };
    let mut run = |args: &[&str], code: i32| run_with(args, code, &bounded);
    run(&["plan", "--suffix", &sfx], 2);
    run(&["up", "--suffix", &sfx], 0);
    run(&["up", "--suffix", &sfx], 0);
    run(&["status", "--suffix", &sfx], 0);
    run(&["outputs", "--suffix", &sfx], 0);
    run(&["smoke", "--suffix", &sfx, "--timeout", "60"], 0);
    run(&["invoke", "--suffix", &sfx, "--key", "policy.txt"], 0);
    run(&["events", "--suffix", &sfx, "--key", "policy.txt"], 0);
    run(&["events", "--suffix", &sfx, "--limit", "1"], 0);
    run(&["logs", "--suffix", &sfx], 0);
    run(&["list"], 0);
    // An object uploaded without the trigger: backfill lists, looks up, invokes, waits; up
    // puts the trigger back.
    let empty = aws_sdk_s3::types::NotificationConfiguration::builder().build();
    let cleared = c.s3.put_bucket_notification_configuration();
    let cleared = cleared
        .bucket(&s.bucket_name)
        .notification_configuration(empty);
    cleared.send().await.unwrap();
    let put = c.s3.put_object().bucket(&s.bucket_name).key("missed.txt");
    put.body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    run(&["backfill", "--dry-run", "--suffix", &sfx], 2);
    run(&["backfill", "--suffix", &sfx], 0);
    run(&["up", "--suffix", &sfx], 0);
    // Two failed events: one the function takes, one that is no destination record.
    let url = c.sqs.get_queue_url().queue_name(&s.queue_name).send().await;
    let url = url.unwrap().queue_url.unwrap();
    let record = serde_json::json!({
        "requestContext": {"functionArn": format!("{}:$LATEST", s.function_arn),
                           "condition": "RetriesExhausted"},
        "requestPayload": {"Records": []}
    });
    for body in [record.to_string(), "not a record".to_string()] {
        let sent = c.sqs.send_message().queue_url(&url).message_body(body);
        sent.send().await.unwrap();
    }
    run(&["redrive", "--dry-run", "--suffix", &sfx], 2);
    run(&["redrive", "--suffix", &sfx], 2);
    // The message that is no destination record stays until asked for: then it is deleted.
    run(&["redrive", "--drop-foreign", "--suffix", &sfx], 0);
    run(&["status", "--suffix", &sfx], 0);
    // Repairs: retention, memory size, PITR, the bucket policy, the queue's retention.
    c.sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::MessageRetentionPeriod,
            "60",
        )
        .send()
        .await
        .unwrap();
    c.logs
        .put_retention_policy()
        .log_group_name(&s.log_group_name)
        .retention_in_days(30)
        .send()
        .await
        .unwrap();
    c.lambda
        .update_function_configuration()
        .function_name(&s.function_name)
        .memory_size(256)
        .send()
        .await
        .unwrap();
    c.s3.delete_bucket_policy()
        .bucket(&s.bucket_name)
        .send()
        .await
        .unwrap();
    let removed = c.iam.delete_role_permissions_boundary();
    removed.role_name(&s.role_name).send().await.unwrap();
    run(&["status", "--suffix", &sfx], 2);
    run(&["up", "--suffix", &sfx], 0);
    // Without the setting, `up` removes the boundary (under the unbounded policy).
    run_with(&["up", "--suffix", &sfx], 0, &[]);
    run_with(&["down", "--yes", "--suffix", &sfx], 0, &bounded);
    run_with(&["down", "--yes", "--suffix", &sfx], 0, &bounded);

    // The policy `tapctl deployer-policy` prints for this account and region, evaluated for
    // each call: action, resource and the condition keys tapctl's request carries.
    let printed = |env: &[(&str, &str)]| {
        let args = ["deployer-policy", "--output", "json"];
        let mut cmd = aws.tapctl_cmd(&args);
        cmd.envs(env.iter().copied());
        let printed = aws.run(cmd, &args).ok().json();
        assert_eq!(printed["account"], s.target.account);
        printed["policy"].clone()
    };
    let policies = [printed(&[]), printed(&bounded)];
    let basic = format!(
        "arn:{}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        s.target.partition
    );
    // Every role tapctl changes is tagged as tapctl's; CreateRole and
    // PutRolePermissionsBoundary carry the boundary of the setting.
    let context = |bounded: bool| {
        let mut context = vec![
            ("s3:ResourceAccount", s.target.account.as_str()),
            ("iam:PassedToService", "lambda.amazonaws.com"),
            ("iam:PolicyARN", basic.as_str()),
            ("lambda:Principal", "s3.amazonaws.com"),
            ("aws:ResourceTag/tapctl:managed", "true"),
        ];
        if bounded {
            context.push(("iam:PermissionsBoundary", boundary.as_str()));
        }
        context
    };
    let requests = aws.requests();
    let mut called = BTreeSet::new();
    for (from, to, bounded) in windows {
        let (policy, context) = (&policies[usize::from(bounded)], context(bounded));
        for r in &requests[from..to] {
            if r["source"] != "client" {
                continue;
            }
            let (svc, op) = (
                r["service"].as_str().unwrap(),
                r["operation"].as_str().unwrap(),
            );
            called.insert(format!("{svc}:{op}"));
            for action in iam::actions(svc, op) {
                let resource = iam::call_resource(&s, &action);
                assert!(
                    iam::allows(policy, &action, &resource, &context),
                    "{svc}:{op} needs {action} on {resource}, which `tapctl deployer-policy` \
                     does not grant"
                );
            }
        }
    }
    // The documented policy (any account, any region) grants every action too.
    let documented = iam::documented_actions();
    for a in called.iter().flat_map(|c| {
        let (svc, op) = c.split_once(':').unwrap();
        iam::actions(svc, op)
    }) {
        assert!(
            documented.contains(&a),
            "docs/deployer-policy.json lacks {a}"
        );
    }
    // The cycle did exercise the whole story.
    for must in [
        "sts:GetCallerIdentity",
        "dynamodb:CreateTable",
        "s3:PutObject",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:DescribeTimeToLive",
        "lambda:Invoke",
        "logs:FilterLogEvents",
        "lambda:ListFunctions",
        "lambda:UpdateFunctionConfiguration",
        "logs:PutRetentionPolicy",
        "s3:PutBucketPolicy",
        "s3:ListObjectVersions",
        "iam:DeleteRole",
        "sqs:CreateQueue",
        "sqs:SetQueueAttributes",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessageBatch",
        "sqs:ChangeMessageVisibilityBatch",
        "lambda:Invoke",
        "lambda:PutFunctionEventInvokeConfig",
        "iam:PutRolePermissionsBoundary",
        "iam:DeleteRolePermissionsBoundary",
    ] {
        assert!(called.contains(must), "{must} not called: {called:?}");
    }
}
