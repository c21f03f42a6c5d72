//! Data: 200 objects uploaded at once give exactly 200 log items; with DynamoDB throttling the
//! handler's own calls (and only those), still exactly 200 more, no duplicates.

use crate::chaos;
use crate::common;

use common::objects::{assert_one_item_per_object, items, upload};
use common::{LocalAws, suffix};
use serde_json::json;

const OBJECTS: usize = 200;

#[tokio::test(flavor = "multi_thread")]
async fn every_object_gives_exactly_one_item_even_with_throttling() {
    let aws = LocalAws::start();
    let c = aws.clients().await;
    let s = suffix("data");
    let st = aws.stack(&s);
    aws.tapctl(&["up", "--suffix", &s]).ok();

    upload(&c, &st, "calm", OBJECTS).await;
    assert_one_item_per_object(&c, &st, "calm", OBJECTS).await;

    // Throttle DynamoDB for the handler only: a third of its calls.
    chaos::knobs(
        &aws,
        json!({"fault_rate": 0.3, "fault_kind": "throttle", "fault_services": ["dynamodb"],
               "fault_source": "lambda"}),
    );
    let mark = aws.mark();
    upload(&c, &st, "throttled", OBJECTS).await;
    assert_one_item_per_object(&c, &st, "throttled", OBJECTS).await;
    let throttled = chaos::faults_since(&aws, mark, "lambda");
    let client_faults = chaos::faults_since(&aws, mark, "client");
    chaos::calm(&aws);
    eprintln!("handler calls throttled: {throttled}");
    assert!(throttled >= 20, "only {throttled} throttled calls");
    assert_eq!(client_faults, 0);
    // Nothing else arrives later: still 400.
    assert_eq!(items(&c, &st).await.len(), 2 * OBJECTS);
}
