"""An SCP that requires tags on every create (``required_request_tags``,
shims/scp_request_tags.py): each of the six creates tapctl makes is refused, in its
service's error shape, unless the request itself carries every required tag key."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from .conftest import NO_RETRY, TRUST, make_zip, uid

SCP = "with an explicit deny in a service control policy"


def creates(client, role_arn: str, tags: dict[str, str]):
    """(operation, call) for each create, sending `tags` the way the service takes them."""
    listed = [{"Key": k, "Value": v} for k, v in tags.items()]
    ddb, s3, iam = (client(s, config=NO_RETRY) for s in ("dynamodb", "s3", "iam"))
    lam, logs, sqs = (client(s, config=NO_RETRY) for s in ("lambda", "logs", "sqs"))
    bucket_cfg = {"LocationConstraint": "us-west-2"}
    if listed:
        bucket_cfg["Tags"] = listed
    return [
        ("dynamodb:CreateTable", lambda: ddb.create_table(
            TableName=uid("t"), BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            **({"Tags": listed} if listed else {}))),
        ("s3:CreateBucket", lambda: s3.create_bucket(
            Bucket=uid("b"), CreateBucketConfiguration=bucket_cfg)),
        ("iam:CreateRole", lambda: iam.create_role(
            RoleName=uid("r"), AssumeRolePolicyDocument=TRUST,
            **({"Tags": listed} if listed else {}))),
        ("lambda:CreateFunction", lambda: lam.create_function(
            FunctionName=uid("f"), Runtime="python3.12", Role=role_arn, Handler="app.h",
            Code={"ZipFile": make_zip({"app.py": "def h(e, c): pass"})},
            **({"Tags": tags} if tags else {}))),
        ("logs:CreateLogGroup", lambda: logs.create_log_group(
            logGroupName=uid("/g/"), **({"tags": tags} if tags else {}))),
        ("sqs:CreateQueue", lambda: sqs.create_queue(
            QueueName=uid("q"), **({"tags": tags} if tags else {}))),
    ]


def test_creates_without_the_required_request_tags_are_denied(client, role, knobs):
    knobs(required_request_tags=["team", "cost-center"])
    for tags in ({}, {"team": "data"}):  # none, and one of the two
        for action, call in creates(client, role, tags):
            with pytest.raises(ClientError) as e:
                call()
            code = e.value.response["Error"]["Code"]
            msg = e.value.response["Error"]["Message"]
            assert code in ("AccessDenied", "AccessDeniedException"), (action, code)
            assert f"is not authorized to perform: {action} on resource: " in msg, msg
            assert msg.endswith(SCP), msg
    # every key present: each create goes through
    for action, call in creates(client, role, {"team": "data", "cost-center": "42"}):
        call()


def test_no_required_tags_no_denial(client, role):
    for action, call in creates(client, role, {}):
        call()
