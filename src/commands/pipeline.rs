//! The running pipeline's commands: smoke, events, logs, invoke, redrive, watch.

use super::run::{EXIT_ERROR, EXIT_INTERRUPTED, EXIT_PENDING, Run};
use crate::cli::Output;
use crate::ops::{
    backfill as backfilling, inspect, invoke as invoking, items, logs as log_lines,
    redrive as redrive_events, smoke as probe, watch as watching,
};
use crate::report::pipeline as show;
use crate::spec::Code;
use crate::{out, report};
use anyhow::{Result, bail};
use std::path::PathBuf;
use std::time::Duration;

pub async fn smoke(run: Run, timeout: Duration) -> Result<u8> {
    let s = run.stack();
    let phase = run
        .display
        .phase("uploading a probe object and waiting for its log item");
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let r = probe::run(&run.ctx, timeout, stop).await;
    run.display.done(phase);
    run.emit(|| report::smoke_json(s, &r), || report::smoke_text(s, &r));
    Ok(match &r.error {
        None => 0,
        Some(e) if r.interrupted => {
            eprintln!("tapctl: {e}");
            EXIT_INTERRUPTED
        }
        Some(e) => {
            eprintln!("tapctl: error: smoke test failed: {e}");
            EXIT_ERROR
        }
    })
}

/// `--since` as the start time: milliseconds and the ISO form every document prints (which
/// `--since` takes back).
fn since_time(since: &str) -> Result<(i64, String)> {
    let ms = inspect::since_ms(since, inspect::now_ms())?;
    Ok((ms, inspect::iso_utc(ms)))
}

pub async fn events(
    run: Run,
    key: Option<String>,
    since: Option<String>,
    limit: u32,
) -> Result<u8> {
    let s = run.stack();
    let since = since
        .as_deref()
        .map(since_time)
        .transpose()?
        .map(|(_, t)| t);
    let limit = limit as usize;
    let aws = &run.ctx.aws;
    let (read, found) = match &key {
        Some(k) => (
            show::Read::Index,
            items::for_object(aws, s, k, since.as_deref(), limit).await?,
        ),
        None => (
            show::Read::Scan,
            items::recent(aws, s, since.as_deref(), limit).await?,
        ),
    };
    if found.index_building {
        eprintln!(
            "tapctl: warning: index {} of table {} is still being built (DynamoDB backfills \
             it: minutes to hours); these items come from a Scan of the whole table",
            crate::spec::OBJECT_INDEX,
            s.table_name
        );
    }
    run.emit(
        || show::events_json(s, key.as_deref(), since.as_deref(), read, &found),
        || show::events_text(s, read, &found),
    );
    Ok(0)
}

pub async fn logs(run: Run, since: &str, follow: bool, filter: Option<String>) -> Result<u8> {
    let s = run.stack();
    let (from_ms, from) = since_time(since)?;
    let aws = &run.ctx.aws;
    if !follow {
        let lines = log_lines::events_since(aws, s, from_ms, filter.as_deref()).await?;
        run.emit(
            || show::logs_json(s, &from, filter.as_deref(), &lines),
            || show::logs_text(&lines),
        );
        return Ok(0);
    }
    let mut tail = log_lines::Tail::new(from_ms);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let lines = tail.next(aws, s, filter.as_deref()).await?;
        for l in &lines {
            match run.output {
                Output::Json => out::json(&show::log_line_json(l)),
                Output::Text => out::text(&show::logs_text(std::slice::from_ref(l))),
            }
        }
        tokio::select! {
            _ = &mut ctrl_c => return Ok(0),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The event of `invoke --event FILE` (`-`: standard input), as it is.
fn event_from(path: &std::path::Path) -> Result<serde_json::Value> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| anyhow::anyhow!("--event {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("--event {}: not JSON: {e}", path.display()))
}

pub async fn invoke(run: Run, key: Option<String>, event_file: Option<PathBuf>) -> Result<u8> {
    let s = run.stack();
    let aws = &run.ctx.aws;
    let event = match (&key, &event_file) {
        (_, Some(path)) => event_from(path)?,
        (Some(k), None) => {
            let now = inspect::now_ms();
            match invoking::object(aws, s, k).await {
                Ok(Some(o)) => {
                    inspect::s3_object_event(s, &inspect::Object { time_ms: now, ..o }, "invoke")
                }
                Ok(None) => {
                    eprintln!(
                        "tapctl: warning: bucket {} has no object {k:?}: the function runs on \
                         an event for an object that is not there (size 0)",
                        s.bucket_name
                    );
                    inspect::s3_put_event(s, k, now)
                }
                Err(e) => {
                    eprintln!(
                        "tapctl: warning: could not check that object {k:?} exists: {}",
                        crate::error::one_line_anyhow(&e)
                    );
                    inspect::s3_put_event(s, k, now)
                }
            }
        }
        (None, None) => bail!("invoke needs --key KEY or --event FILE"),
    };
    let phase = run.display.phase("invoking the function");
    let quiet = matches!(run.style, crate::progress::Style::Quiet) || run.output == Output::Json;
    let invoked = async {
        // The wait is the deployed function's timeout, not the local setting's.
        let timeout = invoking::deployed_timeout(aws, s).await?;
        if let Some(bar) = &phase {
            bar.set_message(format!(
                "invoking the function (it may run up to {timeout}s)"
            ));
        }
        invoking::invoke_with(
            aws,
            s,
            timeout,
            serde_json::to_vec(&event)?,
            |why| match &phase {
                Some(bar) => bar.set_message(why.to_string()),
                None if !quiet => eprintln!("tapctl: {why}"),
                None => {}
            },
        )
        .await
    }
    .await;
    run.display.done(phase);
    let invoked = invoked?;
    run.emit(
        || show::invoke_json(s, key.as_deref(), &event, &invoked),
        || show::invoke_text(s, key.as_deref(), &invoked),
    );
    Ok(match show::function_error(&invoked) {
        None => 0,
        Some(e) => {
            eprintln!("tapctl: error: function {} failed: {e}", s.function_name);
            EXIT_ERROR
        }
    })
}

/// Exit 0 when every object has its item; 2 with `--dry-run` when some have none; 1 when
/// invocations failed or items did not appear within `wait`.
pub async fn backfill(
    run: Run,
    dry_run: bool,
    prefix: Option<String>,
    since: Option<String>,
    wait: Duration,
) -> Result<u8> {
    let s = run.stack();
    let since = since.as_deref().map(since_time).transpose()?;
    let options = backfilling::Options {
        prefix: prefix.clone(),
        since_ms: since.as_ref().map(|(ms, _)| *ms),
        dry_run,
        wait,
    };
    let phase = run.display.phase("listing the bucket's objects");
    let r = backfilling::run(&run.ctx.aws, s, &options, |step| {
        if let Some(bar) = &phase {
            bar.set_message(show::backfill_step(step));
        }
    })
    .await;
    run.display.done(phase);
    let r = r?;
    if r.index_building {
        eprintln!(
            "tapctl: warning: index {} of table {} is still being built; objects were \
             looked up with Scans of the whole table",
            crate::spec::OBJECT_INDEX,
            s.table_name
        );
    }
    let since = since.map(|(_, t)| t);
    run.emit(
        || show::backfill_json(s, &options, since.as_deref(), &r),
        || show::backfill_text(s, &options, &r),
    );
    if dry_run {
        return Ok(if r.missing.is_empty() {
            0
        } else {
            EXIT_PENDING
        });
    }
    if !r.ok() {
        let mut why = Vec::new();
        if !r.failed.is_empty() {
            why.push(format!(
                "{} object(s) could not be invoked ({}: {})",
                r.failed.len(),
                r.failed[0].0,
                r.failed[0].1
            ));
        }
        if !r.pending.is_empty() {
            why.push(format!(
                "{} object(s) invoked but without an item after {}s (see `{}`; a rerun \
                 invokes them again, which writes no second item)",
                r.pending.len(),
                wait.as_secs(),
                s.command("logs")
            ));
        }
        eprintln!("tapctl: error: backfill incomplete: {}", why.join("; "));
        return Ok(EXIT_ERROR);
    }
    Ok(0)
}

/// Exit 2 when events are left in the queue (or, dry, would be redriven).
pub async fn redrive(run: Run, dry_run: bool, drop_foreign: bool) -> Result<u8> {
    let s = run.stack();
    let phase = run.display.phase(if dry_run {
        "reading the failure queue"
    } else {
        "redriving the failed events"
    });
    let r = redrive_events::run(&run.ctx.aws, s, dry_run, drop_foreign).await;
    run.display.done(phase);
    let r = r?;
    run.emit(
        || report::redrive_json(s, &r),
        || report::redrive_text(s, &r),
    );
    Ok(if r.pending() { EXIT_PENDING } else { 0 })
}

/// Redeploys the handler folder on every save until Ctrl-C; with `--output json`, one JSON
/// object per line.
pub async fn watch(run: Run) -> Result<u8> {
    let s = run.stack();
    let Code::Folder { path, exclude, .. } = &s.settings.code else {
        bail!("watch needs a handler folder");
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let output = run.output;
    let stopped = watching::run(&run.ctx.aws, s, path, exclude, stop, |e| {
        let at = run.start.elapsed();
        match output {
            Output::Json => out::json(&report::watch_json(s, &e, at)),
            Output::Text => {
                let (line, to_stderr) = report::watch_line(s, &e, at);
                if to_stderr {
                    eprintln!("{line}");
                } else {
                    out::line(&line);
                }
            }
        }
    })
    .await?;
    Ok(match stopped {
        watching::Stopped::Idle => {
            eprintln!("tapctl: watch stopped");
            0
        }
        watching::Stopped::MidDeploy => {
            eprintln!(
                "tapctl: interrupted: watch stopped while deploying {}; the function runs the \
                 old or the new code: run `{}` to converge",
                path.display(),
                s.command("up")
            );
            EXIT_INTERRUPTED
        }
    })
}
