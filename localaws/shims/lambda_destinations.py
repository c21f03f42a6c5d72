"""Asynchronous invocation settings and the on-failure destination.

- **Event invoke config as Lambda stores it**: PutFunctionEventInvokeConfig replaces the
  function's configuration (settings left out are removed), UpdateFunctionEventInvokeConfig
  changes only the settings it names (moto 5.2.5 appends on every Put and Get returns the
  first one: a changed setting never shows). ``MaximumRetryAttempts`` 0-2,
  ``MaximumEventAgeInSeconds`` 60-21600, else ``ValidationException`` (moto checks only the
  upper bounds; the Rust SDK validates nothing). Source: Lambda API reference,
  PutFunctionEventInvokeConfig ("overwrites any existing configuration ... If you exclude
  any settings, they are removed"), UpdateFunctionEventInvokeConfig,
  FunctionEventInvokeConfig (valid ranges).
- **The role must be allowed to send to the destination** (knob
  ``destination_permission_check``): PutFunctionEventInvokeConfig / Update with an SQS
  on-failure destination the function's execution role may not ``sqs:SendMessage`` to
  answers 400 ``InvalidParameterValueException`` "The destination ARN ARN is invalid."
  (terraform-provider-aws, docs of ``aws_lambda_function_event_invoke_config``: "Ensure
  the Lambda Function IAM Role has necessary permissions for the destination, such as
  sqs:SendMessage ..., otherwise the API will return a generic
  InvalidParameterValueException: The destination ARN ... is invalid."); at delivery a role
  that lost the permission drops the record.
- **Delivery** (``deliver``, called by ``lambda_runner`` when an event is exhausted): the
  invocation record goes to the SQS queue (same account and region as the ARN says) as a
  message; a missing queue or a role without the permission drops it (Lambda developer
  guide, "Capturing records of Lambda asynchronous invocations": a record Lambda cannot
  send is counted in ``DestinationDeliveryFailures`` and lost). Each delivery is a line in
  the request log (service ``sqs``, operation ``SendMessage``, source ``lambda``,
  ``destination`` = the ARN) and in ``invocations.log``.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

from ..patching import replace

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE = 21600
AWS_RETRY_DELAYS = (60.0, 120.0)  # s: "one minute ... then two minutes"


def _validation(field: str, value: Any, msg: str) -> Exception:
    from moto.awslambda.exceptions import ValidationException

    return ValidationException(value, field, msg)


def _config_of(fn: Any) -> dict[str, Any]:
    cfgs = getattr(fn, "event_invoke_config", None) or []
    return dict(cfgs[-1].config) if cfgs else {}


def async_settings(fn: Any) -> tuple[int, int, str | None]:
    """(MaximumRetryAttempts, MaximumEventAgeInSeconds, on-failure destination ARN)."""
    cfg = _config_of(fn)
    retries = cfg.get("MaximumRetryAttempts")
    age = cfg.get("MaximumEventAgeInSeconds")
    dest = ((cfg.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    return (DEFAULT_RETRIES if retries is None else int(retries),
            DEFAULT_MAX_AGE if age is None else int(age), dest or None)


# ------------------------------------------------------------ permissions --

def _role_documents(role_arn: str, account_id: str, region: str) -> list[dict] | None:
    """The identity policies of a role (inline and attached), None if it does not exist."""
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    name = (role_arn or "").rsplit("/", 1)[-1]
    try:
        role = iam_backends[account_id][get_partition(region)].get_role(name)
    except Exception:  # noqa: BLE001
        return None
    docs: list[dict] = []
    raw = list(role.policies.values())
    for pol in role.managed_policies.values():
        for v in getattr(pol, "versions", []):
            if getattr(v, "is_default", False) or getattr(v, "version_id", None) == \
                    getattr(pol, "default_version_id", None):
                raw.append(v.document)
                break
    for text in raw:
        try:
            docs.append(json.loads(text) if isinstance(text, str) else text)
        except ValueError:
            continue
    return docs


def role_allows(role_arn: str, action: str, resource: str, account_id: str, region: str) -> bool:
    """An explicit Allow for action on resource in the role's policies, and no Deny
    (permissions boundaries and SCPs are not modelled)."""
    from .policy_eval import Result, evaluate

    docs = _role_documents(role_arn, account_id, region)
    if docs is None:
        return False
    allowed = False
    for doc in docs:
        r = evaluate(doc, action, resource, {}, account_id)
        if r == Result.DENIED:
            return False
        allowed = allowed or r == Result.PERMITTED
    return allowed


def _check_destination(config: Any, fn: Any, cfg: dict[str, Any]) -> None:
    from moto.awslambda.exceptions import InvalidParameterValueException

    dest_cfg = cfg.get("DestinationConfig") or {}
    for side in ("OnFailure", "OnSuccess"):
        arn = (dest_cfg.get(side) or {}).get("Destination")
        if not arn or not config.get("destination_permission_check"):
            continue
        if arn.split(":")[2:3] == ["sqs"] and not role_allows(
                fn.role, "sqs:SendMessage", arn, fn.account_id, fn.region):
            raise InvalidParameterValueException(f"The destination ARN {arn} is invalid.")


def _validate_ranges(cfg: dict[str, Any]) -> None:
    mra = cfg.get("MaximumRetryAttempts")
    if mra is not None and not 0 <= int(mra) <= 2:
        raise _validation("maximumRetryAttempts", mra,
                          "Member must have value between 0 and 2" if int(mra) < 0 else
                          "Member must have value less than or equal to 2")
    age = cfg.get("MaximumEventAgeInSeconds")
    if age is not None and not 60 <= int(age) <= 21600:
        raise _validation("maximumEventAgeInSeconds", age,
                          "Member must have value greater than or equal to 60" if int(age) < 60
                          else "Member must have value less than or equal to 21600")


def install(runner: Any, config: Any) -> None:
    from moto.awslambda.models import EventInvokeConfig, LambdaBackend

    def _store(self: Any, function_name: str, cfg: dict[str, Any]) -> dict[str, Any]:
        fn = self.get_function(function_name)
        _validate_ranges(cfg)
        _check_destination(config, fn, cfg)
        now = datetime.datetime.now(datetime.timezone.utc).timestamp()
        ec = EventInvokeConfig(fn.function_arn, now, cfg)
        fn.event_invoke_config = [ec]
        return ec.response()

    def put_function_event_invoke_config(self: Any, function_name: str,
                                         config_in: dict[str, Any]) -> dict[str, Any]:
        return _store(self, function_name, dict(config_in or {}))

    def update_function_event_invoke_config(self: Any, function_name: str,
                                            config_in: dict[str, Any]) -> dict[str, Any]:
        fn = self.get_function(function_name)
        merged = _config_of(fn)
        merged.update(config_in or {})
        return _store(self, function_name, merged)

    replace("moto.awslambda.models", "LambdaBackend.put_function_event_invoke_config",
            put_function_event_invoke_config)
    replace("moto.awslambda.models", "LambdaBackend.update_function_event_invoke_config",
            update_function_event_invoke_config)


# --------------------------------------------------------------- delivery --

def invocation_record(fn: Any, request_id: str, condition: str, invoke_count: int,
                      payload: bytes, response: Any | None) -> dict[str, Any]:
    """The on-failure invocation record (Lambda developer guide, "Capturing records of
    Lambda asynchronous invocations")."""
    try:
        request_payload: Any = json.loads(payload or b"{}")
    except ValueError:
        request_payload = (payload or b"").decode("utf-8", "replace")
    now = datetime.datetime.now(datetime.timezone.utc)
    rec: dict[str, Any] = {
        "version": "1.0",
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{fn.function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": request_payload,
    }
    if response is not None:
        rec["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST",
                                  "functionError": "Unhandled"}
        try:
            rec["responsePayload"] = json.loads(response.payload or b"null")
        except ValueError:
            rec["responsePayload"] = response.payload.decode("utf-8", "replace")
    return rec


def deliver(fn: Any, dest_arn: str, record: dict[str, Any], config: Any,
            reqlog: Any | None) -> tuple[bool, str]:
    """Send the record to an SQS destination as the function's role would. Returns
    (delivered, reason)."""
    t0 = time.monotonic()
    parts = dest_arn.split(":")
    ok, reason = False, ""
    if len(parts) < 6 or parts[2] != "sqs":
        reason = f"unsupported destination {dest_arn} (local AWS delivers to SQS only)"
    elif config.get("destination_permission_check") and not role_allows(
            fn.role, "sqs:SendMessage", dest_arn, fn.account_id, fn.region):
        reason = f"the execution role {fn.role} may not sqs:SendMessage to {dest_arn}"
    else:
        from moto.sqs.models import sqs_backends

        region, account, queue = parts[3], parts[4], parts[5]
        try:
            backend = sqs_backends[account][region]
            backend.get_queue(queue)
            backend.send_message(queue, json.dumps(record))
            ok = True
        except Exception as e:  # noqa: BLE001 - QueueDoesNotExist and friends
            reason = f"{type(e).__name__}: the queue {dest_arn} does not exist" \
                if "NonExistent" in type(e).__name__ or "DoesNotExist" in type(e).__name__ \
                else f"{type(e).__name__}: {e}"
    if reqlog is not None:
        reqlog.write({"service": "sqs", "operation": "SendMessage", "listener": "internal",
                      "source": "lambda", "write": True, "status": 200 if ok else 400,
                      "ms": round((time.monotonic() - t0) * 1000.0, 1), "fault": None,
                      "ts": round(time.time(), 3), "destination": dest_arn,
                      "function": fn.function_name,
                      "error": None if ok else reason})
    return ok, reason
