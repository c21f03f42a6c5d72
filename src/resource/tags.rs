//! tapctl's tags, the only state it keeps: the shape each service takes them in (side by
//! side), the drift of a resource's tags, and the ownership judgement they support.

use super::state::{Drift, Field, Kind, State};
use crate::spec::{MANAGED_TAG, MANAGED_VALUE, REGION_TAG, SUFFIX_TAG, Stack, Target};
use anyhow::{Context, Result};
use std::collections::HashMap;

/// The prefix of AWS's own tags (`aws:cloudformation:stack-name`, ...): nobody else may add,
/// change or remove one.
pub const SYSTEM_PREFIX: &str = "aws:";

/// S3 (CreateBucketConfiguration, PutBucketTagging): a list of built `Tag`s.
pub fn s3(s: &Stack) -> Result<Vec<aws_sdk_s3::types::Tag>> {
    s.tags().into_iter().map(|(k, v)| s3_tag(&k, &v)).collect()
}

/// One S3 tag.
pub fn s3_tag(k: &str, v: &str) -> Result<aws_sdk_s3::types::Tag> {
    aws_sdk_s3::types::Tag::builder()
        .key(k)
        .value(v)
        .build()
        .context("S3 tag")
}

/// DynamoDB (CreateTable, TagResource): a list of built `Tag`s.
pub fn dynamodb(s: &Stack) -> Result<Vec<aws_sdk_dynamodb::types::Tag>> {
    s.tags()
        .into_iter()
        .map(|(k, v)| {
            let tag = aws_sdk_dynamodb::types::Tag::builder().key(k).value(v);
            tag.build().context("DynamoDB tag")
        })
        .collect()
}

/// IAM (CreateRole, TagRole): a list of built `Tag`s.
pub fn iam(s: &Stack) -> Result<Vec<aws_sdk_iam::types::Tag>> {
    s.tags()
        .into_iter()
        .map(|(k, v)| {
            let tag = aws_sdk_iam::types::Tag::builder().key(k).value(v);
            tag.build().context("IAM tag")
        })
        .collect()
}

/// Lambda and CloudWatch Logs: a map.
pub fn map(s: &Stack) -> HashMap<String, String> {
    s.tags().into_iter().collect()
}

fn pairs(have: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> + Clone {
    have.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

/// Whether the tags mark a resource as this stack's (see [`Stack::owns`]).
pub fn owned(s: &Stack, have: &[(String, String)]) -> bool {
    s.owns(pairs(have))
}

/// The state of a resource that exists: tapctl's when its tags say so; the same suffix's
/// stack in another region's when they name another region.
pub fn judge(s: &Stack, have: &[(String, String)], drift: Vec<Drift>) -> State {
    match s.other_region(pairs(have)) {
        Some(region) => State::Present {
            owner: super::state::Owner::OtherRegion(region),
            drift: vec![],
        },
        None => State::present(owned(s, have), drift),
    }
}

/// Whether a listed resource's tags put it in region `region`'s stack (no region tag: a
/// resource tagged before tapctl recorded regions, counted where it is listed).
pub fn in_region<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>, region: &str) -> bool {
    tags.into_iter()
        .find(|(k, _)| *k == REGION_TAG)
        .is_none_or(|(_, v)| v == region)
}

/// The tag drift of a resource, if any: tapctl's tags it lacks or has with another value.
pub fn drift(stack: &Stack, have: &[(String, String)]) -> Option<Drift> {
    let missing = stack.missing_tags(pairs(have));
    if missing.is_empty() {
        return None;
    }
    let render = |tags: &mut dyn Iterator<Item = (&str, &str)>| {
        let mut v: Vec<String> = tags.map(|(k, v)| format!("{k}={v}")).collect();
        v.sort();
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.join(",")
        }
    };
    let want = stack.tags();
    // Only the keys tapctl sets: other tags are the user's and not tapctl's concern. With
    // none of them left but other tags there, the set was most likely replaced whole (S3's
    // PutBucketTagging and `aws s3api put-bucket-tagging` replace every tag): say what is
    // there and how to get tapctl's back, not "(none)".
    let ours = render(&mut pairs(have).filter(|(k, _)| is_ours(stack, k)));
    let have_text = if ours == "(none)" && !have.is_empty() {
        format!(
            "{} (no tapctl tag: the tag set was probably replaced; `{}` puts tapctl's back)",
            render(&mut pairs(have)),
            stack.command_with("up", &["--adopt"])
        )
    } else {
        ours
    };
    Some(Drift::new(
        Field::Tags,
        render(&mut pairs(&want)),
        have_text,
    ))
}

/// The suffix the tags give a resource, if they mark it as tapctl's.
pub fn suffix_of<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let (mut managed, mut suffix) = (false, None);
    for (k, v) in tags {
        managed |= k == MANAGED_TAG && v == MANAGED_VALUE;
        if k == SUFFIX_TAG {
            suffix = Some(v.to_string());
        }
    }
    suffix.filter(|_| managed)
}

/// The suffix a listed resource counts under: the one its tags name, if its name is the name
/// that suffix's stack gives it (the names derive from the suffix alone).
/// The shared tail of every resource's `list`: the stack a listed resource belongs to, by its
/// tags: tapctl's, of this region (role and bucket names are global to the account, so such a
/// resource counts in the region its tags name), and named as that suffix's resource would be.
pub fn stack_of<'a, I>(kind: Kind, t: &Target, name: &str, tags: I) -> Option<String>
where
    I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
{
    if !in_region(tags.clone(), &t.region) {
        return None;
    }
    listed(kind, t, name, suffix_of(tags))
}

fn listed(kind: Kind, t: &Target, name: &str, tag_suffix: Option<String>) -> Option<String> {
    tag_suffix.filter(|s| kind.name(&Stack::new(t.with_suffix(s))) == name)
}

/// Whether a tag key is one tapctl sets on this stack (its own, or an extra tag of the
/// settings): replaced, not kept, when tapctl re-tags. Any other tag is left as it is.
pub fn is_ours(s: &Stack, key: &str) -> bool {
    key.starts_with("tapctl:") || s.settings.tags.iter().any(|(k, _)| k == key)
}

/// The tag set that gives a bucket tapctl's tags (PutBucketTagging replaces the whole set):
/// every tag tapctl does not set stays as it is — the system tags CloudFormation / CDK leave
/// (`aws:cloudformation:stack-name`, ...) too, which PutBucketTagging must resend unchanged
/// (S3 refuses a set that drops or changes one: cloud-custodian #2834, terraform-provider-aws
/// #7323) — and tapctl's own are added. No `aws:` key is ever written but those resent (S3
/// refuses new ones; the settings refuse the prefix for extra tags).
pub fn retagged(s: &Stack, current: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = current
        .into_iter()
        .filter(|(k, _)| !is_ours(s, k))
        .collect();
    out.extend(
        s.tags()
            .into_iter()
            .filter(|(k, _)| !k.starts_with(SYSTEM_PREFIX)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_tag_set_is_shown_as_it_is_with_the_way_back() {
        let s = crate::spec::test_stack();
        let replaced = vec![("owner".to_string(), "bob".to_string())];
        let d = drift(&s, &replaced).unwrap();
        assert_eq!(
            d.have,
            "owner=bob (no tapctl tag: the tag set was probably replaced; \
             `tapctl up --suffix dev --region us-west-2 --adopt` puts tapctl's back)"
        );
        assert_eq!(drift(&s, &[]).unwrap().have, "(none)");
    }
    use crate::spec::test_stack as stack;

    fn tags(t: &[(&str, &str)]) -> Vec<(String, String)> {
        t.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tag_drift_names_what_is_missing() {
        let s = stack();
        assert_eq!(
            drift(
                &s,
                &tags(&[
                    ("tapctl:managed", "true"),
                    ("tapctl:suffix", "dev"),
                    ("tapctl:region", "us-west-2")
                ])
            ),
            None
        );
        // A resource tagged before tapctl recorded regions: the region tag is drift.
        let d = drift(
            &s,
            &tags(&[("tapctl:managed", "true"), ("tapctl:suffix", "dev")]),
        )
        .unwrap();
        assert_eq!(d.have, "tapctl:managed=true,tapctl:suffix=dev");
        let d = drift(&s, &tags(&[("owner", "bob")])).unwrap();
        assert_eq!(d.field, Field::Tags);
        assert_eq!(
            d.want,
            "tapctl:managed=true,tapctl:region=us-west-2,tapctl:suffix=dev"
        );
        // Tags there, none of tapctl's: shown as they are (the set was replaced).
        assert!(d.have.starts_with("owner=bob (no tapctl tag"), "{}", d.have);
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
        let t = stack().target;
        assert_eq!(
            listed(
                Kind::Bucket,
                &t,
                "lambda-trigger-bucket-x-123456789012",
                Some("x".into())
            ),
            Some("x".into())
        );
        assert_eq!(
            listed(
                Kind::Table,
                &t,
                "lambda-invocation-logs-prod",
                Some("x".into())
            ),
            None
        );
        assert_eq!(
            listed(Kind::Role, &t, "s3-processor-role-x", Some("x".into())),
            Some("x".into())
        );
    }

    #[test]
    fn every_service_gets_every_tag() {
        let s = stack();
        assert_eq!(s3(&s).unwrap().len(), 3);
        assert_eq!(dynamodb(&s).unwrap().len(), 3);
        assert_eq!(iam(&s).unwrap().len(), 3);
        assert_eq!(map(&s)["tapctl:suffix"], "dev");
        assert_eq!(map(&s)["tapctl:region"], "us-west-2");
        assert!(owned(&s, &s.tags()) && !owned(&s, &[]));
    }

    #[test]
    fn another_regions_stack_is_judged_as_such() {
        let s = stack();
        let theirs = tags(&[
            ("tapctl:managed", "true"),
            ("tapctl:suffix", "dev"),
            ("tapctl:region", "eu-west-1"),
        ]);
        assert_eq!(
            judge(&s, &theirs, vec![]),
            State::Present {
                owner: super::super::state::Owner::OtherRegion("eu-west-1".into()),
                drift: vec![]
            }
        );
        assert!(judge(&s, &s.tags(), vec![]).in_sync());
        // Another suffix's resource stays "not tapctl's", whatever its region.
        let other = tags(&[
            ("tapctl:managed", "true"),
            ("tapctl:suffix", "prod"),
            ("tapctl:region", "eu-west-1"),
        ]);
        assert!(judge(&s, &other, vec![]).is_foreign());
        assert!(judge(&s, &other, vec![]).other_region().is_none());
        assert!(in_region(pairs(&theirs), "eu-west-1") && !in_region(pairs(&theirs), "us-west-2"));
        assert!(in_region([("tapctl:managed", "true")], "us-west-2"));
    }

    #[test]
    fn extra_tags_go_everywhere_and_drift_when_missing() {
        let mut s = stack();
        s.settings.tags = vec![("team".into(), "data".into())];
        assert_eq!(s3(&s).unwrap().len(), 4);
        assert_eq!(map(&s)["team"], "data");
        let have = tags(&[
            ("tapctl:managed", "true"),
            ("tapctl:suffix", "dev"),
            ("tapctl:region", "us-west-2"),
            ("team", "web"),
            ("owner", "bob"),
        ]);
        let d = drift(&s, &have).unwrap();
        assert_eq!(
            d.want,
            "tapctl:managed=true,tapctl:region=us-west-2,tapctl:suffix=dev,team=data"
        );
        assert_eq!(
            d.have,
            "tapctl:managed=true,tapctl:region=us-west-2,tapctl:suffix=dev,team=web"
        );
        assert!(is_ours(&s, "team") && is_ours(&s, "tapctl:suffix") && !is_ours(&s, "owner"));
        let mut fixed = have.clone();
        fixed[3].1 = "data".into();
        assert_eq!(
            drift(&s, &fixed),
            None,
            "a tag tapctl did not set is no drift"
        );
    }

    #[test]
    fn retagging_resends_system_tags_and_replaces_tapctls() {
        let s = stack();
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let current = vec![
            pair("aws:cloudformation:stack-name", "legacy"),
            pair("aws:cloudformation:logical-id", "Bucket"),
            pair("owner", "bob"),
            pair("tapctl:suffix", "old"),
        ];
        let mut want = vec![
            pair("aws:cloudformation:stack-name", "legacy"),
            pair("aws:cloudformation:logical-id", "Bucket"),
            pair("owner", "bob"),
        ];
        want.extend(s.tags());
        assert_eq!(retagged(&s, current), want);
        // Nothing of tapctl's own is an aws: key.
        assert!(
            retagged(&s, vec![])
                .iter()
                .all(|(k, _)| !k.starts_with("aws:"))
        );
    }
}
