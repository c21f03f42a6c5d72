//! tapctl: parse → resolve → connect → dispatch → print → exit code. The commands live in
//! `tapctl::commands`, the resolution in `tapctl::invocation`, stdout in `tapctl::out`.

use anyhow::Result;
use clap::{CommandFactory, Parser};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use tapctl::cli::{Cli, Command, Output};
use tapctl::commands::{self, EXIT_ERROR};
use tapctl::invocation::{self, Inputs};
use tapctl::{out, report, settings, style};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    if let Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "tapctl", &mut script);
        out::text(&String::from_utf8_lossy(&script));
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
                out::json(&report::error_json(command, &msg));
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

/// Resolves the command line (settings file, environment, flags) and runs the command.
async fn run(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    let explicit = g.config.as_deref().filter(|p| !p.as_os_str().is_empty());
    let loaded = settings::load(explicit, Path::new("."))?;
    let env = |k: &str| std::env::var(k).ok();
    let cwd = std::env::current_dir().unwrap_or_default();
    let inv = invocation::resolve(
        &cli,
        &Inputs {
            loaded: loaded.as_ref(),
            env: &env,
            cwd: &cwd,
            stdin_is_terminal: std::io::stdin().is_terminal(),
        },
    )?;
    commands::run(cli.command, inv, cli.global.region).await
}
