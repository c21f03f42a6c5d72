//! The DynamoDB table: keys `requestId` (S, hash) + `timestamp` (S, range), on-demand billing,
//! point-in-time recovery on.

use super::{
    Ctx, Drift, Kind, State, created_meanwhile, has_code, retry_on, tag_drift, wait_until,
};
use crate::spec::Stack;
use anyhow::{Context, Result, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ScalarAttributeType, TableStatus, Tag,
};
use std::time::Duration;

pub const HASH_KEY: &str = "requestId";
pub const RANGE_KEY: &str = "timestamp";

const READY_BUDGET: Duration = Duration::from_secs(300);

/// What tapctl reads of the table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// `name:TYPE:HASH|RANGE` per key, hash first.
    pub keys: Vec<String>,
    pub billing: String,
    pub pitr: bool,
    pub tags: Vec<(String, String)>,
}

pub fn wanted_keys() -> Vec<String> {
    vec![format!("{HASH_KEY}:S:HASH"), format!("{RANGE_KEY}:S:RANGE")]
}

/// The pure half of `observe`: what differs from the spec.
pub fn diff(stack: &Stack, o: &Observed) -> Vec<Drift> {
    let mut drift = Vec::new();
    if o.keys != wanted_keys() {
        drift.push(Drift::new(
            "keys",
            wanted_keys().join(","),
            o.keys.join(","),
        ));
    }
    if o.billing != "PAY_PER_REQUEST" {
        drift.push(Drift::new("billing_mode", "PAY_PER_REQUEST", &o.billing));
    }
    if !o.pitr {
        drift.push(Drift::new("point_in_time_recovery", "enabled", "disabled"));
    }
    drift.extend(tag_drift(
        stack,
        o.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ));
    drift
}

pub async fn observe(ctx: &Ctx) -> Result<State> {
    let db = &ctx.aws.dynamodb;
    let s = &ctx.stack;
    // All three reads at once (the ARN is known from the spec): one round trip, not two.
    // On a missing table the other two fail too; only DescribeTable's answer counts.
    let (table, backups, tags) = tokio::join!(
        db.describe_table().table_name(&s.table_name).send(),
        db.describe_continuous_backups()
            .table_name(&s.table_name)
            .send(),
        db.list_tags_of_resource().resource_arn(&s.table_arn).send(),
    );
    let table = match table {
        Ok(out) => out.table.context("DescribeTable returned no table")?,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(State::Missing);
        }
        Err(e) => return Err(e).context("DescribeTable"),
    };
    if table.table_status == Some(TableStatus::Deleting) {
        return Ok(State::Missing);
    }
    // The reads are no snapshot: a table created or deleted while they ran is missing for some.
    let backups = match backups {
        Ok(b) => b,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_table_not_found_exception()) =>
        {
            return Ok(State::Missing);
        }
        Err(e) => return Err(e).context("DescribeContinuousBackups"),
    };
    let tags = match tags {
        Ok(t) => t,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(State::Missing);
        }
        Err(e) => return Err(e).context("ListTagsOfResource"),
    };
    let pitr = backups
        .continuous_backups_description
        .and_then(|d| d.point_in_time_recovery_description)
        .and_then(|p| p.point_in_time_recovery_status)
        .is_some_and(|s| s.as_str() == "ENABLED");
    let tags: Vec<(String, String)> = tags
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
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
    let observed = Observed {
        keys,
        billing,
        pitr,
        tags,
    };
    let owned = s.owns(observed.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(State::present(owned, diff(s, &observed)))
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    let db = &ctx.aws.dynamodb;
    let s = &ctx.stack;
    if state.drifted("keys") {
        bail!(
            "table {} has other keys than {}; keys cannot change in place: delete the table \
             (tapctl down) and run up again",
            s.table_name,
            wanted_keys().join(",")
        );
    }
    if state.is_missing() {
        create(ctx).await?;
    } else {
        if state.drifted("tags") {
            db.tag_resource()
                .resource_arn(&s.table_arn)
                .set_tags(Some(tags(s)?))
                .send()
                .await
                .context("TagResource")?;
        }
        if state.drifted("billing_mode") {
            db.update_table()
                .table_name(&s.table_name)
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await
                .context("UpdateTable")?;
            wait_active(ctx).await?;
        }
    }
    if state.is_missing() || state.drifted("point_in_time_recovery") {
        enable_pitr(ctx).await?;
    }
    Ok(())
}

fn tags(s: &Stack) -> Result<Vec<Tag>> {
    s.tags()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().context("tag"))
        .collect()
}

async fn create(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let created = ctx
        .aws
        .dynamodb
        .create_table()
        .table_name(&s.table_name)
        .attribute_definitions(attr(HASH_KEY)?)
        .attribute_definitions(attr(RANGE_KEY)?)
        .key_schema(key(HASH_KEY, KeyType::Hash)?)
        .key_schema(key(RANGE_KEY, KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .set_tags(Some(tags(s)?))
        .send()
        .await;
    match created {
        Ok(_) => {}
        // Made meanwhile (by a concurrent tapctl run, or by someone else): look again.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            wait_active_or_gone(ctx).await?;
            return created_meanwhile(Kind::Table, ctx).await;
        }
        Err(e) => return Err(e).context("CreateTable"),
    }
    wait_active(ctx).await
}

/// Waits until the table is ACTIVE. (The SDK's `table_exists` waiter polls every 20 s or more,
/// which would dominate a deploy that otherwise takes seconds.)
async fn wait_active(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    wait_until(
        &format!("table {} to be ACTIVE", s.table_name),
        READY_BUDGET,
        || async {
            match table_status(ctx).await? {
                Some(status) => Ok(status == TableStatus::Active),
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
/// `ContinuousBackupsUnavailableException` even once ACTIVE: retried.
async fn enable_pitr(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    retry_on(
        READY_BUDGET,
        |e: &aws_sdk_dynamodb::error::SdkError<_>| {
            has_code(e, "ContinuousBackupsUnavailableException")
                || has_code(e, "ResourceInUseException")
        },
        || {
            ctx.aws
                .dynamodb
                .update_continuous_backups()
                .table_name(&s.table_name)
                .point_in_time_recovery_specification(
                    PointInTimeRecoverySpecification::builder()
                        .point_in_time_recovery_enabled(true)
                        .build()
                        .expect("the one required field is set"),
                )
                .send()
        },
    )
    .await
    .context("UpdateContinuousBackups")?;
    Ok(())
}

pub async fn delete(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    let db = &ctx.aws.dynamodb;
    match db.delete_table().table_name(&s.table_name).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(());
        }
        // Still being created (a racing up) or already being deleted: wait below.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            wait_active_or_gone(ctx).await?;
            return Box::pin(delete(ctx)).await;
        }
        Err(e) => return Err(e).context("DeleteTable"),
    }
    wait_gone(ctx).await
}

async fn table_status(ctx: &Ctx) -> Result<Option<TableStatus>> {
    let s = &ctx.stack;
    match ctx
        .aws
        .dynamodb
        .describe_table()
        .table_name(&s.table_name)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.table
                .and_then(|t| t.table_status)
                .unwrap_or(TableStatus::Active),
        )),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(e).context("DescribeTable"),
    }
}

async fn wait_gone(ctx: &Ctx) -> Result<()> {
    let what = format!("table {} to be deleted", ctx.stack.table_name);
    wait_until(&what, READY_BUDGET, || async {
        Ok(table_status(ctx).await?.is_none())
    })
    .await
}

async fn wait_active_or_gone(ctx: &Ctx) -> Result<()> {
    let what = format!("table {} to settle", ctx.stack.table_name);
    wait_until(&what, READY_BUDGET, || async {
        Ok(matches!(
            table_status(ctx).await?,
            None | Some(TableStatus::Active)
        ))
    })
    .await
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
        };
        let fields: Vec<_> = diff(&stack(), &o).iter().map(|d| d.field).collect();
        assert_eq!(
            fields,
            ["keys", "billing_mode", "point_in_time_recovery", "tags"]
        );
        let mut o = good();
        o.pitr = false;
        assert_eq!(
            diff(&stack(), &o),
            vec![Drift::new("point_in_time_recovery", "enabled", "disabled")]
        );
    }
}
