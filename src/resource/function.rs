//! The Lambda function: python, the handler zipped from `handler/` at build time, 30 s, 128 MB,
//! with the table name and log level in its environment.

use super::{
    Ctx, Drift, Kind, State, created_meanwhile, has_code, retry_on, tag_drift, wait_until,
};
use crate::spec::{HANDLER, MEMORY_MB, RUNTIME, Stack, TIMEOUT_SECONDS};
use anyhow::{Context, Result, bail};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Environment, FunctionCode, LastUpdateStatus, Runtime, State as FnState,
};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The deployment zip, built byte-stable from `handler/` by build.rs.
pub const CODE_ZIP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/handler.zip"));
/// base64(sha256(zip)), as Lambda reports it in `CodeSha256`.
pub const CODE_SHA256: &str = include_str!(concat!(env!("OUT_DIR"), "/handler.sha256"));

/// IAM is eventually consistent: a new role is not assumable by Lambda for a few seconds.
/// Terraform retries this for 2 minutes; so does tapctl.
const PROPAGATION_BUDGET: Duration = Duration::from_secs(120);
const READY_BUDGET: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub runtime: String,
    pub handler: String,
    pub role: String,
    pub memory: i32,
    pub timeout: i32,
    pub env: BTreeMap<String, String>,
    pub code_sha256: String,
    pub tags: Vec<(String, String)>,
}

pub fn diff(stack: &Stack, o: &Observed) -> Vec<Drift> {
    let mut drift = Vec::new();
    if o.runtime != RUNTIME {
        drift.push(Drift::new("runtime", RUNTIME, &o.runtime));
    }
    if o.handler != HANDLER {
        drift.push(Drift::new("handler", HANDLER, &o.handler));
    }
    if o.role != stack.role_arn {
        drift.push(Drift::new("role", &stack.role_arn, &o.role));
    }
    if o.memory != MEMORY_MB {
        drift.push(Drift::new("memory_mb", MEMORY_MB, o.memory));
    }
    if o.timeout != TIMEOUT_SECONDS {
        drift.push(Drift::new("timeout_s", TIMEOUT_SECONDS, o.timeout));
    }
    let want: BTreeMap<String, String> = stack.function_env().into_iter().collect();
    if o.env != want {
        let show = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        drift.push(Drift::new("environment", show(&want), show(&o.env)));
    }
    if o.code_sha256 != CODE_SHA256 {
        drift.push(Drift::new("code_sha256", CODE_SHA256, &o.code_sha256));
    }
    drift.extend(tag_drift(
        stack,
        o.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ));
    drift
}

/// Settings changed by UpdateFunctionConfiguration.
const CONFIG_FIELDS: [&str; 6] = [
    "runtime",
    "handler",
    "role",
    "memory_mb",
    "timeout_s",
    "environment",
];

pub async fn observe(ctx: &Ctx) -> Result<State> {
    let s = &ctx.stack;
    let out = match ctx
        .aws
        .lambda
        .get_function()
        .function_name(&s.function_name)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(State::Missing);
        }
        Err(e) => return Err(e).context("GetFunction"),
    };
    let c = out
        .configuration
        .context("GetFunction returned no configuration")?;
    let observed = Observed {
        runtime: c
            .runtime
            .as_ref()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        handler: c.handler.clone().unwrap_or_default(),
        role: c.role.clone().unwrap_or_default(),
        memory: c.memory_size.unwrap_or_default(),
        timeout: c.timeout.unwrap_or_default(),
        env: c
            .environment
            .and_then(|e| e.variables)
            .unwrap_or_default()
            .into_iter()
            .collect(),
        code_sha256: c.code_sha256.clone().unwrap_or_default(),
        tags: out.tags.unwrap_or_default().into_iter().collect(),
    };
    let owned = s.owns(observed.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(State::present(owned, diff(s, &observed)))
}

fn environment(s: &Stack) -> Environment {
    Environment::builder()
        .set_variables(Some(s.function_env().into_iter().collect()))
        .build()
}

fn tags(s: &Stack) -> HashMap<String, String> {
    s.tags().into_iter().collect()
}

/// `InvalidParameterValueException: The role defined for the function cannot be assumed by
/// Lambda.` — the role exists but IAM has not propagated it yet.
pub fn is_role_not_ready<E: aws_sdk_lambda::error::ProvideErrorMetadata>(e: &E) -> bool {
    has_code(e, "InvalidParameterValueException")
        && e.message().is_some_and(|m| m.contains("cannot be assumed"))
}

/// Another update of the function is still in progress.
pub fn is_update_conflict<E: aws_sdk_lambda::error::ProvideErrorMetadata>(e: &E) -> bool {
    has_code(e, "ResourceConflictException")
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    let s = &ctx.stack;
    let lambda = &ctx.aws.lambda;
    if state.is_missing() {
        let created = retry_on(PROPAGATION_BUDGET, is_role_not_ready, || {
            lambda
                .create_function()
                .function_name(&s.function_name)
                .runtime(Runtime::from(RUNTIME))
                .handler(HANDLER)
                .role(&s.role_arn)
                .memory_size(MEMORY_MB)
                .timeout(TIMEOUT_SECONDS)
                .environment(environment(s))
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(CODE_ZIP))
                        .build(),
                )
                .description("tapctl: logs S3 object events to DynamoDB")
                .set_tags(Some(tags(s)))
                .send()
        })
        .await;
        match created {
            Ok(_) => {}
            // Made meanwhile (by a concurrent tapctl run, or by someone else): look again.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_conflict_exception()) =>
            {
                wait_ready(ctx).await?;
                return created_meanwhile(Kind::Function, ctx).await;
            }
            Err(e) => return Err(e).context("CreateFunction"),
        }
        return wait_ready(ctx).await;
    }
    if state.drifted("tags") {
        lambda
            .tag_resource()
            .resource(&s.function_arn)
            .set_tags(Some(tags(s)))
            .send()
            .await
            .context("TagResource")?;
    }
    if CONFIG_FIELDS.iter().any(|f| state.drifted(f)) {
        wait_ready(ctx).await?;
        retry_on(
            PROPAGATION_BUDGET,
            |e: &aws_sdk_lambda::error::SdkError<_>| is_role_not_ready(e) || is_update_conflict(e),
            || {
                lambda
                    .update_function_configuration()
                    .function_name(&s.function_name)
                    .runtime(Runtime::from(RUNTIME))
                    .handler(HANDLER)
                    .role(&s.role_arn)
                    .memory_size(MEMORY_MB)
                    .timeout(TIMEOUT_SECONDS)
                    .environment(environment(s))
                    .send()
            },
        )
        .await
        .context("UpdateFunctionConfiguration")?;
    }
    if state.drifted("code_sha256") {
        wait_ready(ctx).await?;
        retry_on(PROPAGATION_BUDGET, is_update_conflict, || {
            lambda
                .update_function_code()
                .function_name(&s.function_name)
                .zip_file(Blob::new(CODE_ZIP))
                .send()
        })
        .await
        .context("UpdateFunctionCode")?;
    }
    if CONFIG_FIELDS.iter().any(|f| state.drifted(f)) || state.drifted("code_sha256") {
        wait_ready(ctx).await?;
    }
    Ok(())
}

/// Waits until the function is Active and no update is in progress; a failed create or update
/// is an error with Lambda's reason. (The SDK's waiters start at 1 s and grow to minutes.)
async fn wait_ready(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    let what = format!("function {} to be Active", s.function_name);
    wait_until(&what, READY_BUDGET, || async {
        let c = ctx
            .aws
            .lambda
            .get_function_configuration()
            .function_name(&s.function_name)
            .send()
            .await
            .context("GetFunctionConfiguration")?;
        if c.state == Some(FnState::Failed) {
            bail!(
                "function {} failed to become Active: {}",
                s.function_name,
                c.state_reason.unwrap_or_default()
            );
        }
        if c.last_update_status == Some(LastUpdateStatus::Failed) {
            bail!(
                "the last update of function {} failed: {}",
                s.function_name,
                c.last_update_status_reason.unwrap_or_default()
            );
        }
        Ok(c.state == Some(FnState::Active)
            && c.last_update_status != Some(LastUpdateStatus::InProgress))
    })
    .await
}

pub async fn delete(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    let deleted = retry_on(READY_BUDGET, is_update_conflict, || {
        ctx.aws
            .lambda
            .delete_function()
            .function_name(&s.function_name)
            .send()
    })
    .await;
    match deleted {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(e).context("DeleteFunction"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack as stack;

    fn good(s: &Stack) -> Observed {
        Observed {
            runtime: RUNTIME.into(),
            handler: HANDLER.into(),
            role: s.role_arn.clone(),
            memory: MEMORY_MB,
            timeout: TIMEOUT_SECONDS,
            env: s.function_env().into_iter().collect(),
            code_sha256: CODE_SHA256.into(),
            tags: s.tags(),
        }
    }

    #[test]
    fn in_shape_function_has_no_drift() {
        let s = stack();
        assert!(diff(&s, &good(&s)).is_empty());
    }

    #[test]
    fn each_setting_drifts_by_name() {
        let s = stack();
        let mut o = good(&s);
        o.runtime = "python3.8".into();
        o.memory = 512;
        o.env.insert("EXTRA".into(), "1".into());
        o.code_sha256 = "old".into();
        let d = diff(&s, &o);
        let fields: Vec<_> = d.iter().map(|d| d.field).collect();
        assert_eq!(
            fields,
            ["runtime", "memory_mb", "environment", "code_sha256"]
        );
        assert_eq!(d[0], Drift::new("runtime", RUNTIME, "python3.8"));
        assert_eq!(d[1], Drift::new("memory_mb", "128", "512"));
    }

    #[test]
    fn embedded_zip_matches_its_hash_and_holds_the_handler() {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(CODE_ZIP);
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(digest),
            CODE_SHA256
        );
        assert_eq!(&CODE_ZIP[..4], b"PK\x03\x04");
        let text = String::from_utf8_lossy(CODE_ZIP);
        assert!(text.contains("index.py"));
        assert!(text.contains("def lambda_handler"));
        assert!(!text.contains("tests/"));
    }
}
