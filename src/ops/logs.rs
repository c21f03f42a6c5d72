//! The function's log lines as an operator reads them: a window of events, and a tail that
//! follows new ones (`logs --follow`, `watch`). The log group itself is `resource::log_group`'s.

use crate::aws::Clients;
use crate::error::AwsContext;
use crate::spec::Stack;
use anyhow::Result;
use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsError;
use std::collections::HashMap;
use std::time::{Duration, Instant};

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
            Err(e) if crate::resource::sdk::has_code(&e, "ThrottlingException") => {
                return Err(Throttled.into());
            }
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

/// CloudWatch Logs refused a read for its rate limit: FilterLogEvents allows 5 requests per
/// second per account and region, shared by every reader (Knowledge Center,
/// "cloudwatch-logs-throttling").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled;

impl std::fmt::Display for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "CloudWatch Logs throttled FilterLogEvents (5 requests per second per account and \
             region, shared by every reader)",
        )
    }
}

impl std::error::Error for Throttled {}

/// How far back each read of a [`Tail`] starts before the newest line it has shown: CloudWatch
/// Logs may make a line readable after lines with later timestamps, so a read from the newest
/// one alone could skip it.
pub const OVERLAP_MS: i64 = 5_000;
/// The longest pause between reads after throttling answers.
const MAX_PAUSE: Duration = Duration::from_secs(16);

/// Follows the function's log: each [`Tail::next`] returns the lines not returned before. Each
/// read starts [`OVERLAP_MS`] before the newest line shown, and lines are told apart by their
/// event id, so none is shown twice and late ones are not skipped. A throttled read returns no
/// line and doubles the pause before the next read (up to 16 s); a good one resets it.
#[derive(Debug)]
pub struct Tail {
    /// Nothing before this is read.
    start_ms: i64,
    /// The newest timestamp shown (or the start).
    newest_ms: i64,
    /// Ids of the lines shown within the overlap, with their timestamps.
    seen: HashMap<String, i64>,
    pause: Duration,
    not_before: Option<Instant>,
}

impl Tail {
    pub fn new(from_ms: i64) -> Self {
        Tail {
            start_ms: from_ms,
            newest_ms: from_ms,
            seen: HashMap::new(),
            pause: Duration::ZERO,
            not_before: None,
        }
    }

    pub async fn next(
        &mut self,
        aws: &Clients,
        s: &Stack,
        filter: Option<&str>,
    ) -> Result<Vec<LogLine>> {
        if self.not_before.is_some_and(|t| Instant::now() < t) {
            return Ok(Vec::new());
        }
        let from = (self.newest_ms - OVERLAP_MS).max(self.start_ms);
        match events_since(aws, s, from, filter).await {
            Ok(lines) => {
                self.throttled(false);
                Ok(self.take_new(lines))
            }
            Err(e) if e.downcast_ref::<Throttled>().is_some() => {
                self.throttled(true);
                tracing::debug!("{e}: next read in {:?}", self.pause);
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// The pause after a read: doubled (from 1 s, up to 16 s) after a throttled one, none
    /// after a good one.
    fn throttled(&mut self, yes: bool) {
        self.pause = if yes {
            (self.pause * 2).clamp(Duration::from_secs(1), MAX_PAUSE)
        } else {
            Duration::ZERO
        };
        self.not_before = yes.then(|| Instant::now() + self.pause);
    }

    /// The pure half of `next`: what is new in a read from `newest_ms - OVERLAP_MS` on.
    fn take_new(&mut self, lines: Vec<LogLine>) -> Vec<LogLine> {
        let fresh: Vec<LogLine> = lines
            .into_iter()
            .filter(|l| !self.seen.contains_key(&l.id))
            .collect();
        for l in &fresh {
            self.seen.insert(l.id.clone(), l.timestamp_ms);
            self.newest_ms = self.newest_ms.max(l.timestamp_ms);
        }
        let oldest_read = self.newest_ms - OVERLAP_MS;
        self.seen.retain(|_, ts| *ts >= oldest_read);
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_shows_each_line_once_and_late_lines_too() {
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
        // Read again (from 105 - overlap): a and b again, c of the same millisecond, d.
        assert_eq!(
            ids(t.take_new(vec![
                line(100, "a"),
                line(105, "b"),
                line(105, "c"),
                line(107, "d")
            ])),
            ["c", "d"]
        );
        // A line that became readable late, older than the newest shown: not skipped.
        assert_eq!(
            ids(t.take_new(vec![line(103, "late"), line(107, "d")])),
            ["late"]
        );
        assert_eq!(ids(t.take_new(vec![line(107, "d")])), Vec::<String>::new());
        assert_eq!(t.newest_ms, 107);
        // Ids older than the overlap are forgotten: the memory stays small.
        t.take_new(vec![line(107 + OVERLAP_MS + 1, "e")]);
        assert_eq!(t.seen.len(), 1);
    }

    #[test]
    fn throttling_doubles_the_pause_and_a_good_read_resets_it() {
        let mut t = Tail::new(0);
        let pauses: Vec<u64> = (0..6)
            .map(|_| {
                t.throttled(true);
                t.pause.as_secs()
            })
            .collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 16]);
        assert!(t.not_before.is_some());
        t.throttled(false);
        assert_eq!((t.pause, t.not_before), (Duration::ZERO, None));
    }
}
