//! The DynamoDB table: keys `requestId` (S, hash) + `timestamp` (S, range), on-demand billing,
//! point-in-time recovery on; its object index and item expiry are in [`super::table_index`].
//!
//! DynamoDB is eventually consistent in three ways that matter here (DynamoDB API reference,
//! DescribeTable and DeleteTable; developer guide, "Tagging for DynamoDB"): DescribeTable may
//! answer ResourceNotFound right after CreateTable ("not yet", not "gone"); a deleted table
//! stays DELETING for a while (a new `up` waits, then creates it); and ListTagsOfResource
//! (which pages) may show no tags for a while after CreateTable (a young table that is
//! otherwise exactly tapctl's is read again before it is called not tapctl's).

use super::retry::{Backoff, poll, wait_until};
use super::sdk::{self, dynamodb, dynamodb::in_use, dynamodb::transient, found};
use super::state::{Ctx, Drift, Field, Kind, State, met_meanwhile};
use super::table_index;
use super::tags;
use crate::aws::Clients;
use crate::error::AwsContext;
use crate::spec::{Stack, TABLE_PREFIX, Target};
use anyhow::{Context, Result, bail};
use aws_sdk_dynamodb::operation::{
    delete_table::DeleteTableError, describe_continuous_backups::DescribeContinuousBackupsError,
    describe_table::DescribeTableError, describe_time_to_live::DescribeTimeToLiveError,
    list_tags_of_resource::ListTagsOfResourceError,
};
use aws_sdk_dynamodb::types::{
    BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification, TableStatus,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

pub use crate::spec::{HASH_KEY, RANGE_KEY};
use table_index::describe;

const READY_BUDGET: Duration = Duration::from_secs(300);
/// How long after tapctl's CreateTable a ResourceNotFound from DescribeTable means "not yet".
const DESCRIBE_GRACE: Duration = Duration::from_secs(30);
/// A table this young without any tag may be tapctl's with its tags not visible yet.
const YOUNG: Duration = Duration::from_secs(120);
/// How long its tags are read again before it is judged untagged.
const TAGS_BUDGET: Duration = Duration::from_secs(10);

/// What tapctl reads of the table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// `name:TYPE:HASH|RANGE` per key, hash first.
    pub keys: Vec<String>,
    pub billing: String,
    pub pitr: bool,
    pub tags: Vec<(String, String)>,
    /// The object index ([`table_index::observed_index`]); `None` when absent.
    pub index: Option<String>,
    /// Item expiry ([`table_index::observed_ttl`]).
    pub ttl: String,
    /// DynamoDB's `DeletionProtectionEnabled`.
    pub deletion_protection: bool,
}

fn on_off(on: bool) -> &'static str {
    if on { "enabled" } else { "disabled" }
}

pub fn wanted_keys() -> Vec<String> {
    vec![format!("{HASH_KEY}:S:HASH"), format!("{RANGE_KEY}:S:RANGE")]
}

/// The pure half of `observe`: what differs from the spec.
pub fn diff(stack: &Stack, o: &Observed) -> Vec<Drift> {
    let mut drift = Vec::new();
    if o.keys != wanted_keys() {
        drift.push(Drift::new(
            Field::Keys,
            wanted_keys().join(","),
            o.keys.join(","),
        ));
    }
    if o.billing != "PAY_PER_REQUEST" {
        drift.push(Drift::new(
            Field::BillingMode,
            "PAY_PER_REQUEST",
            &o.billing,
        ));
    }
    if !o.pitr {
        drift.push(Drift::new(
            Field::PointInTimeRecovery,
            "enabled",
            "disabled",
        ));
    }
    if o.deletion_protection != stack.settings.deletion_protection {
        drift.push(Drift::new(
            Field::DeletionProtection,
            on_off(stack.settings.deletion_protection),
            on_off(o.deletion_protection),
        ));
    }
    drift.extend(table_index::diff(stack, o.index.as_deref(), &o.ttl));
    drift.extend(tags::drift(stack, &o.tags));
    drift
}

pub async fn observe(ctx: &Ctx) -> Result<State> {
    let db = &ctx.aws.dynamodb;
    let s = &ctx.stack;
    // All four reads at once (the ARN is known from the spec): one round trip, not two.
    // On a missing table the others fail too; only DescribeTable's answer counts.
    let (table, backups, tags, ttl) = tokio::join!(
        db.describe_table().table_name(&s.table_name).send(),
        db.describe_continuous_backups()
            .table_name(&s.table_name)
            .send(),
        read_tags(&ctx.aws, &s.table_arn),
        db.describe_time_to_live().table_name(&s.table_name).send(),
    );
    let Some(table) = found(table, DescribeTableError::is_resource_not_found_exception)
        .aws_context("DescribeTable")?
    else {
        return Ok(State::Missing);
    };
    let table = table.table.context("DescribeTable returned no table")?;
    if table.table_status == Some(TableStatus::Deleting) {
        return Ok(State::Missing);
    }
    // The reads are no snapshot: a table created or deleted while they ran is missing for some.
    let backups = found(
        backups,
        DescribeContinuousBackupsError::is_table_not_found_exception,
    )
    .aws_context("DescribeContinuousBackups")?;
    let ttl = found(
        ttl,
        DescribeTimeToLiveError::is_resource_not_found_exception,
    )
    .aws_context("DescribeTimeToLive")?;
    let (Some(backups), Some(tags), Some(ttl)) = (backups, tags?, ttl) else {
        return Ok(State::Missing);
    };
    let pitr = backups
        .continuous_backups_description
        .and_then(|d| d.point_in_time_recovery_description)
        .and_then(|p| p.point_in_time_recovery_status)
        .is_some_and(|s| s.as_str() == "ENABLED");
    let young = table
        .creation_date_time()
        .and_then(|t| SystemTime::try_from(*t).ok())
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < YOUNG);
    let types = |name: &str| {
        table
            .attribute_definitions()
            .iter()
            .find(|a| a.attribute_name == name)
            .map(|a| a.attribute_type.as_str().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let keys = table
        .key_schema()
        .iter()
        .map(|k| {
            format!(
                "{}:{}:{}",
                k.attribute_name,
                types(&k.attribute_name),
                k.key_type.as_str()
            )
        })
        .collect();
    let billing = table
        .billing_mode_summary
        .as_ref()
        .and_then(|b| b.billing_mode.as_ref())
        .map(|b| b.as_str().to_string())
        .unwrap_or_else(|| "PROVISIONED".into());
    let mut observed = Observed {
        keys,
        billing,
        pitr,
        tags,
        index: table_index::observed_index(&table),
        ttl: table_index::observed_ttl(ttl.time_to_live_description()),
        deletion_protection: table.deletion_protection_enabled() == Some(true),
    };
    if young && observed.tags.is_empty() && only_tags_differ(s, &observed) {
        observed.tags = tags_once_visible(ctx).await?;
    }
    Ok(tags::judge(s, &observed.tags, diff(s, &observed)))
}

/// Whether the table is as tapctl makes it but for its tags (point-in-time recovery aside:
/// a crash can leave that undone).
fn only_tags_differ(s: &Stack, o: &Observed) -> bool {
    diff(s, o)
        .iter()
        .all(|d| matches!(d.field, Field::Tags | Field::PointInTimeRecovery))
}

/// Reads the tags again with backoff until tapctl's show, within [`TAGS_BUDGET`]; what is
/// there at the end otherwise.
async fn tags_once_visible(ctx: &Ctx) -> Result<Vec<(String, String)>> {
    let s = &ctx.stack;
    let mut backoff = Backoff::new(TAGS_BUDGET);
    loop {
        let tags = read_tags(&ctx.aws, &s.table_arn).await?.unwrap_or_default();
        if tags::owned(s, &tags) || !backoff.wait().await {
            return Ok(tags);
        }
    }
}

/// Every tag of the table (ListTagsOfResource pages; the SDK has no paginator for it);
/// `None` when the table does not exist.
async fn read_tags(aws: &Clients, arn: &str) -> Result<Option<Vec<(String, String)>>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let read = aws
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(token.take())
            .send()
            .await;
        let missing = ListTagsOfResourceError::is_resource_not_found_exception;
        let Some(page) = found(read, missing).aws_context("ListTagsOfResource")? else {
            return Ok(None);
        };
        out.extend(
            page.tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key, t.value)),
        );
        match page.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(Some(out)),
        }
    }
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    let db = &ctx.aws.dynamodb;
    let s = &ctx.stack;
    if state.drifted(Field::Keys) {
        bail!(
            "table {} has other keys than {}; keys cannot change in place: delete the table \
             (`{}`) and run `{}` again",
            s.table_name,
            wanted_keys().join(","),
            s.command("down"),
            s.command("up")
        );
    }
    if state.is_missing() {
        if !create(ctx).await? {
            return Err(met_meanwhile());
        }
    } else {
        if state.drifted(Field::Tags) {
            let tags = tags::dynamodb(s)?;
            sdk::write(transient, || {
                db.tag_resource()
                    .resource_arn(&s.table_arn)
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await
            .aws_context("TagResource")?;
        }
        if state.drifted(Field::BillingMode) {
            switch_to_on_demand(ctx).await?;
        }
        if state.drifted(Field::DeletionProtection) {
            let on = s.settings.deletion_protection;
            sdk::write(transient, || {
                db.update_table()
                    .table_name(&s.table_name)
                    .deletion_protection_enabled(on)
                    .send()
            })
            .await
            .aws_context("UpdateTable")?;
        }
    }
    if state.drifted(Field::ObjectIndex) {
        table_index::repair_index(ctx).await?;
    }
    if state.needs(Field::PointInTimeRecovery) {
        enable_pitr(ctx).await?;
    }
    // A new table has TTL off: only a stack whose items expire has something to change.
    if state.drifted(Field::TimeToLive)
        || (state.is_missing() && s.settings.item_retention_days > 0)
    {
        table_index::repair_ttl(ctx).await?;
    }
    Ok(())
}

/// Switches the table back to on-demand and waits until it is ACTIVE. DynamoDB's limit on
/// such switches is final (no retry): one line that says what happened and when to retry.
async fn switch_to_on_demand(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    let final_limit = || {
        aws_sdk_dynamodb::config::Builder::default()
            .retry_classifier(dynamodb::OnDemandLimitIsFinal)
    };
    let switched = sdk::write(transient, || {
        let request = ctx.aws.dynamodb.update_table().table_name(&s.table_name);
        let request = request.billing_mode(BillingMode::PayPerRequest).customize();
        request.config_override(final_limit()).send()
    })
    .await;
    match switched {
        Err(e) if e.as_service_error().is_some_and(dynamodb::on_demand_limit) => {
            let e = crate::error::AwsError::new(e);
            let next = e
                .message()
                .and_then(|m| m.split("Next update can be made at ").nth(1))
                .map_or("the oldest of those switches is 24 hours old", str::trim);
            // (The step's error is prefixed with the table's name.)
            bail!(
                "DynamoDB allows switching a table to on-demand only 4 times in 24 hours, and \
                 this table has used them (UpdateTable: {e}); run `{}` again after {next}",
                s.command("up")
            );
        }
        switched => switched.map(drop).aws_context("UpdateTable")?,
    }
    wait_active(ctx, None).await
}

/// Creates the table and waits until it is ACTIVE; false when it already existed (made
/// meanwhile by a concurrent tapctl run, or by someone else): then it has settled and the
/// caller looks again.
async fn create(ctx: &Ctx) -> Result<bool> {
    let s = &ctx.stack;
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let request = ctx
        .aws
        .dynamodb
        .create_table()
        .table_name(&s.table_name)
        .set_attribute_definitions(Some(table_index::attribute_definitions()?))
        .key_schema(key(HASH_KEY, KeyType::Hash)?)
        .key_schema(key(RANGE_KEY, KeyType::Range)?)
        .global_secondary_indexes(table_index::for_create()?)
        .billing_mode(BillingMode::PayPerRequest)
        .deletion_protection_enabled(s.settings.deletion_protection)
        .set_tags(Some(tags::dynamodb(s)?));
    // A table still DELETING (`up` right after `down`) or being created by a concurrent run
    // answers ResourceInUse: wait until it settles, then create it if it is gone.
    let mut backoff = Backoff::new(READY_BUDGET);
    loop {
        let created = sdk::write(transient, || request.clone().send()).await;
        match created {
            Ok(_) => break,
            Err(e) if in_use(&e) => {
                if settle(ctx).await? == Some(TableStatus::Active) {
                    return Ok(false);
                }
                if !backoff.wait().await {
                    return Err(e).aws_context("CreateTable");
                }
            }
            Err(e) => return Err(e).aws_context("CreateTable"),
        }
    }
    wait_active(ctx, Some(Instant::now())).await?;
    Ok(true)
}

/// Waits until the table and its indexes are ACTIVE. Right after tapctl's own CreateTable (`created`),
/// DescribeTable's ResourceNotFound means "not yet" for [`DESCRIBE_GRACE`]. (The SDK's
/// `table_exists` waiter polls every 20 s or more, which would dominate a deploy that
/// otherwise takes seconds.)
async fn wait_active(ctx: &Ctx, created: Option<Instant>) -> Result<()> {
    let s = &ctx.stack;
    wait_until(
        &format!("table {} to be ACTIVE", s.table_name),
        READY_BUDGET,
        || async {
            match describe(ctx).await? {
                Some(t) => {
                    Ok(t.table_status == Some(TableStatus::Active)
                        && table_index::indexes_active(&t))
                }
                None if created.is_some_and(|t| t.elapsed() < DESCRIBE_GRACE) => Ok(false),
                None => bail!(
                    "table {} disappeared while tapctl waited for it",
                    s.table_name
                ),
            }
        },
    )
    .await
}

/// Turns point-in-time recovery on. On a new table this fails for a while with
/// `ContinuousBackupsUnavailableException` even once ACTIVE: retried, as is a table still
/// being updated.
async fn enable_pitr(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    let on = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .build()
        .context("PointInTimeRecoverySpecification")?;
    table_index::while_busy(|| {
        ctx.aws
            .dynamodb
            .update_continuous_backups()
            .table_name(&s.table_name)
            .point_in_time_recovery_specification(on.clone())
            .send()
    })
    .await
    .aws_context("UpdateContinuousBackups")?;
    Ok(())
}

pub async fn delete(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    let db = &ctx.aws.dynamodb;
    let mut backoff = Backoff::new(READY_BUDGET);
    loop {
        let deleted = sdk::write(transient, || {
            db.delete_table().table_name(&s.table_name).send()
        });
        match found(
            deleted.await,
            DeleteTableError::is_resource_not_found_exception,
        ) {
            Ok(None) => return Ok(()),
            Ok(Some(_)) => break,
            // Still being created (a racing up) or already being deleted: wait, then again.
            Err(e) if in_use(&e) => {
                settle(ctx).await?;
                if !backoff.wait().await {
                    return Err(e).aws_context("DeleteTable");
                }
            }
            Err(e) => return Err(e).aws_context("DeleteTable"),
        }
    }
    wait_gone(ctx).await
}

/// The table's status; `None` when it does not exist.
async fn table_status(ctx: &Ctx) -> Result<Option<TableStatus>> {
    Ok(describe(ctx)
        .await?
        .map(|t| t.table_status.unwrap_or(TableStatus::Active)))
}

async fn wait_gone(ctx: &Ctx) -> Result<()> {
    let what = format!("table {} to be deleted", ctx.stack.table_name);
    wait_until(&what, READY_BUDGET, || async {
        Ok(table_status(ctx).await?.is_none())
    })
    .await
}

/// Waits until the table is ACTIVE (`Some(Active)`) or gone (`None`).
async fn settle(ctx: &Ctx) -> Result<Option<TableStatus>> {
    let probe = || async {
        Ok(match table_status(ctx).await? {
            None => Some(None),
            Some(TableStatus::Active) => Some(Some(TableStatus::Active)),
            Some(_) => None,
        })
    };
    match poll(Backoff::new(READY_BUDGET), probe).await? {
        Some(settled) => Ok(settled),
        None => bail!(
            "gave up after {}s waiting for table {} to settle",
            READY_BUDGET.as_secs(),
            ctx.stack.table_name
        ),
    }
}

/// The suffixes of the stacks whose table is in this account and region, by its tags.
pub async fn list(aws: &Clients, t: &Target) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut pages = aws.dynamodb.list_tables().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.aws_context("ListTables")?;
        names.extend(
            page.table_names()
                .iter()
                .filter(|n| n.starts_with(TABLE_PREFIX))
                .cloned(),
        );
    }
    let mut out = Vec::new();
    for name in names {
        // Gone since it was listed: not a stack to report.
        let Some(tags) = read_tags(aws, &t.table_arn(&name))
            .await
            .with_context(|| format!("reading the tags of table {name}"))?
        else {
            continue;
        };
        let pairs = tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        out.extend(tags::stack_of(Kind::Table, t, &name, pairs));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack as stack;

    fn good() -> Observed {
        Observed {
            keys: wanted_keys(),
            billing: "PAY_PER_REQUEST".into(),
            pitr: true,
            tags: stack().tags(),
            index: Some(table_index::wanted_index()),
            ttl: "disabled".into(),
            deletion_protection: false,
        }
    }

    #[test]
    fn in_shape_table_has_no_drift() {
        assert!(diff(&stack(), &good()).is_empty());
    }

    #[test]
    fn each_drift_is_named() {
        let o = Observed {
            keys: vec!["id:S:HASH".into()],
            billing: "PROVISIONED".into(),
            pitr: false,
            tags: vec![],
            index: None,
            ttl: "disabled".into(),
            deletion_protection: false,
        };
        let fields: Vec<_> = diff(&stack(), &o)
            .iter()
            .map(|d| d.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "keys",
                "billing_mode",
                "point_in_time_recovery",
                "object_index",
                "tags"
            ]
        );
        let mut o = good();
        o.pitr = false;
        assert_eq!(
            diff(&stack(), &o),
            vec![Drift::new(
                Field::PointInTimeRecovery,
                "enabled",
                "disabled"
            )]
        );
        // Deletion protection follows the setting, both ways.
        let mut s = stack();
        s.settings.deletion_protection = true;
        assert_eq!(
            diff(&s, &good()),
            vec![Drift::new(Field::DeletionProtection, "enabled", "disabled")]
        );
        let mut o = good();
        o.deletion_protection = true;
        assert_eq!(
            diff(&stack(), &o),
            vec![Drift::new(Field::DeletionProtection, "disabled", "enabled")]
        );
        assert!(diff(&s, &o).is_empty());
    }
}
