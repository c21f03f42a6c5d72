"""Lambda invocations run python for real (``lambda_runner``): Invoke
RequestResponse returns the result (``FunctionError: Unhandled`` and the error object
for a failed one; the log tail only with ``LogType=Tail``), Event returns 202
and runs on the runner's pool with its retries, moto's InvokeAsync too. A synchronous
Invoke of a ``Pending`` function answers 409 ``ResourceConflictException``; any
invocation wakes an ``Inactive`` one (``lambda_states``)."""

from __future__ import annotations

import threading
from typing import Any

from ..patching import replace
from .lambda_states import function_state, touch, wake

# The invocation's request id for the answer's x-amzn-RequestId (moto draws a random one
# after the call): Lambda answers with the id the function saw (its records and retries
# carry it too).
_request_id = threading.local()


def install(runner: Any, config: Any) -> None:
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    from ..lambda_runner import log_tail

    class ResourceConflict(LambdaClientError):
        code = 409

        def __init__(self, message: str):
            super().__init__("ResourceConflictException", message)

    def _bytes(body: Any) -> bytes:
        if body is None or body == "":
            return b"{}"
        return body if isinstance(body, bytes) else str(body).encode()

    def invoke(self: Any, function_name: str, qualifier: str | None, body: Any,
               headers: Any, response_headers: dict) -> bytes:
        fn = self.get_function(function_name, qualifier)
        state = function_state(fn)
        if state == "Pending":
            raise ResourceConflict("The operation cannot be performed at this time. "
                                   "The function is currently in the following state: Pending")
        if state == "Inactive":
            # "When you try to invoke a function that is inactive, the invocation fails and
            # Lambda sets the function to pending state until the function resources are
            # recreated" (Lambda developer guide, "Lambda function states").
            wake(fn)
            raise ResourceConflict("The operation cannot be performed at this time. "
                                   "The function is currently in the following state: Inactive")
        touch(fn)
        inv_type = (headers.get("X-Amz-Invocation-Type") if headers else None) or "RequestResponse"
        if inv_type == "Event":
            rid = runner.invoke_async(fn.function_name, fn.account_id, fn.region, _bytes(body),
                                      trigger="invoke")
            _request_id.value = rid
            payload = b""
        elif inv_type == "DryRun":
            payload = b""
        else:
            res = runner.invoke_sync(fn, _bytes(body))
            if not res.ok:
                response_headers["x-amz-function-error"] = "Unhandled"
            # the log tail only when asked for (Invoke: "LogType Tail ... RequestResponse only")
            if (headers.get("X-Amz-Log-Type") if headers else None) == "Tail":
                response_headers["x-amz-log-result"] = log_tail(res.log_text)
            _request_id.value = res.request_id
            payload = res.payload
        response_headers["x-amz-executed-version"] = "$LATEST"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    replace("moto.awslambda.models", "LambdaBackend.invoke", invoke)

    from moto.core import responses as core_responses

    orig_gen = core_responses.gen_amzn_requestid_long

    def gen_amzn_requestid_long(headerdict: Any = None) -> str:
        rid = getattr(_request_id, "value", None)
        if rid is None:
            return orig_gen(headerdict)
        _request_id.value = None
        if isinstance(headerdict, dict):
            headerdict["x-amzn-requestid"] = rid
        return rid

    replace("moto.core.responses", "gen_amzn_requestid_long", gen_amzn_requestid_long)

    def fn_invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        # moto's InvokeAsync (and anything else calling the function directly)
        touch(self)
        runner.invoke_async(self.function_name, self.account_id, self.region, _bytes(body),
                            trigger="invoke")
        return b""

    replace("moto.awslambda.models", "LambdaFunction.invoke", fn_invoke)
