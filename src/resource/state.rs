//! What every resource file shares: the context of a step, the resources' kinds and names,
//! the observed [`State`] of one resource (with its [`Drift`] by named [`Field`]) and the
//! [`Snapshot`] of all of them. Pure data, no AWS call (but [`look_again`], which waits on
//! the observe it is given).

use crate::aws::Clients;
use crate::spec::Stack;
use anyhow::{Result, bail};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// Everything a resource step needs: the desired stack, the clients, and what the user allowed.
pub struct Ctx {
    pub stack: Stack,
    pub aws: Clients,
    /// Take over same-named resources that lack tapctl's tags (`up --adopt`).
    pub adopt: bool,
}

/// The resources, in the order they are listed to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Table,
    Bucket,
    Role,
    LogGroup,
    Queue,
    Function,
    Trigger,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Table,
        Kind::Bucket,
        Kind::Role,
        Kind::LogGroup,
        Kind::Queue,
        Kind::Function,
        Kind::Trigger,
    ];

    /// The resources that carry tags (and so can be listed by them); the trigger (a
    /// permission and a notification entry) has none.
    pub const TAGGED: [Kind; 6] = {
        // Every kind but the trigger, the last of ALL.
        let mut tagged = [Kind::Table; 6];
        let mut i = 0;
        while i < tagged.len() {
            tagged[i] = Kind::ALL[i];
            i += 1;
        }
        tagged
    };

    pub fn label(self) -> &'static str {
        match self {
            Kind::Table => "table",
            Kind::Bucket => "bucket",
            Kind::Role => "role",
            Kind::LogGroup => "log-group",
            Kind::Queue => "queue",
            Kind::Function => "function",
            Kind::Trigger => "trigger",
        }
    }

    /// What must be in place before this resource is created or updated. `down` runs the
    /// same graph reversed.
    pub fn needs(self) -> &'static [Kind] {
        match self {
            Kind::Table | Kind::Bucket | Kind::Role | Kind::LogGroup | Kind::Queue => &[],
            // The log group first, so Lambda never creates it untagged and without retention;
            // the queue first, so the function's failed events always have somewhere to go.
            Kind::Function => &[Kind::Role, Kind::LogGroup, Kind::Queue],
            // Events flow only once the whole pipeline can take them.
            Kind::Trigger => &[Kind::Function, Kind::Bucket, Kind::Table],
        }
    }

    /// What this resource uses while it runs, beyond what it [`needs`](Kind::needs) to be
    /// created: the function writes to the table and reads the bucket's objects. `down`
    /// removes a user before what it uses.
    pub fn uses(self) -> &'static [Kind] {
        match self {
            Kind::Function => &[Kind::Table, Kind::Bucket],
            _ => &[],
        }
    }

    /// The resource's name (or, for the trigger, what it connects).
    pub fn name(self, s: &Stack) -> String {
        match self {
            Kind::Table => s.table_name.clone(),
            Kind::Bucket => s.bucket_name.clone(),
            Kind::Role => s.role_name.clone(),
            Kind::LogGroup => s.log_group_name.clone(),
            Kind::Queue => s.queue_name.clone(),
            Kind::Function => s.function_name.clone(),
            Kind::Trigger => format!("{} -> {}", s.bucket_name, s.function_name),
        }
    }
}

/// A setting tapctl compares with the spec. Written as it appears in `status`, `plan` and
/// their JSON (`drift[].field`, `fields`): the strings are part of the documented output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Tags,
    // table
    Keys,
    BillingMode,
    PointInTimeRecovery,
    ObjectIndex,
    TimeToLive,
    DeletionProtection,
    // bucket
    PublicAccessBlock,
    Encryption,
    TlsOnlyPolicy,
    ObjectOwnership,
    /// The lifecycle rule that aborts incomplete multipart uploads.
    Lifecycle,
    /// The bucket's ABAC status, read only when tapctl's tags need writing: with ABAC on, S3
    /// refuses PutBucketTagging, so `up` stops before any write.
    Abac,
    // role
    TrustPolicy,
    ManagedPolicies,
    InlinePolicy,
    OtherInlinePolicies,
    PermissionsBoundary,
    // log group (and the queue's message retention)
    Retention,
    // function
    Runtime,
    Architecture,
    Handler,
    Role,
    MemoryMb,
    TimeoutS,
    Environment,
    CodeSha256,
    /// The layers the function runs with: exactly its dependency layer's version for the
    /// handler's requirements, or none without them.
    Layers,
    /// Versions of the dependency layer that no function uses (left by an earlier change).
    UnusedLayerVersions,
    /// A function Lambda could not create or update (`State: Failed`, or its last update).
    FunctionState,
    // the function's async invoke config
    RetryAttempts,
    MaxEventAgeS,
    OnFailure,
    // trigger
    Permission,
    Notification,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Tags => "tags",
            Field::Keys => "keys",
            Field::BillingMode => "billing_mode",
            Field::PointInTimeRecovery => "point_in_time_recovery",
            Field::ObjectIndex => "object_index",
            Field::TimeToLive => "time_to_live",
            Field::DeletionProtection => "deletion_protection",
            Field::PublicAccessBlock => "public_access_block",
            Field::Encryption => "encryption",
            Field::TlsOnlyPolicy => "tls_only_policy",
            Field::ObjectOwnership => "object_ownership",
            Field::Lifecycle => "lifecycle",
            Field::Abac => "abac",
            Field::TrustPolicy => "trust_policy",
            Field::ManagedPolicies => "managed_policies",
            Field::InlinePolicy => "inline_policy",
            Field::OtherInlinePolicies => "other_inline_policies",
            Field::PermissionsBoundary => "permissions_boundary",
            Field::Retention => "retention",
            Field::Runtime => "runtime",
            Field::Architecture => "architecture",
            Field::Handler => "handler",
            Field::Role => "role",
            Field::MemoryMb => "memory_mb",
            Field::TimeoutS => "timeout_s",
            Field::Environment => "environment",
            Field::CodeSha256 => "code_sha256",
            Field::Layers => "layers",
            Field::UnusedLayerVersions => "unused_layer_versions",
            Field::FunctionState => "state",
            Field::RetryAttempts => "retry_attempts",
            Field::MaxEventAgeS => "max_event_age_s",
            Field::OnFailure => "on_failure_destination",
            Field::Permission => "permission",
            Field::Notification => "notification",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One setting that differs from the spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub field: Field,
    pub want: String,
    pub have: String,
}

impl Drift {
    pub fn new(field: Field, want: impl ToString, have: impl ToString) -> Self {
        Drift {
            field,
            want: want.to_string(),
            have: have.to_string(),
        }
    }
}

/// Whose a resource that carries tapctl's name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Tagged as this stack's.
    Tapctl,
    /// In this account but without tapctl's tags: adoptable with `--adopt`.
    Untagged,
    /// In another account (a bucket name is global): never ours.
    OtherAccount,
    /// The same suffix's stack in another region (role and bucket names are global): never
    /// this region's to change or delete.
    OtherRegion(String),
}

/// What tapctl sees of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Missing,
    Present { owner: Owner, drift: Vec<Drift> },
}

impl State {
    pub fn present(owned: bool, drift: Vec<Drift>) -> Self {
        State::Present {
            owner: if owned {
                Owner::Tapctl
            } else {
                Owner::Untagged
            },
            drift,
        }
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, State::Missing)
    }

    pub fn drift(&self) -> &[Drift] {
        match self {
            State::Present { drift, .. } => drift,
            State::Missing => &[],
        }
    }

    /// Whether `field` is among the drifted settings.
    pub fn drifted(&self, field: Field) -> bool {
        self.drift().iter().any(|d| d.field == field)
    }

    /// Whether `field` must be written: the resource is being created, or the field drifted.
    pub fn needs(&self, field: Field) -> bool {
        self.is_missing() || self.drifted(field)
    }

    pub fn in_sync(&self) -> bool {
        matches!(self, State::Present { owner: Owner::Tapctl, drift } if drift.is_empty())
    }

    pub fn is_foreign(&self) -> bool {
        matches!(
            self,
            State::Present {
                owner: Owner::Untagged | Owner::OtherAccount | Owner::OtherRegion(_),
                ..
            }
        )
    }

    /// The region whose stack owns this resource, when it is another region's.
    pub fn other_region(&self) -> Option<&str> {
        match self {
            State::Present {
                owner: Owner::OtherRegion(r),
                ..
            } => Some(r),
            _ => None,
        }
    }

    pub fn is_other_account(&self) -> bool {
        matches!(
            self,
            State::Present {
                owner: Owner::OtherAccount,
                ..
            }
        )
    }
}

/// The observed state of every resource, read at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub states: BTreeMap<Kind, State>,
}

impl Snapshot {
    pub fn state(&self, kind: Kind) -> &State {
        self.states.get(&kind).unwrap_or(&State::Missing)
    }

    /// Every resource there, tapctl's, and as specified.
    pub fn in_sync(&self) -> bool {
        Kind::ALL.iter().all(|k| self.state(*k).in_sync())
    }
}

/// What a create call answers when the resource is already there (created meanwhile, by a
/// concurrent run or someone else): the dispatch ([`Kind::apply`]) looks again, judges what
/// it sees ([`created_meanwhile`]) and applies once more, a bounded number of times. `settle`:
/// how long a look may keep finding nothing before it counts (S3 lists a new bucket late).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetMeanwhile {
    pub settle: Option<std::time::Duration>,
}

impl std::fmt::Display for MetMeanwhile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("created meanwhile: look again")
    }
}

impl std::error::Error for MetMeanwhile {}

/// A create met the resource already there: for the dispatch to look again.
pub fn met_meanwhile() -> anyhow::Error {
    MetMeanwhile { settle: None }.into()
}

/// The resource appeared between tapctl's look and its create call (an `AlreadyExists`
/// answer) and `state` is how it looks now: carry on (apply `state`) only if it is tapctl's
/// — made by a concurrent tapctl run, which tags in the create call itself — or being
/// adopted. Someone else's is left untouched.
pub fn created_meanwhile(kind: Kind, ctx: &Ctx, state: State) -> Result<State> {
    let name = kind.name(&ctx.stack);
    match state {
        State::Missing => bail!(
            "{} {name} was created and deleted by someone else while tapctl was creating it; \
             run `{}` again",
            kind.label(),
            ctx.stack.command("up")
        ),
        State::Present {
            owner: Owner::OtherAccount,
            ..
        } => bail!("{} {name} belongs to another AWS account", kind.label()),
        State::Present {
            owner: Owner::OtherRegion(r),
            ..
        } => bail!(
            "{} {name} was created meanwhile by the stack {} in region {r}",
            kind.label(),
            ctx.stack.suffix()
        ),
        State::Present {
            owner: Owner::Untagged,
            ..
        } if !ctx.adopt => bail!(
            "{} {name} was created by someone else while tapctl was creating it and is not \
             tapctl's; it was left unchanged",
            kind.label()
        ),
        state => Ok(state),
    }
}

/// [`created_meanwhile`] for a resource whose reads lag its creation (a bucket's
/// configuration answers `NoSuchBucket` for a moment after CreateBucket): looks again with
/// backoff while it still reads as missing, within `budget`.
pub async fn look_again<F, Fut>(
    kind: Kind,
    ctx: &Ctx,
    budget: std::time::Duration,
    mut observe: F,
) -> Result<State>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<State>>,
{
    let seen = super::retry::poll(super::retry::Backoff::new(budget), || {
        let looked = observe();
        async move { Ok(Some(looked.await?).filter(|s| !s.is_missing())) }
    });
    created_meanwhile(kind, ctx, seen.await?.unwrap_or(State::Missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_reverses_cleanly() {
        // Every dependency is a known kind and the graph has no cycle: a topological order exists.
        let mut done: Vec<Kind> = Vec::new();
        while done.len() < Kind::ALL.len() {
            let next = Kind::ALL
                .into_iter()
                .find(|k| !done.contains(k) && k.needs().iter().all(|n| done.contains(n)))
                .expect("dependency cycle");
            done.push(next);
        }
        assert_eq!(done.last(), Some(&Kind::Trigger));
        assert_eq!(Kind::ALL.last(), Some(&Kind::Trigger));
        assert_eq!(Kind::TAGGED, Kind::ALL[..6]);
    }

    #[test]
    fn state_predicates() {
        let ours = State::present(true, vec![]);
        assert!(ours.in_sync() && !ours.is_foreign());
        let drifted = State::present(
            true,
            vec![Drift::new(
                Field::PointInTimeRecovery,
                "enabled",
                "disabled",
            )],
        );
        assert!(
            !drifted.in_sync()
                && drifted.drifted(Field::PointInTimeRecovery)
                && !drifted.drifted(Field::Tags)
        );
        assert!(drifted.needs(Field::PointInTimeRecovery) && !drifted.needs(Field::Tags));
        assert!(State::Missing.needs(Field::Tags));
        assert!(State::present(false, vec![]).is_foreign());
        assert!(State::Missing.is_missing() && !State::Missing.in_sync());
    }

    #[test]
    fn fields_serialize_as_their_documented_names() {
        let d = Drift::new(Field::CodeSha256, "a", "b");
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"field": "code_sha256", "want": "a", "have": "b"})
        );
        assert_eq!(Field::TimeoutS.to_string(), "timeout_s");
    }
}
