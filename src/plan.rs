//! `tapctl plan` (and `up --dry-run`, `down --dry-run`): what a run would do to each resource,
//! decided from the observed state alone. Pure: no AWS call here.

use crate::resource::{Drift, Kind, Owner, Plan, State};

/// Which run is being planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Up { adopt: bool },
    Down,
}

impl Mode {
    pub fn word(self) -> &'static str {
        match self {
            Mode::Up { .. } => "up",
            Mode::Down => "down",
        }
    }
}

/// What the run would do to one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create,
    /// The settings that would be repaired: have → want.
    Update(Vec<Drift>),
    /// An untagged same-named resource taken over (`--adopt`): tagged and repaired.
    Adopt(Vec<Drift>),
    Delete,
    NoChange,
    /// Not tapctl's, so `down` would leave it alone.
    LeftAlone,
    /// `up` would refuse to run: the resource is not tapctl's (or in another account).
    Conflict(&'static str),
}

impl Change {
    pub fn word(&self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Update(_) => "update",
            Change::Adopt(_) => "adopt",
            Change::Delete => "delete",
            Change::NoChange => "no_change",
            Change::LeftAlone => "left_alone",
            Change::Conflict(_) => "conflict",
        }
    }

    pub fn pending(&self) -> bool {
        matches!(
            self,
            Change::Create | Change::Update(_) | Change::Adopt(_) | Change::Delete
        )
    }

    pub fn fields(&self) -> &[Drift] {
        match self {
            Change::Update(d) | Change::Adopt(d) => d,
            _ => &[],
        }
    }
}

/// One change per resource, in [`Kind::ALL`] order.
pub fn changes(plan: &Plan, mode: Mode) -> Vec<(Kind, Change)> {
    Kind::ALL
        .into_iter()
        .map(|k| (k, change(plan.state(k), mode)))
        .collect()
}

pub fn change(state: &State, mode: Mode) -> Change {
    match (mode, state) {
        (Mode::Up { .. }, State::Missing) => Change::Create,
        (
            _,
            State::Present {
                owner: Owner::OtherAccount,
                ..
            },
        ) => match mode {
            Mode::Up { .. } => Change::Conflict("owned by another AWS account"),
            Mode::Down => Change::LeftAlone,
        },
        (
            Mode::Up { adopt: true },
            State::Present {
                owner: Owner::Untagged,
                drift,
            },
        ) => Change::Adopt(drift.clone()),
        (
            Mode::Up { adopt: false },
            State::Present {
                owner: Owner::Untagged,
                ..
            },
        ) => Change::Conflict("not tapctl's: no tapctl tags (use --adopt to take it over)"),
        (Mode::Up { .. }, State::Present { drift, .. }) if drift.is_empty() => Change::NoChange,
        (Mode::Up { .. }, State::Present { drift, .. }) => Change::Update(drift.clone()),
        (Mode::Down, State::Missing) => Change::NoChange,
        (
            Mode::Down,
            State::Present {
                owner: Owner::Untagged,
                ..
            },
        ) => Change::LeftAlone,
        (Mode::Down, State::Present { .. }) => Change::Delete,
    }
}

/// Whether anything would change.
pub fn pending(changes: &[(Kind, Change)]) -> bool {
    changes.iter().any(|(_, c)| c.pending())
}

/// The resources `up` would refuse, as `label name: why`.
pub fn conflicts(changes: &[(Kind, Change)], name: impl Fn(Kind) -> String) -> Vec<String> {
    changes
        .iter()
        .filter_map(|(k, c)| match c {
            Change::Conflict(why) => Some(format!("{} {}: {why}", k.label(), name(*k))),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drifted() -> State {
        State::present(true, vec![Drift::new("retention_days", "14", "30")])
    }

    #[test]
    fn up_plans() {
        let up = Mode::Up { adopt: false };
        assert_eq!(change(&State::Missing, up), Change::Create);
        assert_eq!(change(&State::present(true, vec![]), up), Change::NoChange);
        let c = change(&drifted(), up);
        assert_eq!(c.word(), "update");
        assert_eq!(c.fields()[0].have, "30");
        assert!(matches!(
            change(&State::present(false, vec![]), up),
            Change::Conflict(_)
        ));
        assert_eq!(
            change(&State::present(false, vec![]), Mode::Up { adopt: true }).word(),
            "adopt"
        );
    }

    #[test]
    fn down_plans() {
        assert_eq!(change(&State::Missing, Mode::Down), Change::NoChange);
        assert_eq!(change(&drifted(), Mode::Down), Change::Delete);
        assert_eq!(
            change(&State::present(false, vec![]), Mode::Down),
            Change::LeftAlone
        );
    }

    #[test]
    fn pending_and_conflicts() {
        let mut plan = Plan::default();
        for k in Kind::ALL {
            plan.states.insert(k, State::present(true, vec![]));
        }
        let c = changes(&plan, Mode::Up { adopt: false });
        assert!(!pending(&c));
        plan.states
            .insert(Kind::Table, State::present(false, vec![]));
        let c = changes(&plan, Mode::Up { adopt: false });
        assert!(!pending(&c));
        assert_eq!(conflicts(&c, |k| k.label().to_string()).len(), 1);
        plan.states.insert(Kind::Bucket, State::Missing);
        assert!(pending(&changes(&plan, Mode::Up { adopt: false })));
    }
}
