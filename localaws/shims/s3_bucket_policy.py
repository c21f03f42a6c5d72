"""S3 bucket policies are evaluated as IAM does (``policy_eval``): a statement
applies only when its action, resource, principal and all conditions match, and
``aws:SecureTransport`` comes from the listener (``true`` on TLS, ``false`` on
plain HTTP). moto 5.2.5 makes a Deny whose condition it cannot evaluate deny
everything, so a TLS-only policy made the bucket unusable.

Object calls (Get/Put/Delete/Head, DeleteObjects) are checked, as moto does."""

from __future__ import annotations

import json
from typing import Any

from .. import context
from . import policy_eval


def _condition_context(account_id: str) -> dict[str, str]:
    listener = context.listener()
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

    FakeBucket.get_permission = get_permission
