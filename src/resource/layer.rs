//! The dependency layer `s3-processor-deps-S`: part of the function, as its async invoke
//! config is (the function's `layers` and `unused_layer_versions` fields). One version per
//! content key (the requirements, runtime and architecture: `python::Deps::key`), recorded
//! in the version's Description, since Lambda layers take no tags (Lambda API reference,
//! TagResource: functions, event source mappings and code signing configs only). A version
//! without tapctl's description is not tapctl's and is never deleted.
//!
//! Versions are published once per content, attached by the function's configuration, and
//! deleted once the function moved off them (a function keeps running with a deleted
//! version: Lambda keeps a copy for the functions that use it — Lambda developer guide,
//! "Deleting a layer version"); `down` deletes every version of tapctl's.

use super::retry::retry_on;
use super::sdk::{self, found, lambda::busy, lambda::upload_override};
use crate::aws::Clients;
use crate::error::AwsContext;
use crate::spec::{Stack, layer_description, layer_key};
use anyhow::{Context, Result};
use aws_sdk_lambda::operation::list_layer_versions::ListLayerVersionsError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, LayerVersionContentInput, Runtime};
use std::time::Duration;

const PUBLISH_BUDGET: Duration = Duration::from_secs(120);

/// One version of the stack's dependency layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub arn: String,
    pub version: i64,
    /// The content key tapctl recorded; `None`: not tapctl's.
    pub key: Option<String>,
}

/// ListLayerVersions of the stack's layer, newest first; none when the layer does not exist.
pub async fn list(aws: &Clients, s: &Stack) -> Result<Vec<Version>> {
    let mut out = Vec::new();
    let mut pages = aws
        .lambda
        .list_layer_versions()
        .layer_name(&s.layer_name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Some(page) = found(
            page,
            ListLayerVersionsError::is_resource_not_found_exception,
        )
        .aws_context("ListLayerVersions")?
        else {
            break;
        };
        out.extend(page.layer_versions().iter().filter_map(|v| {
            Some(Version {
                arn: v.layer_version_arn()?.to_string(),
                version: v.version(),
                key: v.description().and_then(layer_key).map(String::from),
            })
        }));
    }
    out.sort_by_key(|v| std::cmp::Reverse(v.version));
    Ok(out)
}

/// The newest of tapctl's versions holding content `key`.
pub fn holding<'a>(versions: &'a [Version], key: &str) -> Option<&'a Version> {
    versions.iter().find(|v| v.key.as_deref() == Some(key))
}

/// The short name of a layer version ARN (`s3-processor-deps-S:3`), for drift lines.
pub fn short(arn: &str) -> &str {
    arn.rsplit_once(":layer:").map_or(arn, |(_, name)| name)
}

/// The ARN of the version the function should run with: the one holding the stack's
/// dependencies, published now when none does; `None` when the handler has none.
pub async fn ensure(aws: &Clients, s: &Stack) -> Result<Option<String>> {
    let Some(deps) = s.settings.code.deps() else {
        return Ok(None);
    };
    if let Some(v) = holding(&list(aws, s).await?, &deps.key) {
        return Ok(Some(v.arn.clone()));
    }
    let zip = deps
        .layer
        .as_ref()
        .context("the dependency layer was not built before the deploy")?;
    let body = Blob::new(zip.zip.clone());
    let published = retry_on(PUBLISH_BUDGET, busy, || {
        aws.lambda
            .publish_layer_version()
            .layer_name(&s.layer_name)
            .description(layer_description(&deps.key))
            .content(
                LayerVersionContentInput::builder()
                    .zip_file(body.clone())
                    .build(),
            )
            .compatible_runtimes(Runtime::from(deps.platform.runtime.as_str()))
            .compatible_architectures(Architecture::from(deps.platform.architecture.as_str()))
            .customize()
            .config_override(upload_override(zip.zip.len()))
            .send()
    })
    .await
    .aws_context("PublishLayerVersion")?;
    published
        .layer_version_arn
        .context("PublishLayerVersion returned no LayerVersionArn")
        .map(Some)
}

/// Deletes tapctl's versions of the layer but those holding `keep` (the content the function
/// now runs with); every one of them when `keep` is `None`. Someone else's versions stay.
pub async fn prune(aws: &Clients, s: &Stack, keep: Option<&str>) -> Result<()> {
    for v in list(aws, s).await? {
        if v.key.is_none() || v.key.as_deref() == keep {
            continue;
        }
        // Deleting a version that is already gone succeeds (Lambda API reference,
        // DeleteLayerVersion).
        sdk::write(busy, || {
            aws.lambda
                .delete_layer_version()
                .layer_name(&s.layer_name)
                .version_number(v.version)
                .send()
        })
        .await
        .aws_context("DeleteLayerVersion")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_found_by_their_recorded_key() {
        let v = |n: i64, key: Option<&str>| Version {
            arn: format!("arn:aws:lambda:us-west-2:1:layer:s3-processor-deps-d:{n}"),
            version: n,
            key: key.map(String::from),
        };
        let versions = [
            v(4, None),
            v(3, Some("b")),
            v(2, Some("a")),
            v(1, Some("b")),
        ];
        assert_eq!(holding(&versions, "b").map(|v| v.version), Some(3));
        assert_eq!(holding(&versions, "c"), None);
        assert_eq!(short(&versions[1].arn), "s3-processor-deps-d:3");
        assert_eq!(layer_key(&layer_description("k1")), Some("k1"));
        assert_eq!(layer_key("someone's layer"), None);
    }
}
