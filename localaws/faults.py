"""Fault injection: which request gets a fault (``pick``: knobs ``fault_rate``,
``fault_next``, ``fault_services``, ``fault_operations``, ``fault_source``, ``fault_kind``,
``fault_seed``; and ``handler_write_faults_for``: every DynamoDB item write made by a
Lambda function fails for N s) and each service's own throttling / server-error
response, as AWS sends them (``fault_response``, ``dynamodb_write_throttle``). Also the
plain error shapes the request hooks answer with (``s3_error``, ``query_error``)."""

from __future__ import annotations

import json
import uuid
from typing import Any
from xml.sax.saxutils import escape

_IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def _xml_error_response(ns: str, code: str, message: str, rid: str, kind: str) -> bytes:
    typ = "Sender" if kind == "throttle" else "Receiver"
    return (
        f'<ErrorResponse xmlns="{ns}"><Error><Type>{typ}</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
    ).encode()


def fault_response(service: str, kind: str, method: str = "GET") -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) for an injected fault of ``kind``
    ("throttle" or "5xx") on ``service``."""
    rid = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", rid)]
    if service == "s3":
        if kind == "throttle":
            status, code, msg = 503, "SlowDown", "Please reduce your request rate."
        else:
            status, code, msg = 500, "InternalError", "We encountered an internal error. Please try again."
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{msg}</Message>"
            f"<RequestId>{rid[:16]}</RequestId><HostId>{uuid.uuid4().hex}</HostId></Error>"
        ).encode()
        headers = [("x-amz-request-id", rid[:16]), ("Content-Type", "application/xml")]
        if method == "HEAD":
            body = b""
    elif service == "dynamodb":
        if kind == "throttle":
            status, code, msg = 400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."
        else:
            status, code, msg = 500, "InternalServerError", "Internal server error"
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": msg}).encode()
        headers.append(("Content-Type", "application/x-amz-json-1.0"))
    elif service == "logs":
        if kind == "throttle":
            status, code, msg = 400, "ThrottlingException", "Rate exceeded"
        else:
            status, code, msg = 500, "ServiceUnavailableException", "The service cannot complete the request."
        body = json.dumps({"__type": code, "message": msg}).encode()
        headers.append(("Content-Type", "application/x-amz-json-1.1"))
    elif service == "lambda":
        if kind == "throttle":
            status, code = 429, "TooManyRequestsException"
            body = json.dumps({"Type": "User", "message": "Rate Exceeded.",
                               "Reason": "CallerRateLimitExceeded"}).encode()
            headers.append(("Retry-After", "1"))
        else:
            status, code = 500, "ServiceException"
            body = json.dumps({"Type": "Service", "message": "An internal error occurred."}).encode()
        headers += [("x-amzn-ErrorType", code), ("Content-Type", "application/json")]
    elif service in ("iam", "sts"):
        ns = _IAM_NS if service == "iam" else _STS_NS
        if kind == "throttle":
            status, code, msg = 400, "Throttling", "Rate exceeded"
        else:
            status = 500
            code = "ServiceFailure" if service == "iam" else "InternalFailure"
            msg = "The request processing has failed because of an unknown error."
        body = _xml_error_response(ns, code, msg, rid, kind)
        headers.append(("Content-Type", "text/xml"))
    else:
        status = 503 if kind == "throttle" else 500
        body = json.dumps({"__type": "ThrottlingException" if kind == "throttle"
                           else "InternalFailure", "message": "Rate exceeded"}).encode()
        headers.append(("Content-Type", "application/json"))
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


# DynamoDB's item writes (what ``handler_write_faults_for`` fails).
DYNAMODB_ITEM_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                        "TransactWriteItems", "ExecuteStatement", "BatchExecuteStatement",
                        "ExecuteTransaction"}
HANDLER_WRITE_FAULT = "handler-write"


def dynamodb_write_throttle(body: bytes | None, region: str | None,
                            account: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """A throttled DynamoDB item write as DynamoDB answers it: 400
    ``ProvisionedThroughputExceededException`` with ``ThrottlingReasons`` (reason
    ``TableWriteKeyRangeThroughputExceeded``, which applies to on-demand tables too, and
    the table's ARN). Source: DynamoDB API reference, ProvisionedThroughputExceededException
    and ThrottlingReason; developer guide, "Troubleshooting throttling in Amazon DynamoDB"."""
    table = None
    try:
        doc = json.loads(body or b"{}")
        table = doc.get("TableName") or next(iter(doc.get("RequestItems") or {}), None)
        if table is None and doc.get("TransactItems"):
            first = doc["TransactItems"][0]
            table = next(iter(first.values())).get("TableName")
    except (ValueError, AttributeError, IndexError, StopIteration, TypeError):
        pass
    rid = str(uuid.uuid4())
    out: dict[str, Any] = {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded. "
                   "Consider increasing your provisioning level with the UpdateTable API.",
    }
    if table:
        arn = table if table.startswith("arn:") else \
            f"arn:aws:dynamodb:{region or 'us-east-1'}:{account}:table/{table}"
        out["ThrottlingReasons"] = [{"reason": "TableWriteKeyRangeThroughputExceeded",
                                     "resource": arn}]
    payload = json.dumps(out).encode()
    return 400, [("x-amzn-RequestId", rid), ("Content-Type", "application/x-amz-json-1.0"),
                 ("Content-Length", str(len(payload)))], payload


def pick(config: Any, service: str, operation: str, source: str) -> str | None:
    """Decide whether this request gets a fault; returns the fault kind
    ("throttle" or "5xx", or ``HANDLER_WRITE_FAULT`` inside the handler_write_faults_for
    window) or None. ``fault_next`` counts down first, then ``fault_rate`` rolls the
    (seeded) dice."""
    if (service == "dynamodb" and source == "lambda" and operation in DYNAMODB_ITEM_WRITES
            and config.handler_write_faults_active()):
        return HANDLER_WRITE_FAULT
    with config.locked() as (v, rng):
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
        elif v["fault_rate"] > 0 and rng.random() < v["fault_rate"]:
            hit = True
        if not hit:
            return None
        kind = v["fault_kind"]
        if kind == "mixed":
            kind = rng.choice(["throttle", "5xx"])
        return kind


def s3_error(status: int, code: str, message: str, method: str = "GET",
             extra: dict[str, str] | None = None,
             headers: list[tuple[str, str]] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    """An S3 REST error (``<Error><Code>...``); HEAD answers carry no body."""
    rid = uuid.uuid4().hex[:16].upper()
    fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in (extra or {}).items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{fields}"
        f"<RequestId>{rid}</RequestId><HostId>{uuid.uuid4().hex}</HostId></Error>"
    ).encode()
    if method == "HEAD":
        body = b""
    out = [("x-amz-request-id", rid), ("Content-Type", "application/xml")] + (headers or [])
    out.append(("Content-Length", str(len(body))))
    return status, out, body


def query_error(service: str, status: int, code: str, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """An IAM / STS (query protocol) ``ErrorResponse``."""
    rid = str(uuid.uuid4())
    ns = _IAM_NS if service == "iam" else _STS_NS
    body = (
        f'<ErrorResponse xmlns="{ns}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
    ).encode()
    return status, [("x-amzn-RequestId", rid), ("Content-Type", "text/xml"),
                    ("Content-Length", str(len(body)))], body
