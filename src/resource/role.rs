//! The function's IAM role: trusted by Lambda only, with AWSLambdaBasicExecutionRole attached
//! and one inline policy scoped to this stack's table and bucket.

use super::{Ctx, Drift, Kind, State, created_meanwhile, has_code, tag_drift};
use crate::spec::{INLINE_POLICY_NAME, Stack, same_policy};
use anyhow::{Context, Result};
use aws_sdk_iam::types::Tag;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    pub trust: Option<Value>,
    pub managed: Vec<String>,
    /// Inline policy names and, for tapctl's, its document.
    pub inline_names: Vec<String>,
    pub inline: Option<Value>,
    pub tags: Vec<(String, String)>,
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
            "trust_policy",
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
            "managed_policies",
            &stack.basic_execution_policy_arn,
            have,
        ));
    }
    let inline = stack.inline_policy();
    if !o.inline.as_ref().is_some_and(|p| same_policy(p, &inline)) {
        drift.push(Drift::new(
            "inline_policy",
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
            "other_inline_policies",
            "(none)",
            extra.join(","),
        ));
    }
    drift.extend(tag_drift(
        stack,
        o.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ));
    drift
}

fn no_such_entity<E: aws_sdk_iam::error::ProvideErrorMetadata>(e: &E) -> bool {
    has_code(e, "NoSuchEntity")
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
    let role = match role {
        Ok(out) => out.role.context("GetRole returned no role")?,
        Err(e) if no_such_entity(&e) => return Ok(State::Missing),
        Err(e) => return Err(e).context("GetRole"),
    };
    // The reads are no snapshot: a role created or deleted while they ran shows in some and
    // not in others. It then counts as missing; creating it meets it (EntityAlreadyExists)
    // and looks again.
    let (Some(inline_names), Some(managed)) = (names?, attached?) else {
        return Ok(State::Missing);
    };
    let tags = match tags {
        Ok(out) => out.tags,
        Err(e) if no_such_entity(&e) => return Ok(State::Missing),
        Err(e) => return Err(e).context("ListRoleTags"),
    };
    let inline = match inline {
        Ok(out) => Some(decode_policy(&out.policy_document)?),
        Err(e) if no_such_entity(&e) => None,
        Err(e) => return Err(e).context("GetRolePolicy"),
    };
    let observed = Observed {
        trust: role
            .assume_role_policy_document
            .as_deref()
            .map(decode_policy)
            .transpose()?,
        managed,
        inline_names,
        inline,
        tags: tags.into_iter().map(|t| (t.key, t.value)).collect(),
    };
    let owned = s.owns(observed.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(State::present(owned, diff(s, &observed)))
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
        let page = match page {
            Ok(p) => p,
            Err(e) if no_such_entity(&e) => return Ok(None),
            Err(e) => return Err(e).context("ListAttachedRolePolicies"),
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
        match page {
            Ok(p) => names.extend(p.policy_names),
            Err(e) if no_such_entity(&e) => return Ok(None),
            Err(e) => return Err(e).context("ListRolePolicies"),
        }
    }
    names.sort();
    Ok(Some(names))
}

fn tags(s: &Stack) -> Result<Vec<Tag>> {
    s.tags()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().context("tag"))
        .collect()
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    let s = &ctx.stack;
    let iam = &ctx.aws.iam;
    if state.is_missing() {
        let created = iam
            .create_role()
            .role_name(&s.role_name)
            .assume_role_policy_document(s.trust_policy().to_string())
            .description(format!("tapctl: runs {}", s.function_name))
            .set_tags(Some(tags(s)?))
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if has_code(&e, "EntityAlreadyExists") => {
                return created_meanwhile(Kind::Role, ctx).await;
            }
            Err(e) => return Err(e).context("CreateRole"),
        }
    } else {
        if state.drifted("tags") {
            iam.tag_role()
                .role_name(&s.role_name)
                .set_tags(Some(tags(s)?))
                .send()
                .await
                .context("TagRole")?;
        }
        if state.drifted("trust_policy") {
            iam.update_assume_role_policy()
                .role_name(&s.role_name)
                .policy_document(s.trust_policy().to_string())
                .send()
                .await
                .context("UpdateAssumeRolePolicy")?;
        }
    }
    if state.is_missing() || state.drifted("managed_policies") {
        let attached = attached_policies(ctx).await?.unwrap_or_default();
        for arn in attached
            .iter()
            .filter(|a| **a != s.basic_execution_policy_arn)
        {
            iam.detach_role_policy()
                .role_name(&s.role_name)
                .policy_arn(arn)
                .send()
                .await
                .context("DetachRolePolicy")?;
        }
        if !attached.contains(&s.basic_execution_policy_arn) {
            iam.attach_role_policy()
                .role_name(&s.role_name)
                .policy_arn(&s.basic_execution_policy_arn)
                .send()
                .await
                .context("AttachRolePolicy")?;
        }
    }
    if state.is_missing() || state.drifted("inline_policy") {
        iam.put_role_policy()
            .role_name(&s.role_name)
            .policy_name(INLINE_POLICY_NAME)
            .policy_document(s.inline_policy().to_string())
            .send()
            .await
            .context("PutRolePolicy")?;
    }
    if state.drifted("other_inline_policies") {
        delete_inline_policies(ctx, |n| n != INLINE_POLICY_NAME).await?;
    }
    Ok(())
}

async fn delete_inline_policies(ctx: &Ctx, which: impl Fn(&str) -> bool) -> Result<()> {
    let names = inline_policy_names(ctx).await?.unwrap_or_default();
    for name in names.iter().filter(|n| which(n)) {
        match ctx
            .aws
            .iam
            .delete_role_policy()
            .role_name(&ctx.stack.role_name)
            .policy_name(name)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if no_such_entity(&e) => {}
            Err(e) => return Err(e).context("DeleteRolePolicy"),
        }
    }
    Ok(())
}

/// Detaches and deletes every policy of the role, then the role.
pub async fn delete(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    let iam = &ctx.aws.iam;
    let Some(attached) = attached_policies(ctx).await? else {
        return Ok(());
    };
    for arn in attached {
        match iam
            .detach_role_policy()
            .role_name(&s.role_name)
            .policy_arn(&arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if no_such_entity(&e) => {}
            Err(e) => return Err(e).context("DetachRolePolicy"),
        }
    }
    delete_inline_policies(ctx, |_| true).await?;
    match iam.delete_role().role_name(&s.role_name).send().await {
        Ok(_) => Ok(()),
        Err(e) if no_such_entity(&e) => Ok(()),
        Err(e) => Err(e).context("DeleteRole"),
    }
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
        let fields: Vec<_> = diff(&s, &o).iter().map(|d| d.field).collect();
        assert_eq!(
            fields,
            [
                "trust_policy",
                "managed_policies",
                "inline_policy",
                "other_inline_policies",
                "tags"
            ]
        );
    }
}
