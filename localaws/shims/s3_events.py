"""S3 event notifications to Lambda.

- **Asynchronous delivery** (moto invokes inside the PUT): the event is queued as an
  Event invocation on the Lambda runner (with its retries) and the PUT returns.
- **Record shape**: URL-encoded keys (``a b.txt`` -> ``a+b.txt``, ``/`` kept),
  ``sequencer``, ``versionId`` on versioned buckets, ``userIdentity`` and friends.
- **A new configuration takes effect late** (knob ``s3_notification_lag``): a Lambda
  entry that PutBucketNotificationConfiguration added (or changed) delivers no event
  for objects created in the first N seconds; entries the new document keeps unchanged
  go on delivering. AWS: "it typically takes about five minutes for the changes to take
  effect" (S3 user guide, "Amazon S3 Event Notifications" / "Enabling and configuring
  event notifications").
- **One event per API call, of that call's type**: moto's CompleteMultipartUpload stores
  the object through its PutObject path (an ``ObjectCreated:Put`` event) and then sends
  ``ObjectCreated:CompleteMultipartUpload``; its PutObject / CompleteMultipartUpload also
  send ``ObjectTagging:Put``. S3 sends one event per operation (S3 user guide, "Event
  notification types and destinations": ``s3:ObjectCreated:Put``, ``:Post``, ``:Copy``,
  ``:CompleteMultipartUpload`` name the API that created the object; ``ObjectTagging:*``
  is for PutObjectTagging / DeleteObjectTagging): an event the current operation does not
  send is suppressed (``EVENTS_BY_OPERATION``)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any
from urllib.parse import quote_plus

from ..patching import replace

_sequencer = itertools.count(0x0055AED6DCD90281E5)
_seq_lock = threading.Lock()


def entry_identity(n: Any) -> tuple:
    """What makes two notification entries 'the same' across two documents."""
    return (n.id, n.arn, tuple(sorted(n.events)), json.dumps(n.filters, sort_keys=True))


def mark_new_entries(old: Any, new: Any, lag: float) -> None:
    """Give each Lambda entry of ``new`` its effective time: kept from ``old`` for an
    unchanged entry, now + lag for a new one."""
    if new is None:
        return
    before = {entry_identity(n): getattr(n, "_la_effective_at", 0.0)
              for n in (old.cloud_function if old is not None else [])}
    now = time.monotonic()
    for n in new.cloud_function:
        n._la_effective_at = before.get(entry_identity(n), now + lag)


def is_effective(n: Any) -> bool:
    return time.monotonic() >= getattr(n, "_la_effective_at", 0.0)


class _WithoutLambda:
    """A view of a bucket whose notification configuration has no Lambda entries
    (the other destination kinds are left to moto)."""

    def __init__(self, bucket: Any):
        self._bucket = bucket
        cfg = bucket.notification_configuration
        self.notification_configuration = _ConfigView(cfg)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bucket, name)


class _ConfigView:
    def __init__(self, cfg: Any):
        self._cfg = cfg
        self.cloud_function: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cfg, name)


# The events each S3 API call sends (an operation not listed sends what moto sends).
EVENTS_BY_OPERATION: dict[str, set[str]] = {
    "PutObject": {"s3:ObjectCreated:Put"},
    "PostObject": {"s3:ObjectCreated:Post"},
    "CopyObject": {"s3:ObjectCreated:Copy"},
    "CompleteMultipartUpload": {"s3:ObjectCreated:CompleteMultipartUpload"},
    "CreateMultipartUpload": set(),
    "UploadPart": set(),
    "UploadPartCopy": set(),
    "AbortMultipartUpload": set(),
    "PutObjectTagging": {"s3:ObjectTagging:Put"},
    "DeleteObjectTagging": {"s3:ObjectTagging:Delete"},
    "PutObjectAcl": {"s3:ObjectAcl:Put"},
    "DeleteObject": {"s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated"},
    "DeleteObjects": {"s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated"},
}


def sent_by_current_operation(event_name: Any) -> bool:
    from .. import context

    allowed = EVENTS_BY_OPERATION.get(context.operation() or "")
    return allowed is None or str(getattr(event_name, "value", event_name)) in allowed


def install(runner: Any, config: Any) -> None:
    from moto.s3 import notifications

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

    replace("moto.s3.notifications", "_get_s3_event", get_s3_event)

    def invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        fn_name = fn_arn.split(":")[6] if fn_arn.count(":") >= 6 else fn_arn
        fn_account = fn_arn.split(":")[4] if fn_arn.count(":") >= 6 else account_id
        runner.invoke_async(fn_name, fn_account, region_name,
                            json.dumps(event_body).encode(), trigger="s3")

    replace("moto.s3.notifications", "_invoke_awslambda", invoke_awslambda)

    orig_send_event = notifications.send_event

    def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        cfg = bucket.notification_configuration
        if cfg is None or not sent_by_current_operation(event_name):
            return
        for n in cfg.cloud_function:
            if is_effective(n) and n.matches(event_name, key.name):
                body = notifications._get_s3_event(event_name, bucket, key, n.id)
                notifications._invoke_awslambda(account_id, body, n.arn,
                                                notifications._get_region_from_arn(n.arn))
        orig_send_event(account_id, event_name, _WithoutLambda(bucket), key)

    replace("moto.s3.notifications", "send_event", send_event)
