"""Lambda function states (Lambda developer guide, "Lambda function states").

- ``function_delay``: a new function is ``State: Pending`` (``StateReasonCode:
  Creating``) for N s, then ``Active``; after UpdateFunctionCode /
  UpdateFunctionConfiguration ``LastUpdateStatus`` is ``InProgress`` for N s, then
  ``Successful``. An update meanwhile (or while Pending) answers 409
  ``ResourceConflictException``; a synchronous Invoke while Pending too.
- ``function_idle``: a function neither updated nor invoked for N s is ``State:
  Inactive`` (``StateReasonCode: Idle``); ``POST /_localaws/lambda/inactive`` makes one
  Inactive at once. Updates are allowed while Inactive ("Inactive – A function becomes
  inactive when it has been idle long enough for Lambda to reclaim the external resources
  that were configured for it", same guide) and make it Active again. A synchronous
  invocation of an Inactive function fails (409 ``ResourceConflictException``, "... in the
  following state: Inactive") and makes it ``Pending`` for ``function_delay`` s (at least
  0.2 s), then ``Active``: "When you try to invoke a function that is inactive, the invocation
  fails and Lambda sets the function to pending state until the function resources are
  recreated" (same guide); an asynchronous event (Lambda queues it) wakes it.
- ``POST /_localaws/lambda/failed`` makes one ``State: Failed`` (or, with ``"update":
  true``, ``LastUpdateStatus: Failed``) with a reason, as Lambda reports a function whose
  creation or last update failed (same guide, "Failed"); the next successful update clears it.
"""

from __future__ import annotations

import time
from typing import Any

from ..patching import replace

_config: Any = None


def _idle(fn: Any) -> bool:
    if getattr(fn, "_la_forced_inactive", False):
        return True
    idle = _config.get("function_idle") if _config is not None else 0
    last = getattr(fn, "_la_last_used", None)
    return idle > 0 and last is not None and time.monotonic() - last >= idle


def function_state(fn: Any) -> str:
    if time.monotonic() < getattr(fn, "_la_pending_until", 0.0):
        return "Pending"
    return "Inactive" if _idle(fn) else "Active"


def update_in_progress(fn: Any) -> bool:
    return time.monotonic() < getattr(fn, "_la_updating_until", 0.0)


def touch(fn: Any) -> None:
    """The function was used (updated, invoked): not idle any more."""
    fn._la_last_used = time.monotonic()
    fn._la_forced_inactive = False


def wake(fn: Any) -> None:
    """An invocation of an Inactive function: it failed, and the function is Pending for
    `function_delay` s (at least a moment), then Active."""
    delay = _config.get("function_delay") if _config is not None else 0.0
    fn._la_pending_until = time.monotonic() + max(delay, 0.2)
    touch(fn)


def make_failed(fn: Any, reason: str, update: bool) -> None:
    if update:
        fn._la_update_failed = reason
    else:
        fn._la_failed = reason


def _updated(fn: Any) -> None:
    """A successful update: a failure it repairs is gone."""
    fn._la_failed = None
    fn._la_update_failed = None


def make_inactive(fn: Any) -> None:
    fn._la_forced_inactive = True


def get_function(account_id: str, region: str, name: str) -> Any:
    from moto.awslambda.models import lambda_backends

    return lambda_backends[account_id][region].get_function(name)


def install(runner: Any, config: Any) -> None:
    global _config
    _config = config
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    class ResourceConflict(LambdaClientError):
        code = 409

        def __init__(self, message: str):
            super().__init__("ResourceConflictException", message)

    def check_updatable(fn: Any) -> None:
        if function_state(fn) == "Pending":
            raise ResourceConflict("The operation cannot be performed at this time. "
                                   "The function is currently in the following state: Pending")
        if update_in_progress(fn):
            raise ResourceConflict("The operation cannot be performed at this time. An update is "
                                   f"in progress for resource: {fn.function_arn}")

    orig_get_configuration = LambdaFunction.get_configuration

    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        cfg = orig_get_configuration(self, on_create)
        state = function_state(self)
        failed = getattr(self, "_la_failed", None)
        if failed:
            cfg.update(State="Failed", StateReason=failed, StateReasonCode="InternalError")
        elif state == "Pending":
            cfg.update(State="Pending", StateReason="The function is being created.",
                       StateReasonCode="Creating")
        elif state == "Inactive":
            cfg.update(State="Inactive", StateReason="The function is inactive.",
                       StateReasonCode="Idle")
        else:
            cfg["State"] = "Active"
            cfg.pop("StateReason", None)
            cfg.pop("StateReasonCode", None)
        if not on_create:
            update_failed = getattr(self, "_la_update_failed", None)
            if update_in_progress(self):
                cfg.update(LastUpdateStatus="InProgress",
                           LastUpdateStatusReason="The function is being created.",
                           LastUpdateStatusReasonCode="Creating")
            elif update_failed:
                cfg.update(LastUpdateStatus="Failed", LastUpdateStatusReason=update_failed,
                           LastUpdateStatusReasonCode="InternalError")
            else:
                cfg["LastUpdateStatus"] = "Successful"
        return cfg

    replace("moto.awslambda.models", "LambdaFunction.get_configuration", get_configuration)

    orig_create_function = LambdaBackend.create_function

    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        fn = orig_create_function(self, spec)
        until = time.monotonic() + config.get("function_delay")
        fns = [fn]
        try:
            fns.append(self.get_function(spec["FunctionName"]))
        except Exception:  # noqa: BLE001
            pass
        for f in fns:
            f._la_pending_until = until
            touch(f)
        return fn

    replace("moto.awslambda.models", "LambdaBackend.create_function", create_function)

    def updating(orig: Any, dry_run: Any = lambda body: False) -> Any:
        def update(self: Any, function_name: str, qualifier: str, body: dict) -> Any:
            fn = self.get_function(function_name, qualifier)
            check_updatable(fn)
            if dry_run(body):
                return orig(self, function_name, qualifier, body)
            saved = (getattr(fn, "_la_updating_until", 0.0), getattr(fn, "_la_last_used", None),
                     getattr(fn, "_la_forced_inactive", False))
            fn._la_updating_until = time.monotonic() + config.get("function_delay")
            touch(fn)
            try:
                out = orig(self, function_name, qualifier, body)
            except Exception:
                fn._la_updating_until, fn._la_last_used, fn._la_forced_inactive = saved
                raise
            _updated(fn)
            return out
        return update

    replace("moto.awslambda.models", "LambdaBackend.update_function_code",
            updating(LambdaBackend.update_function_code,
                     lambda body: bool(body.get("DryRun"))))
    replace("moto.awslambda.models", "LambdaBackend.update_function_configuration",
            updating(LambdaBackend.update_function_configuration))
