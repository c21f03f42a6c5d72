//! The failure queue's messages, as `redrive` takes them: receive (hidden for a while),
//! delete once redriven, release what is left. The queue itself is `resource::queue`'s.

use crate::aws::Clients;
use crate::error::AwsContext;
use crate::resource::retry::retry_on;
use crate::resource::sdk::{self, sqs::transient};
use anyhow::{Context, Result, bail};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
};
use std::time::Duration;

/// One message taken from the queue.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub receipt: String,
    pub body: String,
}

/// ReceiveMessage: up to 10 messages, hidden from other receivers for `visibility`, waiting
/// up to `wait` for the first (a long poll asks every SQS server, so an empty answer means
/// an empty queue).
pub async fn receive(
    aws: &Clients,
    url: &str,
    visibility: Duration,
    wait: Duration,
) -> Result<Vec<Message>> {
    let out = aws
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(i32::try_from(visibility.as_secs()).unwrap_or(i32::MAX))
        .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20))
        .send()
        .await
        .aws_context("ReceiveMessage")?;
    Ok(out
        .messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| {
            Some(Message {
                id: m.message_id?,
                receipt: m.receipt_handle?,
                body: m.body.unwrap_or_default(),
            })
        })
        .collect())
}

/// DeleteMessageBatch: these events are done with (at most 10 receipts). Returns the index
/// and the reason of each receipt SQS did not delete.
pub async fn delete_messages(
    aws: &Clients,
    url: &str,
    receipts: &[&str],
) -> Result<Vec<(usize, String)>> {
    if receipts.is_empty() {
        return Ok(Vec::new());
    }
    let entries = receipts
        .iter()
        .enumerate()
        .map(|(i, r)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(*r)
                .build()
                .context("DeleteMessageBatch entry")
        })
        .collect::<Result<Vec<_>>>()?;
    let out = sdk::write(transient, || {
        aws.sqs
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries.clone()))
            .send()
    })
    .await
    .aws_context("DeleteMessageBatch")?;
    Ok(out
        .failed()
        .iter()
        .filter_map(|f| {
            let why = format!("{}: {}", f.code(), f.message().unwrap_or_default());
            Some((f.id().parse().ok()?, why))
        })
        .collect())
}

/// Makes received messages visible again at once (ChangeMessageVisibilityBatch to 0, ten at a
/// time), so that they wait in the queue for the next run instead of for their timeout.
pub async fn release(aws: &Clients, url: &str, receipts: &[String]) -> Result<()> {
    for chunk in receipts.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .visibility_timeout(0)
                    .build()
                    .context("ChangeMessageVisibilityBatch entry")
            })
            .collect::<Result<Vec<_>>>()?;
        let out = retry_on(sdk::WRITE_BUDGET, transient, || {
            aws.sqs
                .change_message_visibility_batch()
                .queue_url(url)
                .set_entries(Some(entries.clone()))
                .send()
        })
        .await
        .aws_context("ChangeMessageVisibilityBatch")?;
        if let Some(f) = out.failed().first() {
            bail!(
                "ChangeMessageVisibilityBatch: {}: {}",
                f.code(),
                f.message().unwrap_or_default()
            );
        }
    }
    Ok(())
}
