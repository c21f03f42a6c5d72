"""Request hooks: the types. Behaviours decided per HTTP request, in front of moto, where
overlap in time is visible (a write in flight, a window after a call). The middleware
calls ``before(req)`` for every API call (after latency and fault injection); a hook
answering a ``Response`` short-cuts moto. ``after(req, status)`` runs for every call that
reached moto, whatever happened.

The hooks live with the other behaviours in ``localaws/shims/`` (each names its knobs and
the AWS source of what it emulates); ``localaws.registry.HOOKS`` lists them in the order
they are asked. This module imports nothing from localaws, so every shim can import it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qs

# (status, headers, body)
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
