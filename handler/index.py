"""S3 -> Lambda -> DynamoDB: one log item per S3 object event, safe to redeliver and retry.

Key scheme: requestId = "s3:" + sha256 over the record's identity (bucket, decoded key,
versionId, sequencer, eventName, eTag, eventTime), timestamp = the record's eventTime. A redelivered
record or a retried invocation yields the same key; the write is conditional on the key being
new, so a repeat is counted as a duplicate instead of writing a second item.

Retries fit the invocation: a throttled or failed write (throttling, 5xx, a timed-out connection)
is retried with jittered backoff only while the invocation has time left for one more attempt
(`context.get_remaining_time_in_millis()`, each attempt bounded by the client's connect and read
timeouts). Each failed attempt is logged with its reason; when no time is left for another, the
last failure is logged and raised so that Lambda retries the invocation (and, once its retries are
exhausted, sends the event to the on-failure destination) instead of "Task timed out" hiding why.
"""
import datetime
import hashlib
import json
import logging
import os
import random
import sys
import time
from urllib.parse import unquote_plus

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

TABLE_ENV = "DYNAMODB_TABLE_NAME"
# Days a log item is kept: when set to a whole number > 0, each item carries `expiresAt` (epoch
# seconds), the attribute the table's TTL reads; unset or 0, items are kept forever.
RETENTION_ENV = "ITEM_RETENTION_DAYS"
TTL_ATTRIBUTE = "expiresAt"
# One attempt per call: the retries below know the invocation's deadline, botocore's do not.
# Connect + read timeouts bound one attempt (PutItem answers in milliseconds when healthy).
_CONNECT_TIMEOUT_S = 1.0
_READ_TIMEOUT_S = 2.0
_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1},
                        connect_timeout=_CONNECT_TIMEOUT_S, read_timeout=_READ_TIMEOUT_S)
# Time one more attempt may need, plus a margin for logging and returning.
_ATTEMPT_BUDGET_MS = int((_CONNECT_TIMEOUT_S + _READ_TIMEOUT_S) * 1000) + 500
# Without a Lambda context (a local call), at most this many attempts.
_MAX_ATTEMPTS_WITHOUT_DEADLINE = 8
_BACKOFF_BASE_S = 0.05
_BACKOFF_CAP_S = 2.0
# DynamoDB's retryable error codes (throttling and server-side), as botocore's standard mode has them.
_RETRYABLE_CODES = frozenset({
    "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "Throttling", "TooManyRequestsException", "LimitExceededException", "InternalServerError",
    "InternalFailure", "ServiceUnavailable", "TransactionInProgressException",
})
_dynamodb = None  # one client per container, created on first use


class ConfigurationError(RuntimeError):
    """The function's environment is incomplete."""


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at emit time (Lambda ships stdout to CloudWatch)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


class _JsonFormatter(logging.Formatter):
    def format(self, record):
        line = {"level": record.levelname, "time": _now()}
        line.update(record.msg if isinstance(record.msg, dict) else {"message": record.getMessage()})
        return json.dumps(line, ensure_ascii=False, default=str)


logger = logging.getLogger("s3_processor")
logger.propagate = False  # the Lambda runtime's root handler would print each line twice
if not logger.handlers:
    _handler = _StdoutHandler()
    _handler.setFormatter(_JsonFormatter())
    logger.addHandler(_handler)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _client():
    # boto3 reads AWS_ENDPOINT_URL and AWS_CA_BUNDLE itself, but only AWS_DEFAULT_REGION: Lambda
    # sets both region variables, a local runner may set only AWS_REGION.
    global _dynamodb
    if _dynamodb is None:
        _dynamodb = boto3.client("dynamodb", region_name=os.environ.get("AWS_REGION") or None,
                                 config=_CLIENT_CONFIG)
    return _dynamodb


def _error_code(err):
    if isinstance(err, ClientError):
        return err.response.get("Error", {}).get("Code", "") or "ClientError"
    return type(err).__name__


def _retryable(err):
    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return _error_code(err) in _RETRYABLE_CODES or status >= 500
    return isinstance(err, (BotoConnectionError, ConnectTimeoutError, ReadTimeoutError))


def _time_for_another_attempt(context, attempts, delay_s):
    """True when a retry after ``delay_s`` still fits: the invocation's remaining time (Lambda's
    context) must cover the delay and one attempt; without a context, a fixed attempt count."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return remaining() - delay_s * 1000 >= _ATTEMPT_BUDGET_MS
    return attempts < _MAX_ATTEMPTS_WITHOUT_DEADLINE


def _backoff_s(attempts):
    """Full jitter, exponential in the number of failed attempts, capped."""
    return random.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** attempts))


def _put_item(table, item, context, line):
    """One conditional PutItem, retried while the invocation has time; each failure logged.
    Raises the last error when giving up (ConditionalCheckFailed is raised at once)."""
    attempts = 0
    while True:
        try:
            return _client().put_item(TableName=table, Item=item,
                                      ConditionExpression="attribute_not_exists(requestId)")
        except Exception as err:
            attempts += 1
            if not _retryable(err):
                raise
            delay = _backoff_s(attempts)
            if not _time_for_another_attempt(context, attempts, delay):
                err.write_attempts = attempts
                raise
            logger.warning(dict(line, message="write attempt failed, retrying", outcome="retry",
                                attempt=attempts, delayMs=int(delay * 1000),
                                errorCode=_error_code(err), error=str(err)))
            time.sleep(delay)


def _s3_fields(record):
    """The record's S3 fields, or None when it is not a usable S3 record."""
    if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
        return None
    s3 = record.get("s3") or {}
    bucket = (s3.get("bucket") or {}).get("name")
    obj = s3.get("object") or {}
    if not bucket or not obj.get("key") or not record.get("eventTime"):
        return None
    return {
        "bucketName": bucket,
        "objectKey": unquote_plus(obj["key"]),
        "eventName": record.get("eventName", ""),
        "eventTime": record["eventTime"],
        "objectSize": obj.get("size"),
        "eTag": obj.get("eTag"),
        "versionId": obj.get("versionId"),
        "sequencer": obj.get("sequencer"),
        "synthetic": _synthetic(record),
    }


# An event tapctl made (`tapctl invoke`, `tapctl backfill`) keeps S3's shape and says so where
# S3 puts its own request id: `responseElements["x-amz-request-id"]` = "tapctl-ORIGIN" (S3's
# ids are 16 hexadecimal characters). The item then carries `synthetic` = ORIGIN.
_SYNTHETIC_PREFIX = "tapctl-"


def _synthetic(record):
    rid = (record.get("responseElements") or {}).get("x-amz-request-id")
    if isinstance(rid, str) and rid.startswith(_SYNTHETIC_PREFIX) and len(rid) > len(_SYNTHETIC_PREFIX):
        return rid[len(_SYNTHETIC_PREFIX):]
    return None


def _request_id(f):
    # eventTime too: it is stable across redeliveries and tells events apart where no sequencer
    # is sent (emulators); with it, requestId alone is unique, not only (requestId, timestamp).
    identity = [f["bucketName"], f["objectKey"], f["versionId"], f["sequencer"], f["eventName"],
                f["eTag"], f["eventTime"]]
    digest = hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode("utf-8")).hexdigest()
    return "s3:" + digest


def _retention_days():
    """ITEM_RETENTION_DAYS as a whole number of days; 0 when unset or 0 (keep forever)."""
    raw = (os.environ.get(RETENTION_ENV) or "0").strip()
    try:
        days = int(raw)
    except ValueError:
        raise ConfigurationError(f"{RETENTION_ENV} is {raw!r}: it must be a whole number of days")
    if days < 0:
        raise ConfigurationError(f"{RETENTION_ENV} is {days}: it must be 0 (keep) or more")
    return days


def _item(fields, request_id, context, retention_days=0):
    attrs = dict(fields, requestId=request_id, timestamp=fields["eventTime"], loggedAt=_now(),
                 functionName=getattr(context, "function_name", None)
                 or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "unknown"),
                 awsRequestId=getattr(context, "aws_request_id", None) or "unknown")
    item = {name: {"S": str(value)} for name, value in attrs.items() if value not in (None, "")}
    if "objectSize" in item:
        item["objectSize"] = {"N": str(int(fields["objectSize"]))}
    if retention_days > 0:
        item[TTL_ATTRIBUTE] = {"N": str(int(time.time()) + retention_days * 86400)}
    return item


def lambda_handler(event, context):
    logger.setLevel(getattr(logging, os.environ.get("LOG_LEVEL", "INFO").upper(), logging.INFO))
    table = os.environ.get(TABLE_ENV)
    if not table:
        raise ConfigurationError(f"{TABLE_ENV} is not set: the function needs the name of "
                                 "the DynamoDB table to write its log items to")
    retention_days = _retention_days()
    aws_request_id = getattr(context, "aws_request_id", None) or "unknown"
    summary = {"processed": 0, "duplicates": 0, "skipped": 0}
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        summary["skipped"] = 1
        logger.warning({"message": "not an S3 event, skipped", "outcome": "skipped",
                        "awsRequestId": aws_request_id})
        return summary

    for index, record in enumerate(records):
        fields = _s3_fields(record)
        if fields is None:
            summary["skipped"] += 1
            source = record.get("eventSource") if isinstance(record, dict) else None
            logger.warning({"message": "not an S3 record, skipped", "outcome": "skipped",
                            "awsRequestId": aws_request_id, "recordIndex": index,
                            "eventSource": source})
            continue
        request_id = _request_id(fields)
        line = {"awsRequestId": aws_request_id, "requestId": request_id, "recordIndex": index,
                "bucketName": fields["bucketName"], "objectKey": fields["objectKey"],
                "eventName": fields["eventName"], "eventTime": fields["eventTime"]}
        try:
            _put_item(table, _item(fields, request_id, context, retention_days), context, line)
        except Exception as err:
            code = _error_code(err)
            if code == "ConditionalCheckFailedException":
                summary["duplicates"] += 1
                logger.info(dict(line, message="duplicate record, already logged", outcome="duplicate"))
                continue
            logger.error(dict(line, message="write failed, invocation will be retried",
                              outcome="error", errorCode=code, error=str(err),
                              attempts=getattr(err, "write_attempts", 1)))
            raise
        summary["processed"] += 1
        logger.info(dict(line, message="record logged", outcome="processed"))

    logger.info(dict(summary, message="invocation done", awsRequestId=aws_request_id))
    return summary
