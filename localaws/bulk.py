"""Bulk helpers for benchmarks: fill a bucket with many real object versions
without thousands of HTTP round trips (POST /_localaws/s3/fill), and a table
with many log items (POST /_localaws/dynamodb/fill).

Objects are put through moto's S3 backend (the same ``put_object`` a PutObject
request ends in: real FakeKeys with version ids in a versioned bucket, the
bucket's default encryption applied) with event notifications off, so a
bucket wired to a Lambda function does not start one invocation per object.
"""

from __future__ import annotations

from typing import Any

from . import ACCOUNT_ID

MAX_OBJECTS = 1_000_000


class FillError(ValueError):
    pass


def fill(spec: dict[str, Any]) -> dict[str, Any]:
    """spec: {"bucket": NAME, "keys": N, "versions": V (default 1),
    "prefix": "obj/" (default), "size": bytes per body (default 1),
    "account": ACCOUNT_ID (default)}. Puts V versions of each of N keys
    (PREFIX000000 ...). Answers {"bucket", "keys", "versions", "objects"}."""
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import s3_backends

    if not isinstance(spec, dict) or not isinstance(spec.get("bucket"), str):
        raise FillError('fill needs {"bucket": NAME, "keys": N}')
    try:
        keys = int(spec.get("keys", 0))
        versions = int(spec.get("versions", 1))
        size = int(spec.get("size", 1))
    except (TypeError, ValueError):
        raise FillError("keys, versions and size must be integers")
    prefix = str(spec.get("prefix", "obj/"))
    if keys < 0 or versions < 1 or size < 0 or keys * versions > MAX_OBJECTS:
        raise FillError(f"out of range: keys={keys} versions={versions} size={size} "
                        f"(at most {MAX_OBJECTS} objects)")
    backend = s3_backends[str(spec.get("account") or ACCOUNT_ID)]["aws"]
    try:
        backend.get_bucket(spec["bucket"])
    except MissingBucket:
        raise FillError(f"no such bucket: {spec['bucket']}")
    body = b"x" * size
    for v in range(versions):
        for i in range(keys):
            backend.put_object(spec["bucket"], f"{prefix}{i:06d}", body,
                               disable_notification=True)
    return {"bucket": spec["bucket"], "keys": keys, "versions": versions,
            "objects": keys * versions}


def fill_table(spec: dict[str, Any], region: str) -> dict[str, Any]:
    """spec: {"table": NAME, "items": N, "prefix": "obj/" (default), "bucket": NAME
    (default "bulk"), "region": R (default the instance's), "account": ACCOUNT_ID
    (default)}. Puts N items shaped as tapctl's handler writes them (requestId,
    timestamp, objectKey PREFIX000000 ..., bucketName, eventName, objectSize),
    through moto's backend (the same put_item a PutItem ends in, so every index of
    the table has them). Answers {"table", "items"}."""
    import hashlib

    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.models import dynamodb_backends

    if not isinstance(spec, dict) or not isinstance(spec.get("table"), str):
        raise FillError('fill needs {"table": NAME, "items": N}')
    try:
        n = int(spec.get("items", 0))
    except (TypeError, ValueError):
        raise FillError("items must be an integer")
    if n < 0 or n > MAX_OBJECTS:
        raise FillError(f"out of range: items={n} (at most {MAX_OBJECTS})")
    prefix, bucket = str(spec.get("prefix", "obj/")), str(spec.get("bucket", "bulk"))
    backend = dynamodb_backends[str(spec.get("account") or ACCOUNT_ID)][
        str(spec.get("region") or region)]
    try:
        backend.get_table(spec["table"])
    except ResourceNotFoundException:
        raise FillError(f"no such table: {spec['table']}")
    for i in range(n):
        key = f"{prefix}{i:06d}"
        stamp = f"2024-01-01T00:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}Z"
        digest = hashlib.sha256(f"{bucket}/{key}/{stamp}".encode()).hexdigest()
        backend.put_item(spec["table"], {
            "requestId": {"S": "s3:" + digest}, "timestamp": {"S": stamp},
            "objectKey": {"S": key}, "bucketName": {"S": bucket},
            "eventName": {"S": "ObjectCreated:Put"}, "eventTime": {"S": stamp},
            "objectSize": {"N": "1"}})
    return {"table": spec["table"], "items": n}
