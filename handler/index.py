"""S3 -> Lambda -> DynamoDB: one log item per S3 object event, safe to redeliver and retry.

Key scheme: requestId = "s3:" + sha256 over the record's identity (bucket, decoded key,
versionId, sequencer, eventName, eTag, eventTime), timestamp = the record's eventTime. A redelivered
record or a retried invocation yields the same key; the write is conditional on the key being
new, so a repeat is counted as a duplicate instead of writing a second item. Any other write
failure is logged and raised so that Lambda retries the invocation.
"""
import datetime
import hashlib
import json
import logging
import os
import sys
from urllib.parse import unquote_plus

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

TABLE_ENV = "DYNAMODB_TABLE_NAME"
_RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})
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
                                 config=_RETRY_CONFIG)
    return _dynamodb


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
    }


def _request_id(f):
    # eventTime too: it is stable across redeliveries and tells events apart where no sequencer
    # is sent (emulators); with it, requestId alone is unique, not only (requestId, timestamp).
    identity = [f["bucketName"], f["objectKey"], f["versionId"], f["sequencer"], f["eventName"],
                f["eTag"], f["eventTime"]]
    digest = hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode("utf-8")).hexdigest()
    return "s3:" + digest


def _item(fields, request_id, context):
    attrs = dict(fields, requestId=request_id, timestamp=fields["eventTime"], loggedAt=_now(),
                 functionName=getattr(context, "function_name", None)
                 or os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "unknown"),
                 awsRequestId=getattr(context, "aws_request_id", None) or "unknown")
    item = {name: {"S": str(value)} for name, value in attrs.items() if value not in (None, "")}
    if "objectSize" in item:
        item["objectSize"] = {"N": str(int(fields["objectSize"]))}
    return item


def lambda_handler(event, context):
    logger.setLevel(getattr(logging, os.environ.get("LOG_LEVEL", "INFO").upper(), logging.INFO))
    table = os.environ.get(TABLE_ENV)
    if not table:
        raise ConfigurationError(f"{TABLE_ENV} is not set: the function needs the name of "
                                 "the DynamoDB table to write its log items to")
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
            _client().put_item(TableName=table, Item=_item(fields, request_id, context),
                               ConditionExpression="attribute_not_exists(requestId)")
        except Exception as err:
            code = err.response.get("Error", {}).get("Code", "") if isinstance(err, ClientError) else ""
            if code == "ConditionalCheckFailedException":
                summary["duplicates"] += 1
                logger.info(dict(line, message="duplicate record, already logged", outcome="duplicate"))
                continue
            logger.error(dict(line, message="write failed, invocation will be retried",
                              outcome="error", errorCode=code or type(err).__name__, error=str(err)))
            raise
        summary["processed"] += 1
        logger.info(dict(line, message="record logged", outcome="processed"))

    logger.info(dict(summary, message="invocation done", awsRequestId=aws_request_id))
    return summary
