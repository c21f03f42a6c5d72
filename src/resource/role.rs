//! The function's IAM role: trusted by Lambda only, with AWSLambdaBasicExecutionRole attached
//! and one inline policy scoped to this stack's table and bucket.

use super::retry::{Backoff, retry_on};
use super::sdk::{self, found, iam::delete_conflict, iam::no_such_entity, iam::transient};
use super::state::{Ctx, Drift, Field, Kind, State, met_meanwhile};
use super::tags;
use crate::aws::Clients;
use crate::error::AwsContext;
use crate::spec::{INLINE_POLICY_NAME, REGION_TAG, ROLE_PREFIX, Stack, Target, same_policy};
use anyhow::{Context, Result};
use aws_sdk_iam::operation::{
    get_role::GetRoleError, get_role_policy::GetRolePolicyError,
    list_attached_role_policies::ListAttachedRolePoliciesError,
    list_role_policies::ListRolePoliciesError, list_role_tags::ListRoleTagsError,
};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    pub trust: Option<Value>,
    pub managed: Vec<String>,
    /// Inline policy names and, for tapctl's, its document.
    pub inline_names: Vec<String>,
    pub inline: Option<Value>,
    pub tags: Vec<(String, String)>,
    /// The permissions boundary's policy ARN (GetRole's `PermissionsBoundary`).
    pub boundary: Option<String>,
}

/// IAM hands policy documents back URL-encoded.
fn decode_policy(doc: &str) -> Result<Value> {
    let text = percent_encoding::percent_decode_str(doc).decode_utf8_lossy();
    serde_json::from_str(&text).context("IAM returned a policy document that is not JSON")
}

fn show(v: &Option<Value>) -> String {
    v.as_ref().map_or("(none)".into(), |v| v.to_string())
}

pub fn diff(stack: &Stack, o: &Observed) -> Vec<Drift> {
    let mut drift = Vec::new();
    let trust = stack.trust_policy();
    if !o.trust.as_ref().is_some_and(|t| same_policy(t, &trust)) {
        drift.push(Drift::new(
            Field::TrustPolicy,
            trust.to_string(),
            show(&o.trust),
        ));
    }
    if o.managed != [stack.basic_execution_policy_arn.clone()] {
        let have = if o.managed.is_empty() {
            "(none)".into()
        } else {
            o.managed.join(",")
        };
        drift.push(Drift::new(
            Field::ManagedPolicies,
            &stack.basic_execution_policy_arn,
            have,
        ));
    }
    let inline = stack.inline_policy();
    if !o.inline.as_ref().is_some_and(|p| same_policy(p, &inline)) {
        drift.push(Drift::new(
            Field::InlinePolicy,
            inline.to_string(),
            show(&o.inline),
        ));
    }
    let extra: Vec<&str> = o
        .inline_names
        .iter()
        .filter(|n| n.as_str() != INLINE_POLICY_NAME)
        .map(String::as_str)
        .collect();
    if !extra.is_empty() {
        drift.push(Drift::new(
            Field::OtherInlinePolicies,
            "(none)",
            extra.join(","),
        ));
    }
    // tapctl owns the role: its boundary is the setting's, none when the setting is unset.
    let boundary = &stack.settings.permissions_boundary;
    if o.boundary != *boundary {
        let show = |b: &Option<String>| b.clone().unwrap_or_else(|| "(none)".into());
        drift.push(Drift::new(
            Field::PermissionsBoundary,
            show(boundary),
            show(&o.boundary),
        ));
    }
    drift.extend(tags::drift(stack, &o.tags));
    drift
}

pub async fn observe(ctx: &Ctx) -> Result<State> {
    let s = &ctx.stack;
    let iam = &ctx.aws.iam;
    // Every read at once (one round trip, not three): on a missing role they all fail
    // with NoSuchEntity and only GetRole's answer counts.
    let (role, attached, names, tags, inline) = tokio::join!(
        iam.get_role().role_name(&s.role_name).send(),
        attached_policies(ctx),
        inline_policy_names(ctx),
        iam.list_role_tags().role_name(&s.role_name).send(),
        iam.get_role_policy()
            .role_name(&s.role_name)
            .policy_name(INLINE_POLICY_NAME)
            .send(),
    );
    let Some(role) =
        found(role, GetRoleError::is_no_such_entity_exception).aws_context("GetRole")?
    else {
        return Ok(State::Missing);
    };
    let role = role.role.context("GetRole returned no role")?;
    let boundary = role
        .permissions_boundary
        .and_then(|b| b.permissions_boundary_arn);
    // The reads are no snapshot: a role created or deleted while they ran shows in some and
    // not in others. It then counts as missing; creating it meets it (EntityAlreadyExists)
    // and looks again.
    let tags =
        found(tags, ListRoleTagsError::is_no_such_entity_exception).aws_context("ListRoleTags")?;
    let (Some(inline_names), Some(managed), Some(tags)) = (names?, attached?, tags) else {
        return Ok(State::Missing);
    };
    let inline = found(inline, GetRolePolicyError::is_no_such_entity_exception)
        .aws_context("GetRolePolicy")?
        .map(|out| decode_policy(&out.policy_document))
        .transpose()?;
    let observed = Observed {
        trust: role
            .assume_role_policy_document
            .as_deref()
            .map(decode_policy)
            .transpose()?,
        managed,
        inline_names,
        inline,
        tags: tags.tags.into_iter().map(|t| (t.key, t.value)).collect(),
        boundary,
    };
    // A role tagged before tapctl recorded regions: its policy says which region's stack
    // it serves, so another region's run does not claim it.
    let mut judged = observed.tags.clone();
    if !judged.iter().any(|(k, _)| k == REGION_TAG)
        && let Some(region) = observed
            .inline
            .as_ref()
            .and_then(|p| s.region_of_role_policy(p))
    {
        judged.push((REGION_TAG.to_string(), region));
    }
    Ok(tags::judge(s, &judged, diff(s, &observed)))
}

/// The role's attached policy ARNs; `None` when the role does not exist.
async fn attached_policies(ctx: &Ctx) -> Result<Option<Vec<String>>> {
    let mut arns = Vec::new();
    let mut pages = ctx
        .aws
        .iam
        .list_attached_role_policies()
        .role_name(&ctx.stack.role_name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let missing = ListAttachedRolePoliciesError::is_no_such_entity_exception;
        let Some(page) = found(page, missing).aws_context("ListAttachedRolePolicies")? else {
            return Ok(None);
        };
        arns.extend(
            page.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn.clone()),
        );
    }
    arns.sort();
    Ok(Some(arns))
}

/// The role's inline policy names; `None` when the role does not exist.
async fn inline_policy_names(ctx: &Ctx) -> Result<Option<Vec<String>>> {
    let mut names = Vec::new();
    let mut pages = ctx
        .aws
        .iam
        .list_role_policies()
        .role_name(&ctx.stack.role_name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let missing = ListRolePoliciesError::is_no_such_entity_exception;
        let Some(page) = found(page, missing).aws_context("ListRolePolicies")? else {
            return Ok(None);
        };
        names.extend(page.policy_names);
    }
    names.sort();
    Ok(Some(names))
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    let s = &ctx.stack;
    let iam = &ctx.aws.iam;
    if state.is_missing() {
        let request = iam
            .create_role()
            .role_name(&s.role_name)
            .assume_role_policy_document(s.trust_policy().to_string())
            .description(format!("tapctl: runs {}", s.function_name))
            .set_permissions_boundary(s.settings.permissions_boundary.clone())
            .set_tags(Some(tags::iam(s)?));
        match sdk::write(transient, || request.clone().send()).await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_entity_already_exists_exception()) =>
            {
                return Err(met_meanwhile());
            }
            Err(e) => return Err(e).aws_context("CreateRole"),
        }
    } else {
        if state.drifted(Field::Tags) {
            let tags = tags::iam(s)?;
            sdk::write(transient, || {
                iam.tag_role()
                    .role_name(&s.role_name)
                    .set_tags(Some(tags.clone()))
                    .send()
            })
            .await
            .aws_context("TagRole")?;
        }
        if state.drifted(Field::TrustPolicy) {
            sdk::write(transient, || {
                iam.update_assume_role_policy()
                    .role_name(&s.role_name)
                    .policy_document(s.trust_policy().to_string())
                    .send()
            })
            .await
            .aws_context("UpdateAssumeRolePolicy")?;
        }
        if state.drifted(Field::PermissionsBoundary) {
            repair_boundary(ctx).await?;
        }
    }
    if state.needs(Field::ManagedPolicies) {
        let attached = attached_policies(ctx).await?.unwrap_or_default();
        let others = attached
            .iter()
            .filter(|a| **a != s.basic_execution_policy_arn);
        for arn in others {
            detach(ctx, arn).await?;
        }
        if !attached.contains(&s.basic_execution_policy_arn) {
            sdk::write(transient, || {
                iam.attach_role_policy()
                    .role_name(&s.role_name)
                    .policy_arn(&s.basic_execution_policy_arn)
                    .send()
            })
            .await
            .aws_context("AttachRolePolicy")?;
        }
    }
    if state.needs(Field::InlinePolicy) {
        sdk::write(transient, || {
            iam.put_role_policy()
                .role_name(&s.role_name)
                .policy_name(INLINE_POLICY_NAME)
                .policy_document(s.inline_policy().to_string())
                .send()
        })
        .await
        .aws_context("PutRolePolicy")?;
    }
    if state.drifted(Field::OtherInlinePolicies) {
        delete_inline_policies(ctx, |n| n != INLINE_POLICY_NAME).await?;
    }
    Ok(())
}

/// Sets the role's permissions boundary to the setting's, or removes it when none is set.
async fn repair_boundary(ctx: &Ctx) -> Result<()> {
    let (iam, s) = (&ctx.aws.iam, &ctx.stack);
    match &s.settings.permissions_boundary {
        Some(arn) => sdk::write(transient, || {
            iam.put_role_permissions_boundary()
                .role_name(&s.role_name)
                .permissions_boundary(arn)
                .send()
        })
        .await
        .map(drop)
        .aws_context("PutRolePermissionsBoundary"),
        None => {
            let deleted = sdk::write(transient, || {
                iam.delete_role_permissions_boundary()
                    .role_name(&s.role_name)
                    .send()
            });
            found(deleted.await, no_such_entity)
                .map(drop)
                .aws_context("DeleteRolePermissionsBoundary")
        }
    }
}

/// Detaches one managed policy; one already detached counts as detached.
async fn detach(ctx: &Ctx, arn: &str) -> Result<()> {
    let detached = sdk::write(transient, || {
        ctx.aws
            .iam
            .detach_role_policy()
            .role_name(&ctx.stack.role_name)
            .policy_arn(arn)
            .send()
    });
    found(detached.await, no_such_entity).aws_context("DetachRolePolicy")?;
    Ok(())
}

async fn delete_inline_policies(ctx: &Ctx, which: impl Fn(&str) -> bool) -> Result<()> {
    let names = inline_policy_names(ctx).await?.unwrap_or_default();
    for name in names.iter().filter(|n| which(n)) {
        let deleted = sdk::write(transient, || {
            ctx.aws
                .iam
                .delete_role_policy()
                .role_name(&ctx.stack.role_name)
                .policy_name(name)
                .send()
        });
        found(deleted.await, no_such_entity).aws_context("DeleteRolePolicy")?;
    }
    Ok(())
}

/// Detaches and deletes every policy of the role, then the role.
pub async fn delete(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    let mut rounds = Backoff::new(sdk::WRITE_BUDGET);
    loop {
        // Each round lists again: an `up` racing this `down` may have attached a policy
        // since the last round, and retrying DeleteRole alone would never see it go.
        let Some(attached) = attached_policies(ctx).await? else {
            return Ok(());
        };
        for arn in attached {
            detach(ctx, &arn).await?;
        }
        delete_inline_policies(ctx, |_| true).await?;
        // Right after the detaches IAM may still see them: DeleteConflict, retried briefly.
        let deleted = retry_on(CONFLICT_SETTLE, delete_conflict, || {
            ctx.aws.iam.delete_role().role_name(&s.role_name).send()
        });
        match found(deleted.await, no_such_entity) {
            Err(e) if delete_conflict(&e) && rounds.wait().await => {
                tracing::debug!(
                    "role {}: DeleteConflict: listing its policies again",
                    s.role_name
                );
            }
            other => {
                other.aws_context("DeleteRole")?;
                return Ok(());
            }
        }
    }
}

/// How long one round of DeleteRole retries DeleteConflict before it lists the role's
/// policies again (IAM usually catches up with a detach within seconds).
const CONFLICT_SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// The suffixes of the stacks whose role is in this account, by its tags.
pub async fn list(aws: &Clients, t: &Target) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut pages = aws.iam.list_roles().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.aws_context("ListRoles")?;
        names.extend(
            page.roles()
                .iter()
                .map(|r| r.role_name().to_string())
                .filter(|n| n.starts_with(ROLE_PREFIX)),
        );
    }
    let mut out = Vec::new();
    for name in names {
        let read = aws.iam.list_role_tags().role_name(&name).send().await;
        // Gone since it was listed: not a stack to report.
        let Some(tags) = found(read, ListRoleTagsError::is_no_such_entity_exception)
            .aws_context("ListRoleTags")
            .with_context(|| format!("reading the tags of role {name}"))?
        else {
            continue;
        };
        let pairs = tags.tags().iter().map(|t| (t.key(), t.value()));
        out.extend(tags::stack_of(Kind::Role, t, &name, pairs));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack as stack;

    fn good(s: &Stack) -> Observed {
        Observed {
            trust: Some(s.trust_policy()),
            managed: vec![s.basic_execution_policy_arn.clone()],
            inline_names: vec![INLINE_POLICY_NAME.into()],
            inline: Some(s.inline_policy()),
            tags: s.tags(),
            boundary: None,
        }
    }

    #[test]
    fn in_shape_role_has_no_drift() {
        let s = stack();
        assert!(diff(&s, &good(&s)).is_empty());
    }

    #[test]
    fn decodes_iam_url_encoded_documents() {
        let s = stack();
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22lambda.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D";
        assert!(same_policy(
            &decode_policy(encoded).unwrap(),
            &s.trust_policy()
        ));
        assert!(decode_policy("%7Bnot json").is_err());
    }

    #[test]
    fn every_policy_change_is_drift() {
        let s = stack();
        let mut o = good(&s);
        o.trust = Some(serde_json::json!({"Statement": []}));
        o.managed
            .push("arn:aws:iam::aws:policy/AdministratorAccess".into());
        o.inline = None;
        o.inline_names = vec!["backdoor".into()];
        o.tags.clear();
        o.boundary = Some("arn:aws:iam::123456789012:policy/Other".into());
        let fields: Vec<_> = diff(&s, &o).iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "trust_policy",
                "managed_policies",
                "inline_policy",
                "other_inline_policies",
                "permissions_boundary",
                "tags"
            ]
        );
    }

    #[test]
    fn the_boundary_is_the_settings_and_none_when_unset() {
        let mut s = stack();
        let arn = "arn:aws:iam::123456789012:policy/Boundary";
        let mut o = good(&s);
        assert!(diff(&s, &o).is_empty());
        o.boundary = Some(arn.into());
        assert_eq!(
            diff(&s, &o),
            [Drift::new(Field::PermissionsBoundary, "(none)", arn)]
        );
        s.settings.permissions_boundary = Some(arn.into());
        assert!(diff(&s, &o).is_empty());
        o.boundary = None;
        assert_eq!(
            diff(&s, &o),
            [Drift::new(Field::PermissionsBoundary, arn, "(none)")]
        );
    }
}
