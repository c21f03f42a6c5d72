//! The data plane of the tests: objects uploaded at once, the log items the function wrote.

use super::eventually;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tapctl::aws::Clients;
use tapctl::spec::Stack;

/// Uploads `n` small objects `PREFIX/object NNN.txt` at once.
pub async fn upload(c: &Clients, st: &Stack, prefix: &str, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
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
pub async fn items(c: &Clients, st: &Stack) -> Vec<(String, String)> {
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

/// Waits until the items of `prefix` number `n`, then checks there is exactly one per object.
pub async fn assert_one_item_per_object(c: &Clients, st: &Stack, prefix: &str, n: usize) {
    let of_prefix = |all: Vec<(String, String)>| -> Vec<(String, String)> {
        all.into_iter()
            .filter(|(_, k)| k.starts_with(&format!("{prefix}/")))
            .collect()
    };
    eventually(
        &format!("{n} items for {prefix}"),
        Duration::from_secs(240),
        || async { (of_prefix(items(c, st).await).len() >= n).then_some(()) },
    )
    .await;
    let got = of_prefix(items(c, st).await);
    let mut per_key: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, k) in &got {
        *per_key.entry(k).or_default() += 1;
    }
    let ids: BTreeSet<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(got.len(), n, "items for {prefix}");
    assert_eq!(ids.len(), n, "distinct requestIds for {prefix}");
    assert_eq!(per_key.len(), n, "objects with an item");
    assert!(per_key.values().all(|n| *n == 1), "{per_key:?}");
    assert!(per_key.contains_key(format!("{prefix}/object 007.txt").as_str()));
}
