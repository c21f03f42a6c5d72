//! The function's log lines as an operator reads them: a window of events, and a tail that
//! follows new ones (`logs --follow`, `watch`). The log group itself is `resource::log_group`'s.

use crate::aws::Clients;
use crate::error::AwsContext;
use crate::spec::Stack;
use anyhow::Result;
use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsError;
use std::collections::HashSet;

/// One event of the function's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    pub stream: String,
    /// The line, without its trailing newline.
    pub message: String,
    pub id: String,
}

/// The function's log events at or after `start_ms` (epoch milliseconds), oldest first, every
/// page of FilterLogEvents; with `filter`, only those matching that CloudWatch Logs filter
/// pattern. A missing log group is an error that says what to do.
pub async fn events_since(
    aws: &Clients,
    s: &Stack,
    start_ms: i64,
    filter: Option<&str>,
) -> Result<Vec<LogLine>> {
    let mut pages = aws
        .logs
        .filter_log_events()
        .log_group_name(&s.log_group_name)
        .start_time(start_ms)
        .set_filter_pattern(filter.map(str::to_string))
        .into_paginator()
        .send();
    let mut lines = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Err(e)
                if e.as_service_error()
                    .is_some_and(FilterLogEventsError::is_resource_not_found_exception) =>
            {
                anyhow::bail!(
                    "log group {} does not exist: is the stack deployed? ({})",
                    s.log_group_name,
                    s.command("status")
                )
            }
            other => other.aws_context("FilterLogEvents")?,
        };
        lines.extend(page.events().iter().map(|e| LogLine {
            timestamp_ms: e.timestamp().unwrap_or_default(),
            stream: e.log_stream_name().unwrap_or_default().to_string(),
            message: e.message().unwrap_or_default().trim_end().to_string(),
            id: e.event_id().unwrap_or_default().to_string(),
        }));
    }
    lines.sort_by_key(|l| l.timestamp_ms);
    Ok(lines)
}

/// Follows the function's log: each [`Tail::next`] returns the lines not returned before, read
/// from the newest timestamp seen so far (lines of the same millisecond are told apart by
/// their event id, so none is shown twice or skipped).
#[derive(Debug)]
pub struct Tail {
    from_ms: i64,
    /// Ids of the lines returned at `from_ms`.
    seen: HashSet<String>,
}

impl Tail {
    pub fn new(from_ms: i64) -> Self {
        Tail {
            from_ms,
            seen: HashSet::new(),
        }
    }

    pub async fn next(
        &mut self,
        aws: &Clients,
        s: &Stack,
        filter: Option<&str>,
    ) -> Result<Vec<LogLine>> {
        let lines = events_since(aws, s, self.from_ms, filter).await?;
        Ok(self.take_new(lines))
    }

    /// The pure half of `next`: what is new in a read from `from_ms` on.
    fn take_new(&mut self, lines: Vec<LogLine>) -> Vec<LogLine> {
        let fresh: Vec<LogLine> = lines
            .into_iter()
            .filter(|l| l.timestamp_ms > self.from_ms || !self.seen.contains(&l.id))
            .collect();
        if let Some(last) = fresh.iter().map(|l| l.timestamp_ms).max() {
            if last > self.from_ms {
                self.seen.clear();
                self.from_ms = last;
            }
            self.seen.extend(
                fresh
                    .iter()
                    .filter(|l| l.timestamp_ms == last)
                    .map(|l| l.id.clone()),
            );
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_shows_each_line_once() {
        let line = |ms: i64, id: &str| LogLine {
            timestamp_ms: ms,
            stream: "s".into(),
            message: id.into(),
            id: id.into(),
        };
        let mut t = Tail::new(100);
        let ids = |v: Vec<LogLine>| v.into_iter().map(|l| l.id).collect::<Vec<_>>();
        assert_eq!(
            ids(t.take_new(vec![line(100, "a"), line(105, "b")])),
            ["a", "b"]
        );
        // Read again from 105: b again and c of the same millisecond, then d.
        assert_eq!(
            ids(t.take_new(vec![line(105, "b"), line(105, "c"), line(107, "d")])),
            ["c", "d"]
        );
        assert_eq!(ids(t.take_new(vec![line(107, "d")])), Vec::<String>::new());
        assert_eq!(t.from_ms, 107);
    }
}
