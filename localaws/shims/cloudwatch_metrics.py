"""The built-in CloudWatch metrics AWS publishes for the pipeline, into moto's CloudWatch, so
GetMetricData answers as it would on AWS.

Lambda (Lambda developer guide, "Types of metrics for Lambda functions", namespace
AWS/Lambda, one set per FunctionName and one per Resource): every invocation counts in
``Invocations`` (Count) and ``Duration`` (Milliseconds); one whose code raised, timed out or
could not be imported also in ``Errors``; an asynchronous event whose
record could not be sent to its on-failure destination in ``DestinationDeliveryFailures``.

SQS (SQS developer guide, "Available CloudWatch metrics for Amazon SQS", namespace AWS/SQS, per
QueueName): ``ApproximateNumberOfMessagesVisible`` and ``ApproximateAgeOfOldestMessage``
(seconds), published every minute for active queues; here at most every
``sqs_metrics_interval`` seconds (knob; 60 as AWS by default), on the next read of the
metrics (``publish_queues_due``: what no read sees needs no datapoint).

A helper, not a shim: it patches nothing. The runner calls ``invocation`` and
``delivery_failure``; the CloudWatch bridge (``cloudwatch_cbor``) calls
``publish_queues_due`` before it answers.
"""

from __future__ import annotations

import threading
import time
from typing import Any


def _put(account: str, region: str, namespace: str, name: str, value: float, unit: str,
         dimension_sets: list[list[tuple[str, str]]]) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account][region]
    backend.put_metric_data(namespace, [
        {"MetricName": name, "Value": value, "Unit": unit,
         "Dimensions": [{"Name": k, "Value": v} for k, v in dims]}
        for dims in dimension_sets
    ])


def _lambda(fn: Any, name: str, value: float, unit: str = "Count") -> None:
    sets = [[("FunctionName", fn.function_name)], [("Resource", fn.function_name)]]
    _put(fn.account_id, fn.region, "AWS/Lambda", name, value, unit, sets)


def invocation(fn: Any, ok: bool, duration_ms: float) -> None:
    """One invocation that ran: Invocations, Duration, and Errors when it failed."""
    _lambda(fn, "Invocations", 1.0)
    _lambda(fn, "Duration", float(duration_ms), "Milliseconds")
    _lambda(fn, "Errors", 0.0 if ok else 1.0)


def delivery_failure(fn: Any) -> None:
    _lambda(fn, "DestinationDeliveryFailures", 1.0)


def publish_queues() -> None:
    """One round of the SQS metrics of every queue that holds messages."""
    from moto.sqs.models import sqs_backends

    now_ms = time.time() * 1000.0
    for account, regions in list(sqs_backends.items()):
        for region, backend in list(regions.items()):
            for queue in list(backend.queues.values()):
                messages = list(getattr(queue, "_messages", []))
                if not messages:
                    continue
                visible = sum(1 for m in messages if m.visible)
                oldest = min(m.sent_timestamp or now_ms for m in messages)
                dims = [[("QueueName", queue.name)]]
                _put(account, region, "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                     float(visible), "Count", dims)
                _put(account, region, "AWS/SQS", "ApproximateAgeOfOldestMessage",
                     max(0.0, (now_ms - oldest) / 1000.0), "Seconds", dims)


_last = 0.0
_lock = threading.Lock()


def publish_queues_due(interval: float) -> None:
    """A round of the SQS metrics when the last one is `interval` seconds old."""
    global _last
    with _lock:
        now = time.monotonic()
        if now - _last < interval:
            return
        _last = now
    try:
        publish_queues()
    except Exception:  # noqa: BLE001 - a queue deleted meanwhile: the next round
        pass
