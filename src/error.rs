//! Errors as the user reads them: one line, `what failed: Code: message`, never a debug dump.
//! A leaf: every other module may use it, it uses none of them.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::{ErrorMetadata, ProvideErrorMetadata};
use std::error::Error as StdError;
use std::fmt;

/// An error and its causes on one line: `what failed: why: root cause`.
pub fn one_line(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

pub fn one_line_anyhow(e: &anyhow::Error) -> String {
    one_line(e.as_ref())
}

/// An AWS call that failed. A service's answer reads `Code: message`; anything else (no
/// connection, a timeout) reads as the SDK's error chain on one line. The code stays
/// available to retry predicates through [`ProvideErrorMetadata`].
#[derive(Debug)]
pub struct AwsError {
    meta: ErrorMetadata,
    /// How a failure without a service answer reads.
    other: Option<String>,
}

impl AwsError {
    pub fn new<E, R>(e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        let meta = e.meta().clone();
        let other = match (&e, meta.code()) {
            (SdkError::ServiceError(_), Some(_)) => None,
            _ => Some(one_line(&e)),
        };
        AwsError { meta, other }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.other, self.meta.code(), self.meta.message()) {
            (Some(other), _, _) => f.write_str(other),
            (None, Some(code), Some(msg)) if !msg.is_empty() => write!(f, "{code}: {msg}"),
            (None, Some(code), _) => f.write_str(code),
            (None, None, _) => f.write_str("unknown AWS error"),
        }
    }
}

impl StdError for AwsError {}

impl ProvideErrorMetadata for AwsError {
    fn meta(&self) -> &ErrorMetadata {
        &self.meta
    }
}

/// The AWS error behind an `anyhow` error, if one is.
pub fn aws(e: &anyhow::Error) -> Option<&AwsError> {
    e.downcast_ref::<AwsError>()
}

/// `.aws_context("Operation")` on an SDK call's result: the error becomes
/// `Operation: Code: message`.
pub trait AwsContext<T> {
    fn aws_context(self, operation: &'static str) -> anyhow::Result<T>;
}

impl<T, E, R> AwsContext<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    fn aws_context(self, operation: &'static str) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::new(AwsError::new(e)).context(operation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Inner;
    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "connection\nrefused")
        }
    }
    impl StdError for Inner {}

    #[test]
    fn errors_fit_one_line() {
        let e = anyhow::Error::new(Inner).context("GetRole");
        assert_eq!(one_line_anyhow(&e), "GetRole: connection refused");
    }

    #[derive(Debug)]
    struct Service(ErrorMetadata);
    impl fmt::Display for Service {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "unhandled error ({:?})", self.0.code())
        }
    }
    impl StdError for Service {}
    impl ProvideErrorMetadata for Service {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    #[test]
    fn service_errors_read_code_colon_message() {
        let meta = ErrorMetadata::builder()
            .code("NoSuchBucket")
            .message("The specified bucket\ndoes not exist")
            .build();
        let sdk: SdkError<Service, ()> = SdkError::service_error(Service(meta), ());
        let e = Err::<(), _>(sdk)
            .aws_context("PutBucketPolicy")
            .unwrap_err();
        assert_eq!(
            one_line_anyhow(&e),
            "PutBucketPolicy: NoSuchBucket: The specified bucket does not exist"
        );
        assert_eq!(aws(&e).and_then(|a| a.code()), Some("NoSuchBucket"));
        let sdk: SdkError<Service, ()> = SdkError::timeout_error("no answer");
        let e = Err::<(), _>(sdk).aws_context("GetRole").unwrap_err();
        assert_eq!(
            one_line_anyhow(&e),
            "GetRole: request has timed out: no answer"
        );
    }
}
