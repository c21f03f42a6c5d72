//! The function's log group `/aws/lambda/NAME`, created before the function so that its
//! retention and tags are tapctl's and logs do not pile up forever.

use super::function;
use super::sdk::{self, found, logs::transient};
use super::state::{Ctx, Drift, Field, Kind, State, met_meanwhile};
use super::tags;
use crate::aws::Clients;
use crate::error::AwsContext;
use crate::spec::{Stack, Target, log_group_name_prefix};
use anyhow::{Context, Result};
use aws_sdk_cloudwatchlogs::operation::{
    delete_log_group::DeleteLogGroupError, list_tags_for_resource::ListTagsForResourceError,
};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub retention_days: Option<i32>,
    pub tags: Vec<(String, String)>,
}

pub fn diff(stack: &Stack, o: &Observed) -> Vec<Drift> {
    let mut drift = Vec::new();
    let want = stack.settings.log_retention_days;
    if o.retention_days != Some(want) {
        let have = o
            .retention_days
            .map_or("never expire".to_string(), |d| format!("{d} days"));
        drift.push(Drift::new(Field::Retention, format!("{want} days"), have));
    }
    drift.extend(tags::drift(stack, &o.tags));
    drift
}

/// ListTagsForResource of a log group; `None` when the group does not exist.
async fn read_tags(aws: &Clients, arn: &str) -> Result<Option<Vec<(String, String)>>> {
    let read = aws
        .logs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await;
    let found = found(
        read,
        ListTagsForResourceError::is_resource_not_found_exception,
    )
    .aws_context("ListTagsForResource")?;
    Ok(found.map(|out| out.tags.unwrap_or_default().into_iter().collect()))
}

pub async fn observe(ctx: &Ctx) -> Result<State> {
    let s = &ctx.stack;
    let logs = &ctx.aws.logs;
    // Both reads at once: one round trip, not two.
    let (page, tags) = tokio::join!(
        logs.describe_log_groups()
            .log_group_name_prefix(&s.log_group_name)
            .send(),
        read_tags(&ctx.aws, &s.log_group_arn),
    );
    let page = page.aws_context("DescribeLogGroups")?;
    let Some(group) = page
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(s.log_group_name.as_str()))
    else {
        return Ok(State::Missing);
    };
    // Deleted while it was being read.
    let Some(tags) = tags? else {
        return Ok(State::Missing);
    };
    let observed = Observed {
        retention_days: group.retention_in_days(),
        tags,
    };
    let owned = tags::owned(s, &observed.tags)
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
    Ok(match function::get(&ctx.aws, s).await? {
        Some(out) => tags::owned(s, &function::tags_of(s, &out)?),
        None => true,
    })
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    let s = &ctx.stack;
    let logs = &ctx.aws.logs;
    if state.is_missing() {
        let created = sdk::write(transient, || {
            logs.create_log_group()
                .log_group_name(&s.log_group_name)
                .set_tags(Some(tags::map(s)))
                .send()
        });
        match created.await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_already_exists_exception()) =>
            {
                // A concurrent run, or the function's first log write: look again.
                return Err(met_meanwhile());
            }
            Err(e) => return Err(e).aws_context("CreateLogGroup"),
        }
    } else if state.drifted(Field::Tags) {
        sdk::write(transient, || {
            logs.tag_resource()
                .resource_arn(&s.log_group_arn)
                .set_tags(Some(tags::map(s)))
                .send()
        })
        .await
        .aws_context("TagResource")?;
    }
    if state.needs(Field::Retention) {
        sdk::write(transient, || {
            logs.put_retention_policy()
                .log_group_name(&s.log_group_name)
                .retention_in_days(s.settings.log_retention_days)
                .send()
        })
        .await
        .aws_context("PutRetentionPolicy")?;
    }
    Ok(())
}

pub async fn delete(ctx: &Ctx) -> Result<()> {
    let deleted = sdk::write(transient, || {
        ctx.aws
            .logs
            .delete_log_group()
            .log_group_name(&ctx.stack.log_group_name)
            .send()
    });
    found(
        deleted.await,
        DeleteLogGroupError::is_resource_not_found_exception,
    )
    .aws_context("DeleteLogGroup")?;
    Ok(())
}

/// The suffixes of the stacks whose log group is in this account and region, by its tags.
pub async fn list(aws: &Clients, t: &Target) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut pages = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(log_group_name_prefix())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.aws_context("DescribeLogGroups")?;
        names.extend(
            page.log_groups()
                .iter()
                .filter_map(|g| g.log_group_name())
                .map(str::to_string),
        );
    }
    let mut out = Vec::new();
    for name in names {
        // Gone since it was listed: not a stack to report.
        let Some(tags) = read_tags(aws, &t.log_group_arn(&name))
            .await
            .with_context(|| format!("reading the tags of log group {name}"))?
        else {
            continue;
        };
        let pairs = tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        out.extend(tags::stack_of(Kind::LogGroup, t, &name, pairs));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack as stack;
    const LOG_RETENTION_DAYS: i32 = 14;

    #[test]
    fn retention_is_the_settings() {
        let mut s = stack();
        s.settings.log_retention_days = 30;
        let o = Observed {
            retention_days: Some(LOG_RETENTION_DAYS),
            tags: s.tags(),
        };
        assert_eq!(
            diff(&s, &o),
            vec![Drift::new(Field::Retention, "30 days", "14 days")]
        );
    }

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
            vec![Drift::new(Field::Retention, "14 days", "never expire")]
        );
        let bare = Observed {
            retention_days: Some(30),
            tags: vec![],
        };
        let fields: Vec<_> = diff(&s, &bare).iter().map(|d| d.field.as_str()).collect();
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
