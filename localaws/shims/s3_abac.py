"""Attribute-based access control (ABAC) on general purpose buckets: GetBucketAbac /
PutBucketAbac (S3 API reference, late 2025), unknown to moto 5.2.5 (which answered
``GET /bucket?abac`` with a listing and would have taken ``PUT /bucket?abac`` for
CreateBucket).

- PutBucketAbac: body ``<AbacStatus><Status>Enabled|Disabled</Status></AbacStatus>``;
  200 with no body. Any other status, or no body: 400 ``MalformedXML``.
- GetBucketAbac: 200 ``<AbacStatus><Status>S</Status></AbacStatus>``. A bucket never
  configured answers ``Disabled``: "By default, ABAC is disabled for all Amazon S3
  general purpose buckets" (S3 user guide, "Enabling ABAC in general purpose buckets");
  the API reference (and the SDK models: GetBucketAbac has no modelled error, unlike
  GetBucketTagging's NoSuchTagSet) lists no error for it. Whether S3 then sends
  ``<Status>Disabled</Status>`` or an empty ``<AbacStatus/>`` is not documented: a
  client should read a missing status as Disabled.
- With ABAC Enabled, PutBucketTagging and DeleteBucketTagging are refused: "when ABAC is
  enabled, you must use the TagResource and UntagResource actions to manage tags on your
  buckets. You can no longer use the PutBucketTagging and DeleteBucketTagging actions"
  (S3 API reference, PutBucketAbac; DeleteBucketTagging: "Deletes tags from the general
  purpose bucket if attribute based access control (ABAC) is not enabled"). No public
  source shows the error S3 answers; the shape chosen here is 400 ``InvalidRequest``
  with ``ABAC_TAGGING_MSG``. GetBucketTagging still works.
- Nothing else changes: tags are not evaluated for access (no IAM here).

The status lives on moto's bucket object, so it dies with the bucket.
"""

from __future__ import annotations

import re
from typing import Any

from .. import context
from ..patching import replace

ABAC_TAGGING_MSG = ("ABAC is enabled for this bucket: use TagResource and UntagResource to "
                    "manage its tags. PutBucketTagging and DeleteBucketTagging are not allowed.")
_ATTR = "_localaws_abac_status"


def abac_status(bucket: Any) -> str:
    return getattr(bucket, _ATTR, None) or "Disabled"


def install(runner: Any, config: Any) -> None:
    from moto.s3.exceptions import MalformedXML, S3ClientError
    from moto.s3.models import S3Backend
    from moto.s3.responses import S3Response

    orig_get = S3Response._bucket_response_get
    orig_put = S3Response._bucket_response_put
    orig_put_tagging = S3Backend.put_bucket_tagging
    orig_delete_tagging = S3Backend.delete_bucket_tagging

    def _bucket_response_get(self: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        if "abac" not in querystring:
            return orig_get(self, bucket_name, querystring)
        bucket = self.backend.get_bucket(bucket_name)
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<AbacStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<Status>{abac_status(bucket)}</Status></AbacStatus>")
        return 200, {"Content-Type": "application/xml"}, body

    def _bucket_response_put(self: Any, request: Any, bucket_name: str,
                             querystring: dict[str, Any]) -> Any:
        if "abac" not in querystring:
            return orig_put(self, request, bucket_name, querystring)
        bucket = self.backend.get_bucket(bucket_name)
        text = self.body.decode("utf-8", "replace") if isinstance(self.body, bytes) \
            else str(self.body or "")
        m = re.search(r"<AbacStatus\b.*?<Status>\s*(\w+)\s*</Status>", text, re.DOTALL)
        if not m or m.group(1) not in ("Enabled", "Disabled"):
            raise MalformedXML()
        setattr(bucket, _ATTR, m.group(1))
        return 200, {}, ""

    def _refuse_if_abac(backend: Any, bucket_name: str) -> None:
        if context.listener() is None:
            return
        if abac_status(backend.get_bucket(bucket_name)) == "Enabled":
            raise S3ClientError("InvalidRequest", ABAC_TAGGING_MSG)

    def put_bucket_tagging(self: Any, bucket_name: str, tags: dict[str, str]) -> None:
        _refuse_if_abac(self, bucket_name)
        return orig_put_tagging(self, bucket_name, tags)

    def delete_bucket_tagging(self: Any, bucket_name: str) -> None:
        _refuse_if_abac(self, bucket_name)
        return orig_delete_tagging(self, bucket_name)

    replace("moto.s3.responses", "S3Response._bucket_response_get", _bucket_response_get)
    replace("moto.s3.responses", "S3Response._bucket_response_put", _bucket_response_put)
    replace("moto.s3.models", "S3Backend.put_bucket_tagging", put_bucket_tagging)
    replace("moto.s3.models", "S3Backend.delete_bucket_tagging", delete_bucket_tagging)
