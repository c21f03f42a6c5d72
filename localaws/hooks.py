"""Request hooks: behaviours decided per HTTP request, in front of moto, where
overlap in time is visible (a write in flight, a window after a call). The
middleware calls ``before(req)`` for every API call (after latency and fault
injection); a hook answering a response short-cuts moto. ``after(req, status)``
runs for every call that reached moto, whatever happened.

The hooks live with the other behaviours in ``localaws/shims/`` (``s3_consistency``,
``s3_region``, ``s3_expected_owner``, ``s3_bucket_policy``, ``iam_conflicts``,
``scp_request_tags``): each names its knobs and the AWS source of what it emulates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

Response = tuple[int, list[tuple[str, str]], bytes]


@dataclass
class Request:
    service: str
    operation: str
    method: str
    source: str
    listener: str
    region: str | None                 # the SigV4 signing region
    environ: dict = field(repr=False)
    form: bytes | None = field(default=None, repr=False)  # IAM/STS form body
    bucket: str | None = None          # S3
    key: str | None = None             # S3

    def param(self, name: str) -> str | None:
        """A query-protocol parameter (IAM/STS) from the form body or query string."""
        for raw in (self.form, self.environ.get("QUERY_STRING", "").encode()):
            if raw:
                try:
                    v = parse_qs(raw.decode("utf-8")).get(name)
                except UnicodeDecodeError:
                    continue
                if v:
                    return v[0]
        return None


class Hook(Protocol):
    def before(self, req: Request) -> Response | None: ...
    def after(self, req: Request, status: int) -> None: ...


def install(config: Any) -> list[Hook]:
    """The hooks of every behaviour, in the order they are asked."""
    from .shims.iam_conflicts import IamConflicts
    from .shims.s3_bucket_policy import S3ListBucketDeny
    from .shims.s3_consistency import S3Consistency
    from .shims.s3_expected_owner import S3ExpectedOwner
    from .shims.s3_region import S3Region
    from .shims.scp_request_tags import ScpRequestTags

    return [ScpRequestTags(config), S3Region(config), S3ExpectedOwner(config),
            S3ListBucketDeny(config),
            S3Consistency(config), IamConflicts(config)]
