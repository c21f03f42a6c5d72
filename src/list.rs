//! `tapctl list`: every stack tapctl deployed in the account and region, found by its tags
//! (`tapctl:managed=true`, `tapctl:suffix=S`). The tags are the only state, so this reads
//! them: list the resources whose names carry tapctl's prefixes, then read each one's tags.
//! (The Resource Groups Tagging API would do it in one call, but the local AWS does not serve
//! it, and it would be one more SDK crate.)

use crate::aws::Clients;
use crate::resource::Kind;
use crate::spec::{self, Target};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The resources that carry tags; the trigger (a permission and a notification entry) has none.
pub const TAGGED: [Kind; 5] = [
    Kind::Table,
    Kind::Bucket,
    Kind::Role,
    Kind::LogGroup,
    Kind::Function,
];

/// One deployed stack: its suffix and which of its tagged resources exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub suffix: String,
    pub resources: Vec<Kind>,
}

impl Found {
    pub fn complete(&self) -> bool {
        TAGGED.iter().all(|k| self.resources.contains(k))
    }
}

/// The suffix the tags give a resource, if they mark it as tapctl's.
pub fn suffix_of<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let (mut managed, mut suffix) = (false, None);
    for (k, v) in tags {
        managed |= k == spec::MANAGED_TAG && v == spec::MANAGED_VALUE;
        if k == spec::SUFFIX_TAG {
            suffix = Some(v.to_string());
        }
    }
    suffix.filter(|_| managed)
}

/// Every stack found, sorted by suffix.
pub async fn list(aws: &Clients, t: &Target) -> Result<Vec<Found>> {
    let (tables, buckets, roles, groups, functions) = tokio::try_join!(
        tables(aws, t),
        buckets(aws, t),
        roles(aws),
        log_groups(aws, t),
        functions(aws, t)
    )?;
    let mut by_suffix: BTreeMap<String, BTreeSet<Kind>> = BTreeMap::new();
    for (kind, found) in [
        (Kind::Table, tables),
        (Kind::Bucket, buckets),
        (Kind::Role, roles),
        (Kind::LogGroup, groups),
        (Kind::Function, functions),
    ] {
        for suffix in found {
            by_suffix.entry(suffix).or_default().insert(kind);
        }
    }
    Ok(by_suffix
        .into_iter()
        .map(|(suffix, kinds)| Found {
            suffix,
            resources: kinds.into_iter().collect(),
        })
        .collect())
}

/// The name a stack with this suffix gives the resource (the names are derived from the suffix
/// alone, so a tagged resource counts only under its own suffix's name).
fn expected_name(kind: Kind, t: &Target, suffix: &str) -> String {
    let stack = spec::Stack::new(Target {
        suffix: suffix.to_string(),
        ..t.clone()
    });
    kind.name(&stack)
}

fn keep(kind: Kind, t: &Target, name: &str, tag_suffix: Option<String>) -> Option<String> {
    tag_suffix.filter(|s| expected_name(kind, t, s) == name)
}

async fn tables(aws: &Clients, t: &Target) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let page = aws
            .dynamodb
            .list_tables()
            .set_exclusive_start_table_name(start.take())
            .send()
            .await
            .context("ListTables")?;
        names.extend(
            page.table_names()
                .iter()
                .filter(|n| n.starts_with("lambda-invocation-logs-"))
                .cloned(),
        );
        match page.last_evaluated_table_name {
            Some(n) => start = Some(n),
            None => break,
        }
    }
    let mut out = Vec::new();
    for name in names {
        let arn = format!(
            "arn:{}:dynamodb:{}:{}:table/{name}",
            t.partition, t.region, t.account
        );
        // Gone since it was listed, or not readable: not a stack of ours to report.
        let Ok(tags) = aws
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .send()
            .await
        else {
            continue;
        };
        let s = suffix_of(tags.tags().iter().map(|t| (t.key(), t.value())));
        out.extend(keep(Kind::Table, t, &name, s));
    }
    Ok(out)
}

async fn buckets(aws: &Clients, t: &Target) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .s3
            .list_buckets()
            .bucket_region(&t.region)
            .max_buckets(1000)
            .set_continuation_token(token.take())
            .send()
            .await
            .context("ListBuckets")?;
        names.extend(
            page.buckets()
                .iter()
                .filter_map(|b| b.name())
                .filter(|n| n.starts_with("lambda-trigger-bucket-"))
                .map(str::to_string),
        );
        match page.continuation_token {
            Some(c) if !c.is_empty() => token = Some(c),
            _ => break,
        }
    }
    let mut out = Vec::new();
    for name in names {
        let Ok(tags) = aws.s3.get_bucket_tagging().bucket(&name).send().await else {
            continue; // no tags at all (NoSuchTagSet), or gone
        };
        let s = suffix_of(tags.tag_set().iter().map(|t| (t.key(), t.value())));
        out.extend(keep(Kind::Bucket, t, &name, s));
    }
    Ok(out)
}

async fn roles(aws: &Clients) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = aws
            .iam
            .list_roles()
            .set_marker(marker.take())
            .send()
            .await
            .context("ListRoles")?;
        names.extend(
            page.roles()
                .iter()
                .map(|r| r.role_name().to_string())
                .filter(|n| n.starts_with("s3-processor-role-")),
        );
        match (page.is_truncated, page.marker) {
            (true, Some(m)) => marker = Some(m),
            _ => break,
        }
    }
    let mut out = Vec::new();
    for name in names {
        let Ok(tags) = aws.iam.list_role_tags().role_name(&name).send().await else {
            continue;
        };
        let s = suffix_of(tags.tags().iter().map(|t| (t.key(), t.value())));
        // Role names are global to the account; the expected name does not depend on region.
        if let Some(s) = s.filter(|s| name == format!("s3-processor-role-{s}")) {
            out.push(s);
        }
    }
    Ok(out)
}

async fn log_groups(aws: &Clients, t: &Target) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix("/aws/lambda/s3-processor-")
            .set_next_token(token.take())
            .send()
            .await
            .context("DescribeLogGroups")?;
        names.extend(
            page.log_groups()
                .iter()
                .filter_map(|g| g.log_group_name())
                .map(str::to_string),
        );
        match page.next_token {
            Some(n) if !n.is_empty() => token = Some(n),
            _ => break,
        }
    }
    let mut out = Vec::new();
    for name in names {
        let arn = format!(
            "arn:{}:logs:{}:{}:log-group:{name}",
            t.partition, t.region, t.account
        );
        let Ok(tags) = aws
            .logs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
        else {
            continue;
        };
        let tags = tags.tags.unwrap_or_default();
        let s = suffix_of(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        out.extend(keep(Kind::LogGroup, t, &name, s));
    }
    Ok(out)
}

async fn functions(aws: &Clients, t: &Target) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = aws
            .lambda
            .list_functions()
            .set_marker(marker.take())
            .send()
            .await
            .context("ListFunctions")?;
        found.extend(
            page.functions()
                .iter()
                .filter_map(|f| Some((f.function_name()?, f.function_arn()?)))
                .filter(|(n, _)| n.starts_with("s3-processor-"))
                .map(|(n, a)| (n.to_string(), a.to_string())),
        );
        match page.next_marker {
            Some(m) if !m.is_empty() => marker = Some(m),
            _ => break,
        }
    }
    let mut out = Vec::new();
    for (name, arn) in found {
        let Ok(tags) = aws.lambda.list_tags().resource(arn).send().await else {
            continue;
        };
        let tags = tags.tags.unwrap_or_default();
        let s = suffix_of(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        out.extend(keep(Kind::Function, t, &name, s));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            suffix: "x".into(),
            account: "123456789012".into(),
            region: "us-west-2".into(),
            partition: "aws".into(),
        }
    }

    #[test]
    fn tags_name_the_suffix_only_when_managed() {
        assert_eq!(
            suffix_of([("tapctl:managed", "true"), ("tapctl:suffix", "dev")]),
            Some("dev".into())
        );
        assert_eq!(suffix_of([("tapctl:suffix", "dev")]), None);
        assert_eq!(suffix_of([("tapctl:managed", "true")]), None);
    }

    #[test]
    fn a_resource_counts_under_its_own_name_only() {
        let t = target();
        assert_eq!(
            keep(
                Kind::Bucket,
                &t,
                "lambda-trigger-bucket-dev-123456789012",
                Some("dev".into())
            ),
            Some("dev".into())
        );
        assert_eq!(
            keep(
                Kind::Table,
                &t,
                "lambda-invocation-logs-prod",
                Some("dev".into())
            ),
            None
        );
        let f = Found {
            suffix: "dev".into(),
            resources: TAGGED.to_vec(),
        };
        assert!(f.complete());
    }
}
