//! Commands with no stack to read: config (no AWS call at all) and deployer-policy.

use super::run::emit;
use crate::invocation::Invocation;
use crate::{aws, deployer, report, spec};
use anyhow::{Result, bail};

/// The effective settings and where each came from, the stack selectors included (the
/// profile's own region is read from the AWS config files; no AWS call).
pub async fn config(inv: &Invocation) -> Result<u8> {
    let mut settings = inv.settings.clone();
    if settings.region.value.is_none() {
        let (profile, region) = aws::profile_region(settings.profile.value.as_deref()).await;
        settings.with_profile_region(&profile, region);
    }
    if settings.region.value.is_none() {
        settings.region.value = Some(settings.region_or_default().to_string());
    }
    let file = inv.file.as_deref();
    emit(
        inv.output,
        || report::config_json(&inv.suffix, file, &settings),
        || report::config_text(&inv.suffix, file, &settings),
    );
    Ok(0)
}

/// Prints the deployer policy: for the given account (no AWS call; the region from `--region`
/// or the settings' chain, `*` when none), or for the account, partition and region the
/// credentials resolve to.
pub async fn deployer_policy(
    inv: &Invocation,
    region_flag: Option<&str>,
    partition: Option<String>,
    account: Option<String>,
) -> Result<u8> {
    let boundary = inv.settings.permissions_boundary.value.clone();
    let scope = match account {
        Some(account) => {
            if account != "*"
                && !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
            {
                bail!("--account {account:?}: an account id is 12 digits (or * for any)");
            }
            let region = inv.policy_region(region_flag);
            let partition = partition.unwrap_or_else(|| {
                spec::partition_of_region(if region == "*" {
                    spec::DEFAULT_REGION
                } else {
                    &region
                })
                .to_string()
            });
            deployer::Scope {
                partition,
                account,
                region,
                permissions_boundary: boundary,
            }
        }
        None => {
            let (_, t) = aws::connect(&inv.aws_options(), &inv.suffix).await?;
            deployer::Scope {
                partition: partition.unwrap_or(t.partition),
                account: t.account,
                region: if region_flag == Some("*") {
                    "*".into()
                } else {
                    t.region
                },
                permissions_boundary: boundary,
            }
        }
    };
    emit(
        inv.output,
        || {
            use serde_json::json;
            serde_json::Value::Object(report::envelope(
                "deployer-policy",
                true,
                &[
                    ("partition", json!(scope.partition)),
                    ("account", json!(scope.account)),
                    ("region", json!(scope.region)),
                    ("policy", deployer::policy(&scope)),
                ],
            ))
        },
        || deployer::document(&scope),
    );
    Ok(0)
}
