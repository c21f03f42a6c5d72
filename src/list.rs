//! `tapctl list`: every stack tapctl deployed in the account and region, found by its tags
//! (`tapctl:managed=true`, `tapctl:suffix=S`). The tags are the only state, so this reads
//! them: each tagged resource kind lists the resources named with its prefix and reads their
//! tags (`Kind::list`); this module only gathers the answers by suffix. (The Resource Groups
//! Tagging API would do it in one call, but the local AWS does not serve it, and it would be
//! one more SDK crate.)

use crate::aws::Clients;
use crate::resource::Kind;
use crate::spec::Target;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};

/// One deployed stack: its suffix and which of its tagged resources exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub suffix: String,
    pub resources: Vec<Kind>,
}

impl Found {
    pub fn complete(&self) -> bool {
        Kind::TAGGED.iter().all(|k| self.resources.contains(k))
    }
}

/// Every stack found, sorted by suffix.
pub async fn list(aws: &Clients, t: &Target) -> Result<Vec<Found>> {
    let listing =
        Kind::TAGGED.map(|kind| async move { anyhow::Ok((kind, kind.list(aws, t).await?)) });
    let [a, b, c, d, e, f] = listing;
    let (a, b, c, d, e, f) = tokio::try_join!(a, b, c, d, e, f)?;
    Ok(gather([a, b, c, d, e, f]))
}

/// The stacks, by suffix, from each kind's suffixes.
fn gather(by_kind: impl IntoIterator<Item = (Kind, Vec<String>)>) -> Vec<Found> {
    let mut by_suffix: BTreeMap<String, BTreeSet<Kind>> = BTreeMap::new();
    for (kind, suffixes) in by_kind {
        for suffix in suffixes {
            by_suffix.entry(suffix).or_default().insert(kind);
        }
    }
    by_suffix
        .into_iter()
        .map(|(suffix, kinds)| Found {
            suffix,
            resources: kinds.into_iter().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_gathered_by_suffix() {
        let found = gather([
            (Kind::Table, vec!["b".to_string(), "a".to_string()]),
            (Kind::Bucket, vec!["a".to_string()]),
        ]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].suffix, "a");
        assert_eq!(found[0].resources, [Kind::Table, Kind::Bucket]);
        assert!(!found[1].complete());
        let f = Found {
            suffix: "dev".into(),
            resources: Kind::TAGGED.to_vec(),
        };
        assert!(f.complete());
    }
}
