//! The dependency graph. `up` = observe → plan → apply; `down` = the same graph reversed;
//! `status` = observe → plan. Each step starts as soon as the steps it needs are done, so
//! independent resources are created (or deleted) concurrently, with no level barriers.

use crate::resource::{Ctx, Kind, Owner, Plan, State};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Unchanged,
    Created,
    /// The fields that were repaired.
    Updated(Vec<&'static str>),
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
    fn finished(&self, outcome: &Outcome);
}

/// Reads every resource concurrently.
pub async fn observe(ctx: &Arc<Ctx>) -> Result<Plan> {
    let mut set = JoinSet::new();
    for kind in Kind::ALL {
        let ctx = ctx.clone();
        set.spawn(async move { (kind, kind.observe(&ctx).await) });
    }
    let mut states = BTreeMap::new();
    while let Some(joined) = set.join_next().await {
        let (kind, state) = joined.context("an observe task panicked")?;
        let state = state.with_context(|| format!("reading the {}", kind.label()))?;
        states.insert(kind, state);
    }
    Ok(Plan { states })
}

/// Refuses to touch resources that carry tapctl's names but are not tapctl's, unless adopting.
pub fn check_ownership(ctx: &Ctx, plan: &Plan) -> Result<()> {
    let mut foreign = Vec::new();
    for (kind, state) in &plan.states {
        let name = kind.name(&ctx.stack);
        match state {
            State::Present {
                owner: Owner::OtherAccount,
                ..
            } => {
                bail!(
                    "{} {name} belongs to another AWS account; choose another suffix",
                    kind.label()
                )
            }
            State::Present {
                owner: Owner::Untagged,
                ..
            } if !ctx.adopt => {
                foreign.push(format!("{} {name}", kind.label()));
            }
            _ => {}
        }
    }
    if !foreign.is_empty() {
        bail!(
            "not tapctl's (no tapctl tags for suffix {}): {}; nothing was changed; rerun with \
             --adopt to take them over",
            ctx.stack.suffix(),
            foreign.join(", ")
        );
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// Creates what is missing and repairs what drifted, in dependency order.
pub async fn up(ctx: Arc<Ctx>, plan: Arc<Plan>, progress: &dyn Progress) -> Vec<Outcome> {
    run(ctx, plan, Direction::Up, progress).await
}

/// Deletes what is tapctl's, in reverse dependency order.
pub async fn down(ctx: Arc<Ctx>, plan: Arc<Plan>, progress: &dyn Progress) -> Vec<Outcome> {
    run(ctx, plan, Direction::Down, progress).await
}

fn waits_for(kind: Kind, dir: Direction) -> Vec<Kind> {
    match dir {
        Direction::Up => kind.needs().to_vec(),
        Direction::Down => Kind::ALL
            .into_iter()
            .filter(|k| k.needs().contains(&kind))
            .collect(),
    }
}

/// What a step will do, decided from the plan alone; `None` when there is nothing to do.
fn decide(state: &State, dir: Direction) -> Result<&'static str, Action> {
    match (dir, state) {
        (Direction::Up, s) if s.in_sync() => Err(Action::Unchanged),
        (Direction::Up, State::Missing) => Ok("creating"),
        (Direction::Up, State::Present { .. }) => Ok("updating"),
        (Direction::Down, State::Missing) => Err(Action::AlreadyGone),
        (Direction::Down, s) if s.is_foreign() => Err(Action::LeftAlone),
        (Direction::Down, State::Present { .. }) => Ok("deleting"),
    }
}

async fn run(
    ctx: Arc<Ctx>,
    plan: Arc<Plan>,
    dir: Direction,
    progress: &dyn Progress,
) -> Vec<Outcome> {
    let started = Instant::now();
    let mut outcomes: BTreeMap<Kind, Outcome> = BTreeMap::new();
    let mut running: JoinSet<(Kind, Action, Duration)> = JoinSet::new();
    let mut launched: Vec<Kind> = Vec::new();
    let mut task_kinds: std::collections::HashMap<tokio::task::Id, Kind> = Default::default();
    loop {
        // Start (or settle) every step whose prerequisites are all done.
        let mut changed = true;
        while changed {
            changed = false;
            for kind in Kind::ALL {
                if launched.contains(&kind) {
                    continue;
                }
                let deps = waits_for(kind, dir);
                if !deps.iter().all(|d| outcomes.contains_key(d)) {
                    continue;
                }
                launched.push(kind);
                changed = true;
                if let Some(failed) = deps.iter().find(|d| outcomes[*d].action.failed()) {
                    let o = Outcome {
                        kind,
                        action: Action::Blocked(*failed),
                        elapsed: Duration::ZERO,
                    };
                    progress.finished(&o);
                    outcomes.insert(kind, o);
                    continue;
                }
                let state = plan.state(kind).clone();
                match decide(&state, dir) {
                    Err(action) => {
                        let o = Outcome {
                            kind,
                            action,
                            elapsed: Duration::ZERO,
                        };
                        progress.finished(&o);
                        outcomes.insert(kind, o);
                    }
                    Ok(doing) => {
                        progress.started(kind, doing);
                        let (ctx, plan) = (ctx.clone(), plan.clone());
                        let handle = running.spawn(async move {
                            let t = Instant::now();
                            let action = step(&ctx, &plan, kind, &state, dir).await;
                            (kind, action, t.elapsed())
                        });
                        task_kinds.insert(handle.id(), kind);
                    }
                }
            }
        }
        let (kind, action, elapsed) = match running.join_next_with_id().await {
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

async fn step(ctx: &Ctx, plan: &Plan, kind: Kind, state: &State, dir: Direction) -> Action {
    let result = match dir {
        Direction::Up => kind.apply(ctx, state).await.map(|()| match state {
            State::Missing => Action::Created,
            State::Present { drift, .. } => {
                let mut fields: Vec<&'static str> = drift.iter().map(|d| d.field).collect();
                fields.dedup();
                Action::Updated(fields)
            }
        }),
        Direction::Down => kind.delete(ctx, plan).await.map(|()| Action::Deleted),
    };
    result.unwrap_or_else(|e| Action::Failed(crate::report::one_line_anyhow(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_waits_for_what_depends_on_it() {
        assert_eq!(waits_for(Kind::Trigger, Direction::Down), vec![]);
        assert_eq!(
            waits_for(Kind::Function, Direction::Down),
            vec![Kind::Trigger]
        );
        assert_eq!(waits_for(Kind::Role, Direction::Down), vec![Kind::Function]);
        assert_eq!(
            waits_for(Kind::LogGroup, Direction::Down),
            vec![Kind::Function]
        );
        assert_eq!(waits_for(Kind::Table, Direction::Down), vec![Kind::Trigger]);
        assert_eq!(
            waits_for(Kind::Bucket, Direction::Down),
            vec![Kind::Trigger]
        );
        assert_eq!(
            waits_for(Kind::Function, Direction::Up),
            vec![Kind::Role, Kind::LogGroup]
        );
    }

    #[test]
    fn decisions() {
        use crate::resource::Drift;
        let ours = State::present(true, vec![]);
        let drifted = State::present(true, vec![Drift::new("tags", "a", "b")]);
        let foreign = State::present(false, vec![]);
        assert_eq!(decide(&ours, Direction::Up), Err(Action::Unchanged));
        assert_eq!(decide(&drifted, Direction::Up), Ok("updating"));
        assert_eq!(decide(&State::Missing, Direction::Up), Ok("creating"));
        assert_eq!(
            decide(&State::Missing, Direction::Down),
            Err(Action::AlreadyGone)
        );
        assert_eq!(decide(&foreign, Direction::Down), Err(Action::LeftAlone));
        assert_eq!(decide(&drifted, Direction::Down), Ok("deleting"));
    }
}
