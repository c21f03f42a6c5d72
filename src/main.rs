//! tapctl: parse, build the context, dispatch, map outcomes to exit codes.

use anyhow::{Result, bail};
use clap::{CommandFactory, Parser};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tapctl::cli::{Cli, Command, Global, Output};
use tapctl::plan::{Change, Mode};
use tapctl::progress::{self, Display};
use tapctl::resource::queue;
use tapctl::resource::{Ctx, Kind, Snapshot};
use tapctl::resource::{function, items, log_group};
use tapctl::spec::{Code, Stack, StackSettings};
use tapctl::{
    aws, config, deployer, engine, inspect, list, package, plan, redrive, report, show, smoke,
    spec, style, watch,
};

/// Exit codes: 0 done / in sync / nothing to change, 1 error, 2 changes pending (status, plan),
/// 130 interrupted (Ctrl-C), as shells report a SIGINT.
const EXIT_ERROR: u8 = 1;
const EXIT_PENDING: u8 = 2;
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "tapctl", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    init_tracing(cli.global.verbose);
    let command = cli.command.name();
    let json = cli.global.output == Output::Json;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = tapctl::error::one_line_anyhow(&e);
            eprintln!("tapctl: error: {msg}");
            if json {
                println!("{}", report::error_json(command, &msg));
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// clap's usage errors as one line, like every other error, with exit 1; help and version
/// are printed as clap prints them.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.render().to_string();
    let line: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more"))
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect();
    // clap's tip ("a similar subcommand exists: ...") stays a clause of its own.
    let text = line.join(" ").replace(" tip: ", "; tip: ");
    eprintln!("tapctl: error: {text} (see tapctl --help)");
    ExitCode::from(EXIT_ERROR)
}

fn init_tracing(verbose: u8) {
    // -v: tapctl's own debug lines, among them one per AWS call (tapctl::calls).
    // -vv: also the SDK's debug lines (retries, timeouts, credential chain); never its trace
    // level, which prints requests.
    let default = match verbose {
        0 => "tapctl=warn",
        1 => "tapctl=debug,warn",
        _ => "tapctl=trace,aws_smithy_runtime=debug,aws_config=debug,warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(style::color_allowed())
        .init();
}

/// Checks what needs no AWS call, connects, and runs the command.
async fn run(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    if let Command::DeployerPolicy { partition, account } = &cli.command {
        // The boundary as the settings give it (flag, TAPCTL_PERMISSIONS_BOUNDARY, file);
        // `--region '*'` (any region) is for the policy only, not a region to load settings for.
        let mut for_settings = g.clone();
        if g.region.as_deref() == Some("*") {
            for_settings.region = None;
        }
        let (_, settings) = settings(&for_settings)?;
        let boundary = settings.permissions_boundary.value.clone();
        return deployer_policy(g, partition.clone(), account.clone(), boundary).await;
    }
    if !matches!(cli.command, Command::List)
        && let Err(e) = spec::validate_suffix(&g.suffix)
    {
        bail!("invalid suffix {:?}: {e}", g.suffix);
    }
    if matches!(
        cli.command,
        Command::Down {
            yes: false,
            dry_run: false
        }
    ) && !std::io::stdin().is_terminal()
    {
        bail!("down deletes the whole stack: pass --yes to confirm (stdin is not a terminal)");
    }
    // Settings and the handler folder are checked before any AWS call.
    let (loaded, settings) = settings(g)?;
    if let Command::Config = cli.command {
        let file = loaded.as_ref().map(|l| l.path());
        run_emit(
            g.output,
            || report::config_json(&g.suffix, file, &settings),
            || report::config_text(&g.suffix, file, &settings),
        );
        return Ok(0);
    }
    if matches!(cli.command, Command::Watch) && settings.handler.value.is_none() {
        bail!(
            "watch needs a handler folder: --handler DIR, or `handler` in the settings file \
             (tapctl config shows it)"
        );
    }
    if matches!(cli.command, Command::Watch) && g.output == Output::Json {
        bail!("watch prints text as it goes: --output json is not supported");
    }
    let code = match (&cli.command, &settings.handler.value) {
        (
            Command::Up { .. } | Command::Plan { .. } | Command::Status | Command::Watch,
            Some(dir),
        ) => Code::Folder {
            package: Arc::new(package::from_folder(dir)?),
            path: dir.clone(),
        },
        _ => Code::Embedded,
    };
    // The region may come from the settings file too.
    let opts = aws::Options {
        region: settings.region.value.clone(),
        ..aws_options(g)
    };
    let start = Instant::now();
    let (clients, target) = aws::connect(&opts, &g.suffix).await?;
    let adopt = matches!(
        cli.command,
        Command::Up { adopt: true, .. } | Command::Plan { adopt: true, .. }
    );
    let style = progress::style(g.quiet, g.output == Output::Json);
    let mut stack = Stack::configured(target, StackSettings::from_config(&settings, code));
    stack.flags = selecting_flags(g);
    let run = Run {
        display: Display::new(style, stack.clone(), start),
        ctx: Arc::new(Ctx {
            stack,
            aws: clients,
            adopt,
        }),
        output: g.output,
        style,
        start,
    };
    match cli.command {
        Command::List => list(run).await,
        Command::Smoke { timeout } => smoke(run, Duration::from_secs(timeout)).await,
        Command::Events { key, since, limit } => events(run, key, since, limit).await,
        Command::Logs {
            since,
            follow,
            filter,
        } => logs(run, &since, follow, filter).await,
        Command::Invoke { key } => invoke(run, &key).await,
        Command::Status => status(run).await,
        Command::Redrive { dry_run } => redrive(run, dry_run).await,
        Command::Outputs => outputs(run).await,
        Command::Plan { destroy: true, .. } | Command::Down { dry_run: true, .. } => {
            plan(run, Mode::Down).await
        }
        Command::Plan { adopt, .. }
        | Command::Up {
            adopt,
            dry_run: true,
        } => plan(run, Mode::Up { adopt }).await,
        Command::Up { adopt, .. } => interruptible(run, "up", |run| up(run, adopt)).await,
        Command::Down { yes, .. } => interruptible(run, "down", |run| down(run, yes)).await,
        Command::Watch => watch(run).await,
        // Handled before the runtime starts (completions) or before connecting (config).
        Command::Completions { .. } | Command::Config | Command::DeployerPolicy { .. } => Ok(0),
    }
}

/// The settings file (if any) and the effective settings: defaults < file < TAPCTL_*
/// environment < flags. A bad value is one line naming its file and line.
fn settings(g: &tapctl::cli::Global) -> Result<(Option<config::Loaded>, config::Settings)> {
    let explicit = g.config.as_deref().filter(|p| !p.as_os_str().is_empty());
    let loaded = config::load(explicit, Path::new("."))?;
    let mut flags = config::Flags::default();
    if let Some(r) = &g.region {
        // The flag's own error, as before settings existed.
        aws::check_region(r)?;
        flags.named("--region", "region", r);
    }
    if let Some(h) = &g.handler {
        flags.named("--handler", "handler", &h.to_string_lossy());
    }
    if let Some(b) = &g.permissions_boundary {
        flags.named("--permissions-boundary", "permissions_boundary", b);
    }
    for assignment in &g.set {
        flags.set(assignment).map_err(anyhow::Error::msg)?;
    }
    let env = |k: &str| std::env::var(k).ok();
    let settings = config::resolve(loaded.as_ref(), &g.suffix, &env, &flags)?;
    Ok((loaded, settings))
}

/// The flags, beyond `--suffix` and `--region`, that select this same stack and settings again:
/// carried by every command tapctl suggests.
fn selecting_flags(g: &tapctl::cli::Global) -> Vec<String> {
    let mut flags = Vec::new();
    let mut add = |flag: &str, value: String| {
        flags.push(flag.to_string());
        flags.push(value);
    };
    if let Some(p) = &g.profile {
        add("--profile", p.clone());
    }
    if let Some(c) = g.config.as_ref().filter(|p| !p.as_os_str().is_empty()) {
        add("--config", c.display().to_string());
    }
    if let Some(h) = &g.handler {
        add("--handler", h.display().to_string());
    }
    if let Some(b) = &g.permissions_boundary {
        add("--permissions-boundary", b.clone());
    }
    for s in &g.set {
        add("--set", s.clone());
    }
    flags
}

fn run_emit(
    output: Output,
    json: impl FnOnce() -> serde_json::Value,
    text: impl FnOnce() -> String,
) {
    match output {
        Output::Json => println!("{}", json()),
        Output::Text => print!("{}", text()),
    }
}

/// Runs `up` or `down` until done or Ctrl-C: then says which steps were interrupted and that
/// a rerun converges (every step is safe to stop: tags go on in the create call, and what a
/// step left half-done is drift the next run repairs), exit 130.
async fn interruptible<F, Fut>(run: Run, verb: &str, command: F) -> Result<u8>
where
    F: FnOnce(Run) -> Fut,
    Fut: std::future::Future<Output = Result<u8>>,
{
    let in_flight = run.display.in_flight();
    let stack = run.ctx.stack.clone();
    let output = run.output;
    let adopt = run.ctx.adopt;
    tokio::select! {
        done = command(run) => done,
        _ = tokio::signal::ctrl_c() => {
            let what = in_flight
                .describe(&stack)
                .unwrap_or_else(|| "reading the stack".to_string());
            let rerun = stack.command(verb) + if adopt { " --adopt" } else { "" };
            let msg = format!(
                "interrupted: {verb} stopped while {what}; what was done stays done and every \
                 step is safe to redo: run `{rerun}` to converge"
            );
            eprintln!("\ntapctl: {msg}");
            if output == Output::Json {
                println!("{}", report::error_json(verb, &msg));
            }
            Ok(EXIT_INTERRUPTED)
        }
    }
}

fn aws_options(g: &Global) -> aws::Options {
    aws::Options {
        region: g.region.clone(),
        profile: g.profile.clone(),
        endpoint_url: g.endpoint_url.clone().filter(|u| !u.is_empty()),
        ca_bundle: g.ca_bundle.clone().filter(|p| !p.as_os_str().is_empty()),
    }
}

/// Prints the deployer policy: for the given account (no AWS call), or for the account,
/// partition and region the credentials resolve to.
async fn deployer_policy(
    g: &Global,
    partition: Option<String>,
    account: Option<String>,
    boundary: Option<String>,
) -> Result<u8> {
    let scope = match account {
        Some(account) => {
            if account != "*"
                && !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
            {
                bail!("--account {account:?}: an account id is 12 digits (or * for any)");
            }
            let region = g.region.clone().unwrap_or_else(|| "*".into());
            if region != "*" {
                aws::check_region(&region)?;
            }
            let partition = partition.unwrap_or_else(|| {
                spec::partition_of_region(if region == "*" {
                    spec::DEFAULT_REGION
                } else {
                    &region
                })
                .to_string()
            });
            deployer::Scope {
                partition,
                account,
                region,
                permissions_boundary: boundary,
            }
        }
        None => {
            let (_, t) = aws::connect(&aws_options(g), &g.suffix).await?;
            deployer::Scope {
                partition: partition.unwrap_or(t.partition),
                account: t.account,
                region: t.region,
                permissions_boundary: boundary,
            }
        }
    };
    match g.output {
        Output::Json => println!(
            "{}",
            serde_json::json!({
                "schema": 1, "command": "deployer-policy", "ok": true,
                "partition": scope.partition, "account": scope.account, "region": scope.region,
                "policy": deployer::policy(&scope),
            })
        ),
        Output::Text => print!("{}", deployer::document(&scope)),
    }
    Ok(0)
}

/// What every command runs with.
struct Run {
    ctx: Arc<Ctx>,
    display: Display,
    output: Output,
    style: progress::Style,
    start: Instant,
}

impl Run {
    fn stack(&self) -> &Stack {
        &self.ctx.stack
    }

    /// Reads every resource, under a "reading the stack" spinner.
    async fn observe(&self) -> Result<Arc<Snapshot>> {
        let phase = self.display.phase("reading the stack");
        let observed = engine::observe(&self.ctx).await;
        self.display.done(phase);
        Ok(Arc::new(observed?))
    }

    /// Prints a document on stdout in the chosen format.
    fn emit(&self, json: impl FnOnce() -> serde_json::Value, text: impl FnOnce() -> String) {
        run_emit(self.output, json, text)
    }
}

async fn list(run: Run) -> Result<u8> {
    let t = &run.ctx.stack.target;
    let found = list::list(&run.ctx.aws, t).await?;
    let (a, r) = (&t.account, &t.region);
    run.emit(
        || report::list_json(a, r, &found),
        || report::list_text(a, r, &found),
    );
    Ok(0)
}

async fn smoke(run: Run, timeout: Duration) -> Result<u8> {
    let s = run.stack();
    let phase = run
        .display
        .phase("uploading a probe object and waiting for its log item");
    let r = smoke::run(&run.ctx.aws, s, timeout).await;
    run.display.done(phase);
    run.emit(|| report::smoke_json(s, &r), || report::smoke_text(s, &r));
    Ok(match &r.error {
        None => 0,
        Some(e) => {
            eprintln!("tapctl: error: smoke test failed: {e}");
            EXIT_ERROR
        }
    })
}

/// The ISO time `since` ago, as the table's range key spells times.
fn since_time(since: &str) -> Result<(i64, String)> {
    let ago = inspect::parse_since(since)?;
    let ms = inspect::now_ms() - i64::try_from(ago.as_millis()).unwrap_or(i64::MAX / 2);
    Ok((ms, inspect::iso_utc(ms)))
}

async fn events(run: Run, key: Option<String>, since: Option<String>, limit: u32) -> Result<u8> {
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
    run.emit(
        || show::events_json(s, key.as_deref(), since.as_deref(), read, &found),
        || show::events_text(s, read, &found),
    );
    Ok(0)
}

async fn logs(run: Run, since: &str, follow: bool, filter: Option<String>) -> Result<u8> {
    let s = run.stack();
    let (from_ms, from) = since_time(since)?;
    let aws = &run.ctx.aws;
    if !follow {
        let lines = log_group::events_since(aws, s, from_ms, filter.as_deref()).await?;
        run.emit(
            || show::logs_json(s, &from, filter.as_deref(), &lines),
            || show::logs_text(&lines),
        );
        return Ok(0);
    }
    let mut tail = log_group::Tail::new(from_ms);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let lines = tail.next(aws, s, filter.as_deref()).await?;
        for l in &lines {
            match run.output {
                Output::Json => println!("{}", show::log_line_json(l)),
                Output::Text => print!("{}", show::logs_text(std::slice::from_ref(l))),
            }
        }
        std::io::stdout().flush()?;
        tokio::select! {
            _ = &mut ctrl_c => return Ok(0),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn invoke(run: Run, key: &str) -> Result<u8> {
    let s = run.stack();
    let event = inspect::s3_put_event(s, key, inspect::now_ms());
    let phase = run.display.phase("invoking the function");
    let invoked = function::invoke(&run.ctx.aws, s, serde_json::to_vec(&event)?).await;
    run.display.done(phase);
    let invoked = invoked?;
    run.emit(
        || show::invoke_json(s, key, &event, &invoked),
        || show::invoke_text(s, key, &invoked),
    );
    Ok(match show::function_error(&invoked) {
        None => 0,
        Some(e) => {
            eprintln!("tapctl: error: function {} failed: {e}", s.function_name);
            EXIT_ERROR
        }
    })
}

async fn status(run: Run) -> Result<u8> {
    let (observed, failed) = tokio::join!(
        run.observe(),
        queue::failed_events(&run.ctx.aws, &run.ctx.stack)
    );
    let (observed, failed) = (observed?, failed?);
    let s = run.stack();
    run.emit(
        || report::status_json(s, &observed, failed),
        || report::status_text(s, &observed, failed),
    );
    let waiting = failed.is_some_and(|n| n > 0);
    Ok(if observed.in_sync() && !waiting {
        0
    } else {
        EXIT_PENDING
    })
}

/// Exit 2 when events are left in the queue (or, dry, would be redriven).
async fn redrive(run: Run, dry_run: bool) -> Result<u8> {
    let s = run.stack();
    let phase = run.display.phase(if dry_run {
        "reading the failure queue"
    } else {
        "redriving the failed events"
    });
    let r = redrive::run(&run.ctx.aws, s, dry_run).await;
    run.display.done(phase);
    let r = r?;
    run.emit(
        || report::redrive_json(s, &r),
        || report::redrive_text(s, &r),
    );
    Ok(if r.pending() { EXIT_PENDING } else { 0 })
}

async fn outputs(run: Run) -> Result<u8> {
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
async fn plan(run: Run, mode: Mode) -> Result<u8> {
    let observed = run.observe().await?;
    let s = run.stack();
    let changes = plan::changes(&observed, mode);
    let conflicts = plan::conflicts(&changes, |k| k.name(s));
    let error = (!conflicts.is_empty()).then(|| {
        format!(
            "up would refuse to run: {}; nothing would be changed",
            conflicts.join("; ")
        )
    });
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

async fn up(run: Run, adopt: bool) -> Result<u8> {
    let observed = run.observe().await?;
    plan::refuse_foreign(run.stack(), &plan::changes(&observed, Mode::Up { adopt }))?;
    let outcomes = engine::up(run.ctx.clone(), observed, &run.display).await;
    finish(run, "up", &outcomes)
}

async fn down(run: Run, yes: bool) -> Result<u8> {
    let observed = run.observe().await?;
    let s = run.stack();
    let changes = plan::changes(&observed, Mode::Down);
    let doomed = plan::kinds(&changes, |c| *c == Change::Delete);
    if !yes && !doomed.is_empty() && !confirm(s, &doomed)? {
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
    let outcomes = engine::down(run.ctx.clone(), observed, &run.display).await;
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
        Output::Json => println!("{}", report::run_json(s, command, outcomes, elapsed)),
        Output::Text => print!(
            "{}",
            report::run_text(s, command, outcomes, elapsed, per_resource)
        ),
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

/// Redeploys the handler folder on every save until Ctrl-C.
async fn watch(run: Run) -> Result<u8> {
    let s = run.stack();
    let Code::Folder { path, .. } = &s.settings.code else {
        bail!("watch needs a handler folder");
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let show = |e: watch::Event<'_>| report::watch_line(s, &e, run.start.elapsed());
    let stopped = watch::run(&run.ctx.aws, s, path, stop, |e| {
        let (line, to_stderr) = show(e);
        if to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    })
    .await?;
    Ok(match stopped {
        watch::Stopped::Idle => {
            eprintln!("tapctl: watch stopped");
            0
        }
        watch::Stopped::MidDeploy => {
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
