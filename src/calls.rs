//! `-v`: one debug line per AWS call (service, operation, HTTP status, attempts' total time),
//! from an SDK interceptor. Only the operation's metadata is read: never a header, a body or
//! a credential.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::time::Instant;

/// The tracing target of the call lines (`RUST_LOG=tapctl::calls=debug` shows only them).
pub const TARGET: &str = "tapctl::calls";

#[derive(Debug, Default, Clone, Copy)]
pub struct CallLog;

/// The service as IAM and the request log name it (`CloudWatch Logs` → `logs`), so a `-v` line
/// reads like the action docs/deployer-policy.json grants.
pub fn iam_prefix(sdk_service: &str) -> String {
    match sdk_service {
        "CloudWatch Logs" => "logs".to_string(),
        other => other.to_ascii_lowercase().replace(' ', "-"),
    }
}

#[derive(Debug, Clone)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "tapctl::CallLog"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let ms = cfg
            .load::<Started>()
            .map(|s| s.0.elapsed().as_secs_f64() * 1000.0)
            .unwrap_or_default();
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (iam_prefix(m.service()), m.name().to_string()))
            .unwrap_or_else(|| ("?".into(), "?".into()));
        let status = context.response().map(|r| r.status().as_u16());
        let outcome = match context.output_or_error() {
            Some(Ok(_)) => "ok",
            Some(Err(_)) => "error",
            None => "none",
        };
        tracing::debug!(
            target: TARGET,
            service = %service,
            operation = %operation,
            status = status.unwrap_or(0),
            outcome,
            ms = format!("{ms:.1}"),
            "aws call"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn services_read_like_iam_prefixes() {
        for (sdk, iam) in [
            ("CloudWatch Logs", "logs"),
            ("DynamoDB", "dynamodb"),
            ("S3", "s3"),
            ("STS", "sts"),
            ("IAM", "iam"),
            ("Lambda", "lambda"),
        ] {
            assert_eq!(super::iam_prefix(sdk), iam);
        }
    }
}
