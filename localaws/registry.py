"""The registry: every moto patch and every request hook of the local AWS, in one place.

``SHIMS``  each module of ``localaws/shims/`` that patches moto, in install order, with
           every moto attribute it replaces and why (``patching.Patch``).
``HOOKS``  the request hooks (``localaws.hooks``), in the order the middleware asks them.
``INVENTORY``  every moto attribute patched (module, attribute), once each, in install
           order: the checklist for a moto upgrade (``missing()``; docs/local-aws.md,
           "Structure").

``install(runner, config)`` checks the moto version, then calls each shim's
``install(runner, config)`` in ``SHIMS`` order and checks that it replaced (through
``patching.replace``) exactly the attributes declared for it. ``request_hooks(config)``
builds the hooks. Shims replacing the same attribute wrap one another: the later one in
``SHIMS`` runs first.

Shim modules are imported by name when installed (not when this module is imported), so
the server can set moto's environment before moto is imported. No shim imports this
module.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .hooks import Hook
from .patching import Patch, missing as _missing, replaced

MOTO_VERSION = "5.2.5"

_DDB = "moto.dynamodb.models"
_DDB_TABLE = "moto.dynamodb.models.table"
_IAM = "moto.iam.models"
_LAMBDA = "moto.awslambda.models"
_LOGS = "moto.logs.models"
_S3 = "moto.s3.models"
_S3_NOTIFY = "moto.s3.notifications"
_S3_RESPONSE = "moto.s3.responses"
_SQS = "moto.sqs.models"


@dataclass(frozen=True)
class Shim:
    name: str                    # the module in localaws/shims/
    patches: tuple[Patch, ...]   # what it replaces in moto, in the order it does


SHIMS: tuple[Shim, ...] = (
    Shim("s3_bucket_policy", (
        Patch(_S3, "FakeBucket.get_permission",
              "bucket-policy conditions and aws:SecureTransport, evaluated by policy_eval"),
    )),
    Shim("s3_events", (
        Patch(_S3_NOTIFY, "_get_s3_event",
              "S3's event record shape: sequencer, versionId, '+'-encoded keys"),
        Patch(_S3_NOTIFY, "_invoke_awslambda",
              "S3 invokes Lambda asynchronously: through the runner's event queue"),
        Patch(_S3_NOTIFY, "send_event",
              "one event per API call of its type; late new notification entries"),
    )),
    Shim("s3_notifications", (
        Patch(_S3_RESPONSE, "S3Response.get_bucket_notification",
              "an empty configuration answers S3's empty document"),
        Patch(_S3, "FakeBucket.set_notification_configuration",
              "all or nothing; marks new Lambda entries for s3_notification_lag"),
        Patch(_S3, "S3Backend.put_bucket_notification_configuration",
              "Lambda destinations are validated against the function's policy"),
        Patch(_S3_RESPONSE, "S3Response._bucket_response_put",
              "x-amz-skip-destination-validation"),
    )),
    Shim("s3_versions", (
        Patch(_S3, "S3Backend.list_object_versions",
              "ListObjectVersions that scales, with S3's markers"),
        Patch(_S3_RESPONSE, "S3Response.list_object_versions",
              "the ListVersionsResult document written directly (moto's serializer is slow)"),
    )),
    Shim("s3_ownership", (
        Patch(_S3_RESPONSE, "S3Response._bucket_response_put",
              "CreateBucket's creation tags (CreateBucketConfiguration/Tags)"),
        Patch(_S3, "S3Backend.create_bucket",
              "creation tags; us-east-1 re-create of your own bucket resets its ACL"),
        Patch(_S3, "S3Backend.get_bucket",
              "another account's bucket answers 403"),
        Patch(_S3, "S3Backend.delete_bucket",
              "a bucket's tags die with it"),
    )),
    # before s3_abac, which wraps its PutBucketTagging: with ABAC on, the call is refused
    # whatever its tag set
    Shim("s3_system_tags", (
        Patch(_S3_RESPONSE, "S3Response._bucket_tagging_from_body",
              "aws: keys are decided by the rules below, not refused outright"),
        Patch(_S3, "S3Backend.put_bucket_tagging",
              "PutBucketTagging must resend the bucket's aws: tags unchanged"),
        Patch(_S3, "S3Backend.delete_bucket_tagging",
              "DeleteBucketTagging cannot drop aws: tags"),
    )),
    Shim("s3_abac", (
        Patch(_S3_RESPONSE, "S3Response._bucket_response_get", "GetBucketAbac (GET ?abac)"),
        Patch(_S3_RESPONSE, "S3Response._bucket_response_put", "PutBucketAbac (PUT ?abac)"),
        Patch(_S3, "S3Backend.put_bucket_tagging", "refused with ABAC enabled"),
        Patch(_S3, "S3Backend.delete_bucket_tagging", "refused with ABAC enabled"),
    )),
    Shim("s3_delete_objects", (
        Patch(_S3_RESPONSE, "S3Response._bucket_response_delete_keys",
              "DeleteObjects per-key SlowDown / InternalError (delete_objects_error_rate)"),
    )),
    Shim("logs_tags", (
        Patch(_LOGS, "LogsBackend.delete_log_group", "a log group's tags die with it"),
        Patch(_LOGS, "LogsBackend.list_tags_for_resource",
              "ResourceNotFound for a log group that does not exist"),
        Patch(_LOGS, "LogsBackend.tag_resource",
              "ResourceNotFound for a log group that does not exist"),
        Patch(_LOGS, "LogsBackend.untag_resource",
              "ResourceNotFound for a log group that does not exist"),
    )),
    # iam_propagation wraps moto's Lambda calls first, lambda_states wraps it: an update
    # meanwhile is a ResourceConflict before the role is looked at.
    Shim("iam_propagation", (
        Patch(_IAM, "IAMBackend.create_role", "a role's age starts at CreateRole"),
        Patch(_IAM, "IAMBackend.update_assume_role_policy",
              "and again at UpdateAssumeRolePolicy"),
        Patch(_LAMBDA, "LambdaBackend.create_function",
              "a young (or missing) role cannot be assumed by Lambda"),
        Patch(_LAMBDA, "LambdaBackend.update_function_configuration",
              "nor be switched to"),
    )),
    Shim("lambda_layers", (
        Patch(_LAMBDA, "LambdaFunction._get_layers_data",
              "a layer's files extracted when a function names it, for the runner's path"),
        Patch(_LAMBDA, "LambdaFunction.update_function_code",
              "UpdateFunctionCode's Architectures"),
    )),
    Shim("lambda_states", (
        Patch(_LAMBDA, "LambdaFunction.get_configuration",
              "State / LastUpdateStatus: Pending, InProgress, Inactive, Failed"),
        Patch(_LAMBDA, "LambdaBackend.create_function", "a new function is Pending a while"),
        Patch(_LAMBDA, "LambdaBackend.update_function_code",
              "ResourceConflict while Pending or updating; the update is InProgress a while"),
        Patch(_LAMBDA, "LambdaBackend.update_function_configuration",
              "the same for configuration updates"),
    )),
    Shim("lambda_invoke", (
        Patch(_LAMBDA, "LambdaBackend.invoke",
              "Invoke runs the code (lambda_runner); Event returns 202, queued"),
        Patch("moto.core.responses", "gen_amzn_requestid_long",
              "x-amzn-RequestId is the invocation's request id"),
        Patch(_LAMBDA, "LambdaFunction.invoke", "InvokeAsync goes through the runner's queue"),
    )),
    Shim("lambda_destinations", (
        Patch(_LAMBDA, "LambdaBackend.put_function_event_invoke_config",
              "Put replaces; ranges and destination permission checked"),
        Patch(_LAMBDA, "LambdaBackend.update_function_event_invoke_config",
              "Update merges; the same checks"),
    )),
    Shim("lambda_tags", (
        Patch(_LAMBDA, "LambdaFunction.get_code",
              "GetFunction: TagsError, no Tags, for a caller without lambda:ListTags"),
        Patch(_LAMBDA, "LambdaBackend.list_tags", "ListTags: 403 for that caller"),
    )),
    Shim("dynamodb_states", (
        Patch(_DDB_TABLE, "Table.describe", "TableStatus CREATING / DELETING"),
        Patch(_DDB, "DynamoDBBackend.create_table",
              "when the table becomes ACTIVE, and visible to DescribeTable"),
        Patch(_DDB, "DynamoDBBackend.get_table",
              "what each operation answers while CREATING / DELETING / not yet visible"),
        Patch(_DDB, "DynamoDBBackend.delete_table", "DELETING a while, then gone"),
        Patch(_DDB, "DynamoDBBackend.update_table", "a new global index is CREATING a while"),
        Patch(_DDB, "DynamoDBBackend.describe_time_to_live",
              "ResourceNotFoundException as DynamoDB names it"),
        Patch(_DDB, "DynamoDBBackend.update_time_to_live",
              "the same; ENABLING / DISABLING a while"),
    )),
    Shim("dynamodb_tags", (
        Patch(_DDB, "DynamoDBBackend.create_table", "tag history starts at CreateTable"),
        Patch(_DDB, "DynamoDBBackend.tag_resource", "a key already there is overwritten"),
        Patch(_DDB, "DynamoDBBackend.untag_resource", "tag history"),
        Patch("moto.dynamodb.responses", "DynamoHandler.list_tags_of_resource",
              "eventually consistent (dynamodb_tags_lag) and paged"),
    )),
    Shim("dynamodb_billing", (
        Patch(_DDB, "DynamoDBBackend.update_table",
              "N switches to PAY_PER_REQUEST per window, then LimitExceededException"),
    )),
    Shim("dynamodb_index", (
        Patch(_DDB_TABLE, "Table.all_items",
              "during a Query: only the items of the partition it names"),
        Patch(_DDB_TABLE, "Table.query", "looks the partition up in the index"),
        Patch(_DDB_TABLE, "Table.put_item", "marks the key for re-indexing"),
        Patch(_DDB_TABLE, "Table.delete_item", "marks the key for re-indexing"),
        Patch(_DDB, "DynamoDBBackend.update_item", "marks the key for re-indexing"),
    )),
    Shim("sqs_deletion", (
        Patch(_SQS, "SQSBackend.delete_queue", "a deleted queue answers a while"),
        Patch(_SQS, "SQSBackend.create_queue", "its name stays held (QueueDeletedRecently)"),
    )),
)

# (shim module, class): request hooks, in the order the middleware asks them; the first
# to answer short-cuts the rest and moto.
HOOKS: tuple[tuple[str, str], ...] = (
    ("cloudwatch_cbor", "CloudWatchCbor"),
    ("scp_request_tags", "ScpRequestTags"),
    ("s3_region", "S3Region"),
    ("s3_expected_owner", "S3ExpectedOwner"),
    ("s3_bucket_policy", "S3ListBucketDeny"),
    ("s3_consistency", "S3Consistency"),
    ("iam_conflicts", "IamConflicts"),
)


def _inventory() -> tuple[Patch, ...]:
    seen: dict[tuple[str, str], Patch] = {}
    for shim in SHIMS:
        for p in shim.patches:
            seen.setdefault(p.target, p)
    return tuple(seen.values())


INVENTORY: tuple[Patch, ...] = _inventory()


def missing() -> list[str]:
    """The inventory's attributes the installed moto lacks (empty: nothing to port)."""
    return _missing(INVENTORY)


def _shim(name: str) -> Any:
    return importlib.import_module(f"{__package__}.shims.{name}")


_installed = False


def install(runner: Any, config: Any) -> None:
    """Apply every shim's moto patches, once per process, in ``SHIMS`` order."""
    global _installed
    if _installed:
        return
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(f"localaws shims are written for moto {MOTO_VERSION}, "
                           f"found {moto.__version__}")
    for shim in SHIMS:
        before = len(replaced())
        _shim(shim.name).install(runner, config)
        done = replaced()[before:]
        declared = [p.target for p in shim.patches]
        if sorted(done) != sorted(declared):
            raise RuntimeError(f"shims/{shim.name}.py replaced {done}; localaws.registry "
                               f"declares {declared}")
    _installed = True


def request_hooks(config: Any) -> list[Hook]:
    """One instance of each request hook, in ``HOOKS`` order."""
    return [getattr(_shim(module), cls)(config) for module, cls in HOOKS]
