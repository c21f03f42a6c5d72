//! The Lambda function: python, its settings (runtime, architecture, memory, timeout, log
//! level) from the stack's settings, the handler embedded at build time or a folder zipped at
//! run time, with the table name and log level in its environment.
//!
//! A function idle long enough is `Inactive` (Lambda developer guide, "Lambda function
//! states"): updatable, and ready once an update succeeded. One whose creation or last
//! update failed is drift with Lambda's reason (`state`), which `up` repairs by updating its
//! configuration again; never "in sync".
//!
//! Its async invoke config (retries, maximum event age, the failure queue as on-failure
//! destination) is part of it.

use super::layer;
use super::retry::{Backoff, is_transient, poll, retry_on};
use super::sdk::{
    self, found, lambda::DESTINATION_PENDING, lambda::busy, lambda::transient,
    lambda::upload_override,
};
use super::state::{Ctx, Drift, Field, Kind, State, met_meanwhile};
use super::tags;
use crate::aws::Clients;
use crate::error::AwsContext;
use crate::spec::{Code, FUNCTION_PREFIX, HANDLER, Stack, Target};
use anyhow::{Context, Result, bail};
use aws_sdk_lambda::operation::{
    delete_function::DeleteFunctionError, get_function::GetFunctionError,
    get_function::GetFunctionOutput,
    get_function_event_invoke_config::GetFunctionEventInvokeConfigError, list_tags::ListTagsError,
};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, DestinationConfig, Environment, FunctionCode, FunctionConfiguration,
    LastUpdateStatus, OnFailure, Runtime, State as FnState,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The deployment zip, built byte-stable from `handler/` by build.rs.
pub const CODE_ZIP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/handler.zip"));
/// base64(sha256(zip)), as Lambda reports it in `CodeSha256`.
pub const CODE_SHA256: &str = include_str!(concat!(env!("OUT_DIR"), "/handler.sha256"));

/// IAM is eventually consistent: a new role is not assumable by Lambda for a few seconds.
/// Terraform retries this for 2 minutes; so does tapctl.
const PROPAGATION_BUDGET: Duration = Duration::from_secs(120);
const READY_BUDGET: Duration = Duration::from_secs(300);

/// The zip and `CodeSha256` of the stack's code.
pub fn code(s: &Stack) -> (&[u8], &str) {
    match &s.settings.code {
        Code::Embedded => (CODE_ZIP, CODE_SHA256),
        Code::Folder { package, .. } => (&package.zip, &package.sha256),
    }
}

fn architecture(s: &Stack) -> Architecture {
    Architecture::from(s.settings.architecture.as_str())
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub runtime: String,
    pub architecture: String,
    pub handler: String,
    pub role: String,
    pub memory: i32,
    pub timeout: i32,
    pub env: BTreeMap<String, String>,
    pub code_sha256: String,
    pub tags: Vec<(String, String)>,
    /// Why Lambda reports the function (or its last update) Failed, if it does.
    pub failed: Option<String>,
    /// The async invoke config; `None` when the function has none (Lambda's defaults apply).
    pub invoke: Option<InvokeConfig>,
    /// The layer version ARNs the function runs with.
    pub layers: Vec<String>,
    /// The versions of the stack's dependency layer, newest first.
    pub layer_versions: Vec<layer::Version>,
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
    if have.retry_attempts != Some(stack.settings.retry_attempts) {
        let h = show(have.retry_attempts.map(|v| v.to_string()));
        drift.push(Drift::new(
            Field::RetryAttempts,
            stack.settings.retry_attempts,
            h,
        ));
    }
    if have.max_event_age_s != Some(stack.settings.max_event_age_s) {
        let h = show(have.max_event_age_s.map(|v| v.to_string()));
        drift.push(Drift::new(
            Field::MaxEventAgeS,
            stack.settings.max_event_age_s,
            h,
        ));
    }
    if have.on_failure.as_deref() != Some(stack.queue_arn.as_str()) {
        let h = show(have.on_failure.clone());
        drift.push(Drift::new(Field::OnFailure, &stack.queue_arn, h));
    }
    drift
}

/// The layers' drift: the function runs with exactly the version holding the handler's
/// dependencies (none without them), and no version of tapctl's is left unused.
fn layer_drift(stack: &Stack, o: &Observed) -> Vec<Drift> {
    let mut drift = Vec::new();
    let key = stack.settings.code.deps().map(|d| d.key.as_str());
    let attached = |v: &layer::Version| o.layers.contains(&v.arn);
    let right = match key {
        None => o.layers.is_empty(),
        Some(k) => {
            o.layers.len() == 1
                && o.layer_versions
                    .iter()
                    .any(|v| attached(v) && v.key.as_deref() == Some(k))
        }
    };
    if !right {
        let want = match key {
            None => "none".to_string(),
            Some(k) => {
                let version = match layer::holding(&o.layer_versions, k) {
                    Some(v) => layer::short(&v.arn).to_string(),
                    None => format!("{} (to publish)", stack.layer_name),
                };
                format!("{version} for requirements {}", &k[..12.min(k.len())])
            }
        };
        let have = if o.layers.is_empty() {
            "none".to_string()
        } else {
            o.layers
                .iter()
                .map(|a| layer::short(a))
                .collect::<Vec<_>>()
                .join(", ")
        };
        drift.push(Drift::new(Field::Layers, want, have));
    }
    let unused: Vec<String> = o
        .layer_versions
        .iter()
        .filter(|v| v.key.is_some() && !attached(v) && v.key.as_deref() != key)
        .map(|v| v.version.to_string())
        .collect();
    if !unused.is_empty() {
        drift.push(Drift::new(
            Field::UnusedLayerVersions,
            "none",
            unused.join(", "),
        ));
    }
    drift
}

/// Settings written by PutFunctionEventInvokeConfig.
const INVOKE_FIELDS: [Field; 3] = [Field::RetryAttempts, Field::MaxEventAgeS, Field::OnFailure];

pub fn diff(stack: &Stack, o: &Observed) -> Vec<Drift> {
    let mut drift = Vec::new();
    let want = &stack.settings;
    if o.runtime != want.runtime {
        drift.push(Drift::new(Field::Runtime, &want.runtime, &o.runtime));
    }
    if o.architecture != want.architecture.as_str() {
        drift.push(Drift::new(
            Field::Architecture,
            want.architecture.as_str(),
            &o.architecture,
        ));
    }
    if o.handler != HANDLER {
        drift.push(Drift::new(Field::Handler, HANDLER, &o.handler));
    }
    if o.role != stack.role_arn {
        drift.push(Drift::new(Field::Role, &stack.role_arn, &o.role));
    }
    if o.memory != want.memory_mb {
        drift.push(Drift::new(Field::MemoryMb, want.memory_mb, o.memory));
    }
    if o.timeout != want.timeout_s {
        drift.push(Drift::new(Field::TimeoutS, want.timeout_s, o.timeout));
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
    let (_, sha) = code(stack);
    if o.code_sha256 != sha {
        drift.push(Drift::new(Field::CodeSha256, sha, &o.code_sha256));
    }
    if let Some(why) = &o.failed {
        drift.push(Drift::new(Field::FunctionState, "Active", why));
    }
    drift.extend(layer_drift(stack, o));
    drift.extend(invoke_drift(stack, o.invoke.as_ref()));
    drift.extend(tags::drift(stack, &o.tags));
    drift
}

/// Why Lambda reports the function, or its last update, Failed; `None` when neither is.
pub fn failure(c: &FunctionConfiguration) -> Option<String> {
    fn why(reason: Option<&str>) -> &str {
        reason
            .filter(|r| !r.is_empty())
            .unwrap_or("no reason given")
    }
    if c.state == Some(FnState::Failed) {
        return Some(format!("Failed: {}", why(c.state_reason())));
    }
    if c.last_update_status == Some(LastUpdateStatus::Failed) {
        return Some(format!(
            "last update Failed: {}",
            why(c.last_update_status_reason())
        ));
    }
    None
}

/// Settings changed by UpdateFunctionConfiguration (which also makes Lambda set up a Failed
/// function again).
const CONFIG_FIELDS: [Field; 8] = [
    Field::Layers,
    Field::Runtime,
    Field::Handler,
    Field::Role,
    Field::MemoryMb,
    Field::TimeoutS,
    Field::Environment,
    Field::FunctionState,
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

/// The tags GetFunction returned. Lambda returns them only to a caller allowed
/// `lambda:ListTags`, and otherwise says so in `TagsError` (Lambda API reference,
/// GetFunction): an error, never a function without tags (which would read as not tapctl's).
pub fn tags_of(s: &Stack, out: &GetFunctionOutput) -> Result<Vec<(String, String)>> {
    if let Some(e) = out.tags_error() {
        let hint = if e.error_code().starts_with("AccessDenied") {
            " (tapctl needs lambda:ListTags)"
        } else {
            ""
        };
        bail!(
            "GetFunction returned no tags of {}: {}: {}{hint}",
            s.function_name,
            e.error_code(),
            e.message().split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    let tags = out.tags().into_iter().flatten();
    Ok(tags.map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// GetFunctionEventInvokeConfig; `None` when the function has none (or is gone).
pub async fn get_invoke_config(aws: &Clients, s: &Stack) -> Result<Option<InvokeConfig>> {
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
    // The reads at once: one round trip.
    let (out, invoke, versions) = tokio::join!(
        get(&ctx.aws, s),
        get_invoke_config(&ctx.aws, s),
        layer::list(&ctx.aws, s)
    );
    let Some(out) = out? else {
        return Ok(State::Missing);
    };
    let tags = tags_of(s, &out)?;
    let c = out
        .configuration
        .context("GetFunction returned no configuration")?;
    let failed = failure(&c);
    let layers = c.layers().iter().filter_map(|l| l.arn.clone()).collect();
    let observed = Observed {
        layers,
        failed,
        runtime: c
            .runtime
            .as_ref()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        // Lambda's default when none is named is x86_64.
        architecture: c
            .architectures
            .as_deref()
            .and_then(|a| a.first())
            .map_or("x86_64".to_string(), |a| a.as_str().to_string()),
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
        tags,
        invoke: invoke?,
        layer_versions: versions?,
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
        let layer = layer::ensure(&ctx.aws, s).await?;
        let zip = code(s).0;
        let request = lambda
            .create_function()
            .function_name(&s.function_name)
            .runtime(Runtime::from(s.settings.runtime.as_str()))
            .architectures(architecture(s))
            .handler(HANDLER)
            .role(&s.role_arn)
            .memory_size(s.settings.memory_mb)
            .timeout(s.settings.timeout_s)
            .environment(environment(s))
            .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
            .set_layers(Some(layer.iter().cloned().collect()))
            .description("tapctl: logs S3 object events to DynamoDB")
            .set_tags(Some(tags::map(s)));
        let created = retry_on(PROPAGATION_BUDGET, transient, || {
            request
                .clone()
                .customize()
                .config_override(upload_override(zip.len()))
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
                wait_ready(&ctx.aws, s, Before::Update).await?;
                return Err(met_meanwhile());
            }
            Err(e) => return Err(e).aws_context("CreateFunction"),
        }
        wait_ready(&ctx.aws, s, Before::Use).await?;
        layer::prune(&ctx.aws, s, deps_key(s)).await?;
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
    // Published before the update names it; unchanged layers are left out of the update.
    let layers = if state.drifted(Field::Layers) {
        Some(layer::ensure(&ctx.aws, s).await?.into_iter().collect())
    } else {
        None
    };
    if reconfigure {
        wait_ready(&ctx.aws, s, Before::Update).await?;
        retry_on(PROPAGATION_BUDGET, busy, || {
            lambda
                .update_function_configuration()
                .function_name(&s.function_name)
                .runtime(Runtime::from(s.settings.runtime.as_str()))
                .handler(HANDLER)
                .role(&s.role_arn)
                .memory_size(s.settings.memory_mb)
                .timeout(s.settings.timeout_s)
                .environment(environment(s))
                .set_layers(layers.clone())
                .send()
        })
        .await
        .aws_context("UpdateFunctionConfiguration")?;
    }
    // The architecture is set with the code (UpdateFunctionCode `Architectures`).
    let new_code = state.drifted(Field::CodeSha256) || state.drifted(Field::Architecture);
    if new_code {
        // A code-only change needs no wait before: the observe just saw the function.
        if reconfigure {
            wait_ready(&ctx.aws, s, Before::Update).await?;
        }
        put_code(&ctx.aws, s).await?;
    }
    if new_code {
        wait_code_live(&ctx.aws, s).await?;
    } else if reconfigure {
        wait_ready(&ctx.aws, s, Before::Use).await?;
    }
    // Once the function moved off them.
    if state.drifted(Field::Layers) || state.drifted(Field::UnusedLayerVersions) {
        layer::prune(&ctx.aws, s, deps_key(s)).await?;
    }
    if INVOKE_FIELDS.iter().any(|f| state.drifted(*f)) {
        put_invoke_config(ctx).await?;
    }
    Ok(())
}

/// The content key of the stack's dependency layer, if it has one.
fn deps_key(s: &Stack) -> Option<&str> {
    s.settings.code.deps().map(|d| d.key.as_str())
}

/// Points the function at the version holding the stack's dependencies (published first when
/// none does), waits until that is live, and deletes the versions it moved off: what `watch`
/// does when `requirements.txt` changes. Returns how long it took.
pub async fn deploy_layers(aws: &Clients, s: &Stack) -> Result<Duration> {
    let start = Instant::now();
    let layers: Vec<String> = layer::ensure(aws, s).await?.into_iter().collect();
    wait_ready(aws, s, Before::Update).await?;
    retry_on(PROPAGATION_BUDGET, busy, || {
        aws.lambda
            .update_function_configuration()
            .function_name(&s.function_name)
            .set_layers(Some(layers.clone()))
            .send()
    })
    .await
    .aws_context("UpdateFunctionConfiguration")?;
    wait_code_live(aws, s).await?;
    layer::prune(aws, s, deps_key(s)).await?;
    Ok(start.elapsed())
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
            .maximum_retry_attempts(s.settings.retry_attempts)
            .maximum_event_age_in_seconds(s.settings.max_event_age_s)
            .destination_config(destination.clone())
            .send()
    })
    .await
    .aws_context("PutFunctionEventInvokeConfig")?;
    Ok(())
}

/// What a wait for the function precedes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// An update: a Failed function is what the update repairs.
    Update,
    /// Use: the function must have come up.
    Use,
}

/// Whether the function is ready for what comes next: no longer Pending and no update in
/// progress; `Inactive` counts (updates are allowed, and an idle function is a working one).
/// Before use, a failed create or update is an error with Lambda's reason.
fn ready(c: &FunctionConfiguration, name: &str, next: Before) -> Result<bool> {
    if next == Before::Use
        && let Some(why) = failure(c)
    {
        bail!("function {name} did not come up: {why}");
    }
    Ok(c.state != Some(FnState::Pending)
        && c.last_update_status != Some(LastUpdateStatus::InProgress))
}

/// UpdateFunctionCode with the stack's code and architecture (retried while another update is
/// in progress).
async fn put_code(aws: &Clients, s: &Stack) -> Result<()> {
    let zip = Blob::new(code(s).0);
    retry_on(PROPAGATION_BUDGET, busy, || {
        aws.lambda
            .update_function_code()
            .function_name(&s.function_name)
            .architectures(architecture(s))
            .zip_file(zip.clone())
            .customize()
            .config_override(upload_override(code(s).0.len()))
            .send()
    })
    .await
    .aws_context("UpdateFunctionCode")?;
    Ok(())
}

/// Deploys the stack's code to its existing function (what `watch` does on a save) and returns
/// once the new code is live (the update finished), with how long that took.
pub async fn deploy_code(aws: &Clients, s: &Stack) -> Result<Duration> {
    let start = Instant::now();
    put_code(aws, s).await?;
    wait_code_live(aws, s).await?;
    Ok(start.elapsed())
}

/// Waits until the function is [`ready`] for what comes next. (The SDK's waiters start at
/// 1 s and grow to minutes.)
async fn wait_ready(aws: &Clients, s: &Stack, next: Before) -> Result<()> {
    poll_ready(aws, s, Backoff::new(READY_BUDGET), next).await
}

/// [`wait_ready`] after a code update, polled at most 200 ms apart: a code-only deploy is the
/// edit loop's critical path and the update itself takes a second or two.
async fn wait_code_live(aws: &Clients, s: &Stack) -> Result<()> {
    let backoff = Backoff::between(
        Duration::from_millis(100),
        Duration::from_millis(200),
        READY_BUDGET,
    );
    poll_ready(aws, s, backoff, Before::Use).await
}

async fn poll_ready(aws: &Clients, s: &Stack, backoff: Backoff, next: Before) -> Result<()> {
    let ready = poll(backoff, || async {
        let c = aws
            .lambda
            .get_function_configuration()
            .function_name(&s.function_name)
            .send()
            .await
            .aws_context("GetFunctionConfiguration")?;
        let c = FunctionConfiguration::builder()
            .set_state(c.state)
            .set_state_reason(c.state_reason)
            .set_last_update_status(c.last_update_status)
            .set_last_update_status_reason(c.last_update_status_reason)
            .build();
        Ok(ready(&c, &s.function_name, next)?.then_some(()))
    })
    .await?;
    if ready.is_none() {
        bail!(
            "gave up after {}s waiting for function {} to be Active",
            READY_BUDGET.as_secs(),
            s.function_name
        );
    }
    Ok(())
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
    // Its dependency layer goes with it.
    layer::prune(&ctx.aws, s, None).await?;
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
        let pairs = tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        out.extend(tags::stack_of(Kind::Function, t, &name, pairs));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_stack as stack;
    const RUNTIME: &str = crate::settings::RUNTIME;
    const MEMORY_MB: i32 = 128;
    const TIMEOUT_SECONDS: i32 = 30;

    #[test]
    fn a_tags_error_is_an_error_that_names_the_permission() {
        use aws_sdk_lambda::types::TagsError;
        let s = stack();
        let tagged = GetFunctionOutput::builder().tags("k", "v").build();
        assert_eq!(tags_of(&s, &tagged).unwrap(), [("k".into(), "v".into())]);
        let denied = GetFunctionOutput::builder()
            .tags_error(
                TagsError::builder()
                    .error_code("AccessDeniedException")
                    .message("User: u is not authorized\nto perform: lambda:ListTags")
                    .build()
                    .unwrap(),
            )
            .build();
        assert_eq!(
            tags_of(&s, &denied).unwrap_err().to_string(),
            format!(
                "GetFunction returned no tags of {}: AccessDeniedException: User: u is not authorized \
                 to perform: lambda:ListTags (tapctl needs lambda:ListTags)",
                s.function_name
            )
        );
    }

    fn good(s: &Stack) -> Observed {
        Observed {
            runtime: RUNTIME.into(),
            architecture: "x86_64".into(),
            handler: HANDLER.into(),
            role: s.role_arn.clone(),
            memory: MEMORY_MB,
            timeout: TIMEOUT_SECONDS,
            env: s.function_env().into_iter().collect(),
            code_sha256: CODE_SHA256.into(),
            tags: s.tags(),
            failed: None,
            invoke: Some(InvokeConfig {
                retry_attempts: Some(2),
                max_event_age_s: Some(21600),
                on_failure: Some(s.queue_arn.clone()),
            }),
            layers: Vec::new(),
            layer_versions: Vec::new(),
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
    fn a_failed_function_is_drift_with_its_reason_and_inactive_is_ready() {
        let s = stack();
        let failed = FunctionConfiguration::builder()
            .state(FnState::Failed)
            .state_reason("Lambda could not set up the function.")
            .build();
        let mut o = good(&s);
        o.failed = failure(&failed);
        assert_eq!(
            diff(&s, &o),
            vec![Drift::new(
                Field::FunctionState,
                "Active",
                "Failed: Lambda could not set up the function."
            )]
        );
        let update = FunctionConfiguration::builder()
            .state(FnState::Active)
            .last_update_status(LastUpdateStatus::Failed)
            .last_update_status_reason("bad zip")
            .build();
        assert_eq!(
            failure(&update).as_deref(),
            Some("last update Failed: bad zip")
        );
        // Before an update a Failed function is ready (the update repairs it); before use not.
        assert!(ready(&failed, "f", Before::Update).unwrap());
        let err = ready(&update, "f", Before::Use).unwrap_err().to_string();
        assert_eq!(
            err,
            "function f did not come up: last update Failed: bad zip"
        );
        let inactive = FunctionConfiguration::builder()
            .state(FnState::Inactive)
            .last_update_status(LastUpdateStatus::Successful)
            .build();
        assert!(ready(&inactive, "f", Before::Use).unwrap());
        let pending = FunctionConfiguration::builder()
            .state(FnState::Pending)
            .build();
        assert!(!ready(&pending, "f", Before::Update).unwrap());
        let updating = FunctionConfiguration::builder()
            .state(FnState::Inactive)
            .last_update_status(LastUpdateStatus::InProgress)
            .build();
        assert!(!ready(&updating, "f", Before::Use).unwrap());
    }

    #[test]
    fn drift_is_relative_to_the_settings() {
        use crate::package::Package;
        use crate::settings::Architecture;
        let mut s = stack();
        let mut o = good(&s);
        s.settings.memory_mb = 256;
        s.settings.log_level = "DEBUG".into();
        s.settings.architecture = Architecture::Arm64;
        let files = BTreeMap::from([("index.py".to_string(), b"x = 1\n".to_vec())]);
        let package = Package::new(&files).unwrap();
        s.settings.code = Code::Folder {
            path: "h".into(),
            package: std::sync::Arc::new(package.clone()),
            exclude: Default::default(),
            deps: None,
        };
        let fields: Vec<_> = diff(&s, &o).iter().map(|d| d.field.as_str()).collect();
        assert_eq!(
            fields,
            ["architecture", "memory_mb", "environment", "code_sha256"]
        );
        assert_eq!(code(&s), (&package.zip[..], package.sha256.as_str()));
        o.architecture = "arm64".into();
        o.memory = 256;
        o.env = s.function_env().into_iter().collect();
        o.code_sha256 = package.sha256.clone();
        assert!(diff(&s, &o).is_empty());
        assert_eq!(o.env["LOG_LEVEL"], "DEBUG");
    }

    #[test]
    fn the_layers_drift_until_exactly_the_dependency_version_runs() {
        use crate::python::{Deps, Platform};
        let mut s = stack();
        let version = |n: i64, key: Option<&str>| layer::Version {
            arn: format!("{}:{n}", s.layer_arn),
            version: n,
            key: key.map(String::from),
        };
        let mut o = good(&s);
        // No requirements: no layers, no versions of tapctl's (someone else's stay).
        o.layer_versions = vec![version(3, None)];
        assert!(diff(&s, &o).is_empty());
        o.layer_versions = vec![version(2, Some("old")), version(3, None)];
        assert_eq!(
            diff(&s, &o),
            vec![Drift::new(Field::UnusedLayerVersions, "none", "2")]
        );
        let deps = Deps {
            requirements: "h/requirements.txt".into(),
            platform: Platform::new("python3.13", "x86_64"),
            key: "abcdef0123456789".into(),
            layer: None,
            installed: None,
        };
        let files = BTreeMap::from([("index.py".to_string(), b"x = 1\n".to_vec())]);
        let package = crate::package::Package::new(&files).unwrap();
        o.code_sha256 = package.sha256.clone();
        s.settings.code = Code::Folder {
            path: "h".into(),
            package: std::sync::Arc::new(package),
            exclude: Default::default(),
            deps: Some(std::sync::Arc::new(deps)),
        };
        let name = &s.layer_name;
        // Not yet published: to publish; the old version is unused.
        assert_eq!(
            diff(&s, &o),
            vec![
                Drift::new(
                    Field::Layers,
                    format!("{name} (to publish) for requirements abcdef012345"),
                    "none"
                ),
                Drift::new(Field::UnusedLayerVersions, "none", "2"),
            ]
        );
        // Published (4) but the function runs the old one and a layer of someone else's.
        o.layer_versions
            .insert(0, version(4, Some("abcdef0123456789")));
        o.layers = vec![
            format!("{}:2", s.layer_arn),
            "arn:aws:lambda:r:1:layer:x:1".into(),
        ];
        assert_eq!(
            diff(&s, &o),
            vec![Drift::new(
                Field::Layers,
                format!("{name}:4 for requirements abcdef012345"),
                format!("{name}:2, x:1")
            )]
        );
        o.layers = vec![format!("{}:4", s.layer_arn)];
        o.layer_versions.retain(|v| v.version != 2);
        assert!(diff(&s, &o).is_empty());
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
        fewer.settings.retry_attempts = 0;
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
        let package = crate::package::Package::from_zip(CODE_ZIP.to_vec()).unwrap();
        assert!(!package.names().iter().any(|n| n.starts_with("tests/")));
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(CODE_ZIP)).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("index.py").unwrap(), &mut text).unwrap();
        assert!(text.contains("def lambda_handler"));
    }
}
