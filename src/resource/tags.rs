//! tapctl's tags, the only state it keeps: the shape each service takes them in (side by
//! side), the drift of a resource's tags, and the ownership judgement they support.

use super::state::{Drift, Field, Kind, State};
use crate::spec::{MANAGED_TAG, MANAGED_VALUE, SUFFIX_TAG, Stack, Target};
use anyhow::{Context, Result};
use std::collections::HashMap;

/// S3 (CreateBucketConfiguration, PutBucketTagging): a list of built `Tag`s.
pub fn s3(s: &Stack) -> Result<Vec<aws_sdk_s3::types::Tag>> {
    s.tags().into_iter().map(|(k, v)| s3_tag(&k, &v)).collect()
}

fn s3_tag(k: &str, v: &str) -> Result<aws_sdk_s3::types::Tag> {
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

/// The state of a resource that exists: tapctl's when its tags say so.
pub fn judge(s: &Stack, have: &[(String, String)], drift: Vec<Drift>) -> State {
    State::present(owned(s, have), drift)
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
    // Only the keys tapctl sets: other tags are the user's and not tapctl's concern.
    Some(Drift::new(
        Field::Tags,
        render(&mut pairs(&want)),
        render(&mut pairs(have).filter(|(k, _)| is_ours(stack, k))),
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
pub fn listed(kind: Kind, t: &Target, name: &str, tag_suffix: Option<String>) -> Option<String> {
    tag_suffix.filter(|s| kind.name(&Stack::new(t.with_suffix(s))) == name)
}

/// Whether a tag key is one tapctl sets on this stack (its own, or an extra tag of the
/// settings): replaced, not kept, when tapctl re-tags. Any other tag is left as it is.
pub fn is_ours(s: &Stack, key: &str) -> bool {
    key.starts_with("tapctl:") || s.settings.tags.iter().any(|(k, _)| k == key)
}

#[cfg(test)]
mod tests {
    use super::*;
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
                &tags(&[("tapctl:managed", "true"), ("tapctl:suffix", "dev")])
            ),
            None
        );
        let d = drift(&s, &tags(&[("owner", "bob")])).unwrap();
        assert_eq!(d.field, Field::Tags);
        assert_eq!(d.want, "tapctl:managed=true,tapctl:suffix=dev");
        assert_eq!(d.have, "(none)");
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
    fn every_service_gets_both_tags() {
        let s = stack();
        assert_eq!(s3(&s).unwrap().len(), 2);
        assert_eq!(dynamodb(&s).unwrap().len(), 2);
        assert_eq!(iam(&s).unwrap().len(), 2);
        assert_eq!(map(&s)["tapctl:suffix"], "dev");
        assert!(owned(&s, &s.tags()) && !owned(&s, &[]));
    }

    #[test]
    fn extra_tags_go_everywhere_and_drift_when_missing() {
        let mut s = stack();
        s.settings.tags = vec![("team".into(), "data".into())];
        assert_eq!(s3(&s).unwrap().len(), 3);
        assert_eq!(map(&s)["team"], "data");
        let have = tags(&[
            ("tapctl:managed", "true"),
            ("tapctl:suffix", "dev"),
            ("team", "web"),
            ("owner", "bob"),
        ]);
        let d = drift(&s, &have).unwrap();
        assert_eq!(d.want, "tapctl:managed=true,tapctl:suffix=dev,team=data");
        assert_eq!(d.have, "tapctl:managed=true,tapctl:suffix=dev,team=web");
        assert!(is_ours(&s, "team") && is_ours(&s, "tapctl:suffix") && !is_ours(&s, "owner"));
        let mut fixed = have.clone();
        fixed[2].1 = "data".into();
        assert_eq!(
            drift(&s, &fixed),
            None,
            "a tag tapctl did not set is no drift"
        );
    }
}
