"""S3 bucket-level consistency and conflicts (request hooks, see ``localaws.hooks``).

1. ``s3_conflict_window`` (s; 0 = off): a bucket-configuration write (Put/Delete of
   the policy, public access block, encryption, ownership controls, tagging;
   PutBucketNotificationConfiguration) that overlaps another on the same bucket, i.e.
   starts while one is in flight or less than N s after one succeeded, answers
   409 ``OperationAborted``: "A conflicting conditional operation is currently in
   progress against this resource. Please try again." (S3 API reference, error codes;
   terraform-provider-aws #7628 retries it on every S3 call). The rejected write does
   not extend the window.
2. ``s3_new_bucket_lag`` (s): for N s after CreateBucket, bucket-configuration calls
   (Get/Put/Delete of those six) answer 404 ``NoSuchBucket`` ("Bucket configurations
   have an eventual consistency model", S3 user guide, "Amazon S3 data consistency
   model"; terraform retries tagging on NoSuchBucket after create).
3. ``s3_name_hold`` (s): for N s after DeleteBucket, CreateBucket of that name (by
   anyone) answers 409 ``OperationAborted`` with the same message (AWS Knowledge Center,
   "s3-conflicting-conditional-operation": a deleted bucket's name may stay
   unavailable for a while; there minutes to hours).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..faults import s3_error
from ..hooks import Request, Response

CONFLICT_MSG = ("A conflicting conditional operation is currently in progress against this "
                "resource. Please try again.")

CONFIG_WRITES = {
    "PutBucketPolicy", "DeleteBucketPolicy", "PutPublicAccessBlock", "DeletePublicAccessBlock",
    "PutBucketEncryption", "DeleteBucketEncryption", "PutBucketOwnershipControls",
    "DeleteBucketOwnershipControls", "PutBucketTagging", "DeleteBucketTagging",
    "PutBucketNotificationConfiguration",
}
CONFIG_READS = {
    "GetBucketPolicy", "GetPublicAccessBlock", "GetBucketEncryption",
    "GetBucketOwnershipControls", "GetBucketTagging", "GetBucketNotificationConfiguration",
}
CONFIG_CALLS = CONFIG_WRITES | CONFIG_READS


class S3Consistency:
    def __init__(self, config: Any):
        self.config = config
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}     # bucket -> config writes in moto now
        self._last_write: dict[str, float] = {}  # bucket -> end of the last successful one
        self._created: dict[str, float] = {}     # bucket -> CreateBucket success
        self._deleted: dict[str, float] = {}     # bucket -> DeleteBucket success

    def before(self, req: Request) -> Response | None:
        if req.service != "s3" or req.bucket is None or req.key is not None:
            return None
        now = time.monotonic()
        op, b = req.operation, req.bucket
        with self._lock:
            if op == "CreateBucket":
                hold = self.config.get("s3_name_hold")
                if hold > 0 and now - self._deleted.get(b, -1e18) < hold:
                    return s3_error(409, "OperationAborted", CONFLICT_MSG, req.method)
                return None
            if op in CONFIG_CALLS:
                lag = self.config.get("s3_new_bucket_lag")
                if lag > 0 and now - self._created.get(b, -1e18) < lag:
                    return s3_error(404, "NoSuchBucket", "The specified bucket does not exist",
                                    req.method, {"BucketName": b})
            if op in CONFIG_WRITES:
                window = self.config.get("s3_conflict_window")
                if window > 0 and (self._in_flight.get(b, 0) > 0
                                   or now - self._last_write.get(b, -1e18) < window):
                    return s3_error(409, "OperationAborted", CONFLICT_MSG, req.method)
                self._in_flight[b] = self._in_flight.get(b, 0) + 1
                req.environ["localaws.s3_config_write"] = True
        return None

    def after(self, req: Request, status: int) -> None:
        if req.service != "s3" or req.bucket is None or req.key is not None:
            return
        now = time.monotonic()
        b = req.bucket
        with self._lock:
            if req.environ.get("localaws.s3_config_write"):
                n = self._in_flight.get(b, 1) - 1
                if n > 0:
                    self._in_flight[b] = n
                else:
                    self._in_flight.pop(b, None)
                if status < 300:
                    self._last_write[b] = now
            elif req.operation == "CreateBucket" and status < 300:
                self._created[b] = now
                self._last_write.pop(b, None)
            elif req.operation == "DeleteBucket" and status < 300:
                self._deleted[b] = now
                self._created.pop(b, None)
                self._last_write.pop(b, None)
