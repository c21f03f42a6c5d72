//! The seven things tapctl owns, one file each, and the plumbing they share: the control plane.
//! Every control-plane AWS call lives below this module, except the STS identity check (`aws`);
//! reading and acting on a running pipeline (items, log lines, invocations, queue messages)
//! lives in `crate::ops`.
//!
//! Each resource file has `observe` (the resource as a [`State`]: missing, or present with
//! its owner and its drift), `diff` (pure, unit-tested: what differs from the spec, as
//! [`Drift`]s by named [`Field`]), `apply` (create it, or repair its drift) and `delete`; the
//! six that carry tags also `list` the stacks they belong to. They share:
//! - [`state`]: the context, kinds, states, drift fields and the [`Snapshot`] of all of them;
//! - [`sdk`]: not-found as a value ([`sdk::found`]), error codes the SDK does not model, and
//!   each service's table of transient answers its writes retry ([`sdk::write`]);
//! - [`tags`]: the tag shape of each service, tag drift, and the ownership judgement;
//! - [`retry`]: [`retry::Backoff`], [`retry::retry_on`], [`retry::wait_until`].
//!
//! The discipline every resource follows:
//! - **A resource in flux counts as missing.** Its reads run at once and are no snapshot: one
//!   that is being deleted, or that some reads see and others do not, is [`State::Missing`];
//!   creating it then meets it ("already exists"), waits until it settles, looks again
//!   ([`state::MetMeanwhile`], answered once by the dispatch, [`Kind::apply`]: bounded) and
//!   carries on only if it is tapctl's or being adopted.
//! - **Create, then wait** until it is usable (a table ACTIVE, a function Active), within a
//!   budget; **delete, then wait until it is gone**; never a fixed sleep.
//! - **Tag in the create call itself**, so no crash leaves an untagged resource of tapctl's.
//! - `apply` and `delete` are **idempotent** (a second run makes no write call; what is
//!   already gone counts as deleted), **tolerant of a partial earlier run** (what it left
//!   half-done is drift the next `apply` repairs), and **safe to kill** at any point.
//!
//! Adding an eighth resource touches, in order:
//! 1. `spec`: its name, ARN and desired settings (pure), and `settings` for any new key;
//! 2. `state`: a [`Kind`] (label, name, order in `Kind::ALL`) and its drift [`Field`]s;
//! 3. a file here with `observe`, `diff` (unit-tested), `apply`, `delete` and `list`, using
//!    `sdk::found`, `sdk::write`, `tags`, `retry` and `state::met_meanwhile` for a create
//!    that meets it already there;
//! 4. the dispatch below (`observe`, `apply`, `delete`, `list` by kind) and `crate::engine`'s
//!    dependency edges (what must exist before it, what it must outlive);
//! 5. `crate::plan` (its create/repair/delete words) and `crate::report` (its status row);
//! 6. `crate::deployer`'s policy (exactly the calls it makes, scoped to its ARN) and
//!    docs/deployer-policy.json (a test checks them against each other);
//! 7. the local AWS (a shim where moto differs from AWS, registered in localaws/registry.py)
//!    and the integration tests' expectations (tests/it/common/expect.rs).

pub mod bucket;
pub mod bucket_lifecycle;
pub mod empty;
pub mod function;
pub mod layer;
pub mod log_group;
pub mod queue;
pub mod retry;
pub mod role;
pub mod sdk;
pub mod state;
pub mod table;
pub mod table_index;
pub mod tags;
pub mod trigger;
pub mod waits;

pub use state::{Ctx, Drift, Field, Kind, Owner, Snapshot, State};

use crate::aws::Clients;
use crate::spec::Target;
use anyhow::Result;

/// How many times one apply looks again at a resource it met meanwhile before it gives up.
pub const LOOK_AGAIN: usize = 3;

/// Each kind's steps, dispatched to its file.
impl Kind {
    pub async fn observe(self, ctx: &Ctx) -> Result<State> {
        match self {
            Kind::Table => table::observe(ctx).await,
            Kind::Bucket => bucket::observe(ctx).await,
            Kind::Role => role::observe(ctx).await,
            Kind::LogGroup => log_group::observe(ctx).await,
            Kind::Queue => queue::observe(ctx).await,
            Kind::Function => function::observe(ctx).await,
            Kind::Trigger => trigger::observe(ctx).await,
        }
    }

    /// Creates the resource (`state` Missing) or repairs its drift. A create that meets the
    /// resource already there ([`state::MetMeanwhile`]) is answered here, once for all
    /// resources: look again, judge what is there ([`state::created_meanwhile`]: carry on only
    /// if it is tapctl's or being adopted) and apply to it, at most [`LOOK_AGAIN`] times.
    pub async fn apply(self, ctx: &Ctx, state: &State) -> Result<()> {
        let mut state = state.clone();
        for _ in 0..=LOOK_AGAIN {
            // Boxed: the steps' futures are large (SDK calls), and a debug build polls them on
            // a worker thread's 2 MiB stack.
            match Box::pin(self.apply_once(ctx, &state)).await {
                Err(e) if e.downcast_ref::<state::MetMeanwhile>().is_some() => {
                    let met = *e
                        .downcast_ref::<state::MetMeanwhile>()
                        .expect("checked above");
                    state = match met.settle {
                        Some(budget) => {
                            Box::pin(state::look_again(self, ctx, budget, || {
                                Box::pin(self.observe(ctx))
                            }))
                            .await?
                        }
                        None => {
                            let now = Box::pin(self.observe(ctx)).await?;
                            state::created_meanwhile(self, ctx, now)?
                        }
                    };
                }
                done => return done,
            }
        }
        anyhow::bail!(
            "{} {} kept appearing and disappearing while tapctl created it ({} looks); \
             another run may be racing this one: run `{}` again",
            self.label(),
            self.name(&ctx.stack),
            LOOK_AGAIN + 1,
            ctx.stack.command("up")
        )
    }

    async fn apply_once(self, ctx: &Ctx, state: &State) -> Result<()> {
        match self {
            Kind::Table => table::apply(ctx, state).await,
            Kind::Bucket => bucket::apply(ctx, state).await,
            Kind::Role => role::apply(ctx, state).await,
            Kind::LogGroup => log_group::apply(ctx, state).await,
            Kind::Queue => queue::apply(ctx, state).await,
            Kind::Function => function::apply(ctx, state).await,
            Kind::Trigger => trigger::apply(ctx, state).await,
        }
    }

    /// Deletes the resource; what is already gone counts as deleted.
    pub async fn delete(self, ctx: &Ctx, snapshot: &Snapshot) -> Result<()> {
        match self {
            Kind::Table => table::delete(ctx).await,
            Kind::Bucket => bucket::delete(ctx).await,
            Kind::Role => role::delete(ctx).await,
            Kind::LogGroup => log_group::delete(ctx).await,
            Kind::Queue => queue::delete(ctx).await,
            Kind::Function => function::delete(ctx).await,
            Kind::Trigger => trigger::delete(ctx, snapshot).await,
        }
    }

    /// The suffixes of the stacks this kind of resource belongs to in the account and region,
    /// by its tags; the trigger carries none, so lists nothing.
    pub async fn list(self, aws: &Clients, t: &Target) -> Result<Vec<String>> {
        match self {
            Kind::Table => table::list(aws, t).await,
            Kind::Bucket => bucket::list(aws, t).await,
            Kind::Role => role::list(aws, t).await,
            Kind::LogGroup => log_group::list(aws, t).await,
            Kind::Queue => queue::list(aws, t).await,
            Kind::Function => function::list(aws, t).await,
            Kind::Trigger => Ok(Vec::new()),
        }
    }
}
