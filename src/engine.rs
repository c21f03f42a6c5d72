//! The dependency graph. `up` = observe → plan → apply; `down` = the same graph reversed;
//! `status` = observe → plan. Each step starts as soon as the steps it needs are done, so
//! independent resources are created (or deleted) concurrently, with no level barriers. What
//! each step does is decided by [`crate::plan::change`], the one decision table.

use crate::error::one_line_anyhow;
use crate::plan::{self, Change, Mode};
use crate::resource::waits;
use crate::resource::{Ctx, Field, Kind, Snapshot, State};
use crate::style::Sign;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Unchanged,
    Created,
    /// The fields that were repaired.
    Updated(Vec<Field>),
    Deleted,
    AlreadyGone,
    /// Not tapctl's: not touched.
    LeftAlone,
    Failed(String),
    /// Not attempted because a step it waits for failed.
    Blocked(Kind),
}

impl Action {
    pub fn failed(&self) -> bool {
        matches!(self, Action::Failed(_) | Action::Blocked(_))
    }

    /// The action as the JSON documents name it.
    pub fn word(&self) -> &'static str {
        match self {
            Action::Unchanged => "unchanged",
            Action::Created => "created",
            Action::Updated(_) => "updated",
            Action::Deleted => "deleted",
            Action::AlreadyGone => "already_gone",
            Action::LeftAlone => "left_alone",
            Action::Failed(_) => "failed",
            Action::Blocked(_) => "blocked",
        }
    }

    /// A one-character sign per action, as `plan` uses them too.
    pub fn sign(&self) -> Sign {
        match self {
            Action::Created => Sign::Create,
            Action::Updated(_) => Sign::Change,
            Action::Deleted => Sign::Delete,
            Action::Unchanged | Action::AlreadyGone => Sign::Same,
            Action::LeftAlone => Sign::Foreign,
            Action::Failed(_) | Action::Blocked(_) => Sign::Fail,
        }
    }
}

/// The action as text and progress lines show it.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Updated(fields) => {
                let fields: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
                write!(f, "updated ({})", fields.join(", "))
            }
            Action::AlreadyGone => f.write_str("already gone"),
            Action::LeftAlone => f.write_str("left alone: not tapctl's"),
            Action::Failed(why) => write!(f, "FAILED: {why}"),
            Action::Blocked(k) => write!(f, "not attempted: {} failed", k.label()),
            other => f.write_str(other.word()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub kind: Kind,
    pub action: Action,
    pub elapsed: Duration,
}

/// Told when each step starts and ends (progress display).
pub trait Progress: Send + Sync {
    fn started(&self, kind: Kind, doing: &str);
    /// The step now waits for something (IAM propagation, a name hold, an index backfill).
    fn waiting(&self, _kind: Kind, _what: &str) {}
    fn finished(&self, outcome: &Outcome);
}

/// Reads every resource concurrently.
pub async fn observe(ctx: &Arc<Ctx>) -> Result<Snapshot> {
    let mut set = JoinSet::new();
    for kind in Kind::ALL {
        let ctx = ctx.clone();
        set.spawn(async move { (kind, kind.observe(&ctx).await) });
    }
    let mut read = BTreeMap::new();
    while let Some(joined) = set.join_next().await {
        let (kind, state) = joined.context("an observe task panicked")?;
        read.insert(kind, state);
    }
    // The first error in the kinds' order, whichever answered first: the same run reports
    // the same error (the bucket's "lives in region R" before the trigger's read of it).
    let mut states = BTreeMap::new();
    for (kind, state) in read {
        let state = state.with_context(|| format!("reading the {}", kind.label()))?;
        states.insert(kind, state);
    }
    Ok(Snapshot { states })
}

/// Creates what is missing and repairs what drifted, in dependency order.
pub async fn up(ctx: Arc<Ctx>, snapshot: Arc<Snapshot>, progress: &dyn Progress) -> Vec<Outcome> {
    let mode = Mode::Up { adopt: ctx.adopt };
    run(ctx, snapshot, mode, progress).await
}

/// Deletes what is tapctl's, in reverse dependency order.
pub async fn down(ctx: Arc<Ctx>, snapshot: Arc<Snapshot>, progress: &dyn Progress) -> Vec<Outcome> {
    run(ctx, snapshot, Mode::Down, progress).await
}

/// What a step waits for: in `up` what it needs; in `down` everything that needs or uses it
/// (the table and the bucket go only once the trigger and the function are gone, and not at
/// all when removing one of those failed).
fn waits_for(kind: Kind, mode: Mode) -> Vec<Kind> {
    match mode {
        Mode::Up { .. } => kind.needs().to_vec(),
        Mode::Down => Kind::ALL
            .into_iter()
            .filter(|k| k.needs().contains(&kind) || k.uses().contains(&kind))
            .collect(),
    }
}

/// What a step will do, from the decision table: `Ok(doing)` to run it, or the action it
/// settles on without a call.
fn decide(state: &State, mode: Mode) -> Result<&'static str, Action> {
    let change = plan::change(state, mode);
    change.doing().ok_or(match change {
        Change::NoChange if state.is_missing() => Action::AlreadyGone,
        Change::LeftAlone => Action::LeftAlone,
        // `up` refuses conflicts before it starts (plan::refuse_foreign).
        Change::Conflict(why) => Action::Failed(why.to_string()),
        _ => Action::Unchanged,
    })
}

async fn run(
    ctx: Arc<Ctx>,
    snapshot: Arc<Snapshot>,
    mode: Mode,
    progress: &dyn Progress,
) -> Vec<Outcome> {
    let started = Instant::now();
    let mut outcomes: BTreeMap<Kind, Outcome> = BTreeMap::new();
    let mut running: JoinSet<(Kind, Action, Duration)> = JoinSet::new();
    let mut launched: Vec<Kind> = Vec::new();
    let mut task_kinds: std::collections::HashMap<tokio::task::Id, Kind> = Default::default();
    // What the running steps wait for, as they say it (resource::waits).
    let (waits_tx, mut waits_rx) = tokio::sync::mpsc::unbounded_channel::<(Kind, String)>();
    let settle = |outcomes: &mut BTreeMap<Kind, Outcome>, kind, action| {
        let o = Outcome {
            kind,
            action,
            elapsed: Duration::ZERO,
        };
        progress.finished(&o);
        outcomes.insert(kind, o);
    };
    loop {
        // Start (or settle) every step whose prerequisites are all done.
        let mut changed = true;
        while changed {
            changed = false;
            for kind in Kind::ALL {
                if launched.contains(&kind) {
                    continue;
                }
                let deps = waits_for(kind, mode);
                if !deps.iter().all(|d| outcomes.contains_key(d)) {
                    continue;
                }
                launched.push(kind);
                changed = true;
                if let Some(failed) = deps.iter().find(|d| outcomes[*d].action.failed()) {
                    settle(&mut outcomes, kind, Action::Blocked(*failed));
                    continue;
                }
                let state = snapshot.state(kind).clone();
                match decide(&state, mode) {
                    Err(action) => settle(&mut outcomes, kind, action),
                    Ok(doing) => {
                        progress.started(kind, doing);
                        let (ctx, snapshot) = (ctx.clone(), snapshot.clone());
                        let tx = waits_tx.clone();
                        let sink: waits::Sink = Arc::new(move |what: &str| {
                            let _ = tx.send((kind, what.to_string()));
                        });
                        let handle = running.spawn(waits::scope(sink, async move {
                            let t = Instant::now();
                            let action = step(&ctx, &snapshot, kind, &state, mode).await;
                            (kind, action, t.elapsed())
                        }));
                        task_kinds.insert(handle.id(), kind);
                    }
                }
            }
        }
        // Biased, waits first: a step's last wait message is sent before the step ends, so it
        // is shown before the step's outcome (an unbiased pick could take the join first and
        // lose the message when no step is left running).
        let joined = tokio::select! {
            biased;
            Some((kind, what)) = waits_rx.recv() => {
                progress.waiting(kind, &what);
                continue;
            }
            joined = running.join_next_with_id() => joined,
        };
        let (kind, action, elapsed) = match joined {
            Some(Ok((_, done))) => done,
            Some(Err(e)) => match task_kinds.get(&e.id()) {
                Some(kind) => (
                    *kind,
                    Action::Failed(format!("internal error: {e}")),
                    Duration::ZERO,
                ),
                None => break,
            },
            None => break,
        };
        let o = Outcome {
            kind,
            action,
            elapsed,
        };
        progress.finished(&o);
        outcomes.insert(kind, o);
    }
    tracing::debug!("{} steps in {:?}", outcomes.len(), started.elapsed());
    outcomes.into_values().collect()
}

async fn step(ctx: &Ctx, snapshot: &Snapshot, kind: Kind, state: &State, mode: Mode) -> Action {
    let result = match mode {
        Mode::Up { .. } => kind.apply(ctx, state).await.map(|()| match state {
            State::Missing => Action::Created,
            State::Present { drift, .. } => {
                let mut fields: Vec<Field> = drift.iter().map(|d| d.field).collect();
                fields.dedup();
                Action::Updated(fields)
            }
        }),
        Mode::Down => kind.delete(ctx, snapshot).await.map(|()| Action::Deleted),
    };
    result.unwrap_or_else(|e| Action::Failed(one_line_anyhow(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: Mode = Mode::Up { adopt: false };

    #[test]
    fn down_waits_for_what_depends_on_it() {
        assert_eq!(waits_for(Kind::Trigger, Mode::Down), vec![]);
        assert_eq!(waits_for(Kind::Function, Mode::Down), vec![Kind::Trigger]);
        assert_eq!(waits_for(Kind::Role, Mode::Down), vec![Kind::Function]);
        assert_eq!(waits_for(Kind::LogGroup, Mode::Down), vec![Kind::Function]);
        assert_eq!(
            waits_for(Kind::Table, Mode::Down),
            vec![Kind::Function, Kind::Trigger]
        );
        assert_eq!(
            waits_for(Kind::Bucket, Mode::Down),
            vec![Kind::Function, Kind::Trigger]
        );
        assert_eq!(waits_for(Kind::Queue, Mode::Down), vec![Kind::Function]);
        assert_eq!(
            waits_for(Kind::Function, UP),
            vec![Kind::Role, Kind::LogGroup, Kind::Queue]
        );
    }

    #[test]
    fn decisions() {
        use crate::resource::Drift;
        let foreign_adopted = State::present(false, vec![Drift::new(Field::Tags, "a", "b")]);
        assert_eq!(
            decide(&foreign_adopted, Mode::Up { adopt: true }),
            Ok("updating")
        );
        let ours = State::present(true, vec![]);
        let drifted = State::present(true, vec![Drift::new(Field::Tags, "a", "b")]);
        let foreign = State::present(false, vec![]);
        assert_eq!(decide(&ours, UP), Err(Action::Unchanged));
        assert_eq!(decide(&drifted, UP), Ok("updating"));
        assert_eq!(decide(&State::Missing, UP), Ok("creating"));
        assert_eq!(
            decide(&State::Missing, Mode::Down),
            Err(Action::AlreadyGone)
        );
        assert_eq!(decide(&foreign, Mode::Down), Err(Action::LeftAlone));
        assert_eq!(decide(&drifted, Mode::Down), Ok("deleting"));
    }

    #[test]
    fn actions_read_as_before() {
        let updated = Action::Updated(vec![Field::Tags, Field::Retention]);
        assert_eq!(updated.to_string(), "updated (tags, retention)");
        assert_eq!(updated.word(), "updated");
        assert_eq!(updated.sign(), Sign::Change);
        assert_eq!(Action::AlreadyGone.to_string(), "already gone");
        assert_eq!(
            Action::Blocked(Kind::Role).to_string(),
            "not attempted: role failed"
        );
    }
}
