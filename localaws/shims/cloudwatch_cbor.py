"""CloudWatch over Smithy RPC v2 CBOR, the protocol the AWS SDKs now speak to CloudWatch
(``POST /service/GraniteServiceVersion20100801/operation/OPERATION``, ``Content-Type:
application/cbor``, ``Smithy-Protocol: rpc-v2-cbor``; Smithy's "RPC v2 CBOR protocol"
specification). moto 5.2.5 answers only the query and JSON protocols (404 here), so this hook
decodes the CBOR request, calls moto's CloudWatch backend and encodes its answer.

Bridged: GetMetricData (MetricStat queries; timestamps are CBOR tag 1, epoch seconds). Any
other operation answers ``UnknownOperationException`` (400), as an endpoint that does not
know it would.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import cbor2

from ..hooks import Request, Response

_PATH = re.compile(r"^/service/[^/]+/operation/([A-Za-z0-9]+)$")
_HEADERS = [("Content-Type", "application/cbor"), ("Smithy-Protocol", "rpc-v2-cbor")]


def _naive_utc(t: Any) -> dt.datetime:
    """A request time as moto keeps its own (naive UTC)."""
    if isinstance(t, (int, float)):
        t = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t


def _aware(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t


def _answer(status: int, doc: dict[str, Any]) -> Response:
    body = cbor2.dumps(doc, datetime_as_timestamp=True, timezone=dt.timezone.utc)
    return status, [*_HEADERS, ("Content-Length", str(len(body)))], body


def _error(code: str, message: str, status: int = 400) -> Response:
    return _answer(status, {"__type": code, "message": message})


def get_metric_data(account: str, region: str, body: dict[str, Any], config: Any) -> dict[str, Any]:
    from moto.cloudwatch.models import cloudwatch_backends

    from .cloudwatch_metrics import publish_queues_due

    publish_queues_due(float(config.get("sqs_metrics_interval")))
    backend = cloudwatch_backends[account][region]
    results = backend.get_metric_data(
        queries=body.get("MetricDataQueries", []),
        start_time=_naive_utc(body["StartTime"]),
        end_time=_naive_utc(body["EndTime"]),
        scan_by=body.get("ScanBy") or "TimestampDescending",
    )
    return {
        "MetricDataResults": [
            {"Id": r["id"], "Label": r["label"], "StatusCode": r["status_code"],
             "Values": [float(v) for v in r["values"]],
             "Timestamps": [_aware(t) for t in r["timestamps"]]}
            for r in results
        ],
        "Messages": [],
    }


OPERATIONS = {"GetMetricData": get_metric_data}


class CloudWatchCbor:
    def __init__(self, config: Any) -> None:
        self.config = config

    def before(self, req: Request) -> Response | None:
        if req.service != "cloudwatch":
            return None
        m = _PATH.match(req.environ.get("PATH_INFO", ""))
        if not m:
            return None
        op = OPERATIONS.get(m.group(1))
        if op is None:
            return _error("UnknownOperationException",
                          f"the local AWS does not bridge CloudWatch {m.group(1)} over CBOR")
        length = int(req.environ.get("CONTENT_LENGTH") or 0)
        raw = req.environ["wsgi.input"].read(length) if length else b""
        # The middleware drains the body after a hook answers: leave it readable.
        req.environ["wsgi.input"] = io.BytesIO(raw)
        try:
            body = cbor2.loads(raw) if raw else {}
        except Exception as e:  # noqa: BLE001 - a body that is not CBOR
            return _error("SerializationException", str(e))
        from .. import ACCOUNT_ID

        try:
            answer = op(ACCOUNT_ID, req.region or "us-east-1", body, self.config)
        except Exception as e:  # noqa: BLE001 - moto's ValidationError and friends
            code = getattr(e, "code", None) or type(e).__name__
            return _error(str(code), getattr(e, "message", None) or str(e))
        return _answer(200, answer)

    def after(self, req: Request, status: int) -> None:
        return None
