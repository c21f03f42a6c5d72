"""S3 bucket policies are evaluated as IAM does (``policy_eval``): a statement
applies only when its action, resource, principal and all conditions match, and
``aws:SecureTransport`` comes from the listener (``true`` on TLS, ``false`` on
plain HTTP). moto 5.2.5 makes a Deny whose condition it cannot evaluate deny
everything, so a TLS-only policy made the bucket unusable.

Object calls (Get/Put/Delete/Head, DeleteObjects) are checked, as moto does. Of the
bucket calls, those that need ``s3:ListBucket`` (HeadBucket, ListObjects, ListObjectsV2;
S3 API reference, HeadBucket: "To use this operation, you must have permissions to perform
the s3:ListBucket action") are checked too, by a request hook (``S3ListBucketDeny``): an
explicit Deny of ``s3:ListBucket`` in the bucket's policy answers 403 AccessDenied (HEAD:
no body), to the bucket owner's account too — an explicit deny in a resource policy wins
over any allow (IAM user guide, "Policy evaluation logic"; S3 user guide, "I accidentally
denied everyone access to my Amazon S3 bucket": only the account's root user can then still
change the bucket policy). Allows are not needed: there is no IAM here, every caller of the
owner's account is its administrator. This stands in for a caller that lacks s3:ListBucket.
Another account's bucket already answers 403 (``s3_ownership``)."""

from __future__ import annotations

import json
from typing import Any

from .. import context
from ..patching import replace
from . import policy_eval


def _condition_context(account_id: str, listener: str | None = None) -> dict[str, str]:
    listener = listener or context.listener()
    return {
        # Requests that do not come through a listener are internal: trusted.
        "aws:SecureTransport": "false" if listener == "http" else "true",
        "aws:SourceIp": "127.0.0.1",
        "aws:PrincipalAccount": account_id,
        "aws:PrincipalType": "Account",
    }


_policy_cache: dict[Any, Any] = {}


def _parsed_policy(policy: Any) -> Any:
    """The bucket policy as JSON (None if it is not), parsed once per document: a
    DeleteObjects call asks for a permission per key."""
    doc = _policy_cache.get(policy)
    if doc is None:
        try:
            doc = json.loads(policy.decode() if isinstance(policy, bytes) else policy)
        except ValueError:
            return None
        if len(_policy_cache) > 256:
            _policy_cache.clear()
        _policy_cache[policy] = doc
    return doc


LIST_BUCKET_OPERATIONS = {"HeadBucket", "ListObjects", "ListObjectsV2"}


class S3ListBucketDeny:
    """Request hook: a bucket policy's explicit Deny of s3:ListBucket refuses HeadBucket and
    ListObjects(V2) with 403 (see the module docstring)."""

    def __init__(self, config: Any):
        self.config = config

    def before(self, req: Any) -> Any:
        if req.service != "s3" or req.operation not in LIST_BUCKET_OPERATIONS or not req.bucket:
            return None
        from moto.s3.models import s3_backends

        from ..faults import s3_error

        owner = s3_backends.bucket_accounts.get(req.bucket)
        if not owner:
            return None
        partition, account = owner
        bucket = s3_backends[account][partition].buckets.get(req.bucket)
        if bucket is None or bucket.policy is None:
            return None
        doc = _parsed_policy(bucket.policy)
        if doc is None:
            return None
        result = policy_eval.evaluate(doc, "s3:ListBucket", f"arn:{partition}:s3:::{req.bucket}",
                                      _condition_context(account, req.listener), account)
        if result == policy_eval.Result.DENIED:
            return s3_error(403, "AccessDenied", "Access Denied", req.method)
        return None

    def after(self, req: Any, status: int) -> None:
        pass


def install(runner: Any, config: Any) -> None:
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        doc = _parsed_policy(self.policy)
        if doc is None:
            return PermissionResult.NEUTRAL
        if action == "s3:HeadObject":
            action = "s3:GetObject"
        result = policy_eval.evaluate(doc, action, resource, _condition_context(self.account_id),
                                      self.account_id)
        return {policy_eval.Result.PERMITTED: PermissionResult.PERMITTED,
                policy_eval.Result.DENIED: PermissionResult.DENIED}.get(
                    result, PermissionResult.NEUTRAL)

    replace("moto.s3.models", "FakeBucket.get_permission", get_permission)
