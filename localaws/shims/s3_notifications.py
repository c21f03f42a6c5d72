"""PutBucketNotificationConfiguration / GetBucketNotificationConfiguration.

- **Destinations are validated**: a Lambda destination whose resource policy does not let
  ``s3.amazonaws.com`` invoke it for this bucket (``SourceArn`` / ``SourceAccount``
  conditions honoured), or that does not exist, fails the whole call with 400
  ``InvalidArgument: Unable to validate the following destination configurations``
  (S3 API reference, PutBucketNotificationConfiguration: "Amazon S3 ... validates the
  destinations ... If the destination ... is not valid, the request fails").
- **``x-amz-skip-destination-validation: true``** (``SkipDestinationValidation``) skips
  that check for the whole document, as S3 does (same reference).
- **A document that fails validation is not stored**: the previous configuration stays.
  (moto 5.2.5 stores the new document before its own region check, so a destination in
  another region left the invalid document in place.)
- **New entries take effect late** (``s3_notification_lag``, see ``s3_events``).
- **An empty configuration** is answered with S3's ``<NotificationConfiguration/>`` root:
  moto's empty ``<GetBucketNotificationResponse/>`` is rejected by the AWS SDK for Rust.
"""

from __future__ import annotations

import threading
from typing import Any

from ..patching import replace
from . import policy_eval
from .s3_events import mark_new_entries

EMPTY_NOTIFICATION = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'
)

# Whether the request being handled (in this thread) asked to skip destination validation.
_request = threading.local()


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


def install(runner: Any, config: Any) -> None:
    from moto.s3.exceptions import InvalidArgumentError
    from moto.s3.models import FakeBucket, S3Backend
    from moto.s3.responses import S3Response

    orig_get = S3Response.get_bucket_notification

    def get_bucket_notification(self: Any) -> Any:
        cfg = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if not cfg or not (cfg.topic or cfg.queue or cfg.cloud_function or cfg.event_bridge):
            return 200, {"Content-Type": "application/xml"}, EMPTY_NOTIFICATION
        return orig_get(self)

    replace("moto.s3.responses", "S3Response.get_bucket_notification", get_bucket_notification)

    orig_set = FakeBucket.set_notification_configuration

    def set_notification_configuration(self: Any, notification_config: Any) -> None:
        previous = self.notification_configuration
        try:
            orig_set(self, notification_config)
        except Exception:
            self.notification_configuration = previous  # all or nothing
            raise
        mark_new_entries(previous, self.notification_configuration,
                         config.get("s3_notification_lag"))

    replace("moto.s3.models", "FakeBucket.set_notification_configuration",
            set_notification_configuration)

    orig_put = S3Backend.put_bucket_notification_configuration

    def put_bucket_notification_configuration(self: Any, bucket_name: str,
                                              notification_config: dict[str, Any]) -> None:
        bucket = self.get_bucket(bucket_name)
        if getattr(_request, "skip_validation", False):
            return orig_put(self, bucket_name, notification_config)
        bad = [c["CloudFunction"] for c in (notification_config or {}).get(
            "CloudFunctionConfiguration") or []
            if not lambda_allows_s3(c["CloudFunction"], bucket.arn, bucket.account_id)]
        if bad:
            raise InvalidArgumentError(
                "Unable to validate the following destination configurations",
                bad[0], f"Not authorized to invoke function [{bad[0]}]")
        return orig_put(self, bucket_name, notification_config)

    replace("moto.s3.models", "S3Backend.put_bucket_notification_configuration",
            put_bucket_notification_configuration)

    orig_bucket_put = S3Response._bucket_response_put

    def bucket_response_put(self: Any, *args: Any, **kwargs: Any) -> Any:
        skip = self.headers.get("x-amz-skip-destination-validation", "").lower() == "true"
        _request.skip_validation = skip
        try:
            return orig_bucket_put(self, *args, **kwargs)
        finally:
            _request.skip_validation = False

    replace("moto.s3.responses", "S3Response._bucket_response_put", bucket_response_put)
