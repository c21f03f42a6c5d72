"""Where moto 5.2.5 differs from AWS in ways tapctl must live with: one module per
behaviour (moto internals are patched, so moto is pinned; each behaviour has a test in
localaws/tests). ``install(runner, config)`` applies them all; the request-level ones
(``s3_consistency``, ``s3_region``, ``s3_expected_owner``, ``iam_conflicts``) are hooks the middleware asks
(``localaws.hooks``). docs/local-aws.md maps each behaviour and knob to its file.

S3        s3_bucket_policy     bucket-policy conditions, aws:SecureTransport (policy_eval)
          s3_events            asynchronous S3 -> Lambda, record shape, late new entries
          s3_notifications     destination validation (all or nothing), empty document
          s3_ownership         creation tags, tags die with the bucket, other accounts,
                               us-east-1 re-create (200, ACL reset)
          s3_system_tags       aws: tags (control endpoint); PutBucketTagging must resend them
          s3_abac              GetBucketAbac / PutBucketAbac; no Put/DeleteBucketTagging with ABAC
          s3_expected_owner    x-amz-expected-bucket-owner -> 403 AccessDenied (hook)
          s3_versions          ListObjectVersions that scales, S3's markers
          s3_delete_objects    DeleteObjects per-key SlowDown / InternalError
          s3_consistency       OperationAborted overlap, NoSuchBucket after create, held name
          s3_region            HeadBucket from another region -> 301
IAM       iam_propagation      young role cannot be assumed by Lambda (CreateFunction...)
          iam_conflicts        ConcurrentModification, DeleteConflict after detaching
Lambda    lambda_states        Pending / InProgress / Inactive
          lambda_invoke        invocations run python for real (lambda_runner)
          lambda_destinations  event invoke config, on-failure destination records
          lambda_tags          no lambda:ListTags: GetFunction TagsError, ListTags 403
DynamoDB  dynamodb_states      CREATING / DELETING, DescribeTable lag after create
          dynamodb_tags        eventually consistent, paged, overwritten tags
          dynamodb_billing     4 switches to PAY_PER_REQUEST per 24 h -> LimitExceededException
          dynamodb_index       Query reads only the named partition (index or table), not
                               every item (GET /_localaws/dynamodb/index-stats)
Logs      logs_tags            tags die with their log group
SQS       sqs_deletion         a deleted queue answers a while, its name stays held
"""

from __future__ import annotations

from typing import Any

_installed = False


def install(runner: Any, config: Any) -> None:
    global _installed
    if _installed:
        return
    import moto

    if moto.__version__ != "5.2.5":
        raise RuntimeError(f"localaws shims are written for moto 5.2.5, found {moto.__version__}")
    from . import (dynamodb_billing, dynamodb_index, dynamodb_states, dynamodb_tags,
                   iam_propagation, lambda_destinations, lambda_invoke, lambda_states,
                   lambda_tags, logs_tags,
                   s3_abac, s3_bucket_policy, s3_delete_objects, s3_events, s3_notifications,
                   s3_ownership, s3_system_tags, s3_versions, sqs_deletion)

    s3_bucket_policy.install(runner, config)
    s3_events.install(runner, config)
    s3_notifications.install(runner, config)
    s3_versions.install(runner, config)
    s3_ownership.install(runner, config)
    # s3_abac wraps s3_system_tags' PutBucketTagging: with ABAC on, the call is refused
    # whatever its tag set
    s3_system_tags.install(runner, config)
    s3_abac.install(runner, config)
    s3_delete_objects.install(runner, config)
    logs_tags.install(runner, config)
    # iam_propagation wraps moto's Lambda calls first, lambda_states wraps it: an update
    # meanwhile is a ResourceConflict before the role is looked at.
    iam_propagation.install(runner, config)
    lambda_states.install(runner, config)
    lambda_invoke.install(runner, config)
    lambda_destinations.install(runner, config)
    lambda_tags.install(runner, config)
    dynamodb_states.install(runner, config)
    dynamodb_tags.install(runner, config)
    dynamodb_billing.install(runner, config)
    dynamodb_index.install(runner, config)
    sqs_deletion.install(runner, config)
    _installed = True
