"""S3 ownership fidelity, which tapctl's "tags are the state" rule depends on.

moto 5.2.5 differs from S3 in three ways that matter here:

1. CreateBucket ignores ``CreateBucketConfiguration/Tags``. S3 applies them with the
   bucket, atomically: no window in which the bucket exists untagged. Here they are put
   on the bucket before it becomes visible to any other request.
2. Bucket tags outlive the bucket (moto's tagger is keyed by the ARN, and DeleteBucket
   does not clear it), so a bucket re-created under the same name would show the old
   owner's tags. Here DeleteBucket drops them.
3. Any account can read and change any other account's bucket. S3 answers a request on
   a bucket owned by another account (with no bucket policy granting it) with 403
   AccessDenied (HeadBucket: 403 without a body), and CreateBucket of a taken name with
   409 BucketAlreadyExists. A request names its account with moto's
   ``x-moto-account-id`` header (or credentials of another account's IAM user).
   Requests that do not come through a listener (moto's own notifications, the Lambda
   runner) are internal and keep moto's behaviour.
4. Re-creating your own bucket: CreateBucket signed for us-east-1 of a us-east-1 bucket
   the caller owns answers 200 (moto does that) and resets the bucket's ACL to private
   (moto kept it); anywhere else 409 BucketAlreadyOwnedByYou (moto does that). The
   bucket is otherwise untouched: its tags stay, the request's CreateBucketConfiguration
   tags are not applied. Source: S3 API reference, CreateBucket / error
   BucketAlreadyOwnedByYou: "Amazon S3 returns this error in all Amazon Web Services
   Regions except in the North Virginia Region. For legacy compatibility, if you
   re-create an existing bucket that you already own in the North Virginia Region,
   Amazon S3 returns 200 OK and resets the bucket access control lists (ACLs)."
"""

from __future__ import annotations

import re
import threading
from typing import Any

from .. import context
from ..patching import replace

_create_lock = threading.Lock()
_local = threading.local()

_TAG_RE = re.compile(
    r"<Tag>\s*<Key>(.*?)</Key>\s*<Value>(.*?)</Value>\s*</Tag>", re.DOTALL)


def creation_tags(body: Any) -> dict[str, str]:
    """Tags of a CreateBucketConfiguration document (``<Tags><Tag>...``)."""
    if not body:
        return {}
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    m = re.search(r"<Tags>(.*?)</Tags>", text, re.DOTALL)
    if not m:
        return {}
    from xml.sax.saxutils import unescape

    return {unescape(k): unescape(v) for k, v in _TAG_RE.findall(m.group(1))}


def install(runner: Any, config: Any) -> None:
    from moto.s3.exceptions import AccessDeniedByLock, BucketAlreadyExists
    from moto.s3.models import S3Backend, get_canned_acl, s3_backends
    from moto.s3.responses import S3Response

    orig_put = S3Response._bucket_response_put
    orig_create = S3Backend.create_bucket
    orig_get = S3Backend.get_bucket
    orig_delete = S3Backend.delete_bucket

    def _bucket_response_put(self: Any, request: Any, bucket_name: str,
                             querystring: dict[str, Any]) -> Any:
        if querystring:
            return orig_put(self, request, bucket_name, querystring)
        _local.tags = creation_tags(self.body)
        _local.creating = bucket_name
        try:
            return orig_put(self, request, bucket_name, querystring)
        finally:
            _local.tags = {}
            _local.creating = None

    def create_bucket(self: Any, bucket_name: str, region_name: str,
                      bucket_namespace: str | None = None) -> Any:
        tags = getattr(_local, "tags", None) or {}
        with _create_lock:
            if bucket_name in s3_backends.bucket_accounts:
                mine = self.buckets.get(bucket_name)
                if (mine is not None and region_name == "us-east-1"
                        and mine.region_name == "us-east-1"
                        and context.listener() is not None):
                    # moto answers 200 to this one (its CreateBucket catches the error);
                    # S3 also resets the ACL
                    mine.acl = get_canned_acl("private")
                raise BucketAlreadyExists(bucket=bucket_name)
            # Tag the ARN first: the bucket is visible only once created, already tagged.
            arn = f"arn:{self.partition if hasattr(self, 'partition') else 'aws'}:s3:::{bucket_name}"
            self.tagger.delete_all_tags_for_resource(arn)
            if tags:
                self.tagger.tag_resource(arn, [{"Key": k, "Value": v} for k, v in tags.items()])
            try:
                bucket = orig_create(self, bucket_name, region_name,
                                     bucket_namespace=bucket_namespace)
            except Exception:
                self.tagger.delete_all_tags_for_resource(arn)
                raise
            if bucket.arn != arn:
                self.tagger.delete_all_tags_for_resource(arn)
                if tags:
                    self.tagger.tag_resource(bucket.arn,
                                             [{"Key": k, "Value": v} for k, v in tags.items()])
            return bucket

    def get_bucket(self: Any, bucket_name: str) -> Any:
        if (bucket_name not in self.buckets and bucket_name in s3_backends.bucket_accounts
                and context.listener() is not None
                and getattr(_local, "creating", None) != bucket_name):
            _partition, owner = s3_backends.bucket_accounts[bucket_name]
            if owner != self.account_id:
                raise AccessDeniedByLock()
        return orig_get(self, bucket_name)

    def delete_bucket(self: Any, bucket_name: str) -> Any:
        deleted = orig_delete(self, bucket_name)
        if deleted is not None:
            self.tagger.delete_all_tags_for_resource(deleted.arn)
        return deleted

    replace("moto.s3.responses", "S3Response._bucket_response_put", _bucket_response_put)
    replace("moto.s3.models", "S3Backend.create_bucket", create_bucket)
    replace("moto.s3.models", "S3Backend.get_bucket", get_bucket)
    replace("moto.s3.models", "S3Backend.delete_bucket", delete_bucket)
