//! Command-line types only.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "tapctl",
    version,
    about = "Stands up, keeps in shape and tears down an S3 -> Lambda -> DynamoDB pipeline \
             by calling the AWS APIs directly: no CloudFormation, no state file.",
    after_help = "Examples:\n  tapctl up --suffix dev\n  tapctl status --suffix dev --output json\n  \
                  tapctl down --suffix dev --yes\n\nExit codes: 0 ok, 1 error, 2 (status) drift or missing resources."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Environment suffix: names every resource of the stack.
    #[arg(long, global = true, env = "ENVIRONMENT_SUFFIX", default_value = "dev")]
    pub suffix: String,
    /// AWS region (else AWS_REGION, the profile's region, then us-west-2).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Named profile from the AWS config and credentials files (else AWS_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint, e.g. a local AWS.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Extra trusted CA certificates (PEM) for TLS to AWS or a proxy.
    #[arg(long, global = true, env = "AWS_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// More detail on stderr: -v each AWS call, -vv the SDK's own debug output.
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
    #[command(after_help = "Example:\n  tapctl up --suffix dev")]
    Up {
        /// Take over same-named resources that are not tagged as tapctl's.
        #[arg(long)]
        adopt: bool,
    },
    /// Delete the whole stack (the bucket is emptied first); tapctl's resources only.
    #[command(after_help = "Example:\n  tapctl down --suffix dev --yes")]
    Down {
        /// Do not ask for confirmation (needed when stdin is not a terminal).
        #[arg(long, short)]
        yes: bool,
    },
    /// Say, per resource, whether it is in shape, and how not. Exit 2 if anything is not.
    #[command(after_help = "Example:\n  tapctl status --suffix dev --output json")]
    Status,
}
