//! How tapctl reads the SDK's errors, in one place. A resource that is not there is a value,
//! not an error ([`found`]). Where the SDK models an error, the resource files name it by its
//! typed predicate (`GetRoleError::is_no_such_entity_exception`); the codes it does not model
//! are named here, per service, as constants ([`code`] turns one into a predicate). Each
//! service also has one table of [`super::retry::Transient`] answers its writes retry (as
//! terraform-provider-aws's `retryFunctionOp` does for Lambda), and [`write`] runs a write
//! with its service's table.

use super::retry::retry_on;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::future::Future;
use std::time::Duration;

/// How long a write keeps retrying its service's transient answers (terraform's propagation
/// timeout). Calls with a budget of their own pass it to [`retry_on`] instead.
pub const WRITE_BUDGET: Duration = Duration::from_secs(120);

/// `Ok(None)` when the call failed with the error `missing` names (the resource is not
/// there), `Ok(Some(answer))` when it succeeded; other errors stay errors.
pub fn found<T, E, R>(
    r: Result<T, SdkError<E, R>>,
    missing: impl FnOnce(&E) -> bool,
) -> Result<Option<T>, SdkError<E, R>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.as_service_error().is_some_and(missing) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A predicate for an error code the SDK does not model.
pub fn code<E: ProvideErrorMetadata>(code: &'static str) -> impl Fn(&E) -> bool {
    move |e: &E| e.code() == Some(code)
}

/// Whether any error (an SDK error, or an [`crate::error::AwsError`]) carries `code`.
pub fn has_code<E: ProvideErrorMetadata + ?Sized>(e: &E, code: &str) -> bool {
    e.code() == Some(code)
}

/// Runs one write, retrying the transient answers `retryable` names within [`WRITE_BUDGET`].
pub async fn write<T, E, F, Fut>(retryable: impl Fn(&E) -> bool, op: F) -> Result<T, E>
where
    E: crate::resource::retry::Answer,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_on(WRITE_BUDGET, retryable, op).await
}

/// S3: most of its errors are unmodelled codes.
pub mod s3 {
    use crate::resource::retry::{Transient, is_transient};
    use crate::resource::sdk::has_code;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;

    pub const NO_SUCH_BUCKET: &str = "NoSuchBucket";
    pub const NO_SUCH_TAG_SET: &str = "NoSuchTagSet";
    pub const NO_SUCH_PUBLIC_ACCESS_BLOCK: &str = "NoSuchPublicAccessBlockConfiguration";
    pub const NO_SUCH_ENCRYPTION: &str = "ServerSideEncryptionConfigurationNotFoundError";
    pub const NO_SUCH_BUCKET_POLICY: &str = "NoSuchBucketPolicy";
    pub const NO_SUCH_OWNERSHIP_CONTROLS: &str = "OwnershipControlsNotFoundError";
    pub const NO_SUCH_UPLOAD: &str = "NoSuchUpload";
    pub const BUCKET_NOT_EMPTY: &str = "BucketNotEmpty";
    pub const INVALID_ARGUMENT: &str = "InvalidArgument";
    pub const OPERATION_ABORTED: &str = "OperationAborted";
    pub const NO_SUCH_VERSION: &str = "NoSuchVersion";
    pub const SLOW_DOWN: &str = "SlowDown";
    pub const INTERNAL_ERROR: &str = "InternalError";
    pub const ACCESS_DENIED: &str = "AccessDenied";
    /// The header S3 names a bucket's region in (HeadBucket, and redirects).
    pub const BUCKET_REGION_HEADER: &str = "x-amz-bucket-region";
    /// The message fragment of a destination S3 could not validate.
    pub const UNABLE_TO_VALIDATE: &str = "Unable to validate";

    /// What S3 writes retry.
    pub const TRANSIENT: &[Transient] = &[
        // PutBucketNotificationConfiguration validates the destination against the function's
        // policy, which can lag the AddPermission that just returned.
        Transient::with_message(INVALID_ARGUMENT, UNABLE_TO_VALIDATE),
        // Overlapping writes of one bucket's configuration (S3 API reference, "Error
        // responses": 409 "A conflicting conditional operation is currently in progress";
        // terraform-provider-aws #7628 retries it on every bucket call).
        Transient::code(OPERATION_ABORTED),
    ];

    pub fn transient<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        is_transient(TRANSIENT, e)
    }

    /// The per-call timeouts of an upload of a `zip_len`-byte zip (CreateFunction,
    /// UpdateFunctionCode, PublishLayerVersion): scaled to its request body.
    pub fn upload_override(zip_len: usize) -> aws_sdk_lambda::config::Builder {
        let body = crate::package::request_bytes(zip_len);
        aws_sdk_lambda::config::Builder::default().timeout_config(crate::aws::upload_timeouts(body))
    }

    /// What a bucket-level call retries right after tapctl's own CreateBucket: bucket
    /// configurations are eventually consistent (S3 user guide, "Amazon S3 data consistency
    /// model"), so the new bucket may answer `NoSuchBucket` for a moment.
    pub fn settling<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        transient(e) || no_such_bucket(e)
    }

    /// What a bucket-level write retries: S3's transient answers and, on a bucket tapctl has
    /// just created (`fresh`), `NoSuchBucket` too.
    pub fn retryable<E: ProvideErrorMetadata>(fresh: bool) -> impl Fn(&E) -> bool {
        move |e: &E| if fresh { settling(e) } else { transient(e) }
    }

    /// A per-key DeleteObjects error worth resubmitting the key for (S3 under load).
    pub fn retry_key(code: &str) -> bool {
        matches!(code, SLOW_DOWN | INTERNAL_ERROR)
    }

    pub fn no_such_bucket<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        has_code(e, NO_SUCH_BUCKET)
    }

    /// The HTTP status of a failed call (HeadBucket answers without a body, so without a code).
    pub fn status<E>(e: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> Option<u16> {
        e.raw_response().map(|r| r.status().as_u16())
    }
}

/// DynamoDB.
pub mod dynamodb {
    use crate::resource::retry::{Transient, is_transient};
    use crate::resource::sdk::has_code;
    use aws_sdk_dynamodb::operation::update_table::UpdateTableError;
    use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
    use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
    use aws_smithy_runtime_api::client::retries::classifiers::{
        ClassifyRetry, RetryAction, RetryClassifierPriority,
    };
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;

    pub const CONTINUOUS_BACKUPS_UNAVAILABLE: &str = "ContinuousBackupsUnavailableException";
    pub const RESOURCE_IN_USE: &str = "ResourceInUseException";
    pub const LIMIT_EXCEEDED: &str = "LimitExceededException";
    /// The message fragment of the limit on switches to on-demand: "Subscriber limit
    /// exceeded: Update to PayPerRequest mode are limited to ..." (other LimitExceeded
    /// answers, e.g. too many table operations at once, pass).
    pub const ON_DEMAND_SWITCHES: &str = "PayPerRequest";

    /// What DynamoDB writes retry.
    pub const TRANSIENT: &[Transient] = &[
        // UpdateContinuousBackups on a new table, even once ACTIVE: "Backups are being enabled".
        Transient::code(CONTINUOUS_BACKUPS_UNAVAILABLE),
    ];

    pub fn transient<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        is_transient(TRANSIENT, e)
    }

    /// The per-call timeouts of an upload of a `zip_len`-byte zip (CreateFunction,
    /// UpdateFunctionCode, PublishLayerVersion): scaled to its request body.
    pub fn upload_override(zip_len: usize) -> aws_sdk_lambda::config::Builder {
        let body = crate::package::request_bytes(zip_len);
        aws_sdk_lambda::config::Builder::default().timeout_config(crate::aws::upload_timeouts(body))
    }

    /// The table is being created, updated or deleted.
    pub fn in_use<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        has_code(e, RESOURCE_IN_USE)
    }

    /// The table switched to on-demand as often as DynamoDB allows ("up to four times in a
    /// 24-hour rolling window": developer guide, "Considerations when switching capacity
    /// modes in DynamoDB"): final until the window moves on.
    pub fn on_demand_limit<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        has_code(e, LIMIT_EXCEEDED) && e.message().is_some_and(|m| m.contains(ON_DEMAND_SWITCHES))
    }

    /// A retry classifier for UpdateTable that forbids retrying [`on_demand_limit`]: the
    /// SDK's standard retry counts every `LimitExceededException` as throttling and would
    /// try again, in vain, up to its attempt limit.
    #[derive(Debug)]
    pub struct OnDemandLimitIsFinal;

    impl ClassifyRetry for OnDemandLimitIsFinal {
        fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
            let limited = ctx
                .output_or_error()
                .and_then(|r| r.err())
                .and_then(OrchestratorError::as_operation_error)
                .and_then(|e| e.downcast_ref::<UpdateTableError>())
                .is_some_and(on_demand_limit);
            if limited {
                RetryAction::RetryForbidden
            } else {
                RetryAction::NoActionIndicated
            }
        }

        fn name(&self) -> &'static str {
            "on-demand switch limit is final"
        }

        fn priority(&self) -> RetryClassifierPriority {
            RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
        }
    }
}

/// IAM.
pub mod iam {
    use crate::resource::retry::{Transient, is_transient};
    use crate::resource::sdk::has_code;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;

    pub const NO_SUCH_ENTITY: &str = "NoSuchEntity";
    pub const CONCURRENT_MODIFICATION: &str = "ConcurrentModification";
    pub const DELETE_CONFLICT: &str = "DeleteConflict";

    /// What IAM writes retry: another change of the same role in flight (IAM API reference,
    /// AttachRolePolicy / DetachRolePolicy: `ConcurrentModification`, 409).
    pub const TRANSIENT: &[Transient] = &[Transient::code(CONCURRENT_MODIFICATION)];

    pub fn transient<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        is_transient(TRANSIENT, e)
    }

    /// The per-call timeouts of an upload of a `zip_len`-byte zip (CreateFunction,
    /// UpdateFunctionCode, PublishLayerVersion): scaled to its request body.
    pub fn upload_override(zip_len: usize) -> aws_sdk_lambda::config::Builder {
        let body = crate::package::request_bytes(zip_len);
        aws_sdk_lambda::config::Builder::default().timeout_config(crate::aws::upload_timeouts(body))
    }

    pub fn no_such_entity<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        has_code(e, NO_SUCH_ENTITY)
    }

    /// DeleteRole right after its policies were detached or deleted: IAM has not caught up
    /// ("Changes that I make are not always immediately visible", IAM user guide).
    pub fn delete_conflict<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        transient(e) || has_code(e, DELETE_CONFLICT)
    }
}

/// Lambda.
pub mod lambda {
    use crate::resource::retry::{Transient, is_transient};
    use crate::resource::sdk::has_code;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;

    pub const INVALID_PARAMETER_VALUE: &str = "InvalidParameterValueException";
    pub const RESOURCE_CONFLICT: &str = "ResourceConflictException";

    /// What Lambda writes retry (terraform-provider-aws's `retryFunctionOp`, on
    /// CreateFunction and UpdateFunctionConfiguration): IAM has not propagated a new role yet.
    pub const TRANSIENT: &[Transient] = &[
        // "The role defined for the function cannot be assumed by Lambda."
        Transient::with_message(INVALID_PARAMETER_VALUE, "cannot be assumed"),
        // "The provided execution role does not have permissions to call ..."
        Transient::with_message(
            INVALID_PARAMETER_VALUE,
            "execution role does not have permissions",
        ),
        // A function with environment variables and a young role (terraform-provider-aws
        // #4633): "Lambda was unable to configure access to your environment variables
        // because the KMS key is invalid for CreateGrant. ..."
        Transient::with_message(
            INVALID_PARAMETER_VALUE,
            "KMS key is invalid for CreateGrant",
        ),
    ];

    pub fn transient<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        is_transient(TRANSIENT, e)
    }

    /// The per-call timeouts of an upload of a `zip_len`-byte zip (CreateFunction,
    /// UpdateFunctionCode, PublishLayerVersion): scaled to its request body.
    pub fn upload_override(zip_len: usize) -> aws_sdk_lambda::config::Builder {
        let body = crate::package::request_bytes(zip_len);
        aws_sdk_lambda::config::Builder::default().timeout_config(crate::aws::upload_timeouts(body))
    }

    /// Another update of the function (or of its policy) is in progress.
    pub fn conflict<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        has_code(e, RESOURCE_CONFLICT)
    }

    /// What PutFunctionEventInvokeConfig retries besides [`busy`]: Lambda checks the
    /// destination with the function's role, which may not show a new policy yet
    /// (terraform-provider-aws's `aws_lambda_function_event_invoke_config` retries both for
    /// its IAM propagation timeout).
    pub const DESTINATION_PENDING: &[Transient] = &[
        // "The destination ARN arn:...:sqs:... is invalid."
        Transient::with_message(INVALID_PARAMETER_VALUE, "destination ARN"),
        // "The function's execution role does not have permissions to call SendMessage on ..."
        Transient::with_message(INVALID_PARAMETER_VALUE, "does not have permissions"),
    ];

    /// What an update or a delete of a function retries: a transient answer, or another
    /// update still in progress. (A create must not: there the conflict means "exists".)
    pub fn busy<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        transient(e) || conflict(e)
    }
}

/// SQS (JSON protocol, with the query protocol's error codes in `x-amzn-query-error`).
pub mod sqs {
    use crate::resource::retry::{Transient, is_transient};
    use crate::resource::sdk::has_code;
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;

    /// The queue does not exist: the query-protocol code, and the JSON protocol's own.
    pub const NON_EXISTENT_QUEUE: &str = "AWS.SimpleQueueService.NonExistentQueue";
    pub const QUEUE_DOES_NOT_EXIST: &str = "QueueDoesNotExist";
    /// "You must wait 60 seconds after deleting a queue before you can create another queue
    /// with the same name" (SQS API reference, CreateQueue).
    pub const QUEUE_DELETED_RECENTLY: &str = "AWS.SimpleQueueService.QueueDeletedRecently";
    pub const QUEUE_DELETED_RECENTLY_JSON: &str = "QueueDeletedRecently";

    /// What SQS writes retry: nothing yet (the name hold after a delete has its own budget).
    pub const TRANSIENT: &[Transient] = &[];

    pub fn transient<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        is_transient(TRANSIENT, e)
    }

    /// The per-call timeouts of an upload of a `zip_len`-byte zip (CreateFunction,
    /// UpdateFunctionCode, PublishLayerVersion): scaled to its request body.
    pub fn upload_override(zip_len: usize) -> aws_sdk_lambda::config::Builder {
        let body = crate::package::request_bytes(zip_len);
        aws_sdk_lambda::config::Builder::default().timeout_config(crate::aws::upload_timeouts(body))
    }

    pub fn no_such_queue<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        has_code(e, NON_EXISTENT_QUEUE) || has_code(e, QUEUE_DOES_NOT_EXIST)
    }

    pub fn deleted_recently<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        has_code(e, QUEUE_DELETED_RECENTLY) || has_code(e, QUEUE_DELETED_RECENTLY_JSON)
    }
}

/// CloudWatch Logs.
pub mod logs {
    use crate::resource::retry::{Transient, is_transient};
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;

    /// What CloudWatch Logs writes retry: nothing yet.
    pub const TRANSIENT: &[Transient] = &[];

    pub fn transient<E: ProvideErrorMetadata + ?Sized>(e: &E) -> bool {
        is_transient(TRANSIENT, e)
    }

    /// The per-call timeouts of an upload of a `zip_len`-byte zip (CreateFunction,
    /// UpdateFunctionCode, PublishLayerVersion): scaled to its request body.
    pub fn upload_override(zip_len: usize) -> aws_sdk_lambda::config::Builder {
        let body = crate::package::request_bytes(zip_len);
        aws_sdk_lambda::config::Builder::default().timeout_config(crate::aws::upload_timeouts(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::error::metadata::ErrorMetadata;

    #[derive(Debug)]
    struct Err(ErrorMetadata);
    impl std::fmt::Display for Err {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("err")
        }
    }
    impl std::error::Error for Err {}
    impl ProvideErrorMetadata for Err {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    fn answer(code: &str) -> Result<(), SdkError<Err, ()>> {
        Result::Err(SdkError::service_error(
            Err(ErrorMetadata::builder().code(code).build()),
            (),
        ))
    }

    #[test]
    fn not_found_is_a_value() {
        let missing = code(s3::NO_SUCH_BUCKET);
        assert!(matches!(
            found(answer(s3::NO_SUCH_BUCKET), &missing),
            Ok(None)
        ));
        assert!(found(answer("AccessDenied"), &missing).is_err());
        assert!(matches!(
            found(Ok::<_, SdkError<Err, ()>>(1), &missing),
            Ok(Some(1))
        ));
    }

    fn is_transient_put(e: &ErrorMetadata) -> bool {
        crate::resource::retry::is_transient(lambda::DESTINATION_PENDING, e)
    }

    #[test]
    fn each_service_names_its_transient_writes() {
        let e = |code: &str, msg: &str| ErrorMetadata::builder().code(code).message(msg).build();
        assert!(lambda::transient(&e(
            lambda::INVALID_PARAMETER_VALUE,
            "The role defined for the function cannot be assumed by Lambda."
        )));
        assert!(!lambda::transient(&e(
            lambda::INVALID_PARAMETER_VALUE,
            "bad runtime"
        )));
        assert!(s3::transient(&e(
            s3::INVALID_ARGUMENT,
            "Unable to validate the following destination configurations"
        )));
        assert!(dynamodb::transient(&e(
            dynamodb::CONTINUOUS_BACKUPS_UNAVAILABLE,
            ""
        )));
        assert!(lambda::transient(&e(
            lambda::INVALID_PARAMETER_VALUE,
            "Lambda was unable to configure access to your environment variables because the \
             KMS key is invalid for CreateGrant. Please check your KMS key settings."
        )));
        assert!(lambda::transient(&e(
            lambda::INVALID_PARAMETER_VALUE,
            "The provided execution role does not have permissions to call CreateNetworkInterface"
        )));
        assert!(s3::transient(&e(s3::OPERATION_ABORTED, "")));
        assert!(!s3::transient(&e(s3::NO_SUCH_BUCKET, "")));
        assert!(s3::settling(&e(s3::NO_SUCH_BUCKET, "")));
        assert!(s3::retry_key("SlowDown") && !s3::retry_key("AccessDenied"));
        assert!(!iam::transient(&e("DeleteConflict", "")));
        assert!(iam::delete_conflict(&e("DeleteConflict", "")));
        assert!(iam::transient(&e("ConcurrentModification", "")));
        assert!(!logs::transient(&e("OperationAbortedException", "")));
        assert!(is_transient_put(&e(
            lambda::INVALID_PARAMETER_VALUE,
            "The function's execution role does not have permissions to call SendMessage on x"
        )));
        assert!(!is_transient_put(&e(
            lambda::INVALID_PARAMETER_VALUE,
            "bad"
        )));
        let limit = "Subscriber limit exceeded: Update to PayPerRequest mode are limited to 4 \
                     times in 1 day(s). Last update at x. Next update can be made at y";
        assert!(dynamodb::on_demand_limit(&e(
            dynamodb::LIMIT_EXCEEDED,
            limit
        )));
        assert!(!dynamodb::transient(&e(dynamodb::LIMIT_EXCEEDED, limit)));
        assert!(!dynamodb::on_demand_limit(&e(
            dynamodb::LIMIT_EXCEEDED,
            "Too many operations for a given subscriber"
        )));
        assert!(sqs::no_such_queue(&e(sqs::NON_EXISTENT_QUEUE, "")));
        assert!(sqs::no_such_queue(&e(sqs::QUEUE_DOES_NOT_EXIST, "")));
        assert!(sqs::deleted_recently(&e(sqs::QUEUE_DELETED_RECENTLY, "")));
        assert!(!sqs::deleted_recently(&e(sqs::NON_EXISTENT_QUEUE, "")));
    }
}
