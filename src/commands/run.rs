//! What the commands share: the run context, printing a document, exit codes, the rerun
//! command after an interruption.

use crate::cli::Output;
use crate::progress::{self, Display};
use crate::resource::{Ctx, Snapshot};
use crate::spec::Stack;
use crate::{engine, out, report};
use anyhow::Result;
use std::sync::Arc;
use std::time::Instant;

/// Exit codes: 0 done / in sync / nothing to change, 1 error, 2 changes pending (status, plan),
/// 130 interrupted (Ctrl-C), as shells report a SIGINT.
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_PENDING: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

/// What every stack command runs with.
pub struct Run {
    pub ctx: Arc<Ctx>,
    pub display: Display,
    pub output: Output,
    pub style: progress::Style,
    pub start: Instant,
}

impl Run {
    pub fn stack(&self) -> &Stack {
        &self.ctx.stack
    }

    /// Reads every resource, under a "reading the stack" spinner.
    pub async fn observe(&self) -> Result<Arc<Snapshot>> {
        let phase = self.display.phase("reading the stack");
        let observed = engine::observe(&self.ctx).await;
        self.display.done(phase);
        Ok(Arc::new(observed?))
    }

    /// Prints a document on stdout in the chosen format.
    pub fn emit(&self, json: impl FnOnce() -> serde_json::Value, text: impl FnOnce() -> String) {
        emit(self.output, json, text);
    }
}

/// Prints a document on stdout in the chosen format.
pub fn emit(
    output: Output,
    json: impl FnOnce() -> serde_json::Value,
    text: impl FnOnce() -> String,
) {
    match output {
        Output::Json => out::json(&json()),
        Output::Text => out::text(&text()),
    }
}

/// The command a user reruns after an interrupted `up` or `down`: the same stack, the same
/// answers (`--adopt`; `--yes`, since the first run was already confirmed).
pub fn rerun(stack: &Stack, verb: &str, adopt: bool) -> String {
    let mut cmd = stack.command(verb);
    if adopt {
        cmd += " --adopt";
    }
    if verb == "down" {
        cmd += " --yes";
    }
    cmd
}

/// Runs `up` or `down` until done or Ctrl-C: then says which steps were interrupted and that
/// a rerun converges (every step is safe to stop: tags go on in the create call, and what a
/// step left half-done is drift the next run repairs), exit 130.
pub async fn interruptible<F, Fut>(run: Run, verb: &str, adopt: bool, command: F) -> Result<u8>
where
    F: FnOnce(Run) -> Fut,
    Fut: std::future::Future<Output = Result<u8>>,
{
    let in_flight = run.display.in_flight();
    let stack = run.ctx.stack.clone();
    let output = run.output;
    tokio::select! {
        done = command(run) => done,
        _ = tokio::signal::ctrl_c() => {
            let what = in_flight
                .describe(&stack)
                .unwrap_or_else(|| "reading the stack".to_string());
            let msg = format!(
                "interrupted: {verb} stopped while {what}; what was done stays done and every \
                 step is safe to redo: run `{}` to converge",
                rerun(&stack, verb, adopt)
            );
            eprintln!("\ntapctl: {msg}");
            if output == Output::Json {
                out::json(&report::error_json(verb, &msg));
            }
            Ok(EXIT_INTERRUPTED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack;

    #[test]
    fn an_interrupted_down_is_rerun_with_yes_and_the_selecting_flags() {
        let mut s = test_stack();
        s.flags = vec!["--profile".into(), "ops".into()];
        assert_eq!(
            rerun(&s, "down", false),
            "tapctl down --suffix dev --region us-west-2 --profile ops --yes"
        );
        assert_eq!(
            rerun(&s, "up", true),
            "tapctl up --suffix dev --region us-west-2 --profile ops --adopt"
        );
    }
}
