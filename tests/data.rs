//! Data: 200 objects uploaded at once give exactly 200 log items; with DynamoDB throttling the
//! handler's own calls (and only those), still exactly 200 more, no duplicates.

mod chaos;
mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use common::{LocalAws, eventually, suffix};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tapctl::aws::Clients;
use tapctl::spec::Stack;

const OBJECTS: usize = 200;

async fn upload(c: &Clients, st: &Stack, prefix: &str) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..OBJECTS {
        let (s3, bucket) = (c.s3.clone(), st.bucket_name.clone());
        let key = format!("{prefix}/object {i:03}.txt");
        set.spawn(async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(format!("payload {i}").into_bytes()))
                .send()
                .await
                .map(|_| ())
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().expect("PutObject");
    }
}

/// Every item: (requestId, objectKey).
async fn items(c: &Clients, st: &Stack) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
    loop {
        let page = c
            .dynamodb
            .scan()
            .table_name(&st.table_name)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("Scan");
        for item in page.items() {
            let s = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            out.push((s("requestId"), s("objectKey")));
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return out,
        }
    }
}

/// Waits until the items of `prefix` number `OBJECTS`, then checks there is exactly one per
/// object.
async fn assert_one_item_per_object(c: &Clients, st: &Stack, prefix: &str) {
    let of_prefix = |all: Vec<(String, String)>| -> Vec<(String, String)> {
        all.into_iter()
            .filter(|(_, k)| k.starts_with(&format!("{prefix}/")))
            .collect()
    };
    eventually(
        &format!("{OBJECTS} items for {prefix}"),
        Duration::from_secs(240),
        || async { (of_prefix(items(c, st).await).len() >= OBJECTS).then_some(()) },
    )
    .await;
    let got = of_prefix(items(c, st).await);
    let mut per_key: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, k) in &got {
        *per_key.entry(k).or_default() += 1;
    }
    let ids: BTreeSet<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(got.len(), OBJECTS, "items for {prefix}");
    assert_eq!(ids.len(), OBJECTS, "distinct requestIds for {prefix}");
    assert_eq!(per_key.len(), OBJECTS, "objects with an item");
    assert!(per_key.values().all(|n| *n == 1), "{per_key:?}");
    assert!(per_key.contains_key(format!("{prefix}/object 007.txt").as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_object_gives_exactly_one_item_even_with_throttling() {
    let aws = LocalAws::start();
    let c = aws.clients().await;
    let s = suffix("data");
    let st = aws.stack(&s);
    aws.tapctl(&["up", "--suffix", &s]).ok();

    upload(&c, &st, "calm").await;
    assert_one_item_per_object(&c, &st, "calm").await;

    // Throttle DynamoDB for the handler only: a third of its calls.
    chaos::knobs(
        &aws,
        json!({"fault_rate": 0.3, "fault_kind": "throttle", "fault_services": ["dynamodb"],
               "fault_source": "lambda"}),
    );
    let mark = aws.mark();
    upload(&c, &st, "throttled").await;
    assert_one_item_per_object(&c, &st, "throttled").await;
    let throttled = chaos::faults_since(&aws, mark, "lambda");
    let client_faults = chaos::faults_since(&aws, mark, "client");
    chaos::calm(&aws);
    eprintln!("handler calls throttled: {throttled}");
    assert!(throttled >= 20, "only {throttled} throttled calls");
    assert_eq!(client_faults, 0);
    // Nothing else arrives later: still 400.
    assert_eq!(items(&c, &st).await.len(), 2 * OBJECTS);
}
