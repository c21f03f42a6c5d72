"""HeadBucket on a bucket that lives in another region (request hook,
``s3_region_redirect``): a client signing for region Y asking about a bucket created
in region X answers 301 Moved Permanently, no body, with ``x-amz-bucket-region: X``
(S3 API reference, HeadBucket: "x-amz-bucket-region ... the Region the bucket is
located in", and its 301 redirect; docs/consistency.md, row 11: "HeadBucket of a bucket in
another region answers 301/400 with ``x-amz-bucket-region``").

moto 5.2.5 answers 200 with the right ``x-amz-bucket-region`` whatever the client's
region: it tells the region but never says the client is in the wrong one."""

from __future__ import annotations

from typing import Any

from ..hooks import Request, Response


def bucket_region(name: str) -> str | None:
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(name)
    if not owner:
        return None
    partition, account = owner
    bucket = s3_backends[account][partition].buckets.get(name)
    return getattr(bucket, "region_name", None) if bucket is not None else None


class S3Region:
    def __init__(self, config: Any):
        self.config = config

    def before(self, req: Request) -> Response | None:
        if (req.service != "s3" or req.operation != "HeadBucket" or not req.region
                or not self.config.get("s3_region_redirect")):
            return None
        region = bucket_region(req.bucket or "")
        if region is None or region == req.region:
            return None
        return 301, [("x-amz-bucket-region", region), ("Content-Type", "application/xml"),
                     ("Content-Length", "0")], b""

    def after(self, req: Request, status: int) -> None:
        pass
