"""Runs inside the Lambda function's process (like Lambda's python runtime).

Either as a script (`python -I -u lambda_bootstrap.py ARGS`, the plain subprocess
path) or called as main(ARGS) in a child freshly forked by the fork server
(lambda_forkserver.py), which has set up env, stdin and stdout the same way.
argv: code_dir handler result_path request_id deadline_epoch_ms
stdin: the event (JSON). The handler's return value (or error) is written as
JSON to result_path: {"ok": true, "result": ...} or {"ok": false, "error": {...}}.
stdout/stderr are collected by the runner into CloudWatch Logs.
"""

import importlib
import json
import logging
import os
import sys
import time
import traceback


class LambdaContext:
    def __init__(self, request_id, deadline_ms):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ["LOCALAWS_INVOKED_FUNCTION_ARN"]
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def __repr__(self):
        return (f"LambdaContext([aws_request_id={self.aws_request_id},"
                f"function_name={self.function_name},"
                f"invoked_function_arn={self.invoked_function_arn}])")


class _LambdaLogFormatter(logging.Formatter):
    def __init__(self, request_id):
        super().__init__("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
                         "%Y-%m-%dT%H:%M:%S")
        self.converter = time.gmtime
        self.request_id = request_id

    def format(self, record):
        record.aws_request_id = self.request_id
        return super().format(record)


def _error(exc, error_type=None, message=None, trace=True):
    return {
        "errorMessage": message if message is not None else str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__) if trace and exc else [],
    }


def main(argv=None):
    code_dir, handler_spec, result_path, request_id, deadline_ms = (argv or sys.argv[1:])[:5]
    deadline_ms = float(deadline_ms)
    # Like /var/task: the function's code first on the path, our own dir off it.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path.insert(0, code_dir)
    # Lambda's Python runtime provides boto3 (and what it needs), nothing else of the host's:
    # the host's site-packages give way to a folder holding only those (the runner's
    # LOCALAWS_RUNTIME_SITE), so a missing dependency fails here as on Lambda.
    runtime_site = os.environ.get("LOCALAWS_RUNTIME_SITE")
    if runtime_site:
        sys.path[:] = [p for p in sys.path
                       if not p.rstrip(os.sep).endswith(("site-packages", "dist-packages"))]
        sys.path.append(runtime_site)
    # The function's layers, after its code (/opt/python..., shims/lambda_layers.py).
    layers = [p for p in os.environ.get("LOCALAWS_LAYER_PATHS", "").split(os.pathsep) if p]
    sys.path[1:1] = layers
    os.chdir(code_dir)

    root = logging.getLogger()
    h = logging.StreamHandler(sys.stdout)
    h.setFormatter(_LambdaLogFormatter(request_id))
    root.addHandler(h)
    root.setLevel(logging.WARNING)

    def finish(payload):
        sys.stdout.flush()
        sys.stderr.flush()
        with open(result_path + ".tmp", "w") as f:
            json.dump(payload, f)
        os.replace(result_path + ".tmp", result_path)

    event = json.loads(sys.stdin.read() or "{}")
    module_name, _, func_name = handler_spec.rpartition(".")
    if not module_name:
        finish({"ok": False, "error": {"errorMessage": f"Bad handler '{handler_spec}': not enough values to unpack (expected 2, got 1)",
                                       "errorType": "Runtime.MalformedHandlerName", "stackTrace": []}})
        return
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        msg = f"Unable to import module '{module_name}': {e}"
        print(f"[ERROR] Runtime.ImportModuleError: {msg}")
        finish({"ok": False, "error": _error(e, "Runtime.ImportModuleError", msg, trace=False)})
        return
    except Exception as e:  # noqa: BLE001 - init error, reported as Lambda does
        print(f"[ERROR] {type(e).__name__}: {e}")
        traceback.print_exc()
        finish({"ok": False, "error": _error(e, "Runtime.UserCodeSyntaxError" if isinstance(e, SyntaxError) else None)})
        return
    func = getattr(module, func_name, None)
    if func is None:
        msg = f"Handler '{func_name}' missing on module '{module_name}'"
        print(f"[ERROR] Runtime.HandlerNotFound: {msg}")
        finish({"ok": False, "error": {"errorMessage": msg, "errorType": "Runtime.HandlerNotFound", "stackTrace": []}})
        return
    context = LambdaContext(request_id, deadline_ms)
    try:
        result = func(event, context)
    except Exception as e:  # noqa: BLE001 - the function's error is the result
        err = _error(e)
        err["requestId"] = request_id
        print(f"[ERROR] {err['errorType']}: {err['errorMessage']}\nTraceback (most recent call last):\n"
              + "".join(err["stackTrace"]))
        finish({"ok": False, "error": err})
        return
    try:
        json.dumps(result)
    except (TypeError, ValueError) as e:
        finish({"ok": False, "error": {"errorMessage": f"Unable to marshal response: {e}",
                                       "errorType": "Runtime.MarshalError", "requestId": request_id,
                                       "stackTrace": []}})
        return
    finish({"ok": True, "result": result})


if __name__ == "__main__":
    main()
