//! `tapctl smoke`: an end-to-end check of a deployed stack. Uploads a probe object (its key has a
//! space, so the handler's URL-decoding is exercised too), waits within a bound for the log item
//! the function writes for it, then removes the probe object and its item.
//!
//! The item is found with a filtered, consistent Scan (the table's key is a hash of the event,
//! which only the handler knows): fine for a log table of modest size; the scan is paginated and
//! bounded by the same deadline.

use crate::aws::Clients;
use crate::error::{AwsContext, AwsError, one_line_anyhow};
use crate::resource::retry::{Backoff, poll};
use crate::spec::Stack;
use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where probe objects go.
pub const PROBE_PREFIX: &str = "tapctl-smoke/";

/// What one smoke run saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub bucket: String,
    pub table: String,
    pub key: String,
    /// From the start of the upload to the log item being readable.
    pub latency: Option<Duration>,
    /// The item's requestId and the handler's own timestamps, when it was found.
    pub request_id: Option<String>,
    pub event_time: Option<String>,
    pub logged_at: Option<String>,
    /// The probe object and its item are gone again.
    pub cleaned_up: bool,
    pub error: Option<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

fn probe_key() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{PROBE_PREFIX}probe {}-{}.txt",
        now.as_millis(),
        std::process::id()
    )
}

type Item = HashMap<String, AttributeValue>;

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// Runs the check; never returns early without trying to clean up what it made.
pub async fn run(aws: &Clients, s: &Stack, timeout: Duration) -> Report {
    let mut report = Report {
        bucket: s.bucket_name.clone(),
        table: s.table_name.clone(),
        key: probe_key(),
        ..Report::default()
    };
    let start = Instant::now();
    let put = aws
        .s3
        .put_object()
        .bucket(&s.bucket_name)
        .key(&report.key)
        .content_type("text/plain")
        .body(ByteStream::from(
            format!("tapctl smoke probe for stack {}\n", s.suffix()).into_bytes(),
        ))
        .send()
        .await;
    if let Err(e) = put {
        let why = AwsError::new(e);
        report.error = Some(format!(
            "uploading the probe to bucket {}: {why} (is the stack deployed? `{}`)",
            s.bucket_name,
            s.command("status")
        ));
        report.cleaned_up = true;
        return report;
    }
    let found = wait_for_items(aws, s, &report.key, start + timeout).await;
    match &found {
        Ok(items) if !items.is_empty() => {
            report.latency = Some(start.elapsed());
            report.request_id = text(&items[0], "requestId");
            report.event_time = text(&items[0], "eventTime");
            report.logged_at = text(&items[0], "loggedAt");
        }
        Ok(_) => {
            report.error = Some(format!(
                "no log item for the probe in table {} within {}s: is the trigger in place \
                 (`{}`) and does the function succeed (its log group)?",
                s.table_name,
                timeout.as_secs(),
                s.command("status")
            ))
        }
        Err(e) => report.error = Some(one_line_anyhow(e)),
    }
    let items = found.unwrap_or_default();
    match clean_up(aws, s, &report.key, &items).await {
        Ok(()) => report.cleaned_up = true,
        Err(e) => {
            let why = format!("removing the probe: {}", one_line_anyhow(&e));
            report.error = Some(match report.error.take() {
                Some(first) => format!("{first}; {why}"),
                None => why,
            });
        }
    }
    report
}

/// Polls the table (backoff 200 ms doubling to 1 s) until items for `key` appear or the
/// deadline passes; an empty list means the deadline passed.
async fn wait_for_items(
    aws: &Clients,
    s: &Stack,
    key: &str,
    deadline: Instant,
) -> Result<Vec<Item>> {
    let budget = deadline.saturating_duration_since(Instant::now());
    let backoff = Backoff::between(Duration::from_millis(200), Duration::from_secs(1), budget);
    let found = poll(backoff, || async {
        let items = scan_for(aws, s, key).await?;
        Ok((!items.is_empty()).then_some(items))
    })
    .await?;
    Ok(found.unwrap_or_default())
}

async fn scan_for(aws: &Clients, s: &Stack, key: &str) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut start_key: Option<Item> = None;
    loop {
        let page = aws
            .dynamodb
            .scan()
            .table_name(&s.table_name)
            .consistent_read(true)
            .filter_expression("objectKey = :k AND bucketName = :b")
            .expression_attribute_values(":k", AttributeValue::S(key.to_string()))
            .expression_attribute_values(":b", AttributeValue::S(s.bucket_name.clone()))
            .set_exclusive_start_key(start_key.take())
            .send()
            .await
            .map_err(AwsError::new)
            .with_context(|| format!("scanning table {}", s.table_name))?;
        items.extend(page.items().iter().cloned());
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start_key = Some(k),
            _ => return Ok(items),
        }
    }
}

async fn clean_up(aws: &Clients, s: &Stack, key: &str, items: &[Item]) -> Result<()> {
    aws.s3
        .delete_object()
        .bucket(&s.bucket_name)
        .key(key)
        .send()
        .await
        .aws_context("DeleteObject")?;
    for item in items {
        let (Some(id), Some(ts)) = (item.get("requestId"), item.get("timestamp")) else {
            continue;
        };
        aws.dynamodb
            .delete_item()
            .table_name(&s.table_name)
            .key("requestId", id.clone())
            .key("timestamp", ts.clone())
            .send()
            .await
            .aws_context("DeleteItem")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_keys_are_unique_and_need_decoding() {
        let k = probe_key();
        assert!(k.starts_with(PROBE_PREFIX) && k.contains(' '), "{k}");
    }
}
