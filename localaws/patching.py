"""The one way the shims change moto: ``replace(module, attr, new)``.

``attr`` names an attribute of the moto module ``module``: a function of the module
(``send_event``) or a class attribute (``S3Backend.get_bucket``). ``replace`` refuses an
attribute moto does not have (after a moto upgrade a wrapper must not silently add a
method nobody calls) and records each replacement, in order, for the registry
(``localaws.registry``), which declares per shim which attributes it replaces and why,
and checks after each shim's ``install`` that it replaced exactly those.

``missing(patches)`` is the moto-upgrade checklist: the declared attributes an installed
moto lacks. This module imports nothing from localaws.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True)
class Patch:
    """One moto attribute a shim replaces."""

    module: str  # the moto module the shim imports it from, e.g. "moto.s3.models"
    attr: str    # "name" or "Class.name" in that module
    why: str     # what AWS does that moto 5.2.5 does not

    @property
    def target(self) -> tuple[str, str]:
        return self.module, self.attr


_replaced: list[tuple[str, str]] = []


def resolve(module: str, attr: str) -> tuple[Any, str]:
    """(the object holding the attribute, the attribute's name); ImportError or
    AttributeError when the module or a class on the way is missing."""
    owner: Any = importlib.import_module(module)
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, name


def missing(patches: Iterable[Patch]) -> list[str]:
    """``module:attr`` of each patch whose attribute the installed moto does not have."""
    out = []
    for p in patches:
        try:
            owner, name = resolve(p.module, p.attr)
        except (ImportError, AttributeError) as e:
            out.append(f"{p.module}:{p.attr} ({e})")
            continue
        if not hasattr(owner, name):
            out.append(f"{p.module}:{p.attr}")
    return out


def replace(module: str, attr: str, new: Any) -> None:
    """Set ``module.attr`` (``attr`` may be ``Class.name``) to ``new``."""
    owner, name = resolve(module, attr)
    if not hasattr(owner, name):
        raise AttributeError(f"moto has no {module}:{attr} to replace (a moto upgrade? "
                             "see docs/local-aws.md, Structure)")
    setattr(owner, name, new)
    _replaced.append((module, attr))


def replaced() -> list[tuple[str, str]]:
    """Every (module, attr) replaced so far in this process, in order."""
    return list(_replaced)
