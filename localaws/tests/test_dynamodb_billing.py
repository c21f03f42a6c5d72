"""Capacity-mode switches to on-demand are limited (localaws/shims/dynamodb_billing.py)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from .conftest import uid


def provisioned_table(ddb) -> str:
    name = uid("tbl")
    ddb.create_table(TableName=name, BillingMode="PROVISIONED",
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    return name


def to_provisioned(ddb, name: str) -> None:
    ddb.update_table(TableName=name, BillingMode="PROVISIONED",
                     ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})


def billing(ddb, name: str) -> str:
    t = ddb.describe_table(TableName=name)["Table"]
    return t.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")


def test_four_switches_to_on_demand_per_day(client, knobs):
    assert knobs()["dynamodb_on_demand_switches"] == 4
    ddb = client("dynamodb")
    name = provisioned_table(ddb)
    for _ in range(4):
        ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
        # naming PAY_PER_REQUEST again is no switch, and is not counted
        ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
        to_provisioned(ddb, name)  # back to provisioned: any time
    with pytest.raises(ClientError) as e:
        ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
    err = e.value.response["Error"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Code"] == "LimitExceededException"
    assert err["Message"].startswith(
        "Subscriber limit exceeded: Update to PayPerRequest mode are limited to 4 times in "
        "1 day(s). Last update at ")
    assert "Next update can be made at " in err["Message"]
    assert billing(ddb, name) == "PROVISIONED"  # nothing changed
    # another table has its own count
    other = provisioned_table(ddb)
    ddb.update_table(TableName=other, BillingMode="PAY_PER_REQUEST")
    assert billing(ddb, other) == "PAY_PER_REQUEST"


def test_the_knobs_lower_the_limit_and_the_window(client, knobs):
    # A window far longer than the test (a loaded machine must not let it pass early), then
    # one so short that the earlier switch has left it: the window is read per request.
    knobs(dynamodb_on_demand_switches=1, dynamodb_switch_window=600.0)
    ddb = client("dynamodb")
    name = provisioned_table(ddb)
    ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
    to_provisioned(ddb, name)
    with pytest.raises(ClientError) as e:
        ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
    assert "limited to once in 600 second(s)" in e.value.response["Error"]["Message"]
    knobs(dynamodb_switch_window=0.001)  # the first switch is outside the window now
    ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
    assert billing(ddb, name) == "PAY_PER_REQUEST"
    # 0: no limit
    knobs(dynamodb_on_demand_switches=0)
    for _ in range(6):
        to_provisioned(ddb, name)
        ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")


def test_a_recreated_table_starts_afresh(client, knobs):
    knobs(dynamodb_on_demand_switches=1)
    ddb = client("dynamodb")
    name = provisioned_table(ddb)
    ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
    ddb.delete_table(TableName=name)
    ddb.create_table(TableName=name, BillingMode="PROVISIONED",
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
