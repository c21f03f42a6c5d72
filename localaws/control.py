"""The control endpoint: ``/_localaws/...`` on both listeners, where tests and benchmarks
read and set knobs, read records, put fault states on resources and fill backends (the
middleware hands every such request here; none is logged as an API call).
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .config import Config, ConfigError


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


class Control:
    """/_localaws/* (``handle``; the server builds one for both listeners):

    GET  /_localaws/health        {"ok": true}
    GET  /_localaws/config        current knobs
    POST /_localaws/config        JSON object of knobs to change; answers the new knobs
    GET  /_localaws/invocations   Lambda invocation records (sync, async, retries)
    POST /_localaws/s3/fill       put many real object versions at once (localaws.bulk)
    POST /_localaws/dynamodb/fill put many log items into a table at once (localaws.bulk)
    GET  /_localaws/dynamodb/index-stats  per table: Queries, items examined, items indexed
                                  (shims/dynamodb_index.py)
    POST /_localaws/lambda/inactive  {"function": NAME[, "region": R][, "account": A]}:
                                  the function is Inactive now (shims/lambda_states.py)
    POST /_localaws/s3/system-tags   {"bucket": B, "tags": {"aws:...": V}[, "account": A]}:
                                  the bucket's aws: tags, as CloudFormation sets them
                                  (shims/s3_system_tags.py)
    POST /_localaws/lambda/failed    {"function": NAME[, "reason": R][, "update": true]}:
                                  State (or LastUpdateStatus) Failed with that reason
    POST /_localaws/lambda/tags-denied  {"function": NAME[, "denied": false]}: the caller
                                  lacks lambda:ListTags on it (shims/lambda_tags.py)
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
