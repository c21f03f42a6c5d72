//! The S3 -> Lambda link: a permission on the function letting `s3.amazonaws.com` invoke it
//! for this bucket and account only, and tapctl's entry in the bucket's notification
//! configuration (ObjectCreated:* -> the function). Entries tapctl does not own are kept.

use super::retry::retry_on;
use super::sdk::{self, found, lambda::conflict, s3::no_such_bucket};
use super::state::{Ctx, Drift, Field, Kind, Snapshot, State};
use crate::error::{self, AwsContext};
use crate::spec::{NOTIFICATION_EVENT, NOTIFICATION_ID, PERMISSION_SID, Stack};
use anyhow::{Context, Result, bail};
use aws_sdk_lambda::operation::{
    get_policy::GetPolicyError, remove_permission::RemovePermissionError,
};
use aws_sdk_s3::types::{Event, LambdaFunctionConfiguration, NotificationConfiguration};
use serde_json::{Value, json};
use std::time::Duration;

/// S3 validates the destination against the function's policy, which can lag the
/// AddPermission that just returned.
const VALIDATION_BUDGET: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// tapctl's statement of the function's resource policy.
    pub permission: Option<Value>,
    /// tapctl's notification entry: (function ARN, events).
    pub notification: Option<(String, Vec<String>)>,
}

/// The permission statement as Lambda shows it in GetPolicy.
pub fn wanted_statement(s: &Stack) -> Value {
    json!({
        "Sid": PERMISSION_SID,
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": s.function_arn,
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": s.target.account},
            "ArnLike": {"AWS:SourceArn": s.bucket_arn}
        }
    })
}

/// Whether a GetPolicy statement grants exactly what tapctl wants (condition keys are
/// case-insensitive in IAM, so they are compared that way).
fn statement_matches(s: &Stack, have: &Value) -> bool {
    let cond = |op: &str, key: &str| -> Option<String> {
        let ops = have.get("Condition")?.as_object()?;
        let (_, block) = ops.iter().find(|(k, _)| k.as_str() == op)?;
        let (_, v) = block
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))?;
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Array(a) if a.len() == 1 => a[0].as_str().map(str::to_string),
            _ => None,
        }
    };
    let principal = &have["Principal"];
    let principal_ok =
        principal["Service"] == "s3.amazonaws.com" || principal == "s3.amazonaws.com";
    have["Effect"] == "Allow"
        && principal_ok
        && have["Action"] == "lambda:InvokeFunction"
        && have["Resource"] == s.function_arn.as_str()
        && cond("StringEquals", "AWS:SourceAccount").as_deref() == Some(s.target.account.as_str())
        && cond("ArnLike", "AWS:SourceArn").as_deref() == Some(s.bucket_arn.as_str())
}

pub fn diff(stack: &Stack, o: &Observed) -> Vec<Drift> {
    let mut drift = Vec::new();
    match &o.permission {
        Some(st) if statement_matches(stack, st) => {}
        have => drift.push(Drift::new(
            Field::Permission,
            wanted_statement(stack).to_string(),
            have.as_ref().map_or("(none)".into(), |v| v.to_string()),
        )),
    }
    let want = (
        stack.function_arn.clone(),
        vec![NOTIFICATION_EVENT.to_string()],
    );
    if o.notification.as_ref() != Some(&want) {
        drift.push(Drift::new(
            Field::Notification,
            format!("{} -> {}", NOTIFICATION_EVENT, want.0),
            o.notification
                .as_ref()
                .map_or("(none)".into(), |(arn, ev)| {
                    format!("{} -> {arn}", ev.join(","))
                }),
        ));
    }
    drift
}

async fn permission(ctx: &Ctx) -> Result<Option<Value>> {
    let s = &ctx.stack;
    let read = ctx
        .aws
        .lambda
        .get_policy()
        .function_name(&s.function_name)
        .send()
        .await;
    // No function, or a function without a resource policy: no statement.
    let Some(out) =
        found(read, GetPolicyError::is_resource_not_found_exception).aws_context("GetPolicy")?
    else {
        return Ok(None);
    };
    let doc: Value = serde_json::from_str(out.policy().unwrap_or("{}"))
        .context("GetPolicy returned a policy that is not JSON")?;
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        one => vec![one.clone()],
    };
    Ok(statements
        .into_iter()
        .find(|st| st["Sid"] == PERMISSION_SID))
}

/// The bucket's whole notification configuration; `None` when the bucket does not exist (or
/// is someone else's: nothing of tapctl's can be on it) and `missing_ok`. Otherwise (`up`,
/// right after the bucket step) a `NoSuchBucket` is an error its caller retries: a new
/// bucket's configuration is not visible at once.
async fn notifications(ctx: &Ctx, missing_ok: bool) -> Result<Option<NotificationConfiguration>> {
    let read = ctx
        .aws
        .s3
        .get_bucket_notification_configuration()
        .bucket(&ctx.stack.bucket_name)
        .expected_bucket_owner(&ctx.stack.target.account)
        .send()
        .await;
    let missing = |e: &_| missing_ok && no_such_bucket(e);
    let read = match read {
        Err(e) if missing_ok && sdk::s3::status(&e) == Some(403) => return Ok(None),
        other => other,
    };
    let out = found(read, missing).aws_context("GetBucketNotificationConfiguration")?;
    Ok(out.map(|o| {
        NotificationConfiguration::builder()
            .set_topic_configurations(o.topic_configurations)
            .set_queue_configurations(o.queue_configurations)
            .set_lambda_function_configurations(o.lambda_function_configurations)
            .set_event_bridge_configuration(o.event_bridge_configuration)
            .build()
    }))
}

fn ours(c: &LambdaFunctionConfiguration) -> bool {
    c.id() == Some(NOTIFICATION_ID)
}

pub async fn observe(ctx: &Ctx) -> Result<State> {
    let observed = read(ctx).await?;
    if observed == Observed::default() {
        return Ok(State::Missing);
    }
    Ok(State::present(true, diff(&ctx.stack, &observed)))
}

/// The permission statement and the notification entry, read at once (GetPolicy and
/// GetBucketNotificationConfiguration); `smoke` judges them with [`diff`].
pub async fn read(ctx: &Ctx) -> Result<Observed> {
    let (permission, config) = tokio::join!(permission(ctx), notifications(ctx, true));
    let notification = config?.and_then(|c| {
        c.lambda_function_configurations()
            .iter()
            // The entry of this suffix's stack in another region is that stack's.
            .find(|c| ours(c) && !ctx.stack.is_function_elsewhere(c.lambda_function_arn()))
            .map(|c| {
                let mut events: Vec<String> =
                    c.events().iter().map(|e| e.as_str().to_string()).collect();
                events.sort();
                (c.lambda_function_arn().to_string(), events)
            })
    });
    Ok(Observed {
        permission: permission?,
        notification,
    })
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    if state.needs(Field::Permission) {
        // Remove-then-add: a concurrent run doing the same can slip its statement in between
        // (ResourceConflictException: the statement id exists). If what is there now is
        // exactly tapctl's statement, that is done; otherwise replace it again, bounded.
        retry_on(
            VALIDATION_BUDGET,
            |e: &anyhow::Error| error::aws(e).is_some_and(conflict),
            || replace_permission(ctx),
        )
        .await?;
    }
    if state.needs(Field::Notification) {
        let entry = LambdaFunctionConfiguration::builder()
            .id(NOTIFICATION_ID)
            .lambda_function_arn(&ctx.stack.function_arn)
            .events(Event::from(NOTIFICATION_EVENT))
            .build()?;
        // The bucket was made moments ago: its configuration may answer NoSuchBucket yet.
        let settling = |e: &anyhow::Error| error::aws(e).is_some_and(sdk::s3::settling);
        retry_on(VALIDATION_BUDGET, settling, || {
            put_notifications(ctx, Some(entry.clone()))
        })
        .await?;
    }
    Ok(())
}

/// Removes tapctl's statement (if any) and adds it again.
async fn replace_permission(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    remove_permission(ctx).await?;
    let added = sdk::write(sdk::lambda::transient, || {
        ctx.aws
            .lambda
            .add_permission()
            .function_name(&s.function_name)
            .statement_id(PERMISSION_SID)
            .action("lambda:InvokeFunction")
            .principal("s3.amazonaws.com")
            .source_arn(&s.bucket_arn)
            .source_account(&s.target.account)
            .send()
    });
    match added.await {
        Ok(_) => Ok(()),
        Err(e) if conflict(&e) => {
            let now = permission(ctx).await?;
            if now.is_some_and(|st| statement_matches(s, &st)) {
                Ok(())
            } else {
                Err(e).aws_context("AddPermission")
            }
        }
        Err(e) => Err(e).aws_context("AddPermission"),
    }
}

/// Rewrites the bucket's notification configuration with tapctl's entry replaced by `entry`
/// (or removed), keeping every other entry. Removing skips destination validation
/// (`SkipDestinationValidation`), so that someone else's broken entry cannot block `down`;
/// adding names the entry S3 could not validate when it is someone else's.
async fn put_notifications(ctx: &Ctx, entry: Option<LambdaFunctionConfiguration>) -> Result<()> {
    let removing = entry.is_none();
    let Some(current) = notifications(ctx, removing).await? else {
        return Ok(());
    };
    let had_ours = current.lambda_function_configurations().iter().any(ours);
    if removing && !had_ours {
        return Ok(());
    }
    let mut lambdas: Vec<LambdaFunctionConfiguration> = current
        .lambda_function_configurations()
        .iter()
        .filter(|c| !ours(c))
        .cloned()
        .collect();
    lambdas.extend(entry);
    let config = NotificationConfiguration::builder()
        .set_topic_configurations(Some(current.topic_configurations().to_vec()))
        .set_queue_configurations(Some(current.queue_configurations().to_vec()))
        .set_lambda_function_configurations(Some(lambdas))
        .set_event_bridge_configuration(current.event_bridge_configuration().cloned())
        .build();
    // One try here: the caller retries the whole read-modify-write.
    let put = ctx
        .aws
        .s3
        .put_bucket_notification_configuration()
        .bucket(&ctx.stack.bucket_name)
        .expected_bucket_owner(&ctx.stack.target.account)
        .notification_configuration(config.clone())
        .set_skip_destination_validation(removing.then_some(true))
        .send()
        .await;
    match put {
        Ok(_) => Ok(()),
        Err(e) if removing && no_such_bucket(&e) => Ok(()),
        Err(e) => {
            let body = e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let failed = unvalidated(&body);
            let theirs = failed
                .iter()
                .find(|(arn, _)| *arn != ctx.stack.function_arn);
            match theirs {
                Some((arn, why)) if !failed.iter().any(|(a, _)| *a == ctx.stack.function_arn) => {
                    bail!(
                        "PutBucketNotificationConfiguration: S3 could not validate the bucket's \
                         notification entry {} -> {arn} ({why}), which is not tapctl's: fix or \
                         remove that entry, then run up again",
                        entry_id(&config, arn)
                    )
                }
                _ => Err(e).aws_context("PutBucketNotificationConfiguration"),
            }
        }
    }
}

/// The destinations S3 could not validate, as its InvalidArgument error names them
/// (`<ArgumentName1>ARN</ArgumentName1><ArgumentValue1>why</ArgumentValue1>`, numbered or not).
pub fn unvalidated(body: &str) -> Vec<(String, String)> {
    if !body.contains(sdk::s3::UNABLE_TO_VALIDATE) {
        return Vec::new();
    }
    let values = |tag: &str| -> Vec<String> {
        body.split(&format!("<{tag}"))
            .skip(1)
            .filter_map(|rest| {
                let (_, text) = rest.split_once('>')?;
                Some(text.split('<').next()?.trim().to_string())
            })
            .collect()
    };
    let names = values("ArgumentName");
    let mut why = values("ArgumentValue").into_iter();
    names
        .into_iter()
        .map(|n| (n, why.next().unwrap_or_default()))
        .collect()
}

/// The id of the notification entry that points at `arn` (for an error message).
fn entry_id(config: &NotificationConfiguration, arn: &str) -> String {
    let lambdas = config
        .lambda_function_configurations()
        .iter()
        .map(|c| (c.id(), c.lambda_function_arn()));
    let topics = config
        .topic_configurations()
        .iter()
        .map(|c| (c.id(), c.topic_arn()));
    let queues = config
        .queue_configurations()
        .iter()
        .map(|c| (c.id(), c.queue_arn()));
    lambdas
        .chain(topics)
        .chain(queues)
        .find(|(_, a)| *a == arn)
        .and_then(|(id, _)| id)
        .map_or_else(|| "(no id)".to_string(), |id| format!("{id:?}"))
}

async fn remove_permission(ctx: &Ctx) -> Result<()> {
    let removed = sdk::write(sdk::lambda::transient, || {
        ctx.aws
            .lambda
            .remove_permission()
            .function_name(&ctx.stack.function_name)
            .statement_id(PERMISSION_SID)
            .send()
    });
    found(
        removed.await,
        RemovePermissionError::is_resource_not_found_exception,
    )
    .aws_context("RemovePermission")?;
    Ok(())
}

/// Stops the trigger: tapctl's notification entry first (so no new events), then the
/// permission. Parts on resources that are not tapctl's are left alone.
pub async fn delete(ctx: &Ctx, snapshot: &Snapshot) -> Result<()> {
    let foreign = |k| snapshot.state(k).is_foreign();
    if !foreign(Kind::Bucket) {
        let transient = |e: &anyhow::Error| error::aws(e).is_some_and(sdk::s3::transient);
        retry_on(VALIDATION_BUDGET, transient, || {
            put_notifications(ctx, None)
        })
        .await?;
    }
    // A function that is gone took its permission with it.
    if !foreign(Kind::Function) && !snapshot.state(Kind::Function).is_missing() {
        remove_permission(ctx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack as stack;

    fn good(s: &Stack) -> Observed {
        Observed {
            permission: Some(wanted_statement(s)),
            notification: Some((s.function_arn.clone(), vec![NOTIFICATION_EVENT.into()])),
        }
    }

    #[test]
    fn in_shape_trigger_has_no_drift() {
        let s = stack();
        assert!(diff(&s, &good(&s)).is_empty());
    }

    #[test]
    fn permission_must_be_scoped_to_bucket_and_account() {
        let s = stack();
        let mut o = good(&s);
        let st = o.permission.as_mut().unwrap();
        st["Condition"]
            .as_object_mut()
            .unwrap()
            .remove("StringEquals");
        assert_eq!(diff(&s, &o)[0].field, Field::Permission);
        let mut o = good(&s);
        o.permission.as_mut().unwrap()["Condition"]["ArnLike"]["AWS:SourceArn"] =
            "arn:aws:s3:::*".into();
        assert_eq!(diff(&s, &o)[0].field, Field::Permission);
        // IAM condition keys are case-insensitive.
        let mut o = good(&s);
        o.permission.as_mut().unwrap()["Condition"] = json!({
            "StringEquals": {"aws:sourceaccount": "123456789012"},
            "ArnLike": {"aws:SourceArn": s.bucket_arn}
        });
        assert!(diff(&s, &o).is_empty());
    }

    #[test]
    fn the_destinations_s3_could_not_validate_are_read_from_its_error() {
        let body = "<Error><Code>InvalidArgument</Code><Message>Unable to validate the \
                    following destination configurations</Message><ArgumentName1>arn:a</ArgumentName1>\
                    <ArgumentValue1>Not authorized</ArgumentValue1><ArgumentName2>arn:b\
                    </ArgumentName2><ArgumentValue2>gone</ArgumentValue2></Error>";
        assert_eq!(
            unvalidated(body),
            vec![
                ("arn:a".to_string(), "Not authorized".to_string()),
                ("arn:b".to_string(), "gone".to_string())
            ]
        );
        let moto = "<Message>Unable to validate the following destination configurations\
                    </Message><ArgumentName>arn:c</ArgumentName><ArgumentValue>x</ArgumentValue>";
        assert_eq!(unvalidated(moto), vec![("arn:c".into(), "x".into())]);
        assert!(unvalidated("<Code>AccessDenied</Code>").is_empty());
    }

    #[test]
    fn notification_pointing_elsewhere_is_drift() {
        let s = stack();
        let mut o = good(&s);
        o.notification = Some((
            "arn:aws:lambda:us-west-2:123456789012:function:other".into(),
            vec![NOTIFICATION_EVENT.into()],
        ));
        let d = diff(&s, &o);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].field, Field::Notification);
        assert!(d[0].have.ends_with("function:other"));
    }
}
