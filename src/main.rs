//! tapctl: parse, build the context, dispatch, map outcomes to exit codes.

use anyhow::{Result, bail};
use clap::Parser;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use tapctl::cli::{Cli, Command, Output};
use tapctl::resource::{Ctx, Kind};
use tapctl::spec::Stack;
use tapctl::{aws, engine, report, spec};

/// Exit codes: 0 done / in sync, 1 error, 2 drift or missing resources (status).
const EXIT_ERROR: u8 = 1;
const EXIT_DRIFT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&e.into()),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("tapctl: error: {}", report::one_line_anyhow(e));
    ExitCode::from(EXIT_ERROR)
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "tapctl=debug,aws_smithy_runtime::client::orchestrator=debug,warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
}

async fn run(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    if let Err(e) = spec::validate_suffix(&g.suffix) {
        bail!("invalid suffix {:?}: {e}", g.suffix);
    }
    if matches!(cli.command, Command::Down { yes: false }) && !std::io::stdin().is_terminal() {
        bail!("down deletes the whole stack: pass --yes to confirm (stdin is not a terminal)");
    }
    let opts = aws::Options {
        region: g.region.clone(),
        profile: g.profile.clone(),
        endpoint_url: g.endpoint_url.clone().filter(|u| !u.is_empty()),
        ca_bundle: g.ca_bundle.clone().filter(|p| !p.as_os_str().is_empty()),
    };
    let (clients, target) = aws::connect(&opts, &g.suffix).await?;
    let adopt = matches!(cli.command, Command::Up { adopt: true });
    let ctx = Arc::new(Ctx {
        stack: Stack::new(target),
        aws: clients,
        adopt,
    });
    let start = Instant::now();
    let plan = Arc::new(engine::observe(&ctx).await?);
    let progress = report::Lines {
        quiet: g.output == Output::Json,
        stack: ctx.stack.clone(),
        start,
    };
    let s = &ctx.stack;
    match cli.command {
        Command::Status => {
            match g.output {
                Output::Json => println!("{}", report::status_json(s, &plan)),
                Output::Text => print!("{}", report::status_text(s, &plan)),
            }
            let in_sync = Kind::ALL.iter().all(|k| plan.state(*k).in_sync());
            Ok(if in_sync { 0 } else { EXIT_DRIFT })
        }
        Command::Up { .. } => {
            engine::check_ownership(&ctx, &plan)?;
            let outcomes = engine::up(ctx.clone(), plan, &progress).await;
            finish(s, "up", &outcomes, start, g.output)
        }
        Command::Down { yes } => {
            let doomed: Vec<Kind> = Kind::ALL
                .into_iter()
                .filter(|k| !plan.state(*k).is_missing() && !plan.state(*k).is_foreign())
                .collect();
            if !yes && !doomed.is_empty() && !confirm(s, &doomed)? {
                bail!("down cancelled; nothing was changed");
            }
            for k in Kind::ALL
                .into_iter()
                .filter(|k| plan.state(*k).is_foreign())
            {
                eprintln!(
                    "tapctl: warning: {} {} is not tapctl's: left alone",
                    k.label(),
                    k.name(s)
                );
            }
            let outcomes = engine::down(ctx.clone(), plan, &progress).await;
            finish(s, "down", &outcomes, start, g.output)
        }
    }
}

fn finish(
    s: &Stack,
    command: &str,
    outcomes: &[engine::Outcome],
    start: Instant,
    output: Output,
) -> Result<u8> {
    let elapsed = start.elapsed();
    match output {
        Output::Json => println!("{}", report::run_json(s, command, outcomes, elapsed)),
        Output::Text => print!("{}", report::run_text(s, command, outcomes, elapsed)),
    }
    for o in outcomes {
        if let engine::Action::Failed(why) = &o.action {
            bail!("{} {}: {why}", o.kind.label(), o.kind.name(s));
        }
    }
    Ok(0)
}

fn confirm(s: &Stack, doomed: &[Kind]) -> Result<bool> {
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
    write!(err, "Delete? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
