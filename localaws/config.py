"""Realism knobs: a named profile plus per-knob overrides.

Profiles (LOCAL_AWS_PROFILE):
  instant  (default)  no delays, no latency, no faults
  aws-like            role 8 s, table 5 s, function 2 s, latency 40 ms +- 10 ms, no faults

Environment overrides, read when the instance starts (and the same keys, in
lower case without the prefix, in the control endpoint's JSON):
  LOCAL_AWS_ROLE_DELAY       s a new role cannot be assumed by Lambda
  LOCAL_AWS_TABLE_DELAY      s a table stays CREATING (and DELETING)
  LOCAL_AWS_FUNCTION_DELAY   s a function stays Pending / LastUpdateStatus InProgress
  LOCAL_AWS_LATENCY_MS       added latency per request, ms
  LOCAL_AWS_JITTER_MS        +- uniform jitter on that latency, ms
  LOCAL_AWS_FAULT_RATE       fraction (0..1) of requests answered with a fault
  LOCAL_AWS_FAULT_SERVICES   comma list (s3,dynamodb,iam,sts,lambda,logs); empty = all
  LOCAL_AWS_FAULT_OPERATIONS comma list of operation names; empty = all
  LOCAL_AWS_FAULT_SOURCE     any | client | lambda
  LOCAL_AWS_FAULT_KIND       throttle | 5xx | mixed
  LOCAL_AWS_FAULT_SEED       integer seed for the fault dice (reproducible runs)
  LOCAL_AWS_ASYNC_RETRY_DELAY s between retries of a failed async invocation
"""

from __future__ import annotations

import copy
import os
import random
import threading
from typing import Any

PROFILES: dict[str, dict[str, Any]] = {
    "instant": {
        "role_delay": 0.0,
        "table_delay": 0.0,
        "function_delay": 0.0,
        "latency_ms": 0.0,
        "jitter_ms": 0.0,
    },
    "aws-like": {
        "role_delay": 8.0,
        "table_delay": 5.0,
        "function_delay": 2.0,
        "latency_ms": 40.0,
        "jitter_ms": 10.0,
    },
}

DEFAULTS: dict[str, Any] = {
    "profile": "instant",
    "role_delay": 0.0,
    "table_delay": 0.0,
    "function_delay": 0.0,
    "latency_ms": 0.0,
    "jitter_ms": 0.0,
    "fault_rate": 0.0,
    "fault_next": 0,
    "fault_services": [],
    "fault_operations": [],
    "fault_source": "any",
    "fault_kind": "throttle",
    "fault_seed": None,
    "async_retry_delay": 0.2,
}

FLOAT_KEYS = {
    "role_delay",
    "table_delay",
    "function_delay",
    "latency_ms",
    "jitter_ms",
    "fault_rate",
    "async_retry_delay",
}
LIST_KEYS = {"fault_services", "fault_operations"}
SOURCES = {"any", "client", "lambda"}
KINDS = {"throttle", "5xx", "mixed"}


class ConfigError(ValueError):
    pass


def _coerce(key: str, value: Any) -> Any:
    if key not in DEFAULTS:
        raise ConfigError(f"unknown knob: {key}")
    if key in FLOAT_KEYS:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        if v < 0 or (key == "fault_rate" and v > 1):
            raise ConfigError(f"{key} out of range: {v}")
        return v
    if key in LIST_KEYS:
        if value is None:
            return []
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        if isinstance(value, list) and all(isinstance(s, str) for s in value):
            return value
        raise ConfigError(f"{key} must be a list of strings")
    if key == "fault_next":
        try:
            v = int(value)
        except (TypeError, ValueError):
            raise ConfigError("fault_next must be an integer")
        if v < 0:
            raise ConfigError("fault_next must be >= 0")
        return v
    if key == "fault_source":
        if value not in SOURCES:
            raise ConfigError(f"fault_source must be one of {sorted(SOURCES)}")
        return value
    if key == "fault_kind":
        if value not in KINDS:
            raise ConfigError(f"fault_kind must be one of {sorted(KINDS)}")
        return value
    if key == "fault_seed":
        return None if value in (None, "") else int(value)
    if key == "profile":
        if value not in PROFILES:
            raise ConfigError(f"profile must be one of {sorted(PROFILES)}")
        return value
    return value


class Config:
    """Thread-safe knob store. ``get(key)`` reads a knob, ``update(dict)``
    applies a partial change ("profile" first, then the other keys)."""

    def __init__(self, env: dict[str, str] | None = None):
        self._lock = threading.Lock()
        self._values = dict(DEFAULTS)
        self._rng = random.Random()
        env = os.environ if env is None else env
        changes: dict[str, Any] = {}
        if env.get("LOCAL_AWS_PROFILE"):
            changes["profile"] = env["LOCAL_AWS_PROFILE"]
        for key in DEFAULTS:
            if key == "profile":
                continue
            var = "LOCAL_AWS_" + key.upper()
            if env.get(var, "") != "":
                changes[key] = env[var]
        self.update(changes)

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(changes, dict):
            raise ConfigError("config must be a JSON object")
        coerced = {k: _coerce(k, v) for k, v in changes.items()}
        with self._lock:
            if "profile" in coerced:
                self._values["profile"] = coerced["profile"]
                self._values.update(PROFILES[coerced["profile"]])
            for k, v in coerced.items():
                if k != "profile":
                    self._values[k] = v
            if "fault_seed" in coerced and coerced["fault_seed"] is not None:
                self._rng.seed(coerced["fault_seed"])
            return copy.deepcopy(self._values)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._values)

    def get(self, key: str) -> Any:
        with self._lock:
            return self._values[key]

    def latency_seconds(self) -> float:
        with self._lock:
            base = self._values["latency_ms"]
            jitter = self._values["jitter_ms"]
            if base <= 0 and jitter <= 0:
                return 0.0
            ms = base + self._rng.uniform(-jitter, jitter)
        return max(ms, 0.0) / 1000.0

    def should_fault(self, service: str, operation: str, source: str) -> str | None:
        """Decide whether this request gets a fault; returns the fault kind
        ("throttle" or "5xx") or None."""
        with self._lock:
            v = self._values
            if v["fault_services"] and service not in v["fault_services"]:
                return None
            if v["fault_operations"] and operation not in v["fault_operations"]:
                return None
            if v["fault_source"] != "any" and v["fault_source"] != source:
                return None
            hit = False
            if v["fault_next"] > 0:
                v["fault_next"] -= 1
                hit = True
            elif v["fault_rate"] > 0 and self._rng.random() < v["fault_rate"]:
                hit = True
            if not hit:
                return None
            kind = v["fault_kind"]
            if kind == "mixed":
                kind = self._rng.choice(["throttle", "5xx"])
            return kind
