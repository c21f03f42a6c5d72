"""WSGI middleware in front of moto: hands ``/_localaws/...`` to the control endpoint
(``localaws.control``), then per API call: request classification, latency, fault
injection (``faults.pick``), request hooks (``localaws.hooks``, in the order
``localaws.registry.HOOKS`` gives), request log, S3 AccessDenied bodies.

It never reads an S3 (or Lambda) request body: the SDKs send PutObject as
aws-chunked with chunked transfer encoding and moto must get the stream as is.
Only IAM/STS form bodies (small, with a Content-Length) are read, and put back.
"""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any, Callable

from . import LAMBDA_KEY_PREFIX, context
from .config import Config
from .faults import HANDLER_WRITE_FAULT, dynamodb_write_throttle, fault_response, pick
from .hooks import Hook, Request
from .operations import classify, credential_scope, needs_form_body, s3_bucket_and_key
from .requestlog import RequestLogWriter, is_write

if TYPE_CHECKING:
    from .control import Control

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


class LocalAwsMiddleware:
    def __init__(self, app: Callable, listener: str, config: Config,
                 reqlog: RequestLogWriter, control: Control, hooks: list[Hook] | None = None):
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
