"""pytest setup for the Lambda handler: fake credentials, a moto-mocked table, helpers."""
import os
import sys
import types

import pytest

HANDLER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HANDLER_DIR)

TABLE = "lambda-invocation-logs-test"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    """Fake credentials and region; nothing here may reach a real or local AWS."""
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_CA_BUNDLE",
                "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "LOG_LEVEL", "ITEM_RETENTION_DAYS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", TABLE)


@pytest.fixture
def index(monkeypatch):
    """The handler module, with its per-container client cache emptied for each test."""
    import index as module
    monkeypatch.setattr(module, "_dynamodb", None)
    return module


@pytest.fixture
def table(index):
    """A mocked table with the stack's key schema; yields a boto3 client on it."""
    import boto3
    from moto import mock_aws
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "requestId", "KeyType": "HASH"},
                       {"AttributeName": "timestamp", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "requestId", "AttributeType": "S"},
                                  {"AttributeName": "timestamp", "AttributeType": "S"}])
        yield client


def items(client):
    return client.scan(TableName=TABLE)["Items"]


def context(request_id="req-1111"):
    return types.SimpleNamespace(function_name="s3-processor-test", aws_request_id=request_id)


def s3_record(key, sequencer="0055AED6DCD90281E5", bucket="lambda-trigger-bucket-test",
              size=1024, version_id=None, event_time="2024-05-01T12:00:00.000Z"):
    obj = {"key": key, "size": size, "eTag": "d41d8cd98f00b204e9800998ecf8427e",
           "sequencer": sequencer}
    if version_id:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-west-2",
        "eventTime": event_time, "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "tapctl",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
    }
