//! Whether the pipeline works, over a window: Lambda's built-in metrics of the function
//! (namespace AWS/Lambda, by FunctionName: Invocations, Errors, Throttles, Duration,
//! DestinationDeliveryFailures) and SQS's of the failure queue (AWS/SQS, by QueueName:
//! ApproximateAgeOfOldestMessage), in one GetMetricData call (up to 500 queries per call);
//! beside it whether the function can run at all (reserved concurrency 0, state Failed or
//! Inactive). Lambda developer guide, "Types of metrics for Lambda functions"; SQS developer
//! guide, "Available CloudWatch metrics for Amazon SQS". Returns data, renders nothing.

use crate::aws::Clients;
use crate::error::AwsContext;
use crate::spec::Stack;
use anyhow::Result;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_sdk_lambda::types::{LastUpdateStatus, State as FnState};
use std::collections::BTreeMap;

/// The window `status` looks at without `--since`.
pub const DEFAULT_WINDOW: &str = "15m";

/// The pipeline's health over a window.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Health {
    /// The window's start (ms since the epoch) and length.
    pub since_ms: i64,
    pub window_s: i64,
    pub invocations: f64,
    pub errors: f64,
    pub throttles: f64,
    pub duration_avg_ms: Option<f64>,
    pub duration_max_ms: Option<f64>,
    /// Events Lambda could not send to the on-failure destination.
    pub delivery_failures: f64,
    /// The oldest failed event's age in the queue, as SQS last published it.
    pub oldest_failed_event_s: Option<f64>,
    /// Why the function cannot run at all; `None` when it can.
    pub cannot_run: Option<String>,
}

impl Health {
    /// Whether the window shows a problem: errors, throttles, lost destinations, or a
    /// function that cannot run.
    pub fn ok(&self) -> bool {
        self.errors == 0.0
            && self.throttles == 0.0
            && self.delivery_failures == 0.0
            && self.cannot_run.is_none()
    }
}

/// One metric query: `(id, namespace, metric, dimension name, statistic)`.
type Query = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const QUERIES: [Query; 7] = [
    (
        "invocations",
        "AWS/Lambda",
        "Invocations",
        "FunctionName",
        "Sum",
    ),
    ("errors", "AWS/Lambda", "Errors", "FunctionName", "Sum"),
    (
        "throttles",
        "AWS/Lambda",
        "Throttles",
        "FunctionName",
        "Sum",
    ),
    (
        "duration_avg",
        "AWS/Lambda",
        "Duration",
        "FunctionName",
        "Average",
    ),
    (
        "duration_max",
        "AWS/Lambda",
        "Duration",
        "FunctionName",
        "Maximum",
    ),
    (
        "delivery_failures",
        "AWS/Lambda",
        "DestinationDeliveryFailures",
        "FunctionName",
        "Sum",
    ),
    (
        "oldest",
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "QueueName",
        "Maximum",
    ),
];

/// The period of a window: one datapoint for the whole window, rounded up to a multiple of
/// 60 s (GetMetricData: a period of a minute or more is a multiple of 60).
pub fn period_s(window_s: i64) -> i32 {
    let minutes = (window_s.max(1) + 59) / 60;
    (minutes * 60).min(i64::from(i32::MAX)) as i32
}

/// Reads the health of the stack's pipeline since `since_ms`: the metrics, the function's
/// concurrency and state, all at once (one round trip).
pub async fn read(aws: &Clients, s: &Stack, since_ms: i64, now_ms: i64) -> Result<Health> {
    let window_s = ((now_ms - since_ms) / 1000).max(1);
    let queries: Vec<MetricDataQuery> = QUERIES
        .iter()
        .map(|(id, ns, name, dim, stat)| {
            let value = if *dim == "QueueName" {
                &s.queue_name
            } else {
                &s.function_name
            };
            let metric = Metric::builder()
                .namespace(*ns)
                .metric_name(*name)
                .dimensions(Dimension::builder().name(*dim).value(value).build())
                .build();
            MetricDataQuery::builder()
                .id(*id)
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric)
                        .period(period_s(window_s))
                        .stat(*stat)
                        .build(),
                )
                .return_data(true)
                .build()
        })
        .collect();
    let metrics = async {
        let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut pages = aws
            .metrics
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(DateTime::from_millis(since_ms))
            // EndTime is exclusive: up to the end of this minute, so the latest data counts.
            .end_time(DateTime::from_millis((now_ms / 60_000 + 1) * 60_000))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.aws_context("GetMetricData")?;
            for r in page.metric_data_results() {
                if let Some(id) = r.id() {
                    values.entry(id.to_string()).or_default().extend(r.values());
                }
            }
        }
        anyhow::Ok(values)
    };
    let concurrency = async {
        aws.lambda
            .get_function_concurrency()
            .function_name(&s.function_name)
            .send()
            .await
    };
    let state = async {
        aws.lambda
            .get_function_configuration()
            .function_name(&s.function_name)
            .send()
            .await
    };
    let (values, concurrency, state) = tokio::join!(metrics, concurrency, state);
    let values = values?;
    let mut health = from_values(&values);
    health.since_ms = since_ms;
    health.window_s = window_s;
    // A missing function is the status table's news, not health's.
    let reserved = concurrency
        .ok()
        .and_then(|c| c.reserved_concurrent_executions);
    let state = state.ok().map(|c| {
        (
            c.state,
            c.state_reason,
            c.last_update_status,
            c.last_update_status_reason,
        )
    });
    health.cannot_run = cannot_run(reserved, state);
    Ok(health)
}

type StateRead = (
    Option<FnState>,
    Option<String>,
    Option<LastUpdateStatus>,
    Option<String>,
);

/// Why the function cannot run at all, from its reserved concurrency and state.
fn cannot_run(reserved: Option<i32>, state: Option<StateRead>) -> Option<String> {
    if reserved == Some(0) {
        return Some(
            "reserved concurrency is 0: every invocation is throttled \
             (PutFunctionConcurrency, or DeleteFunctionConcurrency to lift it)"
                .into(),
        );
    }
    let (state, reason, update, update_reason) = state?;
    let why = |r: Option<String>| {
        r.filter(|r| !r.is_empty())
            .unwrap_or("no reason given".into())
    };
    match state {
        Some(FnState::Failed) => Some(format!("state Failed: {}", why(reason))),
        Some(FnState::Inactive) => Some(
            "state Inactive (idle for weeks): its next invocation fails while Lambda wakes it"
                .into(),
        ),
        _ if update == Some(LastUpdateStatus::Failed) => {
            Some(format!("last update Failed: {}", why(update_reason)))
        }
        _ => None,
    }
}

/// The health the metric values say (sums summed, maxima maxed, averages averaged).
fn from_values(values: &BTreeMap<String, Vec<f64>>) -> Health {
    let get = |id: &str| values.get(id).map(Vec::as_slice).unwrap_or(&[]);
    // `+ 0.0`: an empty sum is -0.0, which would print as "-0".
    let sum = |id: &str| get(id).iter().sum::<f64>() + 0.0;
    let max = |id: &str| get(id).iter().copied().reduce(f64::max);
    let avg = |id: &str| {
        let v = get(id);
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    Health {
        invocations: sum("invocations"),
        errors: sum("errors"),
        throttles: sum("throttles"),
        duration_avg_ms: avg("duration_avg"),
        duration_max_ms: max("duration_max"),
        delivery_failures: sum("delivery_failures"),
        oldest_failed_event_s: max("oldest"),
        ..Health::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_sum_max_and_average_by_query() {
        let values = BTreeMap::from([
            ("invocations".to_string(), vec![10.0, 5.0]),
            ("errors".to_string(), vec![1.0]),
            ("duration_avg".to_string(), vec![100.0, 200.0]),
            ("duration_max".to_string(), vec![300.0, 900.0]),
            ("oldest".to_string(), vec![]),
        ]);
        let h = from_values(&values);
        assert_eq!(h.invocations, 15.0);
        assert_eq!(h.errors, 1.0);
        assert_eq!(h.throttles, 0.0);
        assert_eq!(h.duration_avg_ms, Some(150.0));
        assert_eq!(h.duration_max_ms, Some(900.0));
        assert_eq!(h.oldest_failed_event_s, None);
        assert!(!h.ok());
        assert!(from_values(&BTreeMap::new()).ok());
        assert_eq!(period_s(900), 900);
        assert_eq!(period_s(61), 120);
        assert_eq!(period_s(0), 60);
    }

    #[test]
    fn a_function_that_cannot_run_says_why() {
        assert!(
            cannot_run(Some(0), None)
                .unwrap()
                .contains("reserved concurrency is 0")
        );
        assert_eq!(cannot_run(Some(5), None), None);
        let failed = (
            Some(FnState::Failed),
            Some("bad role".to_string()),
            None,
            None,
        );
        assert_eq!(
            cannot_run(None, Some(failed)).as_deref(),
            Some("state Failed: bad role")
        );
        let inactive = (Some(FnState::Inactive), None, None, None);
        assert!(
            cannot_run(None, Some(inactive))
                .unwrap()
                .starts_with("state Inactive")
        );
        let active = (
            Some(FnState::Active),
            None,
            Some(LastUpdateStatus::Successful),
            None,
        );
        assert_eq!(cannot_run(None, Some(active)), None);
    }
}
