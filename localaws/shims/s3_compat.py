"""S3 response fixes for SDKs stricter than boto3: moto 5.2.5 answers
GetBucketNotificationConfiguration on a bucket without notifications with an
empty ``<GetBucketNotificationResponse/>`` document, which the AWS SDK for Rust
rejects (it expects the ``NotificationConfiguration`` root S3 sends)."""

from __future__ import annotations

from typing import Any

EMPTY_NOTIFICATION = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'
)


def install(runner: Any, config: Any) -> None:
    from moto.s3.responses import S3Response

    orig = S3Response.get_bucket_notification

    def get_bucket_notification(self: Any) -> Any:
        cfg = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if not cfg or not (cfg.topic or cfg.queue or cfg.cloud_function or cfg.event_bridge):
            return 200, {"Content-Type": "application/xml"}, EMPTY_NOTIFICATION
        return orig(self)

    S3Response.get_bucket_notification = get_bucket_notification
