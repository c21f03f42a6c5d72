"""S3 -> Lambda: asynchronous delivery, and destination validation in
PutBucketNotificationConfiguration."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from .conftest import create_function, invocations, uid, wait_for

WRITER = '''
import boto3, os, time, json
from urllib.parse import unquote_plus
def handler(event, context):
    time.sleep(float(os.environ.get("SLEEP", "0")))
    ddb = boto3.client("dynamodb")
    for rec in event["Records"]:
        ddb.put_item(TableName=os.environ["TABLE"], Item={
            "id": {"S": rec["s3"]["object"]["key"]},
            "decoded": {"S": unquote_plus(rec["s3"]["object"]["key"])},
            "bucket": {"S": rec["s3"]["bucket"]["name"]},
            "event": {"S": rec["eventName"]},
            "sequencer": {"S": rec["s3"]["object"]["sequencer"]},
        })
'''


def notification(fn_arn: str) -> dict:
    return {"LambdaFunctionConfigurations": [{
        "Id": "tapctl", "LambdaFunctionArn": fn_arn, "Events": ["s3:ObjectCreated:*"]}]}


@pytest.fixture
def pipeline(client, role):
    s3, lam, ddb = client("s3"), client("lambda"), client("dynamodb")
    bucket, table = uid("bkt"), uid("tbl")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    fn = create_function(client, role, WRITER, env={"TABLE": table, "SLEEP": "1.5"})
    return {"bucket": bucket, "table": table, "fn": fn}


def add_s3_permission(lam, fn_name, bucket=None, account=None, sid="s3-invoke"):
    kw = {}
    if bucket:
        kw["SourceArn"] = f"arn:aws:s3:::{bucket}"
    if account:
        kw["SourceAccount"] = account
    lam.add_permission(FunctionName=fn_name, StatementId=sid, Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", **kw)


def assert_invalid_destination(s3, bucket, fn_arn):
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=notification(fn_arn))
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidArgument"
    assert err["Message"] == "Unable to validate the following destination configurations"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_notification_needs_the_function_permission_for_that_bucket(client, pipeline):
    s3, lam = client("s3"), client("lambda")
    bucket, fn = pipeline["bucket"], pipeline["fn"]
    # no resource policy at all
    assert_invalid_destination(s3, bucket, fn["FunctionArn"])
    # a permission for another bucket
    add_s3_permission(lam, fn["FunctionName"], bucket="some-other-bucket", sid="other")
    assert_invalid_destination(s3, bucket, fn["FunctionArn"])
    # a permission for another account
    add_s3_permission(lam, fn["FunctionName"], bucket=bucket, account="999999999999", sid="acct")
    assert_invalid_destination(s3, bucket, fn["FunctionArn"])
    # an unknown function
    assert_invalid_destination(s3, bucket, fn["FunctionArn"] + "-nope")
    assert s3.get_bucket_notification_configuration(Bucket=bucket).get(
        "LambdaFunctionConfigurations") is None
    # the right one
    add_s3_permission(lam, fn["FunctionName"], bucket=bucket, account="123456789012")
    s3.put_bucket_notification_configuration(Bucket=bucket,
                                             NotificationConfiguration=notification(fn["FunctionArn"]))
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert got["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"] == fn["FunctionArn"]


def test_permission_without_source_arn_is_enough(client, pipeline):
    s3, lam = client("s3"), client("lambda")
    add_s3_permission(lam, pipeline["fn"]["FunctionName"])
    s3.put_bucket_notification_configuration(
        Bucket=pipeline["bucket"], NotificationConfiguration=notification(pipeline["fn"]["FunctionArn"]))


def test_put_returns_before_the_handler_runs_then_the_item_arrives(instance, client, pipeline):
    s3, lam, ddb = client("s3"), client("lambda"), client("dynamodb")
    bucket, table, fn = pipeline["bucket"], pipeline["table"], pipeline["fn"]
    add_s3_permission(lam, fn["FunctionName"], bucket=bucket, account="123456789012")
    s3.put_bucket_notification_configuration(Bucket=bucket,
                                             NotificationConfiguration=notification(fn["FunctionArn"]))
    t0 = time.monotonic()
    s3.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=b"hello")
    put_took = time.monotonic() - t0
    assert put_took < 1.0, f"PUT waited for the handler ({put_took:.2f} s)"
    assert ddb.scan(TableName=table)["Items"] == []  # the handler sleeps 1.5 s first
    items = wait_for(lambda: ddb.scan(TableName=table)["Items"], timeout=10)
    item = items[0]
    assert item["id"]["S"] == "dir/a+b%2Bc.txt"  # S3 event keys are URL-encoded
    assert item["decoded"]["S"] == "dir/a b+c.txt"
    assert item["bucket"]["S"] == bucket
    assert item["event"]["S"] == "ObjectCreated:Put"
    assert item["sequencer"]["S"]
    recs = wait_for(lambda: invocations(instance, fn["FunctionName"]), timeout=10)
    assert recs[0]["trigger"] == "s3" and recs[0]["invocation_type"] == "Event"


def test_failing_trigger_is_retried_twice(instance, client, role):
    s3, lam = client("s3"), client("lambda")
    bucket = uid("bkt")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    fn = create_function(client, role, "def handler(e, c):\n    raise Exception('nope')\n")
    add_s3_permission(lam, fn["FunctionName"], bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket,
                                             NotificationConfiguration=notification(fn["FunctionArn"]))
    s3.put_object(Bucket=bucket, Key="x", Body=b"1")
    wait_for(lambda: len(invocations(instance, fn["FunctionName"])) >= 3, timeout=15)
    time.sleep(0.5)
    recs = [r for r in invocations(instance, fn["FunctionName"]) if "condition" not in r]
    assert [(r["attempt"], r["ok"], r["trigger"]) for r in recs] == \
        [(1, False, "s3"), (2, False, "s3"), (3, False, "s3")]
    # then Lambda gives up: no destination, the event is dropped (and says so)
    [done] = wait_for(lambda: [r for r in invocations(instance, fn["FunctionName"])
                               if "condition" in r])
    assert done["condition"] == "RetriesExhausted" and done["delivered"] is False
