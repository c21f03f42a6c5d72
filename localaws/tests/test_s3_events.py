"""S3 sends one event per API call, of that call's type: a multipart upload one
ObjectCreated:CompleteMultipartUpload (moto also sent a Put), CopyObject one
ObjectCreated:Copy, PutObject one ObjectCreated:Put; no ObjectTagging event for them."""

from __future__ import annotations

import os
import time

import pytest
from boto3.s3.transfer import TransferConfig

from .conftest import create_function, invocations, uid, wait_for
from .test_s3_trigger import add_s3_permission

RECORDER = '''
import boto3, os, uuid
def handler(event, context):
    ddb = boto3.client("dynamodb")
    for rec in event["Records"]:
        ddb.put_item(TableName=os.environ["TABLE"], Item={
            "id": {"S": str(uuid.uuid4())},
            "key": {"S": rec["s3"]["object"]["key"]},
            "event": {"S": rec["eventName"]},
            "size": {"N": str(rec["s3"]["object"].get("size", 0))},
        })
'''


@pytest.fixture
def recorder(client, role):
    s3, lam, ddb = client("s3"), client("lambda"), client("dynamodb")
    bucket, table = uid("bkt"), uid("tbl")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    fn = create_function(client, role, RECORDER, env={"TABLE": table})
    add_s3_permission(lam, fn["FunctionName"], bucket=bucket, account="123456789012")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{
            "Id": "all", "LambdaFunctionArn": fn["FunctionArn"],
            "Events": ["s3:ObjectCreated:*", "s3:ObjectTagging:*", "s3:ObjectAcl:Put"]}]})
    return {"bucket": bucket, "table": table, "fn": fn["FunctionName"]}


def events(client, table: str) -> list[tuple[str, str, int]]:
    items = client("dynamodb").scan(TableName=table)["Items"]
    return sorted((i["key"]["S"], i["event"]["S"], int(i["size"]["N"])) for i in items)


def settled(instance, client, rec, n: int) -> list[tuple[str, str, int]]:
    wait_for(lambda: len(events(client, rec["table"])) >= n, timeout=30)
    time.sleep(1.0)  # anything extra would arrive meanwhile
    return events(client, rec["table"])


def test_multipart_upload_sends_one_complete_multipart_upload_event(instance, client, recorder,
                                                                    tmp_path):
    path = tmp_path / "big.bin"
    size = 20 * 1024 * 1024
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    s3 = client("s3")
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(path), recorder["bucket"], "big.bin", Config=cfg)
    assert settled(instance, client, recorder, 1) == \
        [("big.bin", "ObjectCreated:CompleteMultipartUpload", size)]
    assert len([r for r in invocations(instance, recorder["fn"]) if r.get("ok")]) == 1


def test_put_and_copy_send_one_event_each_of_their_type(instance, client, recorder):
    s3 = client("s3")
    s3.put_object(Bucket=recorder["bucket"], Key="a.txt", Body=b"hello", Tagging="k=v")
    s3.copy_object(Bucket=recorder["bucket"], Key="b.txt",
                   CopySource={"Bucket": recorder["bucket"], "Key": "a.txt"})
    assert settled(instance, client, recorder, 2) == [
        ("a.txt", "ObjectCreated:Put", 5), ("b.txt", "ObjectCreated:Copy", 5)]


def test_put_object_tagging_sends_its_own_event(instance, client, recorder):
    s3 = client("s3")
    s3.put_object(Bucket=recorder["bucket"], Key="t.txt", Body=b"x")
    wait_for(lambda: len(events(client, recorder["table"])) >= 1)
    s3.put_object_tagging(Bucket=recorder["bucket"], Key="t.txt",
                          Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert settled(instance, client, recorder, 2) == [
        ("t.txt", "ObjectCreated:Put", 1), ("t.txt", "ObjectTagging:Put", 1)]
