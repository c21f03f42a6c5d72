//! Command-line types only.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const MAIN_EXAMPLES: &str = "\
Examples:
  tapctl plan --suffix dev                 what `up` would change (exit 2 if anything)
  tapctl up --suffix dev                   create or repair the stack
  tapctl smoke --suffix dev                end-to-end check: object in, log item out
  tapctl events --suffix dev --key a.txt   one object's events, newest first
  tapctl logs --suffix dev --follow        the function's log as it happens
  tapctl invoke --suffix dev --key a.txt   run the function on an S3 event, show its log
  tapctl status --suffix dev --output json
  tapctl outputs --suffix dev
  tapctl list                              every stack tapctl deployed here
  tapctl redrive --suffix dev              run the failed events in the queue again
  tapctl backfill --suffix dev             run objects that have no log item through the function
  tapctl down --suffix dev --yes
  tapctl config --suffix prod              effective settings and where each came from
  tapctl watch --suffix dev --handler handler/   redeploy the handler on every save

Exit codes: 0 done / in sync / no change, 1 error, 2 changes pending (status, plan, --dry-run).
JSON documents (--output json) are described in docs/cli.md.";

#[derive(Debug, Parser)]
#[command(
    name = "tapctl",
    version,
    about = "Stands up, keeps in shape and tears down an S3 -> Lambda -> DynamoDB pipeline \
             by calling the AWS APIs directly: no CloudFormation, no state file.",
    after_help = MAIN_EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Environment suffix: names every resource of the stack.
    #[arg(
        long,
        global = true,
        env = "ENVIRONMENT_SUFFIX",
        default_value = "dev",
        allow_hyphen_values = true
    )]
    pub suffix: String,
    /// AWS region (else TAPCTL_REGION, the settings file, AWS_REGION, the profile's region,
    /// then us-west-2).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Settings file (else ./tapctl.toml when there is one): [defaults] and [env.SUFFIX].
    #[arg(long, global = true, env = "TAPCTL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one setting, e.g. --set memory_mb=256 or --set tags.team=data (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Deploy the handler from this folder (zipped at run time; it needs index.py); else the
    /// `handler` setting, else ./handler when it holds index.py, else the built-in handler.
    #[arg(long, global = true, value_name = "DIR")]
    pub handler: Option<PathBuf>,
    /// IAM policy ARN to use as the role's permissions boundary.
    #[arg(long, global = true, value_name = "ARN")]
    pub permissions_boundary: Option<String>,
    /// Named profile from the AWS config and credentials files (else AWS_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint, e.g. a local AWS (else the SDK's own rules:
    /// AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's endpoint_url).
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// CA certificates (PEM) to trust instead of the system roots, as the AWS CLI does
    /// (else AWS_CA_BUNDLE, then the profile's ca_bundle).
    #[arg(long, global = true)]
    pub ca_bundle: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// No progress on stderr (warnings and errors are still shown).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail on stderr: -v each AWS call (service, operation, status, duration),
    /// -vv also the SDK's debug output (retries, credentials chain). Never a secret.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create what is missing and repair what drifted; a second run changes nothing.
    #[command(after_help = "Examples:\n  tapctl up --suffix dev\n  \
                            tapctl up --suffix dev --dry-run      same as `tapctl plan`\n  \
                            tapctl up --suffix dev --adopt        take over untagged same-named resources\n  \
                            tapctl up --suffix dev --output json | jq .outputs")]
    Up {
        /// Take over same-named resources that are not tagged as tapctl's.
        #[arg(long)]
        adopt: bool,
        /// Show what would change and exit (2 if anything would); no write call.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete the whole stack (the bucket is emptied first); tapctl's resources only.
    #[command(after_help = "Examples:\n  tapctl down --suffix dev --yes\n  \
                            tapctl down --suffix dev --dry-run    what would be deleted\n  \
                            tapctl down --suffix dev --yes --discard-failed-events")]
    Down {
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long, short)]
        yes: bool,
        /// Show what would be deleted and exit (2 if anything would); no write call.
        #[arg(long)]
        dry_run: bool,
        /// Delete the failure queue even with failed events waiting in it (they are lost);
        /// without it `down` refuses and points at `redrive`.
        #[arg(long)]
        discard_failed_events: bool,
    },
    /// Say, per resource, whether it is in shape, and how not, and how the pipeline did over
    /// a window (invocations, errors, throttles, duration). Exit 2 if a resource is not in
    /// shape or failed events wait; errors in the window do not change the exit code.
    #[command(after_help = "Examples:\n  tapctl status --suffix dev\n  \
                            tapctl status --suffix dev --since 1h\n  \
                            tapctl status --suffix dev --output json")]
    Status {
        /// The health window: a duration back (90s, 10m, 1.5h, 2d, 1w) or a UTC time
        /// (2026-12-04T10:00:00Z).
        #[arg(long, default_value = crate::ops::health::DEFAULT_WINDOW)]
        since: String,
    },
    /// What `up` (or with --destroy, `down`) would do, field by field; exit 2 if anything.
    #[command(after_help = "Examples:\n  tapctl plan --suffix dev\n  \
                            tapctl plan --suffix dev --destroy\n  \
                            tapctl plan --suffix dev --output json && echo nothing to do\n\n\
                            Exit codes: 0 no change, 1 error (or a resource up would refuse), \
                            2 changes pending.")]
    Plan {
        /// Plan the teardown instead.
        #[arg(long)]
        destroy: bool,
        /// Plan as `up --adopt` would: untagged same-named resources are taken over.
        #[arg(long)]
        adopt: bool,
    },
    /// Print the stack's outputs (bucket, table, function: names and ARNs).
    #[command(after_help = "Examples:\n  tapctl outputs --suffix dev\n  \
                            tapctl outputs --suffix dev --output json | jq -r .outputs.BucketName")]
    Outputs,
    /// End-to-end check of a deployed stack: upload a probe object, wait for its log item,
    /// print the latency, remove both. Right after `up` a new bucket notification may take
    /// minutes to deliver (S3: "typically about five minutes"): smoke uploads a fresh probe
    /// periodically until one's item shows up, and removes every probe and its items.
    #[command(after_help = "Examples:\n  tapctl smoke --suffix dev\n  \
                            tapctl up --suffix dev && tapctl smoke --suffix dev\n  \
                            tapctl smoke --suffix dev --timeout 30 --output json")]
    Smoke {
        /// How long to wait for a log item, in seconds (cleanup comes after it).
        #[arg(long, default_value_t = crate::ops::smoke::DEFAULT_TIMEOUT_S)]
        timeout: u64,
    },
    /// The effective settings of a stack and where each came from (default, settings file,
    /// environment variable, flag); no AWS call.
    #[command(after_help = "Examples:\n  tapctl config --suffix prod\n  \
                            tapctl config --suffix prod --set memory_mb=512 --output json\n  \
                            tapctl config --config ops/tapctl.toml --suffix dev")]
    Config,
    /// Redeploy the function's code on every save in the handler folder (debounced) and print
    /// each deploy and the function's new log lines, until Ctrl-C.
    #[command(
        after_help = "Examples:\n  tapctl watch --suffix dev --handler handler/\n  \
                            tapctl watch --suffix dev          the folder of the `handler` setting\n  \
                            tapctl watch --suffix dev --output json   one JSON object per line"
    )]
    Watch,
    /// The log table's items, newest first: time, event, key, size.
    ///
    /// With --key: a Query on the table's object index (cost independent of the table's
    /// size). Without --key: a Scan of the table, filtered by --since, that stops once --limit
    /// items matched; on a big table these are the newest of what was read, not necessarily
    /// the newest of the table (the output says when the scan stopped early).
    #[command(
        after_help = "Examples:\n  tapctl events --suffix dev --key 'photos/a b.jpg'\n  \
                            tapctl events --suffix dev --key report.csv --since 1h --limit 5\n  \
                            tapctl events --suffix dev --since 10m --output json"
    )]
    Events {
        /// The object's key, as uploaded (not URL-encoded).
        #[arg(long)]
        key: Option<String>,
        /// Only events since then: a duration back (90s, 10m, 1.5h, 2d, 1w) or a UTC time
        /// (2026-12-04T10:00:00Z), as the documents print `since`.
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// At most this many items.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
    /// The function's log events (CloudWatch Logs), oldest first; --follow keeps printing new
    /// ones until Ctrl-C.
    #[command(after_help = "Examples:\n  tapctl logs --suffix dev\n  \
                            tapctl logs --suffix dev --since 1h --filter ERROR\n  \
                            tapctl logs --suffix dev --follow\n\n\
                            With --output json: one document; with --follow, one JSON object per \
                            line (JSON Lines).")]
    Logs {
        /// Events since then: a duration back (90s, 10m, 1.5h, 2d, 1w) or a UTC time
        /// (2026-12-04T10:00:00Z), as the documents print `since`.
        #[arg(long, value_name = "WHEN", default_value = "10m")]
        since: String,
        /// Keep printing new events (polling every second) until Ctrl-C.
        #[arg(long, short)]
        follow: bool,
        /// Only events matching this CloudWatch Logs filter pattern (e.g. ERROR, "record
        /// logged", { $.outcome = "error" }).
        #[arg(long, value_name = "PATTERN")]
        filter: Option<String>,
    },
    /// Run the deployed function once, synchronously, on a synthetic S3 ObjectCreated:Put
    /// event for KEY in the stack's bucket (no upload), or on the event in FILE, and print its
    /// result and log tail. The function runs for real: it writes its log item (marked
    /// `synthetic` for --key). Exit 1 when the function fails.
    #[command(
        after_help = "Examples:\n  tapctl invoke --suffix dev --key 'photos/a b.jpg'\n  \
                            tapctl invoke --suffix dev --key a.txt --output json | jq .result\n  \
                            tapctl invoke --suffix dev --event events/put.json   as sam local invoke -e"
    )]
    #[command(group(clap::ArgGroup::new("input").required(true).args(["key", "event"])))]
    Invoke {
        /// The object's key, as uploaded (the event carries it URL-encoded, as S3 sends it).
        #[arg(long)]
        key: Option<String>,
        /// Send the JSON event in this file as it is (`-` reads standard input).
        #[arg(long, short = 'e', value_name = "FILE")]
        event: Option<PathBuf>,
    },
    /// Run the bucket's objects that have no log item through the function, once each: those
    /// uploaded while the trigger was missing, or before a new notification took effect.
    ///
    /// Lists the objects (ListObjectsV2), looks each one's item up on the object index, 16 at
    /// a time, and invokes the function asynchronously (as S3 does) on the event S3 would
    /// have sent for each object without one; then waits (--wait) for their items. The event
    /// is made from the object alone, so invoking it twice gives one item.
    #[command(
        after_help = "Examples:\n  tapctl backfill --suffix dev --dry-run        list the objects without an item\n  \
                            tapctl backfill --suffix dev --prefix in/ --since 2h\n  \
                            tapctl backfill --suffix dev --output json | jq .written\n\n\
                            Exit codes: 0 every object has its item, 1 error (or items still \
                            missing after --wait), 2 with --dry-run: objects without an item."
    )]
    Backfill {
        /// List the objects without an item; invoke nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only objects whose key starts with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Only objects modified since then: a duration back (90s, 10m, 1.5h, 2d, 1w) or a UTC
        /// time (2026-12-04T10:00:00Z).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// How long to wait for the items of the objects invoked, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = crate::ops::backfill::DEFAULT_WAIT_S)]
        wait: u64,
    },
    /// Run the failed events waiting in the failure queue through the function again
    /// (synchronously); each is deleted from the queue only once the function succeeded.
    #[command(after_help = "Examples:\n  tapctl redrive --suffix dev\n  \
                            tapctl redrive --suffix dev --dry-run   list what would be redriven\n  \
                            tapctl redrive --suffix dev --drop-foreign   also delete messages that are no destination records\n  \
                            tapctl redrive --suffix dev --output json | jq .processed\n\n\
                            Exit codes: 0 the queue is empty, 1 error, 2 events left in the queue \
                            (still failing, or not Lambda destination records; with --dry-run: \
                            events to redrive).")]
    Redrive {
        /// List the failed events that would be redriven; invoke and delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete the messages that are not Lambda destination records of this stack's
        /// function (each is listed with why); without it they stay in the queue.
        #[arg(long)]
        drop_foreign: bool,
    },
    /// Every stack tapctl deployed in this account and region (found by tapctl's tags).
    #[command(after_help = "Examples:\n  tapctl list\n  \
                            tapctl list --region eu-west-1 --output json")]
    List,
    /// Print the IAM policy a deployer needs for every tapctl command, scoped to tapctl's
    /// names, for the current account, partition and region (or those given).
    #[command(
        after_help = "Examples:\n  tapctl deployer-policy > deployer.json          \
                            for the account and region of the current credentials\n  \
                            tapctl deployer-policy --partition aws-cn --account 123456789012 --region cn-north-1\n  \
                            tapctl deployer-policy --account '*' --region '*'   any account and region (no AWS call)\n  \
                            tapctl deployer-policy --permissions-boundary arn:aws:iam::123456789012:policy/Boundary"
    )]
    DeployerPolicy {
        /// The partition (aws, aws-cn, aws-us-gov, ...); default: the region's.
        #[arg(long)]
        partition: Option<String>,
        /// The account id, or `*` for any; with it no AWS call is made.
        #[arg(long)]
        account: Option<String>,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  tapctl completions bash > ~/.local/share/bash-completion/completions/tapctl\n  \
                            tapctl completions zsh > \"${fpath[1]}/_tapctl\"\n  \
                            tapctl completions fish > ~/.config/fish/completions/tapctl.fish"
    )]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// The command's name as the JSON documents give it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Up { dry_run: true, .. } | Command::Down { dry_run: true, .. } => "plan",
            Command::Plan { .. } => "plan",
            Command::Up { .. } => "up",
            Command::Down { .. } => "down",
            Command::Status { .. } => "status",
            Command::Outputs => "outputs",
            Command::Smoke { .. } => "smoke",
            Command::Events { .. } => "events",
            Command::Logs { .. } => "logs",
            Command::Invoke { .. } => "invoke",
            Command::List => "list",
            Command::Config => "config",
            Command::Watch => "watch",
            Command::Redrive { .. } => "redrive",
            Command::Backfill { .. } => "backfill",
            Command::Completions { .. } => "completions",
            Command::DeployerPolicy { .. } => "deployer-policy",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_examples() {
        let mut cmd = Cli::command();
        for sub in cmd.get_subcommands_mut() {
            let help = sub.render_long_help().to_string();
            assert!(
                help.contains("Example"),
                "{} --help has no example",
                sub.get_name()
            );
        }
    }

    #[test]
    fn dry_runs_are_plans() {
        let cli = Cli::try_parse_from(["tapctl", "up", "--dry-run", "--suffix", "x"]).unwrap();
        assert_eq!(cli.command.name(), "plan");
        let cli = Cli::try_parse_from(["tapctl", "down", "--dry-run"]).unwrap();
        assert_eq!(cli.command.name(), "plan");
        let cli = Cli::try_parse_from(["tapctl", "-q", "status"]).unwrap();
        assert!(cli.global.quiet);
        let cli = Cli::try_parse_from([
            "tapctl",
            "config",
            "--set",
            "a=1",
            "--set",
            "tags.b=2",
            "--handler",
            "h",
        ])
        .unwrap();
        assert_eq!(cli.global.set, ["a=1", "tags.b=2"]);
        assert_eq!(cli.command.name(), "config");
    }
}
