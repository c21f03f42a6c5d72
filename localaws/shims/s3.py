"""S3 shims: bucket-policy conditions, asynchronous S3 -> Lambda, and the
validation of Lambda destinations in PutBucketNotificationConfiguration."""

from __future__ import annotations

import itertools
import json
import threading
from urllib.parse import quote_plus
from typing import Any

from .. import context
from . import policy as policy_eval

_sequencer = itertools.count(0x0055AED6DCD90281E5)
_seq_lock = threading.Lock()


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
    from moto.s3 import notifications
    from moto.s3.exceptions import InvalidArgumentError
    from moto.s3.models import FakeBucket, S3Backend

    # 1. bucket policies: conditions evaluated, aws:SecureTransport from the listener
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

    # 2. S3 -> Lambda is asynchronous: queue the event, return from the PUT at once
    orig_get_s3_event = notifications._get_s3_event

    def get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict:
        event = orig_get_s3_event(event_name, bucket, key, notification_id)
        with _seq_lock:
            seq = f"{next(_sequencer):018X}"
        for rec in event["Records"]:
            rec.setdefault("userIdentity", {"principalId": "AWS:LOCALAWSCLIENT"})
            rec.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
            rec.setdefault("responseElements", {"x-amz-request-id": seq[:16],
                                                "x-amz-id-2": "localaws"})
            obj = rec["s3"]["object"]
            # S3 URL-encodes event keys (space -> '+') but keeps '/' (moto encodes it)
            obj["key"] = quote_plus(key.name, safe="/")
            obj["sequencer"] = seq
            version = getattr(key, "version_id", None)
            if version and version != "null":
                obj["versionId"] = version
            rec["s3"]["bucket"].setdefault("ownerIdentity", {"principalId": "LOCALAWS"})
        return event

    notifications._get_s3_event = get_s3_event

    def invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        fn_name = fn_arn.split(":")[6] if fn_arn.count(":") >= 6 else fn_arn
        fn_account = fn_arn.split(":")[4] if fn_arn.count(":") >= 6 else account_id
        runner.invoke_async(fn_name, fn_account, region_name,
                            json.dumps(event_body).encode(), trigger="s3")

    notifications._invoke_awslambda = invoke_awslambda

    # 3. Lambda destinations must be invocable by s3.amazonaws.com for this bucket
    orig_put_notif = S3Backend.put_bucket_notification_configuration

    def put_bucket_notification_configuration(self: Any, bucket_name: str,
                                              notification_config: dict[str, Any]) -> None:
        bucket = self.get_bucket(bucket_name)
        bad = [c["CloudFunction"] for c in (notification_config or {}).get(
            "CloudFunctionConfiguration") or []
            if not lambda_allows_s3(c["CloudFunction"], bucket.arn, bucket.account_id)]
        if bad:
            err = InvalidArgumentError("Unable to validate the following destination configurations",
                                       bad[0], f"Not authorized to invoke function [{bad[0]}]")
            raise err
        return orig_put_notif(self, bucket_name, notification_config)

    S3Backend.put_bucket_notification_configuration = put_bucket_notification_configuration


def lambda_allows_s3(fn_arn: str, bucket_arn: str, bucket_account: str) -> bool:
    """Does the function's resource policy let s3.amazonaws.com invoke it for
    this bucket (SourceArn, SourceAccount conditions honoured when present)?"""
    from moto.awslambda.models import lambda_backends

    parts = fn_arn.split(":")
    if len(parts) < 7:
        return False
    region, account, name = parts[3], parts[4], parts[6]
    try:
        fn = lambda_backends[account][region].get_function(name)
        doc = fn.policy.get_policy()["Policy"]
    except Exception:  # noqa: BLE001 - no function / no policy: not invocable
        return False
    ctx = {"aws:SourceArn": bucket_arn, "aws:SourceAccount": bucket_account}
    for st in policy_eval._as_list(doc.get("Statement")):
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        services = policy_eval._as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if principal != "*" and "s3.amazonaws.com" not in services:
            continue
        actions = policy_eval._as_list(st.get("Action"))
        if not any(policy_eval._wild(a, "lambda:InvokeFunction", True) for a in actions):
            continue
        if policy_eval._conditions_hold(st.get("Condition"), ctx):
            return True
    return False
