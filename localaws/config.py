"""Realism knobs: a named profile plus per-knob overrides (the knob store only:
fault selection is ``faults.pick``; each knob's behaviour lives in the shim or hook
docs/local-aws.md names).

Profiles (LOCAL_AWS_PROFILE):
  instant  (default)  no delays, no latency, no faults, strongly consistent
  aws-like            role 8 s, table 5 s, function 2 s, latency 40 ms +- 10 ms, no faults
  aws-real            aws-like plus every consistency / conflict behaviour AWS documents
                      (windows of a few seconds; see CONSISTENCY_KNOBS)
Every profile has ALWAYS_ON (what AWS always does: HeadBucket 301 from another region,
the on-failure destination permission check, the bucket owner condition, DynamoDB's
limit of 4 switches to on-demand per table and 24 h). Not part of a profile: the fault knobs,
async_retry_delay (Lambda's 60 s / 120 s async retry waits, scaled) and
handler_write_faults_for (Lambda functions' DynamoDB item writes throttled for N s from
when it is set; handler_write_faults_left, read-only, says what is left).

Every knob is overridable in the environment at start as LOCAL_AWS_<KNOB in upper
case> (e.g. LOCAL_AWS_ROLE_DELAY, LOCAL_AWS_S3_NAME_HOLD) and, under its own name, in
the control endpoint's JSON (POST /_localaws/config). docs/local-aws.md lists them.
"""

from __future__ import annotations

import contextlib
import copy
import os
import random
import threading
import time
from typing import Any, Iterator

# Consistency and conflict behaviours (docs/local-aws.md, "AWS's consistency"): all off
# in instant and aws-like, all on in aws-real.
CONSISTENCY_OFF: dict[str, Any] = {
    "s3_conflict_window": 0.0,       # 1  OperationAborted on overlapping bucket-config writes
    "s3_new_bucket_lag": 0.0,        # 2  NoSuchBucket on bucket-config calls after CreateBucket
    "s3_name_hold": 0.0,             # 3  CreateBucket -> OperationAborted after DeleteBucket
    "table_describe_lag": 0.0,       # 4  DescribeTable -> ResourceNotFound after CreateTable
    "dynamodb_tags_lag": 0.0,        # 5  ListTagsOfResource shows the tags of N s ago
    "dynamodb_tags_page_size": 10,   # 5  ListTagsOfResource page size (moto's 10)
    "s3_notification_lag": 0.0,      # 6  new notification entries deliver nothing for N s
    "role_env_kms_error": False,     # 7  young role + env vars -> the KMS CreateGrant message
    "iam_conflict_window": 0.0,      # 8  Attach/Detach -> ConcurrentModification
    "iam_delete_conflict": 0.0,      # 8  DeleteRole -> DeleteConflict after detaching
    "delete_objects_error_rate": 0.0,  # 9  DeleteObjects per-key SlowDown / InternalError
    "function_idle": 0.0,            # 10 a function idle N s is Inactive
    "sqs_delete_lag": 0.0,           # 12 a deleted queue still answers for N s
    "sqs_name_hold": 0.0,            # 13 CreateQueue -> QueueDeletedRecently after DeleteQueue
}
CONSISTENCY_KNOBS = list(CONSISTENCY_OFF) + ["s3_region_redirect"]

# Behaviours AWS always has, on in every profile (a profile resets them to this).
ALWAYS_ON: dict[str, Any] = {
    "s3_region_redirect": True,      # 11 HeadBucket from another region -> 301
    "destination_permission_check": True,  # the role must sqs:SendMessage to a destination
    "s3_expected_owner_check": True,  # x-amz-expected-bucket-owner of another -> 403
    "dynamodb_on_demand_switches": 4,  # switches to PAY_PER_REQUEST per table and window (0: no limit)
    "dynamodb_switch_window": 86400.0,  # s, the rolling window of that limit
    "required_request_tags": [],     # an SCP: creates without these request tags -> denied
    # UpdateTimeToLive again within N s of the last change -> ValidationException (DynamoDB:
    # one change per table per hour); 0 = off, as tests change TTL more often.
    "dynamodb_ttl_change_interval": 0.0,
    # how long ENABLING / DISABLING last (s); 0 = `table_delay` (DynamoDB: up to an hour).
    "dynamodb_ttl_delay": 0.0,
    # how long a global secondary index added to a table stays CREATING (backfilling) before
    # ACTIVE (s); 0 = `table_delay` (DynamoDB: minutes to hours on a table with items).
    "dynamodb_index_backfill": 0.0,
}

PROFILES: dict[str, dict[str, Any]] = {
    "instant": {
        "role_delay": 0.0,
        "table_delay": 0.0,
        "function_delay": 0.0,
        "latency_ms": 0.0,
        "jitter_ms": 0.0,
        **CONSISTENCY_OFF,
        **ALWAYS_ON,
    },
    "aws-like": {
        "role_delay": 8.0,
        "table_delay": 5.0,
        "function_delay": 2.0,
        "latency_ms": 40.0,
        "jitter_ms": 10.0,
        **CONSISTENCY_OFF,
        **ALWAYS_ON,
    },
}
PROFILES["aws-real"] = {
    **PROFILES["aws-like"],
    "s3_conflict_window": 0.5,
    "s3_new_bucket_lag": 1.0,
    "s3_name_hold": 3.0,
    "table_describe_lag": 1.0,
    "dynamodb_tags_lag": 2.0,
    "dynamodb_tags_page_size": 1,
    "s3_notification_lag": 2.0,
    "role_env_kms_error": True,
    "iam_conflict_window": 0.5,
    "iam_delete_conflict": 2.0,
    "delete_objects_error_rate": 0.1,
    "function_idle": 10.0,
    "sqs_delete_lag": 2.0,
    "sqs_name_hold": 4.0,
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
    "sqs_metrics_interval": 60.0,
    "handler_write_faults_for": 0.0,
    **CONSISTENCY_OFF,
    **ALWAYS_ON,
}

FLOAT_KEYS = {
    "sqs_metrics_interval",
    "role_delay",
    "table_delay",
    "function_delay",
    "latency_ms",
    "jitter_ms",
    "fault_rate",
    "async_retry_delay",
    "s3_conflict_window",
    "s3_new_bucket_lag",
    "s3_name_hold",
    "table_describe_lag",
    "dynamodb_tags_lag",
    "s3_notification_lag",
    "iam_conflict_window",
    "iam_delete_conflict",
    "delete_objects_error_rate",
    "function_idle",
    "sqs_delete_lag",
    "sqs_name_hold",
    "handler_write_faults_for",
    "dynamodb_ttl_change_interval",
    "dynamodb_ttl_delay",
    "dynamodb_index_backfill",
    "dynamodb_switch_window",
}
BOOL_KEYS = {"role_env_kms_error", "s3_region_redirect", "destination_permission_check",
             "s3_expected_owner_check"}
LIST_KEYS = {"fault_services", "fault_operations", "required_request_tags"}
SOURCES = {"any", "client", "lambda"}
KINDS = {"throttle", "5xx", "mixed"}


# Read-only values the store reports (GET /_localaws/config); a POST may carry them back
# unchanged (they are ignored).
READ_ONLY = {"handler_write_faults_left"}


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
        if v < 0 or (key in ("fault_rate", "delete_objects_error_rate") and v > 1):
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
    if key in BOOL_KEYS:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if key == "dynamodb_tags_page_size":
        try:
            v = int(value)
        except (TypeError, ValueError):
            raise ConfigError("dynamodb_tags_page_size must be an integer")
        if v < 1:
            raise ConfigError("dynamodb_tags_page_size must be >= 1")
        return v
    if key == "dynamodb_on_demand_switches":
        try:
            v = int(value)
        except (TypeError, ValueError):
            raise ConfigError("dynamodb_on_demand_switches must be an integer")
        if v < 0:
            raise ConfigError("dynamodb_on_demand_switches must be >= 0")
        return v
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
        self._hwf_until = 0.0  # monotonic end of the handler_write_faults_for window
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
        coerced = {k: _coerce(k, v) for k, v in changes.items() if k not in READ_ONLY}
        with self._lock:
            if "profile" in coerced:
                self._values["profile"] = coerced["profile"]
                self._values.update(PROFILES[coerced["profile"]])
            for k, v in coerced.items():
                if k != "profile":
                    self._values[k] = v
            if "fault_seed" in coerced and coerced["fault_seed"] is not None:
                self._rng.seed(coerced["fault_seed"])
            if "handler_write_faults_for" in coerced:
                # the window starts now (at start for the environment variable)
                n = coerced["handler_write_faults_for"]
                self._hwf_until = time.monotonic() + n if n > 0 else 0.0
            return self._snapshot_locked()

    def _snapshot_locked(self) -> dict[str, Any]:
        out = copy.deepcopy(self._values)
        out["handler_write_faults_left"] = round(max(self._hwf_until - time.monotonic(), 0.0), 3)
        return out

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self._snapshot_locked()

    def handler_write_faults_active(self) -> bool:
        """Inside the handler_write_faults_for window (faults.pick)."""
        with self._lock:
            return time.monotonic() < self._hwf_until

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

    @contextlib.contextmanager
    def locked(self) -> Iterator[tuple[dict[str, Any], random.Random]]:
        """The live knob values and the seeded dice, under the lock (for decisions
        that read and change knobs at once, e.g. ``faults.pick``)."""
        with self._lock:
            yield self._values, self._rng
