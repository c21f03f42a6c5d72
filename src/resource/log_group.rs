//! The function's log group `/aws/lambda/NAME`, created before the function so that its
//! retention and tags are tapctl's and logs do not pile up forever.

use super::{Ctx, Drift, Kind, State, created_meanwhile, tag_drift};
use crate::spec::{LOG_RETENTION_DAYS, Stack};
use anyhow::{Context, Result};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub retention_days: Option<i32>,
    pub tags: Vec<(String, String)>,
}

pub fn diff(stack: &Stack, o: &Observed) -> Vec<Drift> {
    let mut drift = Vec::new();
    if o.retention_days != Some(LOG_RETENTION_DAYS) {
        let have = o
            .retention_days
            .map_or("never expire".to_string(), |d| format!("{d} days"));
        drift.push(Drift::new(
            "retention",
            format!("{LOG_RETENTION_DAYS} days"),
            have,
        ));
    }
    drift.extend(tag_drift(
        stack,
        o.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ));
    drift
}

pub async fn observe(ctx: &Ctx) -> Result<State> {
    let s = &ctx.stack;
    let logs = &ctx.aws.logs;
    // Both reads at once: one round trip, not two.
    let (page, tags) = tokio::join!(
        logs.describe_log_groups()
            .log_group_name_prefix(&s.log_group_name)
            .send(),
        logs.list_tags_for_resource()
            .resource_arn(&s.log_group_arn)
            .send(),
    );
    let page = page.context("DescribeLogGroups")?;
    let Some(group) = page
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(s.log_group_name.as_str()))
    else {
        return Ok(State::Missing);
    };
    let tags = match tags {
        Ok(out) => out.tags.unwrap_or_default().into_iter().collect(),
        // Deleted while it was being read.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(State::Missing);
        }
        Err(e) => return Err(e).context("ListTagsForResource"),
    };
    let observed = Observed {
        retention_days: group.retention_in_days(),
        tags,
    };
    let owned = s.owns(observed.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        || (lambda_made(&observed) && function_not_foreign(ctx).await?);
    Ok(State::present(owned, diff(s, &observed)))
}

/// The shape Lambda gives `/aws/lambda/NAME` when it creates the group on a function's first
/// log write: no tags at all and no retention. Nobody configured it.
pub fn lambda_made(o: &Observed) -> bool {
    o.tags.is_empty() && o.retention_days.is_none()
}

/// Whether the function that writes to this group is tapctl's or absent. An invocation still
/// in flight while `down` runs (or a `down` killed between deleting the function and the log
/// group) recreates the group untagged; with the function gone or tapctl's, only tapctl's
/// function can have made it, so it is tapctl's (tags and retention then show as drift). A
/// group with any tag or a retention was configured by someone, and the group of a function
/// that is not tapctl's is that function's: both stay foreign.
async fn function_not_foreign(ctx: &Ctx) -> Result<bool> {
    let s = &ctx.stack;
    match ctx
        .aws
        .lambda
        .get_function()
        .function_name(&s.function_name)
        .send()
        .await
    {
        Ok(out) => {
            let tags = out.tags.unwrap_or_default();
            Ok(s.owns(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(true)
        }
        Err(e) => Err(e).context("GetFunction"),
    }
}

fn tags(s: &Stack) -> HashMap<String, String> {
    s.tags().into_iter().collect()
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    let s = &ctx.stack;
    let logs = &ctx.aws.logs;
    if state.is_missing() {
        match logs
            .create_log_group()
            .log_group_name(&s.log_group_name)
            .set_tags(Some(tags(s)))
            .send()
            .await
        {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_already_exists_exception()) =>
            {
                // A concurrent run, or the function's first log write: look again.
                return created_meanwhile(Kind::LogGroup, ctx).await;
            }
            Err(e) => return Err(e).context("CreateLogGroup"),
        }
    } else if state.drifted("tags") {
        logs.tag_resource()
            .resource_arn(&s.log_group_arn)
            .set_tags(Some(tags(s)))
            .send()
            .await
            .context("TagResource")?;
    }
    if state.is_missing() || state.drifted("retention") {
        logs.put_retention_policy()
            .log_group_name(&s.log_group_name)
            .retention_in_days(LOG_RETENTION_DAYS)
            .send()
            .await
            .context("PutRetentionPolicy")?;
    }
    Ok(())
}

pub async fn delete(ctx: &Ctx) -> Result<()> {
    match ctx
        .aws
        .logs
        .delete_log_group()
        .log_group_name(&ctx.stack.log_group_name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(e).context("DeleteLogGroup"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack as stack;

    #[test]
    fn retention_and_tags() {
        let s = stack();
        let good = Observed {
            retention_days: Some(LOG_RETENTION_DAYS),
            tags: s.tags(),
        };
        assert!(diff(&s, &good).is_empty());
        let forever = Observed {
            retention_days: None,
            tags: s.tags(),
        };
        assert_eq!(
            diff(&s, &forever),
            vec![Drift::new("retention", "14 days", "never expire")]
        );
        let bare = Observed {
            retention_days: Some(30),
            tags: vec![],
        };
        let fields: Vec<_> = diff(&s, &bare).iter().map(|d| d.field).collect();
        assert_eq!(fields, ["retention", "tags"]);
    }

    #[test]
    fn only_an_unconfigured_group_looks_lambda_made() {
        let bare = Observed::default();
        assert!(lambda_made(&bare));
        let kept = Observed {
            retention_days: Some(30),
            tags: vec![],
        };
        assert!(!lambda_made(&kept));
        let tagged = Observed {
            retention_days: None,
            tags: vec![("team".into(), "x".into())],
        };
        assert!(!lambda_made(&tagged));
    }
}
