"""Time to live changes take time and are limited (localaws/shims/dynamodb_states.py)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from .conftest import uid


def table(ddb) -> str:
    name = uid("ttl")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
    return name


def ttl(ddb, name: str, on: bool) -> None:
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
        "AttributeName": "expiresAt", "Enabled": on})


def status(ddb, name: str) -> str:
    return ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["TimeToLiveStatus"]


def test_a_second_change_within_the_interval_is_refused(client, knobs):
    knobs(dynamodb_ttl_change_interval=60)
    ddb = client("dynamodb")
    name = table(ddb)
    ttl(ddb, name, True)
    with pytest.raises(ClientError) as e:
        ttl(ddb, name, False)
    err = e.value.response["Error"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Code"] == "ValidationException"
    assert err["Message"] == "Time to live has been modified multiple times within a fixed interval"
    assert status(ddb, name) == "ENABLED"
    # Another table has its own interval.
    ttl(ddb, table(ddb), True)


def test_off_by_default_and_enabling_lasts_its_own_delay(client, knobs):
    ddb = client("dynamodb")
    name = table(ddb)
    ttl(ddb, name, True)
    ttl(ddb, name, False)  # no interval: allowed
    knobs(dynamodb_ttl_delay=0.5)
    ttl(ddb, name, True)
    assert status(ddb, name) == "ENABLING"
    deadline = time.monotonic() + 10
    while status(ddb, name) != "ENABLED":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_last_change_wins_over_one_still_in_progress(client, knobs):
    knobs(dynamodb_ttl_delay=0.3)
    ddb = client("dynamodb")
    name = table(ddb)
    ttl(ddb, name, True)           # ENABLING, ENABLED in 0.3 s ...
    ttl(ddb, name, False)          # ... but disabled meanwhile
    time.sleep(0.8)
    assert status(ddb, name) == "DISABLED"


def test_a_query_on_a_backfilling_index_is_refused(client, knobs):
    knobs(dynamodb_index_backfill=0.5)
    ddb = client("dynamodb")
    name = table(ddb)
    ddb.update_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "o", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "by-o", "KeySchema": [{"AttributeName": "o", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}}])
    query = dict(TableName=name, IndexName="by-o", KeyConditionExpression="o = :o",
                 ExpressionAttributeValues={":o": {"S": "x"}})
    with pytest.raises(ClientError) as e:
        ddb.query(**query)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["Error"]["Message"] == (
        "Cannot read from backfilling global secondary index: by-o")
    deadline = time.monotonic() + 10
    while True:
        try:
            ddb.query(**query)
            break
        except ClientError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
