//! From the parsed command line to a resolved invocation, before any AWS call: the settings
//! with their sources, the AWS options, the flags that select this same stack again (carried by
//! every command tapctl suggests), and the checks that need no AWS. Pure: the settings file,
//! the environment and whether stdin is a terminal are passed in.

use crate::aws;
use crate::cli::{Cli, Command, Global, Output};
use crate::package::Exclude;
use crate::settings::{self, Flags, Loaded, Settings};
use crate::spec;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// What the command runs with, resolved.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub suffix: String,
    pub output: Output,
    pub quiet: bool,
    /// The settings file read, if any.
    pub file: Option<PathBuf>,
    pub settings: Settings,
    /// The flags beyond `--suffix` and `--region` that selected this stack and its settings:
    /// every suggested command carries them.
    pub selecting: Vec<String>,
}

/// What the process gives the resolution.
pub struct Inputs<'a> {
    pub loaded: Option<&'a Loaded>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The folder the conventional `handler/` is looked for in when there is no settings file.
    pub cwd: &'a Path,
    pub stdin_is_terminal: bool,
}

/// The named flags given on the command line that select the stack or its settings, as typed
/// and in the order suggestions show them; `--region '*'` (deployer-policy's "any region") is
/// not a region. The one list both the settings and the suggested commands read.
fn given(g: &Global) -> Vec<(&'static str, String)> {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    [
        ("--region", g.region.clone().filter(|r| r != "*")),
        ("--profile", g.profile.clone()),
        ("--config", path(&g.config)),
        ("--endpoint-url", g.endpoint_url.clone()),
        ("--ca-bundle", path(&g.ca_bundle)),
        ("--handler", path(&g.handler)),
        ("--permissions-boundary", g.permissions_boundary.clone()),
    ]
    .into_iter()
    .filter_map(|(flag, v)| v.filter(|v| !v.is_empty()).map(|v| (flag, v)))
    .collect()
}

/// The settings flags of the command line, each named as typed (the key a named flag sets is
/// the settings declaration's).
pub fn flags(g: &Global) -> Result<Flags> {
    let mut flags = Flags::default();
    for (flag, value) in given(g) {
        if let Some(k) = settings::KEYS.iter().find(|k| k.flag == Some(flag)) {
            flags.named(flag, k.name, &value);
        }
    }
    for assignment in &g.set {
        flags.set(assignment).map_err(anyhow::Error::msg)?;
    }
    Ok(flags)
}

/// The flags, beyond `--suffix` and `--region`, that select this same stack and settings again,
/// in the order they are shown.
pub fn selecting_flags(g: &Global) -> Vec<String> {
    let mut out = Vec::new();
    for (flag, value) in given(g).into_iter().filter(|(f, _)| *f != "--region") {
        out.extend([flag.to_string(), value]);
    }
    for s in &g.set {
        out.extend(["--set".to_string(), s.clone()]);
    }
    out
}

/// Resolves the command line: settings (and the conventional handler folder), selecting flags,
/// and the checks every command makes before connecting. A bad input is one line.
pub fn resolve(cli: &Cli, inputs: &Inputs<'_>) -> Result<Invocation> {
    let g = &cli.global;
    if let Some(r) = g.region.as_deref().filter(|r| *r != "*") {
        // The flag's own error, as before settings existed.
        aws::check_region(r)?;
    }
    if !matches!(cli.command, Command::List | Command::DeployerPolicy { .. })
        && let Err(e) = spec::validate_suffix(&g.suffix)
    {
        bail!("invalid suffix {:?}: {e}", g.suffix);
    }
    if matches!(
        cli.command,
        Command::Down {
            yes: false,
            dry_run: false,
            ..
        }
    ) && !inputs.stdin_is_terminal
    {
        bail!("down deletes the whole stack: pass --yes to confirm (stdin is not a terminal)");
    }
    let mut settings = settings::resolve(inputs.loaded, &g.suffix, inputs.env, &flags(g)?)?;
    let base = inputs.loaded.map_or_else(
        || inputs.cwd.to_path_buf(),
        |l| {
            let d = l.dir();
            if d.as_os_str().is_empty() {
                inputs.cwd.to_path_buf()
            } else {
                d
            }
        },
    );
    settings.with_handler_found_in(&base);
    if matches!(cli.command, Command::Watch) && settings.handler.value.is_none() {
        bail!(
            "watch needs a handler folder: --handler DIR, `handler` in the settings file, or a \
             {}/ folder with index.py here (tapctl config shows it)",
            settings::HANDLER_FOLDER
        );
    }
    Ok(Invocation {
        suffix: g.suffix.clone(),
        output: g.output,
        quiet: g.quiet,
        file: inputs.loaded.map(|l| l.path().to_path_buf()),
        settings,
        selecting: selecting_flags(g),
    })
}

impl Invocation {
    /// The AWS options: the settings' selectors. A value that came from the SDK's own inputs
    /// (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, `AWS_CA_BUNDLE`) is shown by `config`
    /// but left to the SDK, which reads them itself with its own rules (per-service endpoint
    /// variables, the profile's settings) and names them in its errors.
    pub fn aws_options(&self) -> aws::Options {
        fn own<T: Clone>(s: &settings::Setting<Option<T>>) -> Option<T> {
            s.value.clone().filter(|_| !s.source.is_ambient())
        }
        let s = &self.settings;
        aws::Options {
            region: own(&s.region),
            profile: own(&s.profile),
            endpoint_url: own(&s.endpoint_url),
            ca_bundle: own(&s.ca_bundle),
        }
    }

    /// What `exclude` leaves out of the handler folder's package.
    pub fn exclude(&self) -> Exclude {
        Exclude::new(&self.settings.exclude.value)
    }

    /// The region `deployer-policy` scopes to without an AWS call: `--region '*'`, else the
    /// settings' chain, else any.
    pub fn policy_region(&self, flag: Option<&str>) -> String {
        match flag {
            Some("*") => "*".into(),
            _ => self
                .settings
                .region
                .value
                .clone()
                .unwrap_or_else(|| "*".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("tapctl").chain(args.iter().copied())).unwrap()
    }

    fn run(args: &[&str], env: &dyn Fn(&str) -> Option<String>) -> Result<Invocation> {
        let dir = std::env::temp_dir().join("tapctl-invocation-none");
        resolve(
            &cli(args),
            &Inputs {
                loaded: None,
                env,
                cwd: &dir,
                stdin_is_terminal: false,
            },
        )
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn suggested_commands_carry_every_selecting_flag() {
        let selecting = [
            "--profile",
            "ops",
            "--config",
            "ops/t.toml",
            "--endpoint-url",
            "https://127.0.0.1:4566",
            "--ca-bundle",
            "ca.pem",
            "--set",
            "memory_mb=256",
        ];
        let mut args = vec!["status", "--suffix", "qa", "--region", "eu-west-1"];
        args.extend(selecting);
        // The settings file does not exist: resolution only reads what it is given.
        let inv = run(&args, &no_env).unwrap();
        assert_eq!(inv.selecting, selecting);
        let opts = inv.aws_options();
        assert_eq!(opts.region.as_deref(), Some("eu-west-1"));
        assert_eq!(opts.profile.as_deref(), Some("ops"));
        assert_eq!(opts.endpoint_url.as_deref(), Some("https://127.0.0.1:4566"));
    }

    #[test]
    fn ambient_endpoint_and_bundle_are_left_to_the_sdk() {
        let env = |k: &str| match k {
            "AWS_ENDPOINT_URL" => Some("https://127.0.0.1:1".to_string()),
            "AWS_CA_BUNDLE" => Some("/ca.pem".to_string()),
            "AWS_REGION" => Some("eu-north-1".to_string()),
            _ => None,
        };
        let inv = run(&["status"], &env).unwrap();
        let opts = inv.aws_options();
        assert_eq!(opts.endpoint_url, None);
        assert_eq!(opts.ca_bundle, None);
        assert_eq!(opts.region, None, "the SDK reads AWS_REGION itself");
        assert_eq!(inv.settings.region.value.as_deref(), Some("eu-north-1"));
        assert_eq!(
            inv.settings.endpoint_url.value.as_deref(),
            Some("https://127.0.0.1:1"),
            "shown by config"
        );
    }

    #[test]
    fn deployer_policy_follows_the_region_chain() {
        let env = |k: &str| (k == "TAPCTL_REGION").then(|| "ap-southeast-2".to_string());
        let inv = run(&["deployer-policy", "--account", "123456789012"], &env).unwrap();
        assert_eq!(inv.policy_region(None), "ap-southeast-2");
        let inv = run(
            &["deployer-policy", "--account", "*", "--region", "*"],
            &env,
        )
        .unwrap();
        assert_eq!(inv.policy_region(Some("*")), "*");
        let inv = run(&["deployer-policy", "--account", "*"], &no_env).unwrap();
        assert_eq!(inv.policy_region(None), "*");
    }

    #[test]
    fn bad_input_is_refused_before_anything_else() {
        let e = run(&["status", "--suffix", "Bad_Suffix"], &no_env).unwrap_err();
        assert!(e.to_string().starts_with("invalid suffix"), "{e}");
        let e = run(&["down"], &no_env).unwrap_err();
        assert!(e.to_string().contains("pass --yes"), "{e}");
        assert!(run(&["down", "--yes"], &no_env).is_ok());
        let e = run(&["status", "--region", "mars"], &no_env).unwrap_err();
        assert!(e.to_string().contains("unknown region \"mars\""), "{e}");
        let e = run(&["watch"], &no_env).unwrap_err();
        assert!(
            e.to_string().starts_with("watch needs a handler folder"),
            "{e}"
        );
        assert!(run(&["list", "--suffix", "Bad_Suffix"], &no_env).is_ok());
    }

    #[test]
    fn the_handler_folder_is_the_same_for_every_command() {
        let dir = std::env::temp_dir().join(format!("tapctl-inv-handler-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("handler")).unwrap();
        std::fs::write(dir.join("handler/index.py"), "x = 1\n").unwrap();
        for cmd in ["up", "status", "plan", "watch"] {
            let inv = resolve(
                &cli(&[cmd]),
                &Inputs {
                    loaded: None,
                    env: &no_env,
                    cwd: &dir,
                    stdin_is_terminal: false,
                },
            )
            .unwrap();
            assert_eq!(
                inv.settings.handler.value,
                Some(dir.join("handler")),
                "{cmd}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
