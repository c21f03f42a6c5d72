"""Realism knobs: profiles, role propagation, table and function states,
latency, fault injection with each service's own error shape, the control endpoint."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from .conftest import (NO_RETRY, TRUST, control, create_function, invocations, make_zip,
                       start_instance, stop_instance, uid, wait_for)

ROLE_MSG = "The role defined for the function cannot be assumed by Lambda."


def _error(exc_info) -> tuple[str, str, int]:
    r = exc_info.value.response
    return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"]["HTTPStatusCode"]


# ------------------------------------------------------------- profiles ----

def test_profiles_and_env_overrides_at_start():
    inst = start_instance({"LOCAL_AWS_PROFILE": "aws-like", "LOCAL_AWS_ROLE_DELAY": "1.5",
                           "LOCAL_AWS_FAULT_SERVICES": "s3,dynamodb"})
    try:
        cfg = control(inst)
        assert cfg["profile"] == "aws-like"
        assert cfg["role_delay"] == 1.5           # override
        assert cfg["table_delay"] == 5.0 and cfg["function_delay"] == 2.0
        assert cfg["latency_ms"] == 40.0 and cfg["jitter_ms"] == 10.0
        assert cfg["fault_rate"] == 0.0
        assert cfg["fault_services"] == ["s3", "dynamodb"]
    finally:
        stop_instance(inst)


def test_default_profile_is_instant(instance, knobs):
    cfg = control(instance)
    assert cfg["profile"] == "instant"
    assert all(cfg[k] == 0 for k in ("role_delay", "table_delay", "function_delay",
                                     "latency_ms", "jitter_ms", "fault_rate"))
    cfg = knobs(profile="aws-like")
    assert (cfg["role_delay"], cfg["table_delay"], cfg["function_delay"]) == (8.0, 5.0, 2.0)


def test_control_endpoint_rejects_bad_knobs(instance):
    for bad in ({"no_such_knob": 1}, {"fault_rate": 2}, {"profile": "nope"},
                {"fault_source": "someone"}):
        req = urllib.request.Request(instance["LOCAL_AWS_HTTP_URL"] + "/_localaws/config",
                                     data=json.dumps(bad).encode(), method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 400
    # also reachable over TLS
    import ssl
    ctx = ssl.create_default_context(cafile=instance["AWS_CA_BUNDLE"])
    with urllib.request.urlopen(instance["AWS_ENDPOINT_URL"] + "/_localaws/config",
                                context=ctx, timeout=10) as r:
        assert json.loads(r.read())["profile"] == "instant"


# ------------------------------------------------------ role propagation ---

def test_role_delay_gives_the_exact_error_then_success(client, knobs):
    knobs(role_delay=2)
    iam, lam = client("iam"), client("lambda", config=NO_RETRY)
    role = iam.create_role(RoleName=uid("young"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    t0 = time.monotonic()
    name = uid("fn")
    spec = dict(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
    with pytest.raises(ClientError) as e:
        lam.create_function(**spec)
    assert _error(e) == ("InvalidParameterValueException", ROLE_MSG, 400)
    attempts = 1
    while True:  # what a reconciler does: retry that exact error with backoff
        time.sleep(0.25)
        attempts += 1
        try:
            lam.create_function(**spec)
            break
        except ClientError as err:
            assert err.response["Error"]["Message"] == ROLE_MSG
            assert time.monotonic() - t0 < 5
    assert 1.8 <= time.monotonic() - t0 < 5 and attempts > 2

    # UpdateFunctionConfiguration to a fresh role: same rule
    role2 = iam.create_role(RoleName=uid("young"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName=name, Role=role2)
    assert _error(e) == ("InvalidParameterValueException", ROLE_MSG, 400)


def test_a_missing_role_cannot_be_assumed(client):
    with pytest.raises(ClientError) as e:
        client("lambda").create_function(
            FunctionName=uid("fn"), Runtime="python3.12",
            Role="arn:aws:iam::123456789012:role/does-not-exist", Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": "x=1\n"})})
    assert _error(e)[:2] == ("InvalidParameterValueException", ROLE_MSG)


# ------------------------------------------------------------ DynamoDB ----

def test_table_creating_then_active_and_deleting_then_gone(client, knobs):
    knobs(table_delay=1.5)
    ddb = client("dynamodb", config=NO_RETRY)
    name = uid("tbl")
    out = ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                           AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                           BillingMode="PAY_PER_REQUEST")
    assert out["TableDescription"]["TableStatus"] == "CREATING"
    assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "CREATING"
    with pytest.raises(ClientError) as e:
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    assert _error(e)[0] == "ContinuousBackupsUnavailableException"
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=name, Item={"id": {"S": "1"}})
    assert _error(e)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        ddb.delete_table(TableName=name)
    assert _error(e)[0] == "ResourceInUseException"

    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    ddb.put_item(TableName=name, Item={"id": {"S": "1"}})

    out = ddb.delete_table(TableName=name)
    assert out["TableDescription"]["TableStatus"] == "DELETING"
    assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "DELETING"
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=name, Item={"id": {"S": "2"}})
    assert _error(e)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    assert _error(e)[0] == "ResourceInUseException"
    ddb.get_waiter("table_not_exists").wait(TableName=name,
                                            WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    with pytest.raises(ClientError) as e:
        ddb.describe_table(TableName=name)
    assert _error(e)[0] == "ResourceNotFoundException"


# -------------------------------------------------------------- Lambda ----

def test_function_pending_then_active_and_updates_in_progress(client, role, knobs):
    knobs(function_delay=1.0)
    lam = client("lambda", config=NO_RETRY)
    name = uid("fn")
    out = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                              Handler="app.handler",
                              Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
    assert out["State"] == "Pending"
    assert lam.get_function(FunctionName=name)["Configuration"]["State"] == "Pending"
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName=name, Timeout=9)
    assert _error(e)[0] == "ResourceConflictException"
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name)
    assert _error(e)[0] == "ResourceConflictException"
    lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 10})

    out = lam.update_function_configuration(FunctionName=name, Timeout=9)
    assert out["LastUpdateStatus"] == "InProgress"
    assert lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "InProgress"
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName=name,
                                 ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 2\n"}))
    code, msg, status = _error(e)
    assert (code, status) == ("ResourceConflictException", 409)
    assert "An update is in progress for resource" in msg
    lam.get_waiter("function_updated_v2").wait(FunctionName=name,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    assert lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful"
    lam.update_function_code(FunctionName=name,
                             ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 2\n"}))


# ------------------------------------------------------- latency, faults ---

def test_latency_with_jitter(client, knobs):
    s3 = client("s3")
    knobs(latency_ms=150, jitter_ms=20)
    times = []
    for _ in range(4):
        t0 = time.monotonic()
        s3.list_buckets()
        times.append(time.monotonic() - t0)
    assert min(times) >= 0.125
    knobs(latency_ms=0, jitter_ms=0)
    t0 = time.monotonic()
    s3.list_buckets()
    assert time.monotonic() - t0 < 0.12


FAULT_SHAPES = [
    # service, call, expected (code, status)
    ("s3", lambda c: c.list_buckets(), ("SlowDown", 503)),
    ("dynamodb", lambda c: c.list_tables(), ("ThrottlingException", 400)),
    ("iam", lambda c: c.list_roles(), ("Throttling", 400)),
    ("sts", lambda c: c.get_caller_identity(), ("Throttling", 400)),
    ("lambda", lambda c: c.list_functions(), ("TooManyRequestsException", 429)),
    ("logs", lambda c: c.describe_log_groups(), ("ThrottlingException", 400)),
]


@pytest.mark.parametrize("service,call,expected", FAULT_SHAPES, ids=[f[0] for f in FAULT_SHAPES])
def test_throttling_faults_have_each_services_shape(client, knobs, service, call, expected):
    c = client(service, config=NO_RETRY)
    knobs(fault_next=1, fault_services=[service])
    with pytest.raises(ClientError) as e:
        call(c)
    code, _, status = _error(e)
    assert (code, status) == expected
    call(c)  # only the next one


def test_server_error_faults(client, knobs):
    knobs(fault_next=2, fault_kind="5xx", fault_services=["s3", "dynamodb"])
    with pytest.raises(ClientError) as e:
        client("s3", config=NO_RETRY).list_buckets()
    assert _error(e)[0::2] == ("InternalError", 500)
    with pytest.raises(ClientError) as e:
        client("dynamodb", config=NO_RETRY).list_tables()
    assert _error(e)[0::2] == ("InternalServerError", 500)


def test_sdk_retries_ride_out_a_fault_rate(client, knobs):
    knobs(fault_rate=0.3, fault_seed=7, fault_services=["dynamodb"])
    ddb = client("dynamodb", config=boto3.session.Config(retries={"mode": "standard",
                                                                  "max_attempts": 10}))
    for _ in range(10):
        ddb.list_tables()


def test_faults_on_a_put_object_leave_the_connection_usable(client, knobs):
    s3 = client("s3", config=NO_RETRY)
    bucket = uid("bkt")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    knobs(fault_next=1, fault_operations=["PutObject"])
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 200_000)
    assert _error(e)[0] == "SlowDown"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 200_000)
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 200_000


def test_faults_restricted_to_requests_made_by_lambda_functions(instance, client, role, knobs):
    ddb = client("dynamodb", config=NO_RETRY)
    table = uid("tbl")
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    code = ("import boto3, os\nfrom botocore.config import Config\n"
            "def handler(event, context):\n"
            "    boto3.client('dynamodb', config=Config(retries={'total_max_attempts': 1}))"
            ".put_item(TableName=os.environ['TABLE'], Item={'id': {'S': context.aws_request_id}})\n")
    fn = create_function(client, role, code, env={"TABLE": table})
    knobs(fault_rate=1.0, fault_source="lambda", fault_services=["dynamodb"])
    ddb.put_item(TableName=table, Item={"id": {"S": "from-client"}})  # clients unaffected
    client("lambda").invoke(FunctionName=fn["FunctionName"], InvocationType="Event")
    wait_for(lambda: len(invocations(instance, fn["FunctionName"])) >= 3, timeout=20)
    recs = [r for r in invocations(instance, fn["FunctionName"]) if "condition" not in r]
    assert [r["ok"] for r in recs] == [False, False, False]
    assert recs[0]["error_type"] == "ThrottlingException"
    knobs(fault_rate=0)
    assert [i["id"]["S"] for i in ddb.scan(TableName=table)["Items"]] == ["from-client"]
