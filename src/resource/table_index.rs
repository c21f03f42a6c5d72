//! What the log table carries for operators besides its seed keys: the [`OBJECT_INDEX`] global
//! secondary index (hash `objectKey`, range `timestamp`, every attribute projected), which
//! finds one object's events newest first with a Query at any table size; and item expiry
//! (DynamoDB TTL on [`TTL_ATTRIBUTE`], which the handler writes) when the stack's
//! `item_retention_days` > 0. Both are part of the table's spec: the index is created with the
//! table, `table::observe` compares both, and drift is repaired and waited for here.
//!
//! AWS facts relied on (DynamoDB API reference): UpdateTable creates or deletes one global
//! secondary index per call and its AttributeDefinitions must include the new index's keys;
//! the index is CREATING (backfilling) until ACTIVE, DELETING until gone. UpdateTimeToLive
//! moves TTL through ENABLING / DISABLING; "any additional UpdateTimeToLive calls for the same
//! table during this one hour duration result in a ValidationException".

use super::retry::{Backoff, poll, retry_on, wait_until};
use super::sdk::found;
use super::sdk::{dynamodb::in_use, dynamodb::transient};
use super::state::{Ctx, Drift, Field};
use crate::error::AwsContext;
use crate::spec::{HASH_KEY, OBJECT_INDEX, RANGE_KEY, Stack, TTL_ATTRIBUTE};
use anyhow::{Context, Result, bail};
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, CreateGlobalSecondaryIndexAction, DeleteGlobalSecondaryIndexAction,
    GlobalSecondaryIndex, GlobalSecondaryIndexDescription, GlobalSecondaryIndexUpdate, IndexStatus,
    KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType, TableDescription,
    TimeToLiveDescription, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

/// The index's hash key: the object's (decoded) key, as the handler writes it.
pub const INDEX_HASH: &str = "objectKey";

const READY_BUDGET: Duration = Duration::from_secs(300);

/// The index as `observe` shows it: its keys and projection.
pub fn wanted_index() -> String {
    format!("{INDEX_HASH}:S:HASH,{RANGE_KEY}:S:RANGE,projection=ALL")
}

/// What item expiry should be for this stack.
pub fn wanted_ttl(s: &Stack) -> String {
    if s.settings.item_retention_days > 0 {
        format!("enabled on {TTL_ATTRIBUTE}")
    } else {
        "disabled".into()
    }
}

/// The object index of a described table, as [`wanted_index`] spells it, with its status in
/// parentheses unless ACTIVE; `None` when the table has no such index.
pub fn observed_index(t: &TableDescription) -> Option<String> {
    let index = t
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some(OBJECT_INDEX))?;
    let types = |name: &str| {
        t.attribute_definitions()
            .iter()
            .find(|a| a.attribute_name == name)
            .map_or("?".to_string(), |a| a.attribute_type.as_str().to_string())
    };
    let keys: Vec<String> = index
        .key_schema()
        .iter()
        .map(|k| {
            let name = &k.attribute_name;
            format!("{name}:{}:{}", types(name), k.key_type.as_str())
        })
        .collect();
    let projection = index
        .projection()
        .and_then(|p| p.projection_type())
        .map_or("?", |p| p.as_str());
    let shape = format!("{},projection={projection}", keys.join(","));
    Some(match status(index) {
        IndexStatus::Active => shape,
        other => format!("{shape} ({})", other.as_str()),
    })
}

fn status(index: &GlobalSecondaryIndexDescription) -> IndexStatus {
    index.index_status().cloned().unwrap_or(IndexStatus::Active)
}

/// Item expiry as `observe` shows it: `disabled`, or `enabled on ATTR` (`enabling`, `disabling`
/// while DynamoDB changes it).
pub fn observed_ttl(d: Option<&TimeToLiveDescription>) -> String {
    let attr = d.and_then(|d| d.attribute_name()).unwrap_or("?");
    match d.and_then(|d| d.time_to_live_status()) {
        Some(TimeToLiveStatus::Enabled) => format!("enabled on {attr}"),
        Some(TimeToLiveStatus::Enabling) => format!("enabling on {attr}"),
        Some(TimeToLiveStatus::Disabling) => format!("disabling on {attr}"),
        _ => "disabled".into(),
    }
}

/// Where a TTL change in progress ends: `enabling on X` is `enabled on X`, `disabling` is
/// `disabled`. A change tapctl asked for is waited for by `apply`; one in progress is no drift.
fn settled(ttl: &str) -> String {
    if let Some(attr) = ttl.strip_prefix("enabling on ") {
        format!("enabled on {attr}")
    } else if ttl.starts_with("disabling") {
        "disabled".into()
    } else {
        ttl.to_string()
    }
}

/// The pure half: the index and the expiry as observed vs the spec.
pub fn diff(s: &Stack, index: Option<&str>, ttl: &str) -> Vec<Drift> {
    let mut drift = Vec::new();
    // An index being built (CREATING: DynamoDB backfills it) is the wanted one in progress,
    // as a TTL being enabled is: no drift, nothing more for up to do.
    let building = format!("{} (CREATING)", wanted_index());
    let index = index.map(|i| {
        if i == building {
            wanted_index()
        } else {
            i.to_string()
        }
    });
    if index.as_deref() != Some(wanted_index().as_str()) {
        drift.push(Drift::new(
            Field::ObjectIndex,
            format!("{OBJECT_INDEX}: {}", wanted_index()),
            index.map_or("none".to_string(), |i| format!("{OBJECT_INDEX}: {i}")),
        ));
    }
    if settled(ttl) != wanted_ttl(s) {
        drift.push(Drift::new(Field::TimeToLive, wanted_ttl(s), ttl));
    }
    drift
}

/// Every attribute the table and its index key on, as CreateTable and UpdateTable need them.
pub fn attribute_definitions() -> Result<Vec<AttributeDefinition>> {
    [HASH_KEY, RANGE_KEY, INDEX_HASH]
        .into_iter()
        .map(|name| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .context("AttributeDefinition")
        })
        .collect()
}

fn index_keys() -> Result<Vec<KeySchemaElement>> {
    [(INDEX_HASH, KeyType::Hash), (RANGE_KEY, KeyType::Range)]
        .into_iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .context("KeySchemaElement")
        })
        .collect()
}

fn projection() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

/// The index as CreateTable describes it (on-demand: no throughput).
pub fn for_create() -> Result<GlobalSecondaryIndex> {
    GlobalSecondaryIndex::builder()
        .index_name(OBJECT_INDEX)
        .set_key_schema(Some(index_keys()?))
        .projection(projection())
        .build()
        .context("GlobalSecondaryIndex")
}

/// Whether the table's object index, if any, and every other index are ACTIVE.
pub fn indexes_active(t: &TableDescription) -> bool {
    t.global_secondary_indexes()
        .iter()
        .all(|i| status(i) == IndexStatus::Active)
}

/// Brings the object index to its spec: creates it when missing, replaces it (delete, wait
/// until gone, create) when it has another shape, and waits until it is ACTIVE.
pub async fn repair_index(ctx: &Ctx) -> Result<()> {
    let now = describe(ctx).await?.context("the table disappeared")?;
    match observed_index(&now) {
        Some(i) if i == wanted_index() => {}
        Some(i) if i.starts_with(&wanted_index()) && !i.ends_with("(DELETING)") => {}
        Some(i) => {
            if !i.ends_with("(DELETING)") {
                let delete = DeleteGlobalSecondaryIndexAction::builder()
                    .index_name(OBJECT_INDEX)
                    .build()
                    .context("DeleteGlobalSecondaryIndexAction")?;
                update_indexes(
                    ctx,
                    GlobalSecondaryIndexUpdate::builder().delete(delete).build(),
                )
                .await?;
            }
            wait_index(ctx, "deleted", |t| observed_index(t).is_none()).await?;
            create_index(ctx).await?;
        }
        None => create_index(ctx).await?,
    }
    // On a table with items DynamoDB backfills the new index for minutes to hours: up waits
    // a little (an empty table's index is ready in seconds), then leaves it building.
    let active =
        |t: &TableDescription| observed_index(t).as_deref() == Some(wanted_index().as_str());
    let ready = poll(Backoff::new(INDEX_SETTLE), || async {
        let t = describe(ctx).await?.context("the table disappeared")?;
        Ok(active(&t).then_some(()))
    });
    if ready.await?.is_none() {
        super::waits::waiting(&format!(
            "index {OBJECT_INDEX} is building (DynamoDB backfills the table's items: minutes \
             to hours); up leaves it to finish: queries by key fall back to a scan meanwhile"
        ));
        tracing::info!(
            "index {OBJECT_INDEX} of table {} is still building",
            ctx.stack.table_name
        );
    }
    Ok(())
}

/// How long `up` waits for a new index before leaving it building.
const INDEX_SETTLE: Duration = Duration::from_secs(20);

async fn create_index(ctx: &Ctx) -> Result<()> {
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(OBJECT_INDEX)
        .set_key_schema(Some(index_keys()?))
        .projection(projection())
        .build()
        .context("CreateGlobalSecondaryIndexAction")?;
    update_indexes(
        ctx,
        GlobalSecondaryIndexUpdate::builder().create(create).build(),
    )
    .await
}

/// One UpdateTable with one index change; retried while the table is busy (being created or
/// updated: ResourceInUseException).
/// Runs a change of the table, retrying it within the readiness budget while the table is
/// busy (being created or updated: ResourceInUseException) or DynamoDB answers a transient.
pub async fn while_busy<T, E, F, Fut>(op: F) -> Result<T, E>
where
    E: ProvideErrorMetadata + super::retry::Answer,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    retry_on(READY_BUDGET, |e: &E| transient(e) || in_use(e), op).await
}

async fn update_indexes(ctx: &Ctx, change: GlobalSecondaryIndexUpdate) -> Result<()> {
    let s = &ctx.stack;
    let definitions = attribute_definitions()?;
    while_busy(|| {
        ctx.aws
            .dynamodb
            .update_table()
            .table_name(&s.table_name)
            .set_attribute_definitions(Some(definitions.clone()))
            .global_secondary_index_updates(change.clone())
            .send()
    })
    .await
    .aws_context("UpdateTable")?;
    Ok(())
}

async fn wait_index(
    ctx: &Ctx,
    what: &str,
    ready: impl Fn(&TableDescription) -> bool,
) -> Result<()> {
    let s = &ctx.stack;
    let what = format!(
        "index {OBJECT_INDEX} of table {} to be {what}",
        s.table_name
    );
    wait_until(&what, READY_BUDGET, || async {
        let t = describe(ctx).await?.context("the table disappeared")?;
        Ok(ready(&t))
    })
    .await
}

/// DescribeTable; `None` when the table does not exist.
pub async fn describe(ctx: &Ctx) -> Result<Option<TableDescription>> {
    let s = &ctx.stack;
    let described = ctx
        .aws
        .dynamodb
        .describe_table()
        .table_name(&s.table_name)
        .send()
        .await;
    let out = found(
        described,
        DescribeTableError::is_resource_not_found_exception,
    )
    .aws_context("DescribeTable")?;
    Ok(out.map(|o| {
        o.table
            .unwrap_or_else(|| TableDescription::builder().build())
    }))
}

async fn describe_ttl(ctx: &Ctx) -> Result<String> {
    let out = ctx
        .aws
        .dynamodb
        .describe_time_to_live()
        .table_name(&ctx.stack.table_name)
        .send()
        .await
        .aws_context("DescribeTimeToLive")?;
    Ok(observed_ttl(out.time_to_live_description()))
}

/// Brings item expiry to the spec and waits until DynamoDB reports it ENABLED / DISABLED.
/// Moving TTL to another attribute takes two changes, which DynamoDB allows only an hour
/// apart: the second then fails with its ValidationException, said in one line.
/// Puts the table's TTL where the settings want it. DynamoDB takes up to an hour to finish a
/// change (ENABLING / DISABLING) and allows one change per table per hour: a change it has
/// accepted is done for tapctl (in progress, not drift, not waited out), and its refusal of a
/// second one is one line saying when to run `up` again.
pub async fn repair_ttl(ctx: &Ctx) -> Result<()> {
    let want = wanted_ttl(&ctx.stack);
    let have = settled(&describe_ttl(ctx).await?);
    if have == want {
        return Ok(());
    }
    if let Some(other) = have.strip_prefix("enabled on ") {
        set_ttl(ctx, other, false).await?;
        if ctx.stack.settings.item_retention_days > 0 {
            // Another attribute: DynamoDB takes the enable only after the disable is through
            // and an hour has passed.
            wait_ttl(ctx, "disabled").await?;
        }
    }
    if ctx.stack.settings.item_retention_days > 0 {
        set_ttl(ctx, TTL_ATTRIBUTE, true).await?;
    }
    wait_ttl(ctx, &want).await
}

/// DynamoDB's refusal of a second TTL change within the hour (UpdateTimeToLive).
pub const TTL_CHANGED_RECENTLY: &str =
    "Time to live has been modified multiple times within a fixed interval";

async fn set_ttl(ctx: &Ctx, attribute: &str, enabled: bool) -> Result<()> {
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(attribute)
        .enabled(enabled)
        .build()
        .context("TimeToLiveSpecification")?;
    let set = while_busy(|| {
        ctx.aws
            .dynamodb
            .update_time_to_live()
            .table_name(&ctx.stack.table_name)
            .time_to_live_specification(spec.clone())
            .send()
    })
    .await;
    match set {
        Err(e)
            if e.message()
                .is_some_and(|m| m.contains(TTL_CHANGED_RECENTLY)) =>
        {
            bail!(
                "DynamoDB allows one time-to-live change per table per hour and table {} had one \
             within the hour (UpdateTimeToLive: {TTL_CHANGED_RECENTLY}); the rest is applied: \
             run `{}` again in an hour",
                ctx.stack.table_name,
                ctx.stack.command("up")
            )
        }
        other => {
            other.aws_context("UpdateTimeToLive")?;
            Ok(())
        }
    }
}

/// Waits until DynamoDB has accepted the change: the status is `want`, or on its way there
/// (ENABLING counts as enabled, DISABLING as disabled).
async fn wait_ttl(ctx: &Ctx, want: &str) -> Result<()> {
    let what = format!(
        "time to live of table {} to be {want}",
        ctx.stack.table_name
    );
    wait_until(&what, READY_BUDGET, || async {
        Ok(settled(&describe_ttl(ctx).await?) == want)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack as stack;

    #[test]
    fn index_and_expiry_in_shape() {
        let keep = stack();
        assert!(diff(&keep, Some(&wanted_index()), "disabled").is_empty());
        let expire = stack().with_item_retention_days(7);
        assert!(diff(&expire, Some(&wanted_index()), "enabled on expiresAt").is_empty());
        // A change in progress towards the spec is no drift.
        assert!(diff(&expire, Some(&wanted_index()), "enabling on expiresAt").is_empty());
        assert!(diff(&keep, Some(&wanted_index()), "disabling on expiresAt").is_empty());
    }

    #[test]
    fn each_difference_is_named() {
        let s = stack().with_item_retention_days(7);
        let d = diff(&s, None, "disabled");
        assert_eq!(
            d,
            vec![
                Drift::new(
                    Field::ObjectIndex,
                    "by-object: objectKey:S:HASH,timestamp:S:RANGE,projection=ALL",
                    "none"
                ),
                Drift::new(Field::TimeToLive, "enabled on expiresAt", "disabled"),
            ]
        );
        let other = "objectKey:S:HASH,timestamp:S:RANGE,projection=KEYS_ONLY";
        let d = diff(&s, Some(other), "enabled on other");
        let fields: Vec<_> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["object_index", "time_to_live"]);
        // The wanted index being built (DynamoDB backfills it) is in progress, not drift.
        let creating = format!("{} (CREATING)", wanted_index());
        assert!(diff(&s, Some(&creating), "enabled on expiresAt").is_empty());
        let keep = stack();
        assert_eq!(
            diff(&keep, Some(&wanted_index()), "enabled on expiresAt"),
            vec![Drift::new(
                Field::TimeToLive,
                "disabled",
                "enabled on expiresAt"
            )]
        );
    }

    #[test]
    fn observed_shapes() {
        let ttl = TimeToLiveDescription::builder()
            .time_to_live_status(TimeToLiveStatus::Enabling)
            .attribute_name("expiresAt")
            .build();
        assert_eq!(observed_ttl(Some(&ttl)), "enabling on expiresAt");
        assert_eq!(observed_ttl(None), "disabled");
        let index = GlobalSecondaryIndexDescription::builder()
            .index_name(OBJECT_INDEX)
            .set_key_schema(Some(index_keys().unwrap()))
            .projection(projection())
            .index_status(IndexStatus::Creating)
            .build();
        let mut t = TableDescription::builder().global_secondary_indexes(index);
        for a in attribute_definitions().unwrap() {
            t = t.attribute_definitions(a);
        }
        let t = t.build();
        assert_eq!(
            observed_index(&t),
            Some(format!("{} (CREATING)", wanted_index()))
        );
        assert!(!indexes_active(&t));
        assert_eq!(observed_index(&TableDescription::builder().build()), None);
    }
}
