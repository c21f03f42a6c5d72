//! Security: the deployed policy documents are least-privilege, the function permission is
//! scoped by SourceArn and SourceAccount, and no command, verbose or failing, prints a secret.

use crate::chaos;
use crate::common;

use common::expect::percent_decode;
use common::{LocalAws, suffix};
use serde_json::Value;

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        one => vec![one.clone()],
    }
}

fn decode(doc: &str) -> Value {
    let text = percent_decode(doc);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn deployed_policies_are_least_privilege() {
    let aws = LocalAws::start();
    let c = aws.clients().await;
    let s = suffix("sec");
    let st = aws.stack(&s);
    aws.tapctl(&["up", "--suffix", &s]).ok();

    // The role's inline policy: explicit actions, each on this stack's table, bucket or queue only.
    let inline = c
        .iam
        .list_role_policies()
        .role_name(&st.role_name)
        .send()
        .await
        .unwrap();
    assert_eq!(inline.policy_names().len(), 1);
    let doc = c
        .iam
        .get_role_policy()
        .role_name(&st.role_name)
        .policy_name(&inline.policy_names()[0])
        .send()
        .await
        .unwrap();
    let doc = decode(doc.policy_document());
    let mut granted = Vec::new();
    for statement in as_list(&doc["Statement"]) {
        assert_eq!(statement["Effect"], "Allow");
        assert!(statement.get("NotAction").is_none() && statement.get("NotResource").is_none());
        for action in as_list(&statement["Action"]) {
            let action = action.as_str().unwrap().to_string();
            assert!(!action.contains('*'), "wildcard action {action}");
            for resource in as_list(&statement["Resource"]) {
                granted.push((action.clone(), resource.as_str().unwrap().to_string()));
            }
        }
    }
    let objects = format!("{}/*", st.bucket_arn);
    for (action, resource) in &granted {
        let ok = match action.split(':').next() {
            Some("dynamodb") => resource == &st.table_arn,
            Some("s3") => resource == &objects,
            Some("sqs") => resource == &st.queue_arn,
            _ => false,
        };
        assert!(ok, "{action} on {resource}");
    }
    assert!(granted.contains(&("dynamodb:PutItem".into(), st.table_arn.clone())));
    assert!(granted.contains(&("s3:GetObject".into(), objects.clone())));
    assert!(granted.contains(&("sqs:SendMessage".into(), st.queue_arn.clone())));
    assert!(
        !granted
            .iter()
            .any(|(a, _)| a.contains("Delete") || a.contains("Scan")),
        "{granted:?}"
    );

    // Trust: Lambda only. Managed: AWSLambdaBasicExecutionRole only.
    let role = c
        .iam
        .get_role()
        .role_name(&st.role_name)
        .send()
        .await
        .unwrap();
    let trust = decode(role.role().unwrap().assume_role_policy_document().unwrap());
    for statement in as_list(&trust["Statement"]) {
        assert_eq!(
            statement["Principal"],
            serde_json::json!({"Service": "lambda.amazonaws.com"})
        );
        assert_eq!(statement["Action"], "sts:AssumeRole");
    }
    let attached = c
        .iam
        .list_attached_role_policies()
        .role_name(&st.role_name)
        .send()
        .await
        .unwrap();
    let arns: Vec<_> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .collect();
    assert_eq!(
        arns,
        ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
    );

    // The function permission: s3.amazonaws.com, InvokeFunction, this bucket, this account.
    let policy = c
        .lambda
        .get_policy()
        .function_name(&st.function_name)
        .send()
        .await
        .unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statements = as_list(&policy["Statement"]);
    assert_eq!(statements.len(), 1, "{policy}");
    let p = &statements[0];
    assert_eq!(p["Effect"], "Allow");
    assert_eq!(p["Action"], "lambda:InvokeFunction");
    assert_eq!(p["Resource"], st.function_arn.as_str());
    let principal = &p["Principal"];
    assert!(principal["Service"] == "s3.amazonaws.com" || principal == "s3.amazonaws.com");
    let cond = &p["Condition"];
    assert_eq!(
        cond["ArnLike"]["AWS:SourceArn"],
        st.bucket_arn.as_str(),
        "{cond}"
    );
    assert_eq!(
        cond["StringEquals"]["AWS:SourceAccount"],
        common::ACCOUNT,
        "{cond}"
    );

    // The bucket: public access blocked, and a policy that only denies (non-TLS requests).
    let bp =
        c.s3.get_bucket_policy()
            .bucket(&st.bucket_name)
            .send()
            .await
            .unwrap();
    let bp: Value = serde_json::from_str(bp.policy().unwrap()).unwrap();
    for statement in as_list(&bp["Statement"]) {
        assert_eq!(statement["Effect"], "Deny", "{bp}");
        assert_eq!(
            statement["Condition"]["Bool"]["aws:SecureTransport"], "false",
            "{bp}"
        );
    }
}

/// Every command, with and without -v / -vv, successful or failing: the secret access key
/// appears in no output.
#[tokio::test(flavor = "multi_thread")]
async fn no_command_prints_a_secret() {
    let aws = LocalAws::start();
    let secret = aws.var("AWS_SECRET_ACCESS_KEY");
    assert!(secret.len() >= 16);
    let s = suffix("secret");
    let mut outputs = Vec::new();
    let mut run = |args: Vec<&str>| {
        let r = aws.tapctl(&args);
        outputs.push((args.join(" "), r.stdout + &r.stderr));
    };
    for v in [vec![], vec!["-v"], vec!["-vv"]] {
        for cmd in [
            vec!["up", "--suffix", &s],
            vec!["status", "--suffix", &s],
            vec!["status", "--suffix", &s, "--output", "json"],
            vec!["up", "--suffix", &s, "--output", "json"],
            vec!["down", "--suffix", &s, "--yes"],
            vec!["status", "--suffix", &s],
            vec!["up", "--suffix", "Bad_Suffix"],
            vec!["up", "--suffix", &s, "--region", "mars-1"],
            vec![
                "status",
                "--suffix",
                &s,
                "--endpoint-url",
                "https://127.0.0.1:1",
            ],
            vec!["status", "--suffix", &s, "--profile", "nope"],
            vec!["down", "--suffix", &s],
        ] {
            run([cmd, v.clone()].concat());
        }
    }
    // A throttled and failing run at -vv (the SDK logs retries and errors).
    chaos::knobs(
        &aws,
        serde_json::json!({"fault_rate": 1.0, "fault_services": ["sts"]}),
    );
    let r = aws.tapctl(&["status", "--suffix", &s, "-vv"]);
    assert_eq!(r.code, 1);
    outputs.push(("status -vv under faults".into(), r.stdout + &r.stderr));
    chaos::calm(&aws);

    let mut printed = 0;
    for (args, out) in &outputs {
        printed += out.len();
        assert!(
            !out.contains(&secret),
            "`tapctl {args}` printed the secret key"
        );
    }
    // -vv printed a lot: the check is not vacuous.
    assert!(printed > 10_000, "only {printed} bytes of output");
}
