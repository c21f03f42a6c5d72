//! The control plane's commands: status, plan, up, down, outputs, list.

use super::run::{EXIT_ERROR, EXIT_PENDING, Run};
use crate::cli::Output;
use crate::ops::{health, inspect};
use crate::plan::{self, Change, Mode};
use crate::resource::Kind;
use crate::resource::queue;
use crate::spec::Stack;
use crate::{engine, list as stacks, out, progress, report};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, IsTerminal, Write};

pub async fn list(run: Run) -> Result<u8> {
    let t = &run.ctx.stack.target;
    let found = stacks::list(&run.ctx.aws, t).await?;
    let (a, r) = (&t.account, &t.region);
    run.emit(
        || report::list_json(a, r, &found),
        || report::list_text(a, r, &found),
    );
    Ok(0)
}

pub async fn status(run: Run, since: &str) -> Result<u8> {
    let now = inspect::now_ms();
    let since_ms = inspect::since_ms(since, now)?;
    // The health in the same round as the resources' reads.
    let (observed, failed, health) = tokio::join!(
        run.observe(),
        queue::failed_events(&run.ctx.aws, &run.ctx.stack),
        health::read(&run.ctx.aws, &run.ctx.stack, since_ms, now)
    );
    let (observed, failed) = (observed?, failed?);
    // Without the function there is no health to speak of; an unreadable one is a warning.
    let health = match health {
        _ if observed.state(Kind::Function).is_missing() => None,
        Ok(h) => Some(h),
        Err(e) => {
            eprintln!(
                "tapctl: warning: the pipeline's health is unknown: {}",
                crate::error::one_line_anyhow(&e)
            );
            None
        }
    };
    let s = run.stack();
    run.emit(
        || report::status_json(s, &observed, failed, health.as_ref()),
        || report::status_text(s, &observed, failed, health.as_ref()),
    );
    let waiting = failed.is_some_and(|n| n > 0);
    Ok(if observed.in_sync() && !waiting {
        0
    } else {
        EXIT_PENDING
    })
}

pub async fn outputs(run: Run) -> Result<u8> {
    let observed = run.observe().await?;
    let s = run.stack();
    let absent: Vec<&str> = plan::not_deployed(&observed)
        .into_iter()
        .map(|k| k.label())
        .collect();
    if !absent.is_empty() {
        bail!(
            "stack {} is not deployed (missing or not tapctl's: {}); run `{}`",
            s.suffix(),
            absent.join(", "),
            s.command("up")
        );
    }
    run.emit(|| report::outputs_json(s), || report::outputs_text(s));
    Ok(0)
}

/// Prints the plan; exit 1 when `up` would refuse, 2 when changes are pending, else 0.
pub async fn plan(run: Run, mode: Mode) -> Result<u8> {
    let observed = run.observe().await?;
    let s = run.stack();
    let changes = plan::changes(&observed, mode);
    let conflicts = plan::conflicts(&changes, |k| k.name(s));
    let elsewhere = match mode {
        Mode::Down => plan::lives_elsewhere(&observed, &changes),
        Mode::Up { .. } => None,
    };
    let protected = match mode {
        Mode::Down => plan::protected(s, &observed, &changes),
        Mode::Up { .. } => None,
    };
    let error = match elsewhere {
        Some(r) => Some(plan::elsewhere_error(s, &r)),
        None if protected.is_some() => protected,
        None => (!conflicts.is_empty()).then(|| {
            format!(
                "up would refuse to run: {}; nothing would be changed",
                conflicts.join("; ")
            )
        }),
    };
    let color = std::io::stdout().is_terminal()
        && matches!(run.style, progress::Style::Live { color: true });
    run.emit(
        || report::plan_json(s, mode, &changes, error.as_deref()),
        || report::plan_text(s, mode, &changes, color),
    );
    Ok(if let Some(e) = error {
        eprintln!("tapctl: error: {e}");
        EXIT_ERROR
    } else if plan::pending(&changes) {
        EXIT_PENDING
    } else {
        0
    })
}

pub async fn up(run: Run, adopt: bool) -> Result<u8> {
    let observed = run.observe().await?;
    plan::refuse_foreign(run.stack(), &plan::changes(&observed, Mode::Up { adopt }))?;
    let outcomes = engine::up(run.ctx.clone(), observed, &run.display).await;
    finish(run, "up", &outcomes)
}

/// Deletes the stack; refuses (nothing deleted) where it would lose failed events without
/// `--discard-failed-events`, or where the stack lives in another region.
pub async fn down(run: Run, yes: bool, discard_failed_events: bool) -> Result<u8> {
    let (observed, failed) = tokio::join!(
        run.observe(),
        queue::failed_events(&run.ctx.aws, &run.ctx.stack)
    );
    let observed = observed?;
    let s = run.stack();
    let changes = plan::changes(&observed, Mode::Down);
    if let Some(r) = plan::lives_elsewhere(&observed, &changes) {
        bail!("{}", plan::elsewhere_error(s, &r));
    }
    if let Some(why) = plan::protected(s, &observed, &changes) {
        bail!("{why}");
    }
    let doomed = plan::kinds(&changes, |c| *c == Change::Delete);
    // A queue that cannot be read counts as holding events: never lose them on a guess.
    let waiting = if doomed.contains(&Kind::Queue) {
        match failed {
            Ok(n) => n.unwrap_or(0),
            Err(e) if !discard_failed_events => {
                bail!(
                    "down would delete queue {} whose failed events cannot be counted ({}); \
                     nothing was deleted: pass --discard-failed-events to delete it anyway",
                    s.queue_name,
                    crate::error::one_line_anyhow(&e)
                )
            }
            Err(_) => 0,
        }
    } else {
        0
    };
    if waiting > 0 && !discard_failed_events {
        bail!(
            "down would delete {waiting} failed event(s) waiting in queue {}; nothing was \
             deleted: run `{}` first, or pass --discard-failed-events to lose them",
            s.queue_name,
            s.command("redrive")
        );
    }
    if !yes && !doomed.is_empty() && !confirm(s, &doomed, waiting)? {
        bail!("down cancelled; nothing was changed");
    }
    for k in plan::kinds(&changes, |c| *c == Change::LeftAlone) {
        let whose = match observed.state(k).other_region() {
            Some(r) => format!("belongs to stack {} in region {r}", s.suffix()),
            None => "is not tapctl's".to_string(),
        };
        eprintln!(
            "tapctl: warning: {} {} {whose}: left alone",
            k.label(),
            k.name(s)
        );
    }
    let function_gone = observed.state(Kind::Function).is_missing();
    let outcomes = engine::down(run.ctx.clone(), observed, &run.display).await;
    // The dependency layer goes with the function (function::delete); with the function
    // already gone, its versions of tapctl's would be left behind: delete them here.
    if function_gone {
        crate::resource::layer::prune(&run.ctx.aws, s, None)
            .await
            .context("deleting the dependency layer's versions")?;
    }
    finish(run, "down", &outcomes)
}

/// Reports what `up` or `down` did; exit 1 when a step failed.
fn finish(run: Run, command: &str, outcomes: &[engine::Outcome]) -> Result<u8> {
    let elapsed = run.start.elapsed();
    // Live lines already showed each resource on this terminal: print only the summary there.
    let per_resource = !(run.display.is_live() && std::io::stdout().is_terminal());
    let Run {
        ctx,
        display,
        output,
        ..
    } = run;
    drop(display);
    let s = &ctx.stack;
    match output {
        Output::Json => out::json(&report::run_json(s, command, outcomes, elapsed)),
        Output::Text => out::text(&report::run_text(
            s,
            command,
            outcomes,
            elapsed,
            per_resource,
        )),
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match &o.action {
            engine::Action::Failed(why) => {
                Some(format!("{} {}: {why}", o.kind.label(), o.kind.name(s)))
            }
            _ => None,
        })
        .collect();
    if failed.is_empty() {
        Ok(0)
    } else {
        eprintln!("tapctl: error: {}", failed.join("; "));
        Ok(EXIT_ERROR)
    }
}

fn confirm(s: &Stack, doomed: &[Kind], failed_events: u64) -> Result<bool> {
    let mut err = std::io::stderr();
    writeln!(
        err,
        "This deletes stack {} in account {} ({}), emptying the bucket:",
        s.suffix(),
        s.target.account,
        s.target.region
    )?;
    for k in doomed {
        writeln!(err, "  {} {}", k.label(), k.name(s))?;
    }
    if failed_events > 0 {
        writeln!(
            err,
            "  and the {failed_events} failed event(s) waiting in the queue (lost)"
        )?;
    }
    write!(err, "Delete? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
