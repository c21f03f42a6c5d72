"""Per-request context shared between the WSGI middleware and the moto shims
(moto handles a request in the thread that received it)."""

from __future__ import annotations

import threading

_local = threading.local()


def set_current(listener: str, source: str, service: str, operation: str) -> None:
    _local.listener = listener
    _local.source = source
    _local.service = service
    _local.operation = operation


def clear() -> None:
    for k in ("listener", "source", "service", "operation"):
        if hasattr(_local, k):
            delattr(_local, k)


def listener() -> str | None:
    return getattr(_local, "listener", None)


def source() -> str | None:
    return getattr(_local, "source", None)


def operation() -> str | None:
    return getattr(_local, "operation", None)
