//! The log table's items as an operator reads them: one object's events through the
//! [`OBJECT_INDEX`] (a Query, newest first: its cost depends on that object's events, not on the
//! table's size), or the latest events of the whole table (a Scan, bounded by a limit); and
//! deleting an item (smoke's cleanup).

use crate::error::AwsError;
use crate::resource::sdk::has_code;
use crate::spec::{HASH_KEY, OBJECT_INDEX, RANGE_KEY, Stack, TTL_ATTRIBUTE};
use anyhow::{Result, anyhow};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

/// The most items one Query or Scan page asks for.
const PAGE: i32 = 1000;

/// One log item (one S3 event the handler logged).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogItem {
    /// The event's time (the table's range key, S3's `eventTime`).
    pub time: String,
    pub event: String,
    pub key: String,
    pub size: Option<i64>,
    pub bucket: String,
    pub request_id: String,
    pub logged_at: Option<String>,
    /// Epoch seconds after which DynamoDB may delete the item (item expiry on).
    pub expires_at: Option<i64>,
    /// Written for an event tapctl made (`invoke`, `backfill`), not one S3 sent.
    pub synthetic: Option<String>,
}

impl LogItem {
    fn from_item(item: &Item) -> Self {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
        };
        LogItem {
            time: text(RANGE_KEY).unwrap_or_default(),
            event: text("eventName").unwrap_or_default(),
            key: text("objectKey").unwrap_or_default(),
            size: number("objectSize"),
            bucket: text("bucketName").unwrap_or_default(),
            request_id: text(HASH_KEY).unwrap_or_default(),
            logged_at: text("loggedAt"),
            expires_at: number(TTL_ATTRIBUTE),
            synthetic: text("synthetic"),
        }
    }
}

/// What a read found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Newest first.
    pub items: Vec<LogItem>,
    /// Items DynamoDB read to answer (its `ScannedCount`, summed over pages).
    pub scanned: i64,
    /// False when a Scan stopped at the limit before the end of the table: the items are the
    /// newest of those read, not necessarily the newest of the table.
    pub complete: bool,
    /// The index was still being built: the items come from a Scan filtered on the key.
    pub index_building: bool,
}

/// DynamoDB refuses a Query on an index it is still building.
const BACKFILLING: &str = "Cannot read from backfilling global secondary index";

/// The one-line error of a failed read, with what to do when the table or index is missing.
fn read_error(s: &Stack, op: &str, e: AwsError) -> anyhow::Error {
    let hint = if has_code(&e, "ResourceNotFoundException") {
        format!(
            " (table {} does not exist: is the stack deployed? {})",
            s.table_name,
            s.command("status")
        )
    } else if has_code(&e, "ValidationException") && e.to_string().contains("index") {
        format!(
            " (table {} has no index {OBJECT_INDEX} yet: run `{}`)",
            s.table_name,
            s.command("up")
        )
    } else {
        String::new()
    };
    anyhow!("{op} on table {}: {e}{hint}", s.table_name)
}

/// The events of the object `key` (as the handler logged it: decoded), newest first, at most
/// `limit`, those at or after `since` (an ISO 8601 UTC time) when given: a Query on the index,
/// paged until `limit`. The index is eventually consistent: an item written a moment ago may
/// show a moment later.
pub async fn for_object(
    aws: &crate::aws::Clients,
    s: &Stack,
    key: &str,
    since: Option<&str>,
    limit: usize,
) -> Result<Found> {
    let mut found = Found {
        complete: true,
        ..Found::default()
    };
    let mut start: Option<Item> = None;
    loop {
        let want = limit.saturating_sub(found.items.len()).max(1);
        let start_key = start.take();
        let mut q = aws
            .dynamodb
            .query()
            .table_name(&s.table_name)
            .index_name(OBJECT_INDEX)
            .scan_index_forward(false)
            .limit(i32::try_from(want).unwrap_or(PAGE).min(PAGE))
            .expression_attribute_values(":k", AttributeValue::S(key.to_string()))
            .set_exclusive_start_key(start_key);
        q = match since {
            Some(t) => q
                .key_condition_expression("objectKey = :k AND #t >= :since")
                .expression_attribute_names("#t", RANGE_KEY)
                .expression_attribute_values(":since", AttributeValue::S(t.to_string())),
            None => q.key_condition_expression("objectKey = :k"),
        };
        let page = match q.send().await {
            Err(e) if e.message().is_some_and(|m| m.contains(BACKFILLING)) => {
                // Being built (minutes to hours on a table with items): the same answer from a
                // Scan, which reads the whole table, said so by the caller.
                let mut scanned = scan(aws, s, since, Some(key), limit).await?;
                scanned.index_building = true;
                return Ok(scanned);
            }
            other => other.map_err(|e| read_error(s, "Query", AwsError::new(e)))?,
        };
        found.scanned += i64::from(page.scanned_count);
        found
            .items
            .extend(page.items().iter().map(LogItem::from_item));
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() && found.items.len() < limit => start = Some(k),
            _ => break,
        }
    }
    found.items.truncate(limit);
    Ok(found)
}

/// The latest events of the whole table: a Scan (filtered to `since` when given), paged until
/// `limit` items matched or the table ended, then sorted newest first.
pub async fn recent(
    aws: &crate::aws::Clients,
    s: &Stack,
    since: Option<&str>,
    limit: usize,
) -> Result<Found> {
    scan(aws, s, since, None, limit).await
}

/// A Scan of the table filtered to `since` and to one object's `key` when given, paged until
/// `limit` items matched or the table ended, newest first.
async fn scan(
    aws: &crate::aws::Clients,
    s: &Stack,
    since: Option<&str>,
    key: Option<&str>,
    limit: usize,
) -> Result<Found> {
    let mut found = Found::default();
    let mut start: Option<Item> = None;
    let mut filters = Vec::new();
    if since.is_some() {
        filters.push("#t >= :since");
    }
    if key.is_some() {
        filters.push("objectKey = :k");
    }
    loop {
        let mut q = aws
            .dynamodb
            .scan()
            .table_name(&s.table_name)
            .limit(PAGE)
            .set_exclusive_start_key(start.take());
        if !filters.is_empty() {
            q = q.filter_expression(filters.join(" AND "));
        }
        if let Some(t) = since {
            q = q
                .expression_attribute_names("#t", RANGE_KEY)
                .expression_attribute_values(":since", AttributeValue::S(t.to_string()));
        }
        if let Some(k) = key {
            q = q.expression_attribute_values(":k", AttributeValue::S(k.to_string()));
        }
        let page = q
            .send()
            .await
            .map_err(|e| read_error(s, "Scan", AwsError::new(e)))?;
        found.scanned += i64::from(page.scanned_count);
        found
            .items
            .extend(page.items().iter().map(LogItem::from_item));
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => {
                if found.items.len() >= limit {
                    break;
                }
                start = Some(k);
            }
            _ => {
                found.complete = true;
                break;
            }
        }
    }
    found.items.sort_by(|a, b| b.time.cmp(&a.time));
    found.items.truncate(limit);
    Ok(found)
}

/// Deletes one log item by its keys; an item already gone counts as deleted.
pub async fn delete(aws: &crate::aws::Clients, s: &Stack, item: &LogItem) -> Result<()> {
    aws.dynamodb
        .delete_item()
        .table_name(&s.table_name)
        .key(HASH_KEY, AttributeValue::S(item.request_id.clone()))
        .key(RANGE_KEY, AttributeValue::S(item.time.clone()))
        .send()
        .await
        .map_err(|e| read_error(s, "DeleteItem", AwsError::new(e)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_read_as_the_handler_writes_them() {
        let s = |v: &str| AttributeValue::S(v.into());
        let item: Item = [
            ("requestId", s("s3:abc")),
            ("timestamp", s("2024-05-01T12:00:00.000Z")),
            ("eventName", s("ObjectCreated:Put")),
            ("objectKey", s("a b.txt")),
            ("bucketName", s("b")),
            ("objectSize", AttributeValue::N("12".into())),
            ("expiresAt", AttributeValue::N("1714600000".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let got = LogItem::from_item(&item);
        assert_eq!(got.key, "a b.txt");
        assert_eq!(got.size, Some(12));
        assert_eq!(got.expires_at, Some(1_714_600_000));
        assert_eq!(got.logged_at, None);
        assert_eq!(got.time, "2024-05-01T12:00:00.000Z");
    }
}
