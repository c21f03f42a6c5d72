//! One suffix, two regions. Role and bucket names are global, the stack is regional:
//! a stack is (suffix, account, region), and tapctl never reads another region's resource as
//! its own, changes it or deletes it. `up` in the second region is refused on one line naming
//! the region that owns the names; `status` there says so; `down` there leaves the first
//! region's stack in sync; `list` shows each stack once, in its own region. In us-east-1,
//! where re-creating your own bucket answers 200, a bucket made meanwhile is still not claimed.

use crate::common;

use aws_config::Region;
use common::{LocalAws, foreign, status, suffix};
use serde_json::json;
use tapctl::aws::Clients;

#[tokio::test(flavor = "multi_thread")]
async fn one_suffix_in_two_regions() {
    let aws = LocalAws::start();
    let home = aws.var("AWS_REGION");
    let away = if home == "eu-west-1" {
        "us-east-2"
    } else {
        "eu-west-1"
    };
    let s = suffix("tworeg");
    let stack = aws.stack(&s);
    aws.tapctl(&["up", "--suffix", &s, "--region", &home]).ok();
    let c = aws.clients().await;
    c.s3.put_object()
        .bucket(&stack.bucket_name)
        .key("keep.txt")
        .body(b"keep".to_vec().into())
        .send()
        .await
        .unwrap();

    // up in the other region: refused, one line naming the owning region, no write.
    let mark = aws.mark();
    let run = aws.tapctl(&["up", "--suffix", &s, "--region", away]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("region {home}")) && run.stderr.contains(&s),
        "{}",
        run.stderr
    );
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());

    // status there: the global names belong to the other region's stack (exit 2).
    let run = aws.tapctl(&[
        "status", "--suffix", &s, "--region", away, "--output", "json",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let doc = run.json();
    let state = |kind: &str| {
        status::resource(&doc, kind)["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(state("role"), "other_region");
    assert_eq!(state("bucket"), "other_region");
    assert_eq!(state("table"), "missing");
    assert_eq!(state("function"), "missing");

    // down there: refused on one line naming where the stack lives and the command for it
    // (it printed "down done" and exited 0, deleting nothing); nothing is touched, and
    // `plan --destroy` there says the same.
    let mark = aws.mark();
    let run = aws.tapctl(&["down", "--suffix", &s, "--region", away, "--yes"]);
    let want = format!(
        "tapctl: error: stack {s} lives in region {home}, not {away}: nothing of it here to \
         delete; run `tapctl down --suffix {s} --region {home}`\n"
    );
    assert_eq!((run.code, run.stderr.as_str()), (1, want.as_str()));
    let plan = aws.tapctl(&["plan", "--destroy", "--suffix", &s, "--region", away]);
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    assert!(
        plan.stderr.contains(&format!("lives in region {home}")),
        "{}",
        plan.stderr
    );
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    aws.tapctl(&["status", "--suffix", &s, "--region", &home])
        .ok();
    c.s3.head_object()
        .bucket(&stack.bucket_name)
        .key("keep.txt")
        .send()
        .await
        .expect("the object survived the other region's down");

    // list: the stack once, in its own region only.
    let listed = |region: &str| {
        aws.tapctl(&["list", "--region", region, "--output", "json"])
            .ok()
            .json()["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|st| st["suffix"] == s.as_str())
            .count()
    };
    assert_eq!(listed(&home), 1);
    assert_eq!(listed(away), 0);

    // A stack tagged before tapctl recorded regions: no region tag on the role or the bucket.
    // The role's policy and the bucket's location still say where it lives.
    c.iam
        .untag_role()
        .role_name(&stack.role_name)
        .tag_keys("tapctl:region")
        .send()
        .await
        .unwrap();
    let kept: Vec<_> =
        c.s3.get_bucket_tagging()
            .bucket(&stack.bucket_name)
            .send()
            .await
            .unwrap()
            .tag_set
            .into_iter()
            .filter(|t| t.key != "tapctl:region")
            .collect();
    c.s3.put_bucket_tagging()
        .bucket(&stack.bucket_name)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .set_tag_set(Some(kept))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let run = aws.tapctl(&[
        "status", "--suffix", &s, "--region", away, "--output", "json",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let role = status::resource(&run.json(), "role")["state"].clone();
    assert_eq!(role, "other_region");
    let mark = aws.mark();
    aws.tapctl(&["down", "--suffix", &s, "--region", away, "--yes"])
        .code(1);
    assert_eq!(aws.writes_since(mark), Vec::<String>::new());
    // At home the missing tags are drift, and up puts them back.
    aws.tapctl(&["status", "--suffix", &s, "--region", &home])
        .code(2);
    aws.tapctl(&["up", "--suffix", &s, "--region", &home]).ok();
    aws.tapctl(&["status", "--suffix", &s, "--region", &home])
        .ok();

    aws.tapctl(&["down", "--suffix", &s, "--region", &home, "--yes"])
        .ok();
}

/// us-east-1 answers 200 to CreateBucket of a bucket this account already owns, like a
/// creation: tapctl must still look again, as BucketAlreadyOwnedByYou makes it elsewhere. A
/// bucket made meanwhile (here: one whose configuration reads still lag its creation, so
/// tapctl's look finds it missing) without tapctl's tags is left as it is.
#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_made_meanwhile_in_us_east_1_is_not_claimed() {
    let aws = LocalAws::start();
    let east = "us-east-1";
    let config = aws.sdk_config().await;
    let c = Clients::new(
        &config.into_builder().region(Region::new(east)).build(),
        true,
    );
    let s = suffix("east");
    let stack = tapctl::spec::Stack::new(tapctl::spec::Target {
        region: east.into(),
        ..aws.stack(&s).target
    });
    // For 6 s after its creation the bucket's configuration reads answer NoSuchBucket.
    aws.control("config", &json!({"s3_new_bucket_lag": 6.0}));
    foreign::bucket(&c.s3, &stack.bucket_name, east).await;
    let mark = aws.mark();
    let run = aws
        .tapctl(&["up", "--suffix", &s, "--region", east])
        .code(1);
    assert!(
        run.stderr.contains(&format!(
            "bucket {} was created by someone else while tapctl was creating it and is not \
             tapctl's; it was left unchanged",
            stack.bucket_name
        )),
        "{}",
        run.stderr
    );
    let writes = aws.writes_since(mark);
    assert!(
        writes.contains(&"s3:CreateBucket".to_string()),
        "{writes:?}"
    );
    assert!(
        !writes
            .iter()
            .any(|w| w.starts_with("s3:") && w != "s3:CreateBucket"),
        "the bucket was written: {writes:?}"
    );
    let tags =
        c.s3.get_bucket_tagging()
            .bucket(&stack.bucket_name)
            .send()
            .await;
    let code = tags
        .unwrap_err()
        .into_service_error()
        .meta()
        .code()
        .map(str::to_string);
    assert_eq!(code.as_deref(), Some("NoSuchTagSet"));

    // Without it, a whole stack in us-east-1: the 200 of tapctl's own CreateBucket is looked
    // at again and found tapctl's.
    c.s3.delete_bucket()
        .bucket(&stack.bucket_name)
        .send()
        .await
        .unwrap();
    aws.control("config", &json!({"s3_new_bucket_lag": 0.0}));
    aws.tapctl(&["up", "--suffix", &s, "--region", east]).ok();
    aws.tapctl(&["status", "--suffix", &s, "--region", east])
        .ok();
    common::expect::bucket(&c, &stack).await;
    aws.tapctl(&["down", "--suffix", &s, "--region", east, "--yes"])
        .ok();
    common::assert_gone(&c, &stack).await;
}
