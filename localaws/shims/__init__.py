"""Patches of moto 5.2.5 internals (pinned in requirements-dev.txt; each shim
has a test in localaws/tests). ``install(runner, config)`` applies them all."""

from __future__ import annotations

from typing import Any

_installed = False


def install(runner: Any, config: Any) -> None:
    global _installed
    if _installed:
        return
    import moto

    if moto.__version__ != "5.2.5":
        raise RuntimeError(f"localaws shims are written for moto 5.2.5, found {moto.__version__}")
    from . import awslambda, dynamodb, logs, s3, s3_accounts, s3_compat, s3_versions

    s3.install(runner, config)
    s3_compat.install(runner, config)
    s3_versions.install(runner, config)
    s3_accounts.install(runner, config)
    logs.install(runner, config)
    awslambda.install(runner, config)
    dynamodb.install(runner, config)
    _installed = True
