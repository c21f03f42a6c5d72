"""WSGI middleware in front of moto: control endpoint, request classification,
latency, fault injection (``faults.pick``), request hooks (``localaws.hooks``:
consistency and conflict behaviours), request log, S3 AccessDenied bodies.

It never reads an S3 (or Lambda) request body: the SDKs send PutObject as
aws-chunked with chunked transfer encoding and moto must get the stream as is.
Only IAM/STS form bodies (small, with a Content-Length) are read, and put back.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any, Callable

from . import LAMBDA_KEY_PREFIX, context
from .config import Config, ConfigError
from .faults import HANDLER_WRITE_FAULT, dynamodb_write_throttle, fault_response, pick
from .hooks import Request
from .operations import classify, credential_scope, needs_form_body, s3_bucket_and_key
from .requestlog import RequestLogWriter, is_write

_ACCESS_DENIED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
    "<RequestId>LOCALAWS</RequestId><HostId>localaws</HostId></Error>"
).encode()


def drain_body(environ: dict) -> None:
    """Consume an unread request body the way the server framed it."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    try:
        if environ.get("wsgi.input_terminated"):
            while stream.read(65536):
                pass
        elif environ.get("CONTENT_LENGTH"):
            left = int(environ["CONTENT_LENGTH"])
            while left > 0:
                chunk = stream.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
    except Exception:  # noqa: BLE001 - the client went away; nothing to drain
        pass


_REASONS = {200: "OK", 301: "Moved Permanently", 400: "Bad Request", 403: "Forbidden",
            404: "Not Found", 409: "Conflict", 500: "Internal Server Error",
            503: "Slow Down"}


def _json_body(environ: dict) -> Any:
    """A control request's JSON body (an empty body reads as `{}`)."""
    n = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(n) if n else b""
    return json.loads(raw or b"{}")


def _json(start_response: Callable, status: int, obj: Any) -> list[bytes]:
    body = json.dumps(obj, indent=1).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "")
    start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                           ("Content-Length", str(len(body)))])
    return [body]


class LocalAwsMiddleware:
    def __init__(self, app: Callable, listener: str, config: Config,
                 reqlog: RequestLogWriter, control: "Control", hooks: list | None = None):
        self.app = app
        self.hooks = hooks or []
        self.listener = listener
        self.config = config
        self.reqlog = reqlog
        self.control = control

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_localaws/") or path == "/_localaws":
            return self.control.handle(environ, start_response)

        t0 = time.monotonic()
        akid, region, signing = credential_scope(environ)
        lambda_src = (akid or "").startswith(LAMBDA_KEY_PREFIX) or \
            environ.get("HTTP_X_LOCALAWS_SOURCE") == "lambda"
        source = "lambda" if lambda_src else "client"

        body = None
        if needs_form_body(environ, signing):
            body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
            environ["wsgi.input"] = io.BytesIO(body)
        service, operation = classify(environ, body)
        method = environ.get("REQUEST_METHOD", "GET")

        delay = self.config.latency_seconds()
        if delay:
            time.sleep(delay)

        record: dict[str, Any] = {
            "service": service, "operation": operation, "listener": self.listener,
            "source": source, "write": is_write(operation),
        }
        expected_owner = environ.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER")
        if service == "s3" and expected_owner:
            record["expected_owner"] = expected_owner
        kind = pick(self.config, service, operation, source)
        if kind == HANDLER_WRITE_FAULT:
            # a small JSON body with a Content-Length (DynamoDB): read it for the table name
            n = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(n) if 0 < n <= 1 << 20 else None
            if raw is None:
                drain_body(environ)
            from . import ACCOUNT_ID
            status, headers, payload = dynamodb_write_throttle(raw, region, ACCOUNT_ID)
            start_response(f"{status} Fault", headers)
            self._log(record, status, t0, "throttle")
            return [payload]
        if kind:
            drain_body(environ)
            status, headers, payload = fault_response(service, kind, method)
            start_response(f"{status} Fault", headers)
            self._log(record, status, t0, kind)
            return [payload]

        req = Request(service, operation, method, source, self.listener, region, environ, body)
        if service == "s3":
            req.bucket, req.key = s3_bucket_and_key(environ)
        for hook in self.hooks:
            answer = hook.before(req)
            if answer is not None:
                drain_body(environ)
                status, headers, payload = answer
                start_response(f"{status} {_REASONS.get(status, '')}".rstrip(), headers)
                self._log(record, status, t0, None)
                return [payload]

        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured["status"] = status
            captured["headers"] = headers
            return lambda data: captured.setdefault("written", []).append(data)

        context.set_current(self.listener, source, service, operation)
        code = 500
        try:
            result = self.app(environ, capture)
            try:
                data = b"".join(captured.get("written", [])) + b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            status_line = captured.get("status", "500 Internal Server Error")
            code = int(status_line.split()[0])
        finally:
            context.clear()
            for hook in self.hooks:
                hook.after(req, code)

        headers = list(captured.get("headers", []))
        if service == "s3" and code == 403 and not data and method != "HEAD":
            data = _ACCESS_DENIED
            headers = [(k, v) for k, v in headers if k.lower() not in
                       ("content-length", "content-type")]
            headers += [("Content-Type", "application/xml"),
                        ("Content-Length", str(len(data)))]
        start_response(status_line, headers)
        self._log(record, code, t0, None)
        return [data]

    def _log(self, record: dict, status: int, t0: float, fault: str | None) -> None:
        record["status"] = status
        record["ms"] = round((time.monotonic() - t0) * 1000.0, 1)
        record["fault"] = fault
        record["ts"] = round(time.time(), 3)
        self.reqlog.write(record)


class Control:
    """/_localaws/* on both listeners (not logged as API calls):

    GET  /_localaws/health        {"ok": true}
    GET  /_localaws/config        current knobs
    POST /_localaws/config        JSON object of knobs to change; answers the new knobs
    GET  /_localaws/invocations   Lambda invocation records (sync, async, retries)
    POST /_localaws/s3/fill       put many real object versions at once (localaws.bulk)
    POST /_localaws/dynamodb/fill put many log items into a table at once (localaws.bulk)
    GET  /_localaws/dynamodb/index-stats  per table: Queries, items examined, items indexed
                                  (shims/dynamodb_index)
    POST /_localaws/lambda/inactive  {"function": NAME[, "region": R][, "account": A]}:
                                  the function is Inactive now (shims/lambda_states)
    POST /_localaws/s3/system-tags   {"bucket": B, "tags": {"aws:...": V}[, "account": A]}:
                                  the bucket's aws: tags, as CloudFormation sets them
                                  (shims/s3_system_tags)
    POST /_localaws/lambda/failed    {"function": NAME[, "reason": R][, "update": true]}:
                                  State (or LastUpdateStatus) Failed with that reason
    POST /_localaws/lambda/tags-denied  {"function": NAME[, "denied": false]}: the caller
                                  lacks lambda:ListTags on it (shims/lambda_tags)
    """

    def __init__(self, config: Config, runner: Any, region: str = "us-west-2"):
        self.config = config
        self.runner = runner
        self.region = region

    def handle(self, environ: dict, start_response: Callable) -> list[bytes]:
        path = environ.get("PATH_INFO", "").rstrip("/")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/_localaws/health":
            return _json(start_response, 200, {"ok": True})
        if path == "/_localaws/config":
            if method == "GET":
                return _json(start_response, 200, self.config.snapshot())
            if method in ("POST", "PUT"):
                try:
                    changes = _json_body(environ)
                    return _json(start_response, 200, self.config.update(changes))
                except (ConfigError, ValueError) as e:
                    return _json(start_response, 400, {"error": str(e)})
        if path == "/_localaws/s3/fill" and method == "POST":
            from .bulk import FillError, fill
            try:
                spec = _json_body(environ)
                return _json(start_response, 200, fill(spec))
            except (FillError, ValueError) as e:
                return _json(start_response, 400, {"error": str(e)})
        if path == "/_localaws/dynamodb/fill" and method == "POST":
            from .bulk import FillError, fill_table
            try:
                spec = _json_body(environ)
                return _json(start_response, 200, fill_table(spec, self.region))
            except (FillError, ValueError) as e:
                return _json(start_response, 400, {"error": str(e)})
        if path == "/_localaws/dynamodb/index-stats" and method == "GET":
            from .shims.dynamodb_index import stats
            return _json(start_response, 200, stats())
        if path == "/_localaws/lambda/inactive" and method == "POST":
            try:
                spec = _json_body(environ)
                return _json(start_response, 200, self._make_inactive(spec))
            except (LookupError, ValueError, TypeError) as e:
                return _json(start_response, 400, {"error": f"lambda/inactive: {e!r}"})
        if path == "/_localaws/s3/system-tags" and method == "POST":
            from .shims.s3_system_tags import set_system_tags
            try:
                spec = _json_body(environ)
                return _json(start_response, 200, set_system_tags(spec))
            except LookupError as e:
                return _json(start_response, 404, {"error": f"s3/system-tags: {e.args[0]}"})
            except (ValueError, TypeError) as e:
                return _json(start_response, 400, {"error": f"s3/system-tags: {e}"})
        if path == "/_localaws/lambda/failed" and method == "POST":
            try:
                spec = _json_body(environ)
                return _json(start_response, 200, self._make_failed(spec))
            except (LookupError, ValueError, TypeError) as e:
                return _json(start_response, 400, {"error": f"lambda/failed: {e!r}"})
        if path == "/_localaws/lambda/tags-denied" and method == "POST":
            from .shims.lambda_tags import set_denied
            try:
                spec = _json_body(environ)
                return _json(start_response, 200, set_denied(spec, self.region))
            except (LookupError, ValueError, TypeError) as e:
                return _json(start_response, 400, {"error": f"lambda/tags-denied: {e!r}"})
        if path == "/_localaws/invocations" and method == "GET":
            return _json(start_response, 200, self.runner.records() if self.runner else [])
        return _json(start_response, 404, {"error": f"no such control path: {method} {path}"})

    def _make_inactive(self, spec: dict) -> dict:
        from . import ACCOUNT_ID
        from .shims.lambda_states import function_state, get_function, make_inactive

        if not isinstance(spec, dict) or not isinstance(spec.get("function"), str):
            raise ValueError('needs {"function": NAME}')
        region = spec.get("region") or self.region
        fn = get_function(str(spec.get("account") or ACCOUNT_ID), region, spec["function"])
        make_inactive(fn)
        return {"function": fn.function_name, "state": function_state(fn)}

    def _make_failed(self, spec: dict) -> dict:
        from . import ACCOUNT_ID
        from .shims.lambda_states import get_function, make_failed

        if not isinstance(spec, dict) or not isinstance(spec.get("function"), str):
            raise ValueError('needs {"function": NAME}')
        region = spec.get("region") or self.region
        fn = get_function(str(spec.get("account") or ACCOUNT_ID), region, spec["function"])
        reason = str(spec.get("reason") or "Lambda could not set up the function.")
        make_failed(fn, reason, bool(spec.get("update")))
        return {"function": fn.function_name, "failed": "update" if spec.get("update")
                else "state", "reason": reason}
