//! The Lambda function: python, the handler zipped from `handler/` at build time, 30 s, 128 MB,
//! with the table name and log level in its environment; its async invoke config (retries,
//! maximum event age, the failure queue as on-failure destination) is part of it.

use super::retry::is_transient;
use super::retry::{retry_on, wait_until};
use super::sdk::{self, found, lambda::DESTINATION_PENDING, lambda::busy, lambda::transient};
use super::state::{Ctx, Drift, Field, Kind, State, created_meanwhile};
use super::tags;
use crate::aws::Clients;
use crate::error::AwsContext;
use crate::spec::{FUNCTION_PREFIX, HANDLER, MEMORY_MB, RUNTIME, Stack, TIMEOUT_SECONDS, Target};
use anyhow::{Context, Result, bail};
use aws_sdk_lambda::operation::{
    delete_function::DeleteFunctionError, get_function::GetFunctionError,
    get_function::GetFunctionOutput,
    get_function_event_invoke_config::GetFunctionEventInvokeConfigError, list_tags::ListTagsError,
};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    DestinationConfig, Environment, FunctionCode, LastUpdateStatus, OnFailure, Runtime,
    State as FnState,
};
use std::collections::BTreeMap;
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
    /// The async invoke config; `None` when the function has none (Lambda's defaults apply).
    pub invoke: Option<InvokeConfig>,
}

/// The function's asynchronous invocation settings (GetFunctionEventInvokeConfig).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvokeConfig {
    pub retry_attempts: Option<i32>,
    pub max_event_age_s: Option<i32>,
    pub on_failure: Option<String>,
}

/// The async invoke config's drift: each setting by name ("not set" without a config).
fn invoke_drift(stack: &Stack, have: Option<&InvokeConfig>) -> Vec<Drift> {
    let unset = InvokeConfig::default();
    let have = have.unwrap_or(&unset);
    let show = |v: Option<String>| v.unwrap_or_else(|| "not set".into());
    let mut drift = Vec::new();
    if have.retry_attempts != Some(stack.retry_attempts) {
        let h = show(have.retry_attempts.map(|v| v.to_string()));
        drift.push(Drift::new(Field::RetryAttempts, stack.retry_attempts, h));
    }
    if have.max_event_age_s != Some(stack.max_event_age_s) {
        let h = show(have.max_event_age_s.map(|v| v.to_string()));
        drift.push(Drift::new(Field::MaxEventAgeS, stack.max_event_age_s, h));
    }
    if have.on_failure.as_deref() != Some(stack.queue_arn.as_str()) {
        let h = show(have.on_failure.clone());
        drift.push(Drift::new(Field::OnFailure, &stack.queue_arn, h));
    }
    drift
}

/// Settings written by PutFunctionEventInvokeConfig.
const INVOKE_FIELDS: [Field; 3] = [Field::RetryAttempts, Field::MaxEventAgeS, Field::OnFailure];

pub fn diff(stack: &Stack, o: &Observed) -> Vec<Drift> {
    let mut drift = Vec::new();
    if o.runtime != RUNTIME {
        drift.push(Drift::new(Field::Runtime, RUNTIME, &o.runtime));
    }
    if o.handler != HANDLER {
        drift.push(Drift::new(Field::Handler, HANDLER, &o.handler));
    }
    if o.role != stack.role_arn {
        drift.push(Drift::new(Field::Role, &stack.role_arn, &o.role));
    }
    if o.memory != MEMORY_MB {
        drift.push(Drift::new(Field::MemoryMb, MEMORY_MB, o.memory));
    }
    if o.timeout != TIMEOUT_SECONDS {
        drift.push(Drift::new(Field::TimeoutS, TIMEOUT_SECONDS, o.timeout));
    }
    let want: BTreeMap<String, String> = stack.function_env().into_iter().collect();
    if o.env != want {
        let show = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        drift.push(Drift::new(Field::Environment, show(&want), show(&o.env)));
    }
    if o.code_sha256 != CODE_SHA256 {
        drift.push(Drift::new(Field::CodeSha256, CODE_SHA256, &o.code_sha256));
    }
    drift.extend(invoke_drift(stack, o.invoke.as_ref()));
    drift.extend(tags::drift(stack, &o.tags));
    drift
}

/// Settings changed by UpdateFunctionConfiguration.
const CONFIG_FIELDS: [Field; 6] = [
    Field::Runtime,
    Field::Handler,
    Field::Role,
    Field::MemoryMb,
    Field::TimeoutS,
    Field::Environment,
];

/// GetFunction: the function's configuration and tags; `None` when it does not exist.
pub async fn get(aws: &Clients, s: &Stack) -> Result<Option<GetFunctionOutput>> {
    let read = aws
        .lambda
        .get_function()
        .function_name(&s.function_name)
        .send()
        .await;
    found(read, GetFunctionError::is_resource_not_found_exception).aws_context("GetFunction")
}

/// GetFunctionEventInvokeConfig; `None` when the function has none (or is gone).
async fn get_invoke_config(aws: &Clients, s: &Stack) -> Result<Option<InvokeConfig>> {
    let read = aws
        .lambda
        .get_function_event_invoke_config()
        .function_name(&s.function_name)
        .send()
        .await;
    let out = found(
        read,
        GetFunctionEventInvokeConfigError::is_resource_not_found_exception,
    )
    .aws_context("GetFunctionEventInvokeConfig")?;
    Ok(out.map(|o| InvokeConfig {
        retry_attempts: o.maximum_retry_attempts,
        max_event_age_s: o.maximum_event_age_in_seconds,
        on_failure: o
            .destination_config
            .and_then(|d| d.on_failure)
            .and_then(|f| f.destination),
    }))
}

pub async fn observe(ctx: &Ctx) -> Result<State> {
    let s = &ctx.stack;
    // Both reads at once: one round trip, not two.
    let (out, invoke) = tokio::join!(get(&ctx.aws, s), get_invoke_config(&ctx.aws, s));
    let Some(out) = out? else {
        return Ok(State::Missing);
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
        invoke: invoke?,
    };
    Ok(tags::judge(s, &observed.tags, diff(s, &observed)))
}

fn environment(s: &Stack) -> Environment {
    Environment::builder()
        .set_variables(Some(s.function_env().into_iter().collect()))
        .build()
}

pub async fn apply(ctx: &Ctx, state: &State) -> Result<()> {
    let s = &ctx.stack;
    let lambda = &ctx.aws.lambda;
    if state.is_missing() {
        let request = lambda
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
            .set_tags(Some(tags::map(s)));
        let created = retry_on(PROPAGATION_BUDGET, transient, || request.clone().send()).await;
        match created {
            Ok(_) => {}
            // Made meanwhile (by a concurrent tapctl run, or by someone else): look again.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_conflict_exception()) =>
            {
                wait_ready(ctx).await?;
                let now = created_meanwhile(Kind::Function, ctx, observe(ctx).await?)?;
                return Box::pin(apply(ctx, &now)).await;
            }
            Err(e) => return Err(e).aws_context("CreateFunction"),
        }
        wait_ready(ctx).await?;
        return put_invoke_config(ctx).await;
    }
    if state.drifted(Field::Tags) {
        sdk::write(transient, || {
            lambda
                .tag_resource()
                .resource(&s.function_arn)
                .set_tags(Some(tags::map(s)))
                .send()
        })
        .await
        .aws_context("TagResource")?;
    }
    let reconfigure = CONFIG_FIELDS.iter().any(|f| state.drifted(*f));
    if reconfigure {
        wait_ready(ctx).await?;
        retry_on(PROPAGATION_BUDGET, busy, || {
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
        })
        .await
        .aws_context("UpdateFunctionConfiguration")?;
    }
    if state.drifted(Field::CodeSha256) {
        wait_ready(ctx).await?;
        retry_on(PROPAGATION_BUDGET, busy, || {
            lambda
                .update_function_code()
                .function_name(&s.function_name)
                .zip_file(Blob::new(CODE_ZIP))
                .send()
        })
        .await
        .aws_context("UpdateFunctionCode")?;
    }
    if reconfigure || state.drifted(Field::CodeSha256) {
        wait_ready(ctx).await?;
    }
    if INVOKE_FIELDS.iter().any(|f| state.drifted(*f)) {
        put_invoke_config(ctx).await?;
    }
    Ok(())
}

/// PutFunctionEventInvokeConfig: retries, maximum event age and the failure queue, all set
/// (a Put replaces the whole config). Lambda checks the destination with the function's role,
/// which may not show its SendMessage grant yet: that is retried as terraform does.
async fn put_invoke_config(ctx: &Ctx) -> Result<()> {
    let s = &ctx.stack;
    let destination = DestinationConfig::builder()
        .on_failure(OnFailure::builder().destination(&s.queue_arn).build())
        .build();
    let retryable = |e: &_| busy(e) || is_transient(DESTINATION_PENDING, e);
    retry_on(PROPAGATION_BUDGET, retryable, || {
        ctx.aws
            .lambda
            .put_function_event_invoke_config()
            .function_name(&s.function_name)
            .maximum_retry_attempts(s.retry_attempts)
            .maximum_event_age_in_seconds(s.max_event_age_s)
            .destination_config(destination.clone())
            .send()
    })
    .await
    .aws_context("PutFunctionEventInvokeConfig")?;
    Ok(())
}

/// What a synchronous invocation gave back.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// Lambda's `FunctionError` (`Unhandled`): the function failed; `payload` says why.
    pub function_error: Option<String>,
    pub payload: Vec<u8>,
}

/// Invoke (RequestResponse): runs the deployed function on `payload` and waits for it.
pub async fn invoke(aws: &Clients, s: &Stack, payload: Vec<u8>) -> Result<Invoked> {
    let out = aws
        .lambda
        .invoke()
        .function_name(&s.function_name)
        .payload(Blob::new(payload))
        .send()
        .await
        .aws_context("Invoke")?;
    Ok(Invoked {
        function_error: out.function_error,
        payload: out.payload.map(Blob::into_inner).unwrap_or_default(),
    })
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
            .aws_context("GetFunctionConfiguration")?;
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
    let deleted = retry_on(READY_BUDGET, busy, || {
        ctx.aws
            .lambda
            .delete_function()
            .function_name(&s.function_name)
            .send()
    });
    found(
        deleted.await,
        DeleteFunctionError::is_resource_not_found_exception,
    )
    .aws_context("DeleteFunction")?;
    Ok(())
}

/// The suffixes of the stacks whose function is in this account and region, by its tags.
pub async fn list(aws: &Clients, t: &Target) -> Result<Vec<String>> {
    let mut found_fns = Vec::new();
    let mut pages = aws.lambda.list_functions().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.aws_context("ListFunctions")?;
        found_fns.extend(
            page.functions()
                .iter()
                .filter_map(|f| Some((f.function_name()?, f.function_arn()?)))
                .filter(|(n, _)| n.starts_with(FUNCTION_PREFIX))
                .map(|(n, a)| (n.to_string(), a.to_string())),
        );
    }
    let mut out = Vec::new();
    for (name, arn) in found_fns {
        let read = aws.lambda.list_tags().resource(arn).send().await;
        // Gone since it was listed: not a stack to report.
        let Some(tags) = found(read, ListTagsError::is_resource_not_found_exception)
            .aws_context("ListTags")
            .with_context(|| format!("reading the tags of function {name}"))?
        else {
            continue;
        };
        let tags = tags.tags.unwrap_or_default();
        let suffix = tags::suffix_of(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        out.extend(tags::listed(Kind::Function, t, &name, suffix));
    }
    Ok(out)
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
            invoke: Some(InvokeConfig {
                retry_attempts: Some(2),
                max_event_age_s: Some(21600),
                on_failure: Some(s.queue_arn.clone()),
            }),
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
        let fields: Vec<_> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            ["runtime", "memory_mb", "environment", "code_sha256"]
        );
        assert_eq!(d[0], Drift::new(Field::Runtime, RUNTIME, "python3.8"));
        assert_eq!(d[1], Drift::new(Field::MemoryMb, "128", "512"));
    }

    #[test]
    fn the_async_invoke_config_drifts_by_setting() {
        let s = stack();
        let mut o = good(&s);
        o.invoke = None;
        let d = diff(&s, &o);
        let fields: Vec<_> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "retry_attempts",
                "max_event_age_s",
                "on_failure_destination"
            ]
        );
        assert_eq!(d[0], Drift::new(Field::RetryAttempts, "2", "not set"));
        o.invoke = Some(InvokeConfig {
            retry_attempts: Some(0),
            max_event_age_s: Some(21600),
            on_failure: Some(s.queue_arn.clone()),
        });
        assert_eq!(
            diff(&s, &o),
            vec![Drift::new(Field::RetryAttempts, "2", "0")]
        );
        let mut fewer = s.clone();
        fewer.retry_attempts = 0;
        assert!(diff(&fewer, &o).is_empty());
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
