//! The one decision table: what a run does to each resource, decided from the observed
//! state alone — for `plan` (and `up --dry-run`, `down --dry-run`) to show, and for the
//! engine to carry out. Also the rules built on it: what `up` refuses, what `down` deletes
//! and leaves alone, whether `outputs` has a stack to show. Pure: no AWS call here.

use crate::resource::{Drift, Field, Kind, Owner, Snapshot, State};
use crate::spec::Stack;
use crate::style::Sign;
use anyhow::{Result, bail};
use std::fmt;

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

/// Why `up` would refuse a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// In another AWS account (a bucket name is global).
    OtherAccount,
    /// The same suffix's stack in this region (role and bucket names are global).
    OtherRegion(String),
    /// In this account, without tapctl's tags, and `--adopt` not given.
    NotTapctls,
    /// tapctl's tags must be written, but the bucket has ABAC on: S3 refuses PutBucketTagging.
    Abac,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::OtherAccount => f.write_str("owned by another AWS account"),
            Conflict::OtherRegion(r) => write!(f, "owned by the same suffix's stack in {r}"),
            Conflict::NotTapctls => {
                f.write_str("not tapctl's: no tapctl tags (use --adopt to take it over)")
            }
            Conflict::Abac => {
                f.write_str("ABAC is enabled: S3 refuses PutBucketTagging, so tapctl cannot tag it")
            }
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
    Conflict(Conflict),
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

    pub fn sign(&self) -> Sign {
        match self {
            Change::Create => Sign::Create,
            Change::Update(_) | Change::Adopt(_) => Sign::Change,
            Change::Delete => Sign::Delete,
            Change::NoChange => Sign::Same,
            Change::LeftAlone => Sign::Foreign,
            Change::Conflict(_) => Sign::Fail,
        }
    }

    pub fn pending(&self) -> bool {
        matches!(
            self,
            Change::Create | Change::Update(_) | Change::Adopt(_) | Change::Delete
        )
    }

    /// What a run is doing while it carries the change out; `None` when there is nothing to do.
    pub fn doing(&self) -> Option<&'static str> {
        match self {
            Change::Create => Some("creating"),
            Change::Update(_) | Change::Adopt(_) => Some("updating"),
            Change::Delete => Some("deleting"),
            Change::NoChange | Change::LeftAlone | Change::Conflict(_) => None,
        }
    }

    pub fn fields(&self) -> &[Drift] {
        match self {
            Change::Update(d) | Change::Adopt(d) => d,
            _ => &[],
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::NoChange => f.write_str("no change"),
            Change::LeftAlone => f.write_str("left alone: not tapctl's"),
            Change::Adopt(_) => f.write_str("adopt (tag and repair)"),
            Change::Conflict(why) => write!(f, "CONFLICT: {why}"),
            other => f.write_str(other.word()),
        }
    }
}

/// One change per resource, in [`Kind::ALL`] order.
pub fn changes(snapshot: &Snapshot, mode: Mode) -> Vec<(Kind, Change)> {
    Kind::ALL
        .into_iter()
        .map(|k| (k, change(snapshot.state(k), mode)))
        .collect()
}

/// The decision table.
pub fn change(state: &State, mode: Mode) -> Change {
    match (mode, state) {
        (Mode::Up { .. }, State::Missing) => Change::Create,
        (Mode::Down, State::Missing) => Change::NoChange,
        (
            Mode::Up { .. },
            State::Present {
                owner: Owner::OtherAccount,
                ..
            },
        ) => Change::Conflict(Conflict::OtherAccount),
        (
            Mode::Up { .. },
            State::Present {
                owner: Owner::OtherRegion(r),
                ..
            },
        ) => Change::Conflict(Conflict::OtherRegion(r.clone())),
        // Tags to write (adopting, or tag drift) on a bucket with ABAC on: refused up front.
        (Mode::Up { adopt }, State::Present { owner, drift })
            if (adopt || *owner == Owner::Tapctl)
                && drift.iter().any(|d| d.field == Field::Abac) =>
        {
            Change::Conflict(Conflict::Abac)
        }
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
        ) => Change::Conflict(Conflict::NotTapctls),
        (Mode::Up { .. }, State::Present { drift, .. }) if drift.is_empty() => Change::NoChange,
        (Mode::Up { .. }, State::Present { drift, .. }) => Change::Update(drift.clone()),
        (Mode::Down, s) if s.is_foreign() => Change::LeftAlone,
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

/// `up` refuses to touch resources that carry tapctl's names but are not tapctl's (unless
/// adopting): the error says which, and that nothing was changed.
pub fn refuse_foreign(s: &Stack, changes: &[(Kind, Change)]) -> Result<()> {
    let with = |conflict: Conflict| {
        changes
            .iter()
            .filter(move |(_, c)| *c == Change::Conflict(conflict.clone()))
            .map(|(k, _)| *k)
    };
    if let Some(k) = with(Conflict::OtherAccount).next() {
        bail!(
            "{} {} belongs to another AWS account; choose another suffix",
            k.label(),
            k.name(s)
        );
    }
    let elsewhere: Vec<(Kind, &str)> = changes
        .iter()
        .filter_map(|(k, c)| match c {
            Change::Conflict(Conflict::OtherRegion(r)) => Some((*k, r.as_str())),
            _ => None,
        })
        .collect();
    if let Some((_, r)) = elsewhere.first() {
        let names: Vec<String> = elsewhere
            .iter()
            .map(|(k, _)| format!("{} {}", k.label(), k.name(s)))
            .collect();
        bail!(
            "{} belong to stack {} in region {r} (role and bucket names are global, so a suffix \
             lives in one region per account); nothing was changed; use another suffix here, or \
             --region {r}",
            names.join(", "),
            s.suffix()
        );
    }
    if with(Conflict::Abac).next().is_some() {
        let tags: Vec<String> = s
            .tags()
            .iter()
            .map(|(k, v)| format!("Key={k},Value={v}"))
            .collect();
        bail!(
            "bucket {b} has ABAC enabled, so S3 refuses PutBucketTagging, which tapctl tags \
             buckets with; nothing was changed; add tapctl's tags with S3 Control TagResource \
             (aws s3control tag-resource --account-id {} --resource-arn {} --tags {}) or disable \
             ABAC (aws s3api put-bucket-abac --bucket {b} --abac-status Status=Disabled), then \
             run `{}` again",
            s.target.account,
            s.bucket_arn,
            tags.join(" "),
            s.command("up"),
            b = s.bucket_name,
        );
    }
    let foreign: Vec<String> = with(Conflict::NotTapctls)
        .map(|k| format!("{} {}", k.label(), k.name(s)))
        .collect();
    if !foreign.is_empty() {
        bail!(
            "not tapctl's (no tapctl tags for suffix {}): {}; nothing was changed; rerun \
             `{} --adopt` to take them over",
            s.suffix(),
            foreign.join(", "),
            s.command("up")
        );
    }
    Ok(())
}

/// The resources a change of this kind is planned for (`Delete`: what `down` deletes;
/// `LeftAlone`: what it leaves).
/// `down` here would delete nothing while the suffix's stack lives in another region (its
/// global role or bucket say so): that region, for a refusal naming it instead of a "done"
/// that deleted nothing.
pub fn lives_elsewhere(snapshot: &Snapshot, changes: &[(Kind, Change)]) -> Option<String> {
    if changes.iter().any(|(_, c)| *c == Change::Delete) {
        return None;
    }
    Kind::ALL
        .iter()
        .find_map(|k| snapshot.state(*k).other_region().map(str::to_string))
}

/// `down` would delete a table with deletion protection on (the setting says so, or the table
/// has it): the refusal, naming how to turn it off. DynamoDB would refuse DeleteTable anyway,
/// after everything else was deleted; tapctl refuses before anything is.
pub fn protected(s: &Stack, snapshot: &Snapshot, changes: &[(Kind, Change)]) -> Option<String> {
    let deletes_table = changes
        .iter()
        .any(|(k, c)| *k == Kind::Table && *c == Change::Delete);
    let table_has_it = snapshot
        .state(Kind::Table)
        .drift()
        .iter()
        .any(|d| d.field == Field::DeletionProtection && d.have == "enabled");
    (deletes_table && (s.settings.deletion_protection || table_has_it)).then(|| {
        format!(
            "table {} has deletion protection on (setting deletion_protection): nothing was \
             deleted; set deletion_protection = false, run `{}`, then down again",
            s.table_name,
            s.command("up")
        )
    })
}

/// The refusal of a `down` (or `plan --destroy`) in a region where the stack does not live.
pub fn elsewhere_error(s: &Stack, region: &str) -> String {
    format!(
        "stack {} lives in region {region}, not {}: nothing of it here to delete; run `{}`",
        s.suffix(),
        s.target.region,
        s.command_in_region("down", region)
    )
}

pub fn kinds(changes: &[(Kind, Change)], which: impl Fn(&Change) -> bool) -> Vec<Kind> {
    changes
        .iter()
        .filter(|(_, c)| which(c))
        .map(|(k, _)| *k)
        .collect()
}

/// The resources that keep `outputs` from naming a deployed stack: missing or not tapctl's.
pub fn not_deployed(snapshot: &Snapshot) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| snapshot.state(*k).is_missing() || snapshot.state(*k).is_foreign())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_down_where_the_stack_does_not_live_names_its_region() {
        use crate::resource::Owner;
        let s = crate::spec::test_stack();
        let mut snap = Snapshot::default();
        for k in Kind::ALL {
            snap.states.insert(k, State::Missing);
        }
        let elsewhere = State::Present {
            owner: Owner::OtherRegion("eu-west-1".into()),
            drift: vec![],
        };
        snap.states.insert(Kind::Role, elsewhere.clone());
        snap.states.insert(Kind::Bucket, elsewhere);
        let changes = changes(&snap, Mode::Down);
        assert_eq!(
            lives_elsewhere(&snap, &changes).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            elsewhere_error(&s, "eu-west-1"),
            "stack dev lives in region eu-west-1, not us-west-2: nothing of it here to delete; \
             run `tapctl down --suffix dev --region eu-west-1`"
        );
        // Something of the stack here: a normal down.
        snap.states
            .insert(Kind::Table, State::present(true, vec![]));
        let changes = super::changes(&snap, Mode::Down);
        assert_eq!(lives_elsewhere(&snap, &changes), None);
    }
    use crate::resource::Field;

    fn drifted() -> State {
        State::present(true, vec![Drift::new(Field::Retention, "14", "30")])
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
        let mut plan = Snapshot::default();
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

    #[test]
    fn a_bucket_with_abac_on_is_refused_when_its_tags_need_writing() {
        let s = crate::spec::test_stack();
        let abac = Drift::new(Field::Abac, "Disabled", "Enabled");
        let tags = Drift::new(Field::Tags, "tapctl:managed=true", "(none)");
        let untagged = State::present(false, vec![tags.clone(), abac.clone()]);
        // Not adopting: the bucket is not tapctl's first of all.
        let up = Mode::Up { adopt: false };
        assert_eq!(
            change(&untagged, up),
            Change::Conflict(Conflict::NotTapctls)
        );
        let adopt = Mode::Up { adopt: true };
        assert_eq!(change(&untagged, adopt), Change::Conflict(Conflict::Abac));
        let ours = State::present(true, vec![tags, abac]);
        assert_eq!(change(&ours, up), Change::Conflict(Conflict::Abac));
        // `down` deletes tapctl's bucket whatever its ABAC status.
        assert_eq!(change(&ours, Mode::Down), Change::Delete);
        let mut snapshot = Snapshot::default();
        snapshot.states.insert(Kind::Bucket, untagged);
        let err = refuse_foreign(&s, &changes(&snapshot, adopt))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "bucket lambda-trigger-bucket-dev-123456789012 has ABAC enabled, so S3 refuses \
                 PutBucketTagging"
            ),
            "{err}"
        );
        assert!(
            err.contains("--tags Key=tapctl:managed,Value=true ")
                && err.contains("--abac-status Status=Disabled")
                && !err.contains('\n'),
            "{err}"
        );
    }

    #[test]
    fn up_refuses_what_is_not_tapctls() {
        let s = crate::spec::test_stack();
        let mut snapshot = Snapshot::default();
        snapshot
            .states
            .insert(Kind::Table, State::present(false, vec![]));
        let up = Mode::Up { adopt: false };
        let err = refuse_foreign(&s, &changes(&snapshot, up)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not tapctl's (no tapctl tags for suffix dev): table lambda-invocation-logs-dev; \
             nothing was changed; rerun `tapctl up --suffix dev --region us-west-2 --adopt` to \
             take them over"
        );
        assert!(refuse_foreign(&s, &changes(&snapshot, Mode::Up { adopt: true })).is_ok());
        snapshot.states.insert(
            Kind::Bucket,
            State::Present {
                owner: Owner::OtherAccount,
                drift: vec![],
            },
        );
        let err = refuse_foreign(&s, &changes(&snapshot, up)).unwrap_err();
        assert!(err.to_string().contains("belongs to another AWS account"));
        let down = changes(&snapshot, Mode::Down);
        assert_eq!(
            kinds(&down, |c| *c == Change::LeftAlone),
            [Kind::Table, Kind::Bucket]
        );
        assert!(kinds(&down, |c| *c == Change::Delete).is_empty());
        assert_eq!(not_deployed(&snapshot), Kind::ALL);
    }
}
