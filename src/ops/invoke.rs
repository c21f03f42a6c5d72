//! Running the deployed function once, synchronously (`invoke`, `redrive`), for as long as
//! the deployed function may run. The function itself is `resource::function`'s.

use crate::aws::Clients;
use crate::error::AwsContext;
use crate::resource::retry::Backoff;
use crate::spec::Stack;
use anyhow::Result;
use aws_sdk_lambda::primitives::Blob;
use std::time::Duration;

/// What a synchronous invocation answered.
#[derive(Debug, Clone)]
pub struct Invoked {
    pub status: i32,
    /// `Unhandled` (or `Handled`) when the function failed; its payload then says why.
    pub function_error: Option<String>,
    pub payload: Vec<u8>,
    /// The last 4 KB of the invocation's log (`LogType=Tail`, base64-decoded).
    pub log_tail: String,
}

/// The function is missing: the stack is not deployed (or not here).
fn not_deployed(s: &Stack) -> anyhow::Error {
    anyhow::anyhow!(
        "function {} does not exist: is the stack deployed? ({})",
        s.function_name,
        s.command("status")
    )
}

/// The deployed function's timeout in seconds (GetFunctionConfiguration): what an invocation
/// may really last, whatever the local settings say now.
pub async fn deployed_timeout(aws: &Clients, s: &Stack) -> Result<i32> {
    let out = aws
        .lambda
        .get_function_configuration()
        .function_name(&s.function_name)
        .send()
        .await;
    match out {
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Err(not_deployed(s))
        }
        other => Ok(other
            .aws_context("GetFunctionConfiguration")?
            .timeout()
            .unwrap_or(crate::settings::TIMEOUT_S.1)),
    }
}

/// How long an invocation waits for a function that is not ready (Inactive waking up, an
/// update in progress, throttled).
const NOT_READY_BUDGET: Duration = Duration::from_secs(120);

/// How long to wait for one invocation of a function whose timeout is `timeout_s`: that plus a
/// margin for the call itself.
pub fn invoke_budget(timeout_s: i32) -> Duration {
    Duration::from_secs(u64::try_from(timeout_s).unwrap_or(900) + 30)
}

/// Runs the function once, synchronously (`RequestResponse`, `LogType=Tail`), on `payload`.
/// Not retried (the function has side effects); the call may last as long as the deployed
/// function's timeout (`timeout_s`), so its own timeouts are that plus a margin.
pub async fn invoke(aws: &Clients, s: &Stack, timeout_s: i32, payload: Vec<u8>) -> Result<Invoked> {
    invoke_with(aws, s, timeout_s, payload, |_| {}).await
}

/// [`invoke`], telling `waiting` why it waits while the function is not ready (Inactive
/// waking up, an update in progress, throttled).
pub async fn invoke_with(
    aws: &Clients,
    s: &Stack,
    timeout_s: i32,
    payload: Vec<u8>,
    waiting: impl Fn(&str),
) -> Result<Invoked> {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_sdk_lambda::types::{InvocationType, LogType};
    use base64::Engine;
    let budget = invoke_budget(timeout_s);
    let overrides = aws_sdk_lambda::config::Builder::default()
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(budget)
                .operation_attempt_timeout(budget)
                .operation_timeout(budget)
                .build(),
        );
    // Lambda refuses an invocation before running it while the function is not ready: an
    // Inactive function's invocation fails and makes it Pending until its resources are back
    // (Lambda developer guide, "Lambda function states"; aws-cdk#22612 waits the same way), an
    // update in progress or Pending answers ResourceConflictException, a throttle
    // TooManyRequestsException. Those are retried with backoff; nothing ran, so nothing runs
    // twice.
    let mut backoff = Backoff::new(NOT_READY_BUDGET);
    let out = loop {
        let sent = aws
            .lambda
            .invoke()
            .function_name(&s.function_name)
            .invocation_type(InvocationType::RequestResponse)
            .log_type(LogType::Tail)
            .payload(Blob::new(payload.clone()))
            .customize()
            .config_override(overrides.clone())
            .send()
            .await;
        match sent {
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Err(not_deployed(s));
            }
            Err(e)
                if e.as_service_error().is_some_and(|e| {
                    e.is_resource_conflict_exception() || e.is_too_many_requests_exception()
                }) =>
            {
                let why = if e
                    .as_service_error()
                    .is_some_and(|e| e.is_too_many_requests_exception())
                {
                    "throttled (TooManyRequestsException)"
                } else {
                    "not ready (ResourceConflictException: starting or updating)"
                };
                waiting(&format!("function {} {why}: waiting", s.function_name));
                if !backoff.wait().await {
                    return Err(anyhow::Error::new(crate::error::AwsError::new(e))
                        .context(format!("Invoke: function {} still {why}", s.function_name)));
                }
                tracing::debug!("function {} not ready to invoke: retrying", s.function_name);
            }
            other => break other.aws_context("Invoke")?,
        }
    };
    let log_tail = out
        .log_result()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Ok(Invoked {
        status: out.status_code(),
        function_error: out.function_error().map(str::to_string),
        payload: out
            .payload()
            .map(|p| p.as_ref().to_vec())
            .unwrap_or_default(),
        log_tail,
    })
}

/// The object `key` of the stack's bucket (ListObjectsV2 from that key, one entry: exactly it
/// or not there), for `invoke --key`: `None` when the bucket has no such object.
pub async fn object(
    aws: &Clients,
    s: &Stack,
    key: &str,
) -> Result<Option<crate::ops::inspect::Object>> {
    let out = aws
        .s3
        .list_objects_v2()
        .bucket(&s.bucket_name)
        .expected_bucket_owner(&s.target.account)
        .prefix(key)
        .max_keys(1)
        .send()
        .await
        .aws_context("ListObjectsV2")?;
    Ok(out
        .contents()
        .iter()
        .find(|o| o.key() == Some(key))
        .map(|o| crate::ops::inspect::Object {
            key: key.to_string(),
            size: o.size().unwrap_or_default(),
            etag: o.e_tag().map(|e| e.trim_matches('"').to_string()),
            time_ms: o
                .last_modified()
                .and_then(|t| t.to_millis().ok())
                .unwrap_or_default(),
        }))
}
