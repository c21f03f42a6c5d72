//! The six things tapctl owns. Each module knows how to observe its resource (absent → Missing),
//! diff what it sees against the spec (a list of named [`Drift`]s, computed by a pure function),
//! apply the difference, and delete it. All AWS calls of tapctl live below this module.

pub mod bucket;
pub mod function;
pub mod log_group;
pub mod role;
pub mod table;
pub mod trigger;

use crate::aws::Clients;
use crate::spec::Stack;
use anyhow::{Result, bail};
use aws_sdk_s3::error::ProvideErrorMetadata;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

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
    Function,
    Trigger,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Table,
        Kind::Bucket,
        Kind::Role,
        Kind::LogGroup,
        Kind::Function,
        Kind::Trigger,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Table => "table",
            Kind::Bucket => "bucket",
            Kind::Role => "role",
            Kind::LogGroup => "log-group",
            Kind::Function => "function",
            Kind::Trigger => "trigger",
        }
    }

    /// What must be in place before this resource is created or updated. `down` runs the
    /// same graph reversed.
    pub fn needs(self) -> &'static [Kind] {
        match self {
            Kind::Table | Kind::Bucket | Kind::Role | Kind::LogGroup => &[],
            // The log group first, so Lambda never creates it untagged and without retention.
            Kind::Function => &[Kind::Role, Kind::LogGroup],
            // Events flow only once the whole pipeline can take them.
            Kind::Trigger => &[Kind::Function, Kind::Bucket, Kind::Table],
        }
    }

    /// The resource's name (or, for the trigger, what it connects).
    pub fn name(self, s: &Stack) -> String {
        match self {
            Kind::Table => s.table_name.clone(),
            Kind::Bucket => s.bucket_name.clone(),
            Kind::Role => s.role_name.clone(),
            Kind::LogGroup => s.log_group_name.clone(),
            Kind::Function => s.function_name.clone(),
            Kind::Trigger => format!("{} -> {}", s.bucket_name, s.function_name),
        }
    }

    pub async fn observe(self, ctx: &Ctx) -> Result<State> {
        match self {
            Kind::Table => table::observe(ctx).await,
            Kind::Bucket => bucket::observe(ctx).await,
            Kind::Role => role::observe(ctx).await,
            Kind::LogGroup => log_group::observe(ctx).await,
            Kind::Function => function::observe(ctx).await,
            Kind::Trigger => trigger::observe(ctx).await,
        }
    }

    /// Creates the resource (`state` Missing) or repairs its drift.
    pub async fn apply(self, ctx: &Ctx, state: &State) -> Result<()> {
        match self {
            Kind::Table => table::apply(ctx, state).await,
            Kind::Bucket => bucket::apply(ctx, state).await,
            Kind::Role => role::apply(ctx, state).await,
            Kind::LogGroup => log_group::apply(ctx, state).await,
            Kind::Function => function::apply(ctx, state).await,
            Kind::Trigger => trigger::apply(ctx, state).await,
        }
    }

    /// Deletes the resource; what is already gone counts as deleted.
    pub async fn delete(self, ctx: &Ctx, plan: &Plan) -> Result<()> {
        match self {
            Kind::Table => table::delete(ctx).await,
            Kind::Bucket => bucket::delete(ctx).await,
            Kind::Role => role::delete(ctx).await,
            Kind::LogGroup => log_group::delete(ctx).await,
            Kind::Function => function::delete(ctx).await,
            Kind::Trigger => trigger::delete(ctx, plan).await,
        }
    }
}

/// The resource appeared between tapctl's look and its create call (an `AlreadyExists`
/// answer): look again and carry on only if it is tapctl's — made by a concurrent tapctl run,
/// which tags in the create call itself — or being adopted. Someone else's is left untouched.
pub async fn created_meanwhile(kind: Kind, ctx: &Ctx) -> Result<()> {
    let name = kind.name(&ctx.stack);
    match kind.observe(ctx).await? {
        State::Missing => bail!(
            "{} {name} was created and deleted by someone else while tapctl was creating it; \
             run up again",
            kind.label()
        ),
        State::Present {
            owner: Owner::OtherAccount,
            ..
        } => {
            bail!("{} {name} belongs to another AWS account", kind.label())
        }
        State::Present {
            owner: Owner::Untagged,
            ..
        } if !ctx.adopt => bail!(
            "{} {name} was created by someone else while tapctl was creating it and is not \
             tapctl's; it was left unchanged",
            kind.label()
        ),
        state => Box::pin(kind.apply(ctx, &state)).await,
    }
}

/// One setting that differs from the spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub field: &'static str,
    pub want: String,
    pub have: String,
}

impl Drift {
    pub fn new(field: &'static str, want: impl ToString, have: impl ToString) -> Self {
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
    pub fn drifted(&self, field: &str) -> bool {
        self.drift().iter().any(|d| d.field == field)
    }

    pub fn in_sync(&self) -> bool {
        matches!(self, State::Present { owner: Owner::Tapctl, drift } if drift.is_empty())
    }

    pub fn is_foreign(&self) -> bool {
        matches!(
            self,
            State::Present {
                owner: Owner::Untagged | Owner::OtherAccount,
                ..
            }
        )
    }
}

/// The observed state of every resource.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub states: BTreeMap<Kind, State>,
}

impl Plan {
    pub fn state(&self, kind: Kind) -> &State {
        self.states.get(&kind).unwrap_or(&State::Missing)
    }
}

/// Turns `(key, value)` pairs into the tag drift of a resource, if any.
pub fn tag_drift<'a>(
    stack: &Stack,
    have: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
) -> Option<Drift> {
    let missing = stack.missing_tags(have.clone());
    if missing.is_empty() {
        return None;
    }
    let render = |tags: &mut dyn Iterator<Item = (String, String)>| {
        let mut v: Vec<String> = tags.map(|(k, v)| format!("{k}={v}")).collect();
        v.sort();
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.join(",")
        }
    };
    let ours = |k: &str| k.starts_with("tapctl:");
    Some(Drift::new(
        "tags",
        render(&mut stack.tags().into_iter()),
        render(
            &mut have
                .into_iter()
                .filter(|(k, _)| ours(k))
                .map(|(k, v)| (k.to_string(), v.to_string())),
        ),
    ))
}

/// Whether an AWS error carries `code`.
pub fn has_code<E: ProvideErrorMetadata>(e: &E, code: &str) -> bool {
    e.code() == Some(code)
}

/// Capped exponential backoff for readiness polls and propagation retries: starts at 100 ms,
/// doubles, never more than 500 ms between tries. Short, because every wait here sits on the
/// critical path of a deploy.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    deadline: Instant,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const CAP: Duration = Duration::from_millis(500);

    pub fn new(budget: Duration) -> Self {
        Backoff {
            next: Self::FIRST,
            deadline: Instant::now() + budget,
        }
    }

    /// Sleeps before the next try; false once the budget is spent.
    pub async fn wait(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        let pause = self.next.min(self.deadline - now);
        tokio::time::sleep(pause).await;
        self.next = (self.next * 2).min(Self::CAP);
        true
    }
}

/// Runs `op` until it succeeds or fails with an error `retryable` rejects; a retryable error
/// is retried with [`Backoff`] within `budget`, then returned.
pub async fn retry_on<T, E, F, Fut>(
    budget: Duration,
    retryable: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new(budget);
    loop {
        match op().await {
            Err(e) if retryable(&e) && backoff.wait().await => {
                tracing::debug!("retrying after a propagation error");
            }
            other => return other,
        }
    }
}

/// Polls `ready` until it says true, with [`Backoff`], within `budget`.
pub async fn wait_until<F, Fut>(what: &str, budget: Duration, mut ready: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let mut backoff = Backoff::new(budget);
    loop {
        if ready().await? {
            return Ok(());
        }
        if !backoff.wait().await {
            bail!("gave up after {}s waiting for {what}", budget.as_secs());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack as stack;

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
    }

    #[test]
    fn tag_drift_names_what_is_missing() {
        let s = stack();
        assert_eq!(
            tag_drift(&s, [("tapctl:managed", "true"), ("tapctl:suffix", "dev")]),
            None
        );
        let d = tag_drift(&s, [("owner", "bob")]).unwrap();
        assert_eq!(d.field, "tags");
        assert_eq!(d.want, "tapctl:managed=true,tapctl:suffix=dev");
        assert_eq!(d.have, "(none)");
    }

    #[test]
    fn state_predicates() {
        let ours = State::present(true, vec![]);
        assert!(ours.in_sync() && !ours.is_foreign());
        let drifted = State::present(true, vec![Drift::new("pitr", "enabled", "disabled")]);
        assert!(!drifted.in_sync() && drifted.drifted("pitr") && !drifted.drifted("tags"));
        assert!(State::present(false, vec![]).is_foreign());
        assert!(State::Missing.is_missing() && !State::Missing.in_sync());
    }

    #[tokio::test(start_paused = true)]
    async fn retry_on_stops_at_a_final_error_and_at_the_budget() {
        let mut calls = 0;
        let r: Result<(), &str> = retry_on(
            Duration::from_secs(10),
            |e: &&str| *e == "again",
            || {
                calls += 1;
                let out = if calls < 3 {
                    Err("again")
                } else {
                    Err("final")
                };
                async move { out }
            },
        )
        .await;
        assert_eq!(r, Err("final"));
        assert_eq!(calls, 3);

        let mut calls = 0;
        let r: Result<(), &str> = retry_on(
            Duration::from_secs(2),
            |_| true,
            || {
                calls += 1;
                async { Err("again") }
            },
        )
        .await;
        assert_eq!(r, Err("again"));
        // 100 + 200 + 400 + 500 + 500 + 300 ms: six pauses fill the 2 s budget.
        assert_eq!(calls, 7);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_until_reports_what_it_waited_for() {
        let err = wait_until("the table", Duration::from_secs(1), || async { Ok(false) })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("the table"));
        let mut n = 0;
        wait_until("x", Duration::from_secs(1), || {
            n += 1;
            let ready = n == 2;
            async move { Ok(ready) }
        })
        .await
        .unwrap();
        assert_eq!(n, 2);
    }
}
