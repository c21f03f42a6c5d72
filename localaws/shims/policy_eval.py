"""A small IAM policy evaluator for S3 bucket policies.

moto 5.2.5 treats a statement whose condition does not hold as DENIED (even
for an Allow, and for a Deny whose condition does not match), so a TLS-only
policy (Deny when aws:SecureTransport is false) denies everything. Here a
statement applies only when its action, resource, principal and conditions all
match; then an explicit Deny wins over an Allow, as in AWS.
"""

from __future__ import annotations

import ipaddress
import re
from enum import Enum
from typing import Any


class Result(Enum):
    PERMITTED = 1
    DENIED = 2
    NEUTRAL = 3


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _wild(pattern: str, value: str, case_insensitive: bool = False) -> bool:
    rx = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(rx, value, re.IGNORECASE if case_insensitive else 0) is not None


def _principal_matches(principal: Any, account_id: str) -> bool:
    if principal is None:
        return True  # identity policies have none
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = _as_list(principal.get("AWS"))
        for p in aws:
            if p == "*" or p == account_id or f":{account_id}:" in str(p):
                return True
        return False  # Service / Federated principals are not the caller
    return False


def _cond_values(ctx: dict[str, str], key: str) -> list[str] | None:
    for k, v in ctx.items():
        if k.lower() == key.lower():
            return _as_list(v)
    return None


def _op_matches(op: str, expected: list[str], actual: list[str]) -> bool:
    neg = "Not" in op
    base = op.replace("Not", "")
    ci = base.endswith("IgnoreCase")
    base = base.replace("IgnoreCase", "")

    def one(a: str, e: str) -> bool:
        if base in ("StringEquals", "ArnEquals"):
            return a.lower() == e.lower() if ci else a == e
        if base in ("StringLike", "ArnLike"):
            return _wild(e, a, ci)
        if base == "Bool":
            return a.lower() == str(e).lower()
        if base.startswith("Numeric"):
            x, y = float(a), float(e)
            return {"NumericEquals": x == y, "NumericLessThan": x < y,
                    "NumericLessThanEquals": x <= y, "NumericGreaterThan": x > y,
                    "NumericGreaterThanEquals": x >= y}.get(base, False)
        if base == "IpAddress":
            return ipaddress.ip_address(a) in ipaddress.ip_network(e, strict=False)
        return False

    hit = any(one(a, str(e)) for a in actual for e in expected)
    return (not hit) if neg else hit


def _conditions_hold(conditions: dict[str, Any] | None, ctx: dict[str, str]) -> bool:
    if not conditions:
        return True
    for op, block in conditions.items():
        op_name = op.split(":", 1)[-1]  # ForAnyValue:/ForAllValues: treated as plain
        if_exists = op_name.endswith("IfExists")
        op_name = op_name[: -len("IfExists")] if if_exists else op_name
        for key, expected in (block or {}).items():
            expected = [str(e) for e in _as_list(expected)]
            actual = _cond_values(ctx, key)
            if op_name == "Null":
                want_null = expected[0].lower() == "true"
                if (actual is None) != want_null:
                    return False
                continue
            if actual is None:
                if if_exists or "Not" in op_name:
                    continue
                return False
            try:
                if not _op_matches(op_name, expected, actual):
                    return False
            except (ValueError, TypeError):
                return False
    return True


def evaluate(policy: dict[str, Any], action: str, resource: str, ctx: dict[str, str],
             account_id: str) -> Result:
    permitted = False
    for st in _as_list(policy.get("Statement")):
        if not isinstance(st, dict):
            continue
        if "NotAction" in st:
            if any(_wild(a, action, True) for a in _as_list(st["NotAction"])):
                continue
        elif not any(_wild(a, action, True) for a in _as_list(st.get("Action"))):
            continue
        if "NotResource" in st:
            if any(_wild(r, resource) for r in _as_list(st["NotResource"])):
                continue
        elif "Resource" in st and not any(_wild(r, resource) for r in _as_list(st["Resource"])):
            continue
        if "NotPrincipal" in st:
            if _principal_matches(st["NotPrincipal"], account_id):
                continue
        elif not _principal_matches(st.get("Principal"), account_id):
            continue
        if not _conditions_hold(st.get("Condition"), ctx):
            continue
        if st.get("Effect") == "Deny":
            return Result.DENIED
        if st.get("Effect") == "Allow":
            permitted = True
    return Result.PERMITTED if permitted else Result.NEUTRAL
