"""Bucket owner condition (request hook, knob ``s3_expected_owner_check``, on in every
profile): an S3 request carrying ``x-amz-expected-bucket-owner: ACCOUNT`` on a bucket
owned by another account answers 403 ``AccessDenied`` ("Access Denied"; HEAD: 403 with
no body) without reaching moto; ``x-amz-source-expected-bucket-owner`` does the same for
CopyObject's / UploadPartCopy's source bucket (``x-amz-copy-source``).

Source: S3 user guide, "Verifying bucket ownership with bucket owner condition" (S3
checks the owner's account id before processing the request; a mismatch fails it with
Access Denied; CopyObject takes a second parameter for the source bucket); the
API reference of each operation's ``ExpectedBucketOwner``: "If the account ID that you
provide does not match the actual owner of the bucket, the request fails with the HTTP
status code 403 Forbidden (access denied)."

moto 5.2.5 ignores the header. A bucket that does not exist is left to moto (404
NoSuchBucket); the header is checked for the bucket's owner only, whoever asks (another
account's bucket already answers 403 through ``s3_ownership``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from ..faults import s3_error
from ..hooks import Request, Response


def bucket_owner(name: str) -> str | None:
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(name)
    return owner[1] if owner else None


def _copy_source_bucket(environ: dict) -> str | None:
    src = environ.get("HTTP_X_AMZ_COPY_SOURCE")
    if not src:
        return None
    src = unquote(src).lstrip("/")
    return src.split("/", 1)[0] or None


class S3ExpectedOwner:
    def __init__(self, config: Any):
        self.config = config

    def before(self, req: Request) -> Response | None:
        if req.service != "s3" or not self.config.get("s3_expected_owner_check"):
            return None
        env = req.environ
        checks = [(req.bucket, env.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER")),
                  (_copy_source_bucket(env), env.get("HTTP_X_AMZ_SOURCE_EXPECTED_BUCKET_OWNER"))]
        for bucket, expected in checks:
            if not bucket or not expected:
                continue
            owner = bucket_owner(bucket)
            if owner is not None and owner != expected.strip():
                return s3_error(403, "AccessDenied", "Access Denied", req.method)
        return None

    def after(self, req: Request, status: int) -> None:
        pass
