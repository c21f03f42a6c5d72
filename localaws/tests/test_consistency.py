"""AWS's consistency and conflict behaviours (docs/local-aws.md, behaviours 1-13), each
switched on alone through its knob, exercised through boto3 (no SDK retries), and
the aws-real profile that switches them all on. docs/local-aws.md, "AWS's consistency"."""

from __future__ import annotations

import json
import time
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from localaws import requestlog

from .conftest import (NO_RETRY, TRUST, control, create_function, invocations, make_zip,
                       start_instance, stop_instance, uid, wait_for)

CONFLICT_MSG = ("A conflicting conditional operation is currently in progress against this "
                "resource. Please try again.")
ROLE_MSG = "The role defined for the function cannot be assumed by Lambda."
KMS_PREFIX = ("Lambda was unable to configure access to your environment variables because the "
              "KMS key is invalid for CreateGrant. Please check your KMS key settings. KMS "
              "Exception: ")
REGION = {"LocationConstraint": "us-west-2"}
PAB = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
       "RestrictPublicBuckets": True}
SSE = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def err(exc_info) -> tuple[str, str, int]:
    r = exc_info.value.response
    return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"]["HTTPStatusCode"]


def new_bucket(s3) -> str:
    b = uid("bkt")
    s3.create_bucket(Bucket=b, CreateBucketConfiguration=REGION)
    return b


def new_table(ddb, **kw) -> str:
    name = uid("tbl")
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST", **kw)
    return name


# ------------------------------------------------------------- profile ----

def test_aws_real_keeps_the_aws_like_delays_and_adds_every_behaviour():
    inst = start_instance({"LOCAL_AWS_PROFILE": "aws-real", "LOCAL_AWS_S3_NAME_HOLD": "4",
                           "LOCAL_AWS_ROLE_ENV_KMS_ERROR": "false"})
    try:
        cfg = control(inst)
    finally:
        stop_instance(inst)
    assert cfg["profile"] == "aws-real"
    assert (cfg["role_delay"], cfg["table_delay"], cfg["function_delay"],
            cfg["latency_ms"], cfg["jitter_ms"]) == (8.0, 5.0, 2.0, 40.0, 10.0)
    assert cfg["s3_name_hold"] == 4.0 and cfg["role_env_kms_error"] is False  # overrides
    assert cfg["s3_conflict_window"] == 0.5 and cfg["s3_new_bucket_lag"] == 1.0
    assert cfg["table_describe_lag"] == 1.0 and cfg["dynamodb_tags_lag"] == 2.0
    assert cfg["dynamodb_tags_page_size"] == 1 and cfg["s3_notification_lag"] == 2.0
    assert cfg["iam_conflict_window"] == 0.5 and cfg["iam_delete_conflict"] == 2.0
    assert cfg["delete_objects_error_rate"] == 0.1 and cfg["function_idle"] == 10.0
    assert cfg["sqs_delete_lag"] == 2.0 and cfg["sqs_name_hold"] == 4.0
    assert cfg["s3_region_redirect"] is True


def test_instant_and_aws_like_switch_every_behaviour_off(instance, knobs):
    knobs(profile="aws-real")
    for profile in ("aws-like", "instant"):
        cfg = knobs(profile=profile)
        assert cfg["s3_conflict_window"] == 0 and cfg["function_idle"] == 0
        assert cfg["role_env_kms_error"] is False
        assert cfg["dynamodb_tags_page_size"] == 10
        assert cfg["sqs_delete_lag"] == 0 and cfg["sqs_name_hold"] == 0
        # what S3 always does is on in every profile
        assert cfg["s3_region_redirect"] is True


# ------------------------------------------------------------------ S3 ----

def test_1_overlapping_bucket_configuration_writes_answer_operation_aborted(client, knobs):
    knobs(s3_conflict_window=0.6)
    s3 = client("s3", config=NO_RETRY)
    b, other = new_bucket(s3), new_bucket(s3)
    s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration=PAB)
    t0 = time.monotonic()
    for write in (lambda: s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration=SSE),
                  lambda: s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": []}),
                  lambda: s3.delete_bucket_policy(Bucket=b)):
        with pytest.raises(ClientError) as e:
            write()
        assert err(e) == ("OperationAborted", CONFLICT_MSG, 409)
    assert time.monotonic() - t0 < 0.6
    s3.get_public_access_block(Bucket=b)              # reads do not conflict
    s3.put_public_access_block(Bucket=other, PublicAccessBlockConfiguration=PAB)  # nor buckets
    s3.put_object(Bucket=b, Key="k", Body=b"x")       # nor object writes
    time.sleep(0.65)                                  # rejected writes did not extend it
    s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration=SSE)


def test_1_a_write_in_flight_conflicts(client, knobs):
    """Two writes sent together: one is in flight (behind the injected latency it is
    not, the latency comes first), the other answers OperationAborted."""
    import concurrent.futures

    knobs(s3_conflict_window=0.3)
    s3 = client("s3", config=NO_RETRY)
    b = new_bucket(s3)

    def put(i: int):
        try:
            s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "n", "Value": str(i)}]})
            return "ok"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(put, range(4)))
    assert results.count("ok") == 1 and results.count("OperationAborted") == 3


def test_2_bucket_configuration_calls_answer_no_such_bucket_right_after_create(client, knobs):
    knobs(s3_new_bucket_lag=0.8)
    s3 = client("s3", config=NO_RETRY)
    t0 = time.monotonic()
    b = new_bucket(s3)
    for call in (lambda: s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": []}),
                 lambda: s3.get_bucket_policy(Bucket=b),
                 lambda: s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={
                     "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)[0::2] == ("NoSuchBucket", 404)
    s3.head_bucket(Bucket=b)  # the bucket itself is there
    assert time.monotonic() - t0 < 0.8
    wait_for(lambda: time.monotonic() - t0 > 0.85)
    s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": []})


def test_3_a_deleted_bucket_name_stays_held(client, knobs):
    knobs(s3_name_hold=1.0)
    s3 = client("s3", config=NO_RETRY)
    b = new_bucket(s3)
    s3.delete_bucket(Bucket=b)
    t0 = time.monotonic()
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=b, CreateBucketConfiguration=REGION)
    assert err(e) == ("OperationAborted", CONFLICT_MSG, 409)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=b)
    assert err(e)[2] == 404  # gone, but not free
    while True:
        try:
            s3.create_bucket(Bucket=b, CreateBucketConfiguration=REGION)
            break
        except ClientError as e2:
            assert e2.response["Error"]["Code"] == "OperationAborted"
            time.sleep(0.1)
    assert 0.9 < time.monotonic() - t0 < 2.0


# ------------------------------------------------------------ DynamoDB ----

def test_4_describe_table_answers_not_found_right_after_create_table(client, knobs):
    knobs(table_describe_lag=0.8)
    ddb = client("dynamodb", config=NO_RETRY)
    name = new_table(ddb)
    with pytest.raises(ClientError) as e:
        ddb.describe_table(TableName=name)
    assert err(e)[0] == "ResourceNotFoundException"
    assert name in err(e)[1]
    ddb.put_item(TableName=name, Item={"id": {"S": "1"}})  # the table is there
    ddb.get_waiter("table_exists").wait(TableName=name,
                                        WaiterConfig={"Delay": 0.2, "MaxAttempts": 20})
    assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"


def test_every_read_of_a_missing_table_answers_the_code_aws_documents(client):
    # Each code is the one the call's API reference lists for a missing table; moto
    # answers DescribeTimeToLive and UpdateTimeToLive with "ResourceNotFound".
    ddb = client("dynamodb", config=NO_RETRY)
    name = uid("gone")
    arn = f"arn:aws:dynamodb:us-west-2:123456789012:table/{name}"
    calls = {
        "DescribeTable": lambda: ddb.describe_table(TableName=name),
        "DescribeTimeToLive": lambda: ddb.describe_time_to_live(TableName=name),
        "UpdateTimeToLive": lambda: ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "x"}),
        "ListTagsOfResource": lambda: ddb.list_tags_of_resource(ResourceArn=arn),
    }
    for op, call in calls.items():
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)[0] == "ResourceNotFoundException", op
        assert err(e)[2] == 400, op
    with pytest.raises(ClientError) as e:
        ddb.describe_continuous_backups(TableName=name)
    assert err(e)[0] == "TableNotFoundException"


def test_tag_calls_on_a_missing_log_group_answer_resource_not_found(client):
    logs = client("logs", config=NO_RETRY)
    name = uid("/aws/lambda/gone-")
    arn = f"arn:aws:logs:us-west-2:123456789012:log-group:{name}"
    for call in (lambda: logs.list_tags_for_resource(resourceArn=arn),
                 lambda: logs.tag_resource(resourceArn=arn, tags={"k": "v"}),
                 lambda: logs.untag_resource(resourceArn=arn, tagKeys=["k"])):
        with pytest.raises(ClientError) as e:
            call()
        assert err(e)[0] == "ResourceNotFoundException"
    logs.create_log_group(logGroupName=name, tags={"k": "v"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"k": "v"}


def test_4_a_deleted_table_still_shows_deleting(client, knobs):
    knobs(table_delay=0.8)  # DELETING for table_delay seconds (test_knobs has the rest)
    ddb = client("dynamodb", config=NO_RETRY)
    name = new_table(ddb)
    ddb.get_waiter("table_exists").wait(TableName=name,
                                        WaiterConfig={"Delay": 0.2, "MaxAttempts": 20})
    ddb.delete_table(TableName=name)
    assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "DELETING"


def all_tags(ddb, arn) -> tuple[dict[str, str], int]:
    tags, pages, token = {}, 0, None
    while True:
        out = ddb.list_tags_of_resource(ResourceArn=arn, **({"NextToken": token} if token else {}))
        pages += 1
        for t in out["Tags"]:
            assert t["Key"] not in tags, "a key twice"
            tags[t["Key"]] = t["Value"]
        token = out.get("NextToken")
        if not token:
            return tags, pages


def test_5_table_tags_are_eventually_consistent_and_paged(client, knobs):
    knobs(dynamodb_tags_lag=0.8, dynamodb_tags_page_size=1)
    ddb = client("dynamodb", config=NO_RETRY)
    name = new_table(ddb, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    t0 = time.monotonic()
    assert all_tags(ddb, arn) == ({}, 1)          # no tags yet
    wait_for(lambda: time.monotonic() - t0 > 0.85)
    assert all_tags(ddb, arn) == ({"a": "1", "b": "2"}, 2)  # one tag a page
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "new"},
                                            {"Key": "c", "Value": "3"}])
    t1 = time.monotonic()
    assert all_tags(ddb, arn)[0] == {"a": "1", "b": "2"}  # the previous set
    wait_for(lambda: time.monotonic() - t1 > 0.85)
    assert all_tags(ddb, arn) == ({"a": "new", "b": "2", "c": "3"}, 3)  # overwritten, not twice


def test_5_tags_without_lag_and_moto_page_size(client, knobs):
    ddb = client("dynamodb", config=NO_RETRY)
    name = new_table(ddb, Tags=[{"Key": f"k{i:02d}", "Value": "v"} for i in range(12)])
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    tags, pages = all_tags(ddb, arn)
    assert len(tags) == 12 and pages == 2


# ------------------------------------------------------- notifications ----

def notification(fn_arn: str, ident: str = "tapctl") -> dict:
    return {"LambdaFunctionConfigurations": [{
        "Id": ident, "LambdaFunctionArn": fn_arn, "Events": ["s3:ObjectCreated:*"]}]}


def s3_events_for(instance, fn_name) -> int:
    return len([r for r in invocations(instance, fn_name) if r["trigger"] == "s3"])


def test_6_a_new_notification_entry_takes_effect_late(instance, client, role, knobs):
    knobs(s3_notification_lag=1.0)
    s3, lam = client("s3"), client("lambda")
    b = new_bucket(s3)
    fn = create_function(client, role, "def handler(e, c):\n    return 1\n")
    lam.add_permission(FunctionName=fn["FunctionName"], StatementId="s3",
                       Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                       SourceArn=f"arn:aws:s3:::{b}")
    s3.put_bucket_notification_configuration(Bucket=b,
                                             NotificationConfiguration=notification(fn["FunctionArn"]))
    t0 = time.monotonic()
    s3.put_object(Bucket=b, Key="early", Body=b"1")   # no event
    assert time.monotonic() - t0 < 1.0
    wait_for(lambda: time.monotonic() - t0 > 1.05)
    s3.put_object(Bucket=b, Key="late", Body=b"2")
    wait_for(lambda: s3_events_for(instance, fn["FunctionName"]) == 1)
    # the same document again: the entry is unchanged and goes on delivering
    s3.put_bucket_notification_configuration(Bucket=b,
                                             NotificationConfiguration=notification(fn["FunctionArn"]))
    s3.put_object(Bucket=b, Key="again", Body=b"3")
    wait_for(lambda: s3_events_for(instance, fn["FunctionName"]) == 2)
    time.sleep(0.3)
    assert s3_events_for(instance, fn["FunctionName"]) == 2  # "early" never came


def test_a_notification_that_fails_validation_is_not_stored(client, role):
    s3 = client("s3")
    b = new_bucket(s3)
    fn = create_function(client, role, "def handler(e, c):\n    return 1\n")
    client("lambda").add_permission(FunctionName=fn["FunctionName"], StatementId="s3",
                                    Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    s3.put_bucket_notification_configuration(Bucket=b,
                                             NotificationConfiguration=notification(fn["FunctionArn"]))
    # a function in another region (moto 5.2.5 checks the region after storing)
    east = client("lambda", region_name="us-east-1")
    other = east.create_function(FunctionName=uid("fn"), Runtime="python3.12", Role=role,
                                 Handler="app.handler",
                                 Code={"ZipFile": make_zip({"app.py": "x=1\n"})})
    east.add_permission(FunctionName=other["FunctionName"], StatementId="s3",
                        Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    both = {"LambdaFunctionConfigurations":
            notification(fn["FunctionArn"])["LambdaFunctionConfigurations"]
            + notification(other["FunctionArn"], "east")["LambdaFunctionConfigurations"]}
    with pytest.raises(ClientError):
        s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration=both)
    # one destination without permission
    nope = {"LambdaFunctionConfigurations":
            notification(fn["FunctionArn"] + "-missing", "x")["LambdaFunctionConfigurations"]}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration=nope)
    assert err(e)[0] == "InvalidArgument"
    got = s3.get_bucket_notification_configuration(Bucket=b)["LambdaFunctionConfigurations"]
    assert [(c["Id"], c["LambdaFunctionArn"]) for c in got] == [("tapctl", fn["FunctionArn"])]


# ---------------------------------------------------------- IAM, Lambda ----

def test_7_a_young_role_and_environment_variables_give_the_kms_message(client, knobs):
    knobs(role_delay=1.5, role_env_kms_error=True)
    iam, lam = client("iam"), client("lambda", config=NO_RETRY)
    role_name = uid("young")
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    name = uid("fn")
    spec = dict(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
    with pytest.raises(ClientError) as e:
        lam.create_function(**spec, Environment={"Variables": {"A": "1"}})
    code, msg, status = err(e)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert msg == (KMS_PREFIX + "InvalidArnException KMS Message: ARN does not refer to a valid "
                   f"principal: arn:aws:sts::123456789012:assumed-role/{role_name}/{name}")
    with pytest.raises(ClientError) as e:
        lam.create_function(**spec)  # no environment variables
    assert err(e)[:2] == ("InvalidParameterValueException", ROLE_MSG)
    knobs(role_delay=0)
    lam.create_function(**spec, Environment={"Variables": {"A": "1"}})
    # UpdateFunctionConfiguration to a young role, the function has variables
    knobs(role_delay=1.5)
    role2 = iam.create_role(RoleName=uid("young"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName=name, Role=role2)
    assert err(e)[1].startswith(KMS_PREFIX)
    assert lam.get_function_configuration(FunctionName=name)["Role"] == role
    assert lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful"


def test_8_iam_concurrent_modification_and_delete_conflict(client, knobs):
    knobs(iam_conflict_window=0.5, iam_delete_conflict=1.0)
    iam = client("iam", config=NO_RETRY)
    name = uid("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    ro = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    iam.attach_role_policy(RoleName=name, PolicyArn=basic)
    with pytest.raises(ClientError) as e:
        iam.attach_role_policy(RoleName=name, PolicyArn=ro)
    code, msg, status = err(e)
    assert (code, status) == ("ConcurrentModification", 409)
    assert msg.startswith("The request was rejected because multiple requests to change this")
    time.sleep(0.55)
    iam.detach_role_policy(RoleName=name, PolicyArn=basic)
    t0 = time.monotonic()
    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName=name)
    assert err(e) == ("DeleteConflict", "Cannot delete entity, must detach all policies first.",
                      409)
    while True:
        try:
            iam.delete_role(RoleName=name)
            break
        except ClientError as e2:
            assert e2.response["Error"]["Code"] == "DeleteConflict"
            time.sleep(0.1)
    assert 0.9 < time.monotonic() - t0 < 2.0


def test_10_an_idle_function_is_inactive_and_an_update_makes_it_active(instance, client, role,
                                                                        knobs):
    knobs(function_idle=0.8)
    lam = client("lambda", config=NO_RETRY)
    fn = create_function(client, role, "def handler(e, c):\n    return 1\n")
    name = fn["FunctionName"]
    assert lam.get_function_configuration(FunctionName=name)["State"] == "Active"
    wait_for(lambda: lam.get_function_configuration(FunctionName=name)["State"] == "Inactive",
             timeout=3)
    cfg = lam.get_function_configuration(FunctionName=name)
    assert cfg["StateReasonCode"] == "Idle"
    lam.update_function_configuration(FunctionName=name, Timeout=7)  # allowed
    assert lam.get_function_configuration(FunctionName=name)["State"] == "Active"
    # or at once, from the control endpoint
    knobs(function_idle=0)
    req = urllib.request.Request(instance["LOCAL_AWS_HTTP_URL"] + "/_localaws/lambda/inactive",
                                 data=json.dumps({"function": name}).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read()) == {"function": name, "state": "Inactive"}
    assert lam.get_function(FunctionName=name)["Configuration"]["State"] == "Inactive"
    lam.update_function_code(FunctionName=name,
                             ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 2\n"}))
    assert lam.get_function_configuration(FunctionName=name)["State"] == "Active"
    with urllib.request.urlopen(req, timeout=10) as r:
        json.loads(r.read())
    # An invocation of an Inactive function fails and wakes it (Pending, then Active): "When
    # you try to invoke a function that is inactive, the invocation fails and Lambda sets the
    # function to pending state" (Lambda developer guide, "Lambda function states").
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name)
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    wait_for(lambda: lam.get_function_configuration(FunctionName=name)["State"] == "Active",
             timeout=5)
    assert lam.invoke(FunctionName=name)["Payload"].read() == b"2"
    assert lam.get_function_configuration(FunctionName=name)["State"] == "Active"


# ---------------------------------------------------------- S3 (cont.) ----

def delete_pattern(s3, bucket: str) -> tuple[list[str], dict]:
    keys = [f"k{i:02d}" for i in range(20)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    return keys, out


def test_9_delete_objects_answers_per_key_errors(client, knobs):
    s3 = client("s3", config=NO_RETRY)
    knobs(delete_objects_error_rate=0.4, fault_seed=11)
    a = new_bucket(s3)
    keys, out = delete_pattern(s3, a)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    failed = {e["Key"]: e["Code"] for e in out.get("Errors", [])}
    deleted = {d["Key"] for d in out.get("Deleted", [])}
    assert failed and deleted and set(failed) | deleted == set(keys)
    assert set(failed.values()) <= {"SlowDown", "InternalError"}
    left = {o["Key"] for o in s3.list_objects_v2(Bucket=a).get("Contents", [])}
    assert left == set(failed), "a key that failed was not deleted"
    # the same seed, the same keys: the same keys fail
    knobs(fault_seed=11)
    b = new_bucket(s3)
    _, again = delete_pattern(s3, b)
    assert {e["Key"] for e in again["Errors"]} == set(failed)
    # versioned keys: each <Error> names its VersionId
    knobs(delete_objects_error_rate=1.0)
    v = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=v, VersioningConfiguration={"Status": "Enabled"})
    vid = s3.put_object(Bucket=v, Key="k", Body=b"x")["VersionId"]
    out = s3.delete_objects(Bucket=v, Delete={"Objects": [{"Key": "k", "VersionId": vid}]})
    assert [(e["Key"], e["VersionId"]) for e in out["Errors"]] == [("k", vid)]
    knobs(delete_objects_error_rate=0)
    out = s3.delete_objects(Bucket=v, Delete={"Objects": [{"Key": "k", "VersionId": vid}]})
    assert "Errors" not in out and out["Deleted"][0]["VersionId"] == vid


def test_11_head_bucket_from_another_region_answers_301_with_the_region(instance, client, knobs):
    assert knobs()["s3_region_redirect"] is True  # on by default: S3 always does it
    central = client("s3", region_name="eu-central-1", config=NO_RETRY)
    b = uid("bkt")
    central.create_bucket(Bucket=b,
                          CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    east = client("s3", region_name="us-east-1", config=NO_RETRY)

    def raw_head(region: str):
        import requests
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        url = f"{instance['AWS_ENDPOINT_URL']}/{b}"
        req = AWSRequest(method="HEAD", url=url)
        S3SigV4Auth(boto3.Session().get_credentials(), "s3", region).add_auth(req)
        return requests.head(url, headers=dict(req.headers), verify=instance["AWS_CA_BUNDLE"],
                             allow_redirects=False, timeout=10)

    r = raw_head("us-east-1")
    assert (r.status_code, r.headers.get("x-amz-bucket-region"), r.content) == \
        (301, "eu-central-1", b"")
    # boto3 follows it (its S3 region redirector re-signs for the bucket's region)
    mark = requestlog.Mark(instance["LOCAL_AWS_DIR"])
    east.head_bucket(Bucket=b)
    assert [r["status"] for r in mark.since() if r["operation"] == "HeadBucket"] == [301, 200]
    # a client in the bucket's region is answered 200
    assert central.head_bucket(Bucket=b)["ResponseMetadata"]["HTTPStatusCode"] == 200
    knobs(s3_region_redirect=False)  # moto's own answer: 200 with the header
    assert east.head_bucket(Bucket=b)["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-bucket-region"] == "eu-central-1"


# ------------------------------------------- what tapctl's answers need ----

def test_list_object_versions_honours_encoding_type_url(client):
    s3 = client("s3")
    b = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    keys = ["ctl\x01char.txt", "cr\rkey.txt", "a b+c.txt", "z/last"]
    for k in keys:
        s3.put_object(Bucket=b, Key=k, Body=b"x")
    # boto3 asks for EncodingType=url itself and decodes keys and markers
    seen, marker = [], {}
    while True:
        page = s3.list_object_versions(Bucket=b, MaxKeys=1, **marker)
        seen += [v["Key"] for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        marker = {"KeyMarker": page["NextKeyMarker"],
                  "VersionIdMarker": page["NextVersionIdMarker"]}
    assert sorted(seen) == sorted(keys)
    raw = client("s3", config=NO_RETRY)
    raw.meta.events.unregister("before-parameter-build.s3.ListObjectVersions",
                               unique_id="set-list-objects-encoding-type")
    body = []
    raw.meta.events.register("after-call.s3.ListObjectVersions",
                             lambda http_response, **kw: body.append(http_response.content))
    raw.list_object_versions(Bucket=b, EncodingType="url", MaxKeys=1)
    assert b"<EncodingType>url</EncodingType>" in body[0]
    assert b"a%20b%2Bc.txt" in body[0] and b"\x01" not in body[0]


def test_skip_destination_validation_stores_an_unvalidated_entry(client):
    s3 = client("s3")
    b = new_bucket(s3)
    nope = notification("arn:aws:lambda:us-west-2:123456789012:function:nope", "theirs")
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration=nope)
    assert err(e)[0] == "InvalidArgument"
    s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration=nope,
                                             SkipDestinationValidation=True)
    got = s3.get_bucket_notification_configuration(Bucket=b)["LambdaFunctionConfigurations"]
    assert [c["Id"] for c in got] == ["theirs"]


def test_a_function_made_failed_reports_it_until_an_update(instance, client, role):
    lam = client("lambda", config=NO_RETRY)
    name = create_function(client, role, "def handler(e, c):\n    return 1\n")["FunctionName"]

    def fail(spec: dict) -> dict:
        req = urllib.request.Request(instance["LOCAL_AWS_HTTP_URL"] + "/_localaws/lambda/failed",
                                     data=json.dumps(spec).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    fail({"function": name, "reason": "broken"})
    cfg = lam.get_function_configuration(FunctionName=name)
    assert (cfg["State"], cfg["StateReason"]) == ("Failed", "broken")
    lam.update_function_configuration(FunctionName=name, Timeout=9)
    assert lam.get_function_configuration(FunctionName=name)["State"] == "Active"
    fail({"function": name, "reason": "update broke", "update": True})
    cfg = lam.get_function_configuration(FunctionName=name)
    assert (cfg["LastUpdateStatus"], cfg["LastUpdateStatusReason"]) == ("Failed", "update broke")
    lam.update_function_configuration(FunctionName=name, Timeout=10)
    assert lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful"


# ----------------------------------------------------------------- SQS ----

def sqs_code(exc) -> str:
    # boto3 reads the query-compatible code (x-amzn-query-error) when the service sends one
    r = getattr(exc, "value", exc).response
    return r["Error"]["Code"].removeprefix("AWS.SimpleQueueService.")


def test_12_13_a_deleted_queue_answers_a_while_and_its_name_stays_held(client, knobs):
    knobs(sqs_delete_lag=0.6, sqs_name_hold=1.2)
    sqs = client("sqs", config=NO_RETRY)
    name = uid("q")
    url = sqs.create_queue(QueueName=name, tags={"k": "v"})["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    t0 = time.monotonic()
    # (12) still there, as it was: URL, attributes, tags, listing, even a send
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"k": "v"}
    assert url in sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])
    sqs.send_message(QueueUrl=url, MessageBody="lost")
    sqs.delete_queue(QueueUrl=url)  # deleting it again meanwhile succeeds
    # (13) its name is held, also while it still answers
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=name)
    assert sqs_code(e) == "QueueDeletedRecently"
    assert err(e)[1].startswith("You must wait 60 seconds after deleting a queue")
    assert err(e)[2] == 400

    def gone() -> bool:
        try:
            sqs.get_queue_url(QueueName=name)
            return False
        except ClientError as e2:
            assert sqs_code(e2) in ("NonExistentQueue", "QueueDoesNotExist")
            return True
    wait_for(gone, timeout=5, interval=0.05)
    assert 0.5 < time.monotonic() - t0
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=name)  # gone, but not free
    assert sqs_code(e) == "QueueDeletedRecently"

    def created() -> bool:
        try:
            sqs.create_queue(QueueName=name)
            return True
        except ClientError as e2:
            assert sqs_code(e2) == "QueueDeletedRecently"
            return False
    wait_for(created, timeout=5, interval=0.05)
    assert 1.1 < time.monotonic() - t0
    assert sqs.list_queue_tags(QueueUrl=url).get("Tags", {}) == {}  # a new queue


def test_without_the_knobs_a_deleted_queue_is_gone_and_its_name_free(client):
    sqs = client("sqs", config=NO_RETRY)
    name = uid("q")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError):
        sqs.get_queue_url(QueueName=name)
    sqs.create_queue(QueueName=name)
