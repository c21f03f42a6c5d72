"""handler_write_faults_for: every DynamoDB item write made by a Lambda function fails
with DynamoDB's throttling answer for N s from the moment the knob is set, then none."""

from __future__ import annotations

import json
import time

from localaws import requestlog
from localaws.config import Config

from .conftest import create_function, uid

WRITER = '''
import boto3, os
from botocore.config import Config
from botocore.exceptions import ClientError
def handler(event, context):
    ddb = boto3.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
    out = {}
    try:
        ddb.put_item(TableName=os.environ["TABLE"], Item={"id": {"S": event["id"]}})
        out["put"] = "ok"
    except ClientError as e:
        out["put"] = e.response["Error"]["Code"]
        out["status"] = e.response["ResponseMetadata"]["HTTPStatusCode"]
        out["reasons"] = e.response.get("ThrottlingReasons")
    out["get"] = "Item" in ddb.get_item(TableName=os.environ["TABLE"],
                                        Key={"id": {"S": "seed"}})
    return out
'''


def test_handler_writes_fail_for_the_set_time_then_succeed(instance, client, role, knobs):
    ddb, lam = client("dynamodb"), client("lambda")
    table = uid("tbl")
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    fn = create_function(client, role, WRITER, env={"TABLE": table})

    def run(i: int) -> dict:
        r = lam.invoke(FunctionName=fn["FunctionName"], Payload=json.dumps({"id": f"i{i}"}))
        return json.loads(r["Payload"].read())

    cfg = knobs(handler_write_faults_for=2.5)
    assert cfg["handler_write_faults_for"] == 2.5 and 2.0 < cfg["handler_write_faults_left"] <= 2.5
    t0 = time.monotonic()
    mark = requestlog.Mark(instance["LOCAL_AWS_DIR"])
    ddb.put_item(TableName=table, Item={"id": {"S": "seed"}})  # clients are not affected
    out = run(1)
    assert out["put"] == "ProvisionedThroughputExceededException" and out["status"] == 400
    assert out["reasons"] == [{"reason": "TableWriteKeyRangeThroughputExceeded",
                               "resource": f"arn:aws:dynamodb:us-west-2:123456789012:table/{table}"}]
    assert out["get"] is True  # reads are not affected
    faulted = [r for r in mark.since() if r["operation"] == "PutItem"]
    assert [(r["source"], r["fault"], r["status"]) for r in faulted] == \
        [("client", None, 200), ("lambda", "throttle", 400)]
    time.sleep(max(2.6 - (time.monotonic() - t0), 0))
    assert knobs()["handler_write_faults_left"] == 0
    assert run(2)["put"] == "ok"
    # setting it again opens a new window; 0 closes it at once
    knobs(handler_write_faults_for=30)
    assert run(3)["put"] == "ProvisionedThroughputExceededException"
    knobs(handler_write_faults_for=0)
    assert run(4)["put"] == "ok"


def test_the_environment_variable_starts_the_window_at_start():
    cfg = Config(env={"LOCAL_AWS_HANDLER_WRITE_FAULTS_FOR": "0.3"})
    assert cfg.handler_write_faults_active()
    snap = cfg.snapshot()
    assert snap["handler_write_faults_for"] == 0.3
    cfg.update(snap)  # a snapshot posted back (handler_write_faults_left is read-only)
    time.sleep(0.35)
    assert not cfg.handler_write_faults_active()
    assert not Config(env={}).handler_write_faults_active()
