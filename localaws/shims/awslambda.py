"""Lambda shims: invocations run python for real (lambda_runner), function
State Pending / LastUpdateStatus InProgress for `function_delay` seconds, a
second update meanwhile -> ResourceConflictException, and IAM role propagation:
a role younger than `role_delay` seconds cannot be assumed by Lambda yet."""

from __future__ import annotations

import time
from typing import Any

_ROLE_MSG = "The role defined for the function cannot be assumed by Lambda."


def function_state(fn: Any) -> str:
    return "Pending" if time.monotonic() < getattr(fn, "_la_pending_until", 0.0) else "Active"


def update_in_progress(fn: Any) -> bool:
    return time.monotonic() < getattr(fn, "_la_updating_until", 0.0)


def get_function(account_id: str, region: str, name: str) -> Any:
    from moto.awslambda.models import lambda_backends

    return lambda_backends[account_id][region].get_function(name)


def install(runner: Any, config: Any) -> None:
    from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError
    from moto.awslambda.models import LambdaBackend, LambdaFunction
    from moto.iam.models import IAMBackend, iam_backends
    from moto.utilities.utils import get_partition

    from ..lambda_runner import log_tail

    class ResourceConflict(LambdaClientError):
        code = 409

        def __init__(self, message: str):
            super().__init__("ResourceConflictException", message)

    # -- role propagation ---------------------------------------------------
    orig_create_role = IAMBackend.create_role

    def create_role(self: Any, *args: Any, **kwargs: Any) -> Any:
        role = orig_create_role(self, *args, **kwargs)
        role._la_created = time.monotonic()
        return role

    IAMBackend.create_role = create_role

    orig_update_arp = IAMBackend.update_assume_role_policy

    def update_assume_role_policy(self: Any, role_name: str, policy_document: str) -> Any:
        out = orig_update_arp(self, role_name, policy_document)
        try:
            self.get_role(role_name)._la_created = time.monotonic()
        except Exception:  # noqa: BLE001
            pass
        return out

    IAMBackend.update_assume_role_policy = update_assume_role_policy

    def check_role(role_arn: str | None, account_id: str, region: str) -> None:
        delay = config.get("role_delay")
        if not role_arn:
            return
        name = role_arn.rsplit("/", 1)[-1]
        try:
            role = iam_backends[account_id][get_partition(region)].get_role(name)
        except Exception:  # noqa: BLE001 - a missing role cannot be assumed either
            raise InvalidParameterValueException(_ROLE_MSG)
        created = getattr(role, "_la_created", None)
        if delay > 0 and created is not None and time.monotonic() - created < delay:
            raise InvalidParameterValueException(_ROLE_MSG)

    # -- states -------------------------------------------------------------
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
        if function_state(self) == "Pending":
            cfg.update(State="Pending", StateReason="The function is being created.",
                       StateReasonCode="Creating")
        else:
            cfg["State"] = "Active"
        if not on_create:
            if update_in_progress(self):
                cfg.update(LastUpdateStatus="InProgress",
                           LastUpdateStatusReason="The function is being created.",
                           LastUpdateStatusReasonCode="Creating")
            else:
                cfg["LastUpdateStatus"] = "Successful"
        return cfg

    LambdaFunction.get_configuration = get_configuration

    orig_create_function = LambdaBackend.create_function

    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        check_role(spec.get("Role"), self.account_id, self.region_name)
        fn = orig_create_function(self, spec)
        until = time.monotonic() + config.get("function_delay")
        fn._la_pending_until = until
        try:
            self.get_function(spec["FunctionName"])._la_pending_until = until
        except Exception:  # noqa: BLE001
            pass
        return fn

    LambdaBackend.create_function = create_function

    orig_update_code = LambdaBackend.update_function_code

    def update_function_code(self: Any, function_name: str, qualifier: str, body: dict) -> Any:
        fn = self.get_function(function_name, qualifier)
        check_updatable(fn)
        if not body.get("DryRun"):
            fn._la_updating_until = time.monotonic() + config.get("function_delay")
        return orig_update_code(self, function_name, qualifier, body)

    LambdaBackend.update_function_code = update_function_code

    orig_update_config = LambdaBackend.update_function_configuration

    def update_function_configuration(self: Any, function_name: str, qualifier: str,
                                      body: dict) -> Any:
        fn = self.get_function(function_name, qualifier)
        check_updatable(fn)
        if "Role" in body:
            check_role(body["Role"], self.account_id, self.region_name)
        fn._la_updating_until = time.monotonic() + config.get("function_delay")
        return orig_update_config(self, function_name, qualifier, body)

    LambdaBackend.update_function_configuration = update_function_configuration

    # -- invocations ----------------------------------------------------------
    def _bytes(body: Any) -> bytes:
        if body is None or body == "":
            return b"{}"
        return body if isinstance(body, bytes) else str(body).encode()

    def invoke(self: Any, function_name: str, qualifier: str | None, body: Any,
               headers: Any, response_headers: dict) -> bytes:
        fn = self.get_function(function_name, qualifier)
        if function_state(fn) == "Pending":
            raise ResourceConflict("The operation cannot be performed at this time. "
                                   "The function is currently in the following state: Pending")
        inv_type = (headers.get("X-Amz-Invocation-Type") if headers else None) or "RequestResponse"
        if inv_type == "Event":
            runner.invoke_async(fn.function_name, fn.account_id, fn.region, _bytes(body),
                                trigger="invoke")
            payload = b""
        elif inv_type == "DryRun":
            payload = b""
        else:
            res = runner.invoke_sync(fn, _bytes(body))
            if not res.ok:
                response_headers["x-amz-function-error"] = "Unhandled"
            response_headers["x-amz-log-result"] = log_tail(res.log_text)
            payload = res.payload
        response_headers["x-amz-executed-version"] = "$LATEST"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    LambdaBackend.invoke = invoke

    def fn_invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        # moto's InvokeAsync (and anything else calling the function directly)
        runner.invoke_async(self.function_name, self.account_id, self.region, _bytes(body),
                            trigger="invoke")
        return b""

    LambdaFunction.invoke = fn_invoke
