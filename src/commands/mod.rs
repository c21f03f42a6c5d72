//! The commands: one module per family, each returning an exit code after printing its
//! document through [`crate::out`]. `main.rs` parses, resolves ([`crate::invocation`]) and
//! calls [`run`].
//!
//! - [`stack`]: up, down, plan, status, outputs, list (the control plane);
//! - [`pipeline`]: smoke, events, logs, invoke, redrive, backfill, watch (the running
//!   pipeline);
//! - [`info`]: config, deployer-policy (no stack to read).

mod info;
mod pipeline;
mod run;
mod stack;

pub use run::{EXIT_ERROR, EXIT_INTERRUPTED, EXIT_PENDING, rerun};
use run::{Run, interruptible};

use crate::aws;
use crate::cli::{Command, Output};
use crate::invocation::Invocation;
use crate::package;
use crate::plan::Mode;
use crate::progress::{self, Display};
use crate::python;
use crate::resource::Ctx;
use crate::spec::{Code, Stack, StackSettings};
use anyhow::Result;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The code of a handler folder: its zip and, with a `requirements.txt`, its dependencies
/// (installed into the layer's zip when the command deploys; else only their key). A command
/// that deploys first checks the Python files' syntax.
fn folder_code(inv: &Invocation, dir: &std::path::Path, deploys: bool) -> Result<Code> {
    let exclude = inv.exclude();
    let package = package::from_folder(dir, &exclude)?;
    let runtime = &inv.settings.runtime.value;
    let platform = python::Platform::new(runtime, inv.settings.architecture.value.as_str());
    let mut deps = python::find(dir, platform)?;
    if deploys {
        python::check_syntax(dir, &package.names(), runtime)?;
        if let Some(deps) = &mut deps {
            deps.build(&python::cache_root())?;
            let layer = deps.layer.as_ref().map_or(0, |l| l.unzipped);
            if let Some(e) = package::with_layer_refusal(dir, &package, layer) {
                return Err(e.into());
            }
        }
    }
    Ok(Code::Folder {
        package: Arc::new(package),
        path: dir.to_path_buf(),
        exclude,
        deps: deps.map(Arc::new),
    })
}

/// Runs a resolved command: those that need no stack first, then connect and dispatch.
pub async fn run(command: Command, inv: Invocation, region_flag: Option<String>) -> Result<u8> {
    match command {
        Command::Config => return info::config(&inv).await,
        Command::DeployerPolicy { partition, account } => {
            return info::deployer_policy(&inv, region_flag.as_deref(), partition, account).await;
        }
        _ => {}
    }
    // The handler folder is packaged (and its dependencies installed, for the commands that
    // deploy) before any AWS call: a bad folder changes nothing.
    let code = match (&command, &inv.settings.handler.value) {
        (
            Command::Up { .. } | Command::Plan { .. } | Command::Status { .. } | Command::Watch,
            Some(dir),
        ) => {
            let deploys = matches!(command, Command::Up { dry_run: false, .. } | Command::Watch);
            folder_code(&inv, dir, deploys)?
        }
        _ => Code::Embedded,
    };
    let start = Instant::now();
    let (clients, target) = aws::connect(&inv.aws_options(), &inv.suffix).await?;
    let adopt = matches!(
        command,
        Command::Up { adopt: true, .. } | Command::Plan { adopt: true, .. }
    );
    let json = inv.output == Output::Json;
    let style = progress::style(inv.quiet, json);
    let mut stack = Stack::configured(target, StackSettings::from_config(&inv.settings, code));
    stack.flags = inv.selecting.clone();
    let run = Run {
        display: Display::new(style, stack.clone(), start),
        ctx: Arc::new(Ctx {
            stack,
            aws: clients,
            adopt,
        }),
        output: inv.output,
        style,
        start,
    };
    match command {
        Command::List => stack::list(run).await,
        Command::Status { since } => stack::status(run, &since).await,
        Command::Outputs => stack::outputs(run).await,
        Command::Plan { destroy: true, .. } | Command::Down { dry_run: true, .. } => {
            stack::plan(run, Mode::Down).await
        }
        Command::Plan { adopt, .. }
        | Command::Up {
            adopt,
            dry_run: true,
        } => stack::plan(run, Mode::Up { adopt }).await,
        Command::Up { adopt, .. } => {
            interruptible(run, "up", adopt, |run| stack::up(run, adopt)).await
        }
        Command::Down {
            yes,
            discard_failed_events,
            ..
        } => {
            interruptible(run, "down", false, |run| {
                stack::down(run, yes, discard_failed_events)
            })
            .await
        }
        Command::Smoke { timeout } => pipeline::smoke(run, Duration::from_secs(timeout)).await,
        Command::Events { key, since, limit } => pipeline::events(run, key, since, limit).await,
        Command::Logs {
            since,
            follow,
            filter,
        } => pipeline::logs(run, &since, follow, filter).await,
        Command::Invoke { key, event } => pipeline::invoke(run, key, event).await,
        Command::Backfill {
            dry_run,
            prefix,
            since,
            wait,
        } => pipeline::backfill(run, dry_run, prefix, since, Duration::from_secs(wait)).await,
        Command::Redrive {
            dry_run,
            drop_foreign,
        } => pipeline::redrive(run, dry_run, drop_foreign).await,
        Command::Watch => pipeline::watch(run).await,
        // Handled before the runtime starts (completions) or above (config, deployer-policy).
        Command::Completions { .. } | Command::Config | Command::DeployerPolicy { .. } => Ok(0),
    }
}
