"""The Lambda runner: real python in a subprocess per invocation."""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from localaws import requestlog

from .conftest import create_function, invocations, start_instance, stop_instance, uid, wait_for

CONTEXT_CODE = '''
import json, os, sys
def handler(event, context):
    print("hello from", context.function_name)
    print("to stderr", file=sys.stderr)
    return {
        "event": event,
        "function_name": context.function_name,
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "remaining": context.get_remaining_time_in_millis(),
        "env": {k: os.environ.get(k) for k in ("GREETING", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE",
                "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_LOG_GROUP_NAME", "LAMBDA_TASK_ROOT")},
        "pid": os.getpid(),
    }
'''


def test_invoke_returns_the_result_with_context_and_env(instance, client, role):
    fn = create_function(client, role, CONTEXT_CODE, env={"GREETING": "hi"}, timeout=7, memory=256)
    lam = client("lambda")
    r = lam.invoke(FunctionName=fn["FunctionName"], Payload=json.dumps({"n": 1}), LogType="Tail")
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    out = json.loads(r["Payload"].read())
    assert out["event"] == {"n": 1}
    assert out["function_name"] == fn["FunctionName"]
    assert out["invoked_function_arn"] == fn["FunctionArn"]
    assert out["memory_limit_in_mb"] == 256
    assert 0 < out["remaining"] <= 7000
    assert len(out["aws_request_id"]) == 36
    env = out["env"]
    assert env["GREETING"] == "hi"
    assert env["AWS_ENDPOINT_URL"] == instance["AWS_ENDPOINT_URL"]
    assert env["AWS_CA_BUNDLE"] == instance["AWS_CA_BUNDLE"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-west-2"
    assert env["AWS_ACCESS_KEY_ID"] != instance["AWS_ACCESS_KEY_ID"]
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{fn['FunctionName']}"
    tail = base64.b64decode(r["LogResult"]).decode()
    assert f"START RequestId: {out['aws_request_id']}" in tail
    assert "hello from" in tail and "to stderr" in tail and "REPORT RequestId" in tail

    # one subprocess per invocation
    r2 = json.loads(lam.invoke(FunctionName=fn["FunctionName"])["Payload"].read())
    assert r2["pid"] != out["pid"] and r2["aws_request_id"] != out["aws_request_id"]


def test_output_goes_to_a_log_group_lambda_creates(client, role):
    fn = create_function(client, role, CONTEXT_CODE)
    logs = client("logs")
    group = f"/aws/lambda/{fn['FunctionName']}"
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=b"{}")
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    msgs = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    assert any(m.startswith("START RequestId:") for m in msgs)
    assert any("hello from" in m for m in msgs)
    assert any(m.startswith("REPORT RequestId:") for m in msgs)


def test_python_logging_goes_to_the_log_like_the_lambda_runtime(client, role):
    code = ("import logging\nlog = logging.getLogger()\nlog.setLevel(logging.INFO)\n"
            "def handler(event, context):\n    log.info('info line')\n    return 1\n")
    fn = create_function(client, role, code)
    r = client("lambda").invoke(FunctionName=fn["FunctionName"], LogType="Tail")
    tail = base64.b64decode(r["LogResult"]).decode()
    assert "[INFO]" in tail and "info line" in tail


def test_handler_error_is_an_unhandled_function_error(client, role):
    code = "def handler(event, context):\n    raise ValueError('boom')\n"
    fn = create_function(client, role, code)
    r = client("lambda").invoke(FunctionName=fn["FunctionName"])
    assert r["StatusCode"] == 200
    assert r["FunctionError"] == "Unhandled"
    err = json.loads(r["Payload"].read())
    assert err["errorType"] == "ValueError" and err["errorMessage"] == "boom"
    assert err["stackTrace"]


def test_missing_module_and_handler(client, role):
    fn = create_function(client, role, "x = 1\n", handler="nope.handler")
    err = json.loads(client("lambda").invoke(FunctionName=fn["FunctionName"])["Payload"].read())
    assert err["errorType"] == "Runtime.ImportModuleError"
    fn = create_function(client, role, "x = 1\n", handler="app.missing")
    err = json.loads(client("lambda").invoke(FunctionName=fn["FunctionName"])["Payload"].read())
    assert err["errorType"] == "Runtime.HandlerNotFound"


def test_timeout_kills_the_invocation(client, role):
    code = "import time\ndef handler(event, context):\n    time.sleep(30)\n"
    fn = create_function(client, role, code, timeout=1)
    t0 = time.monotonic()
    r = client("lambda").invoke(FunctionName=fn["FunctionName"], LogType="Tail")
    assert time.monotonic() - t0 < 5
    assert r["FunctionError"] == "Unhandled"
    err = json.loads(r["Payload"].read())
    assert err["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in err["errorMessage"]
    assert "Task timed out" in base64.b64decode(r["LogResult"]).decode()


def test_function_calls_back_into_this_instance_as_source_lambda(instance, client, role):
    table = uid("tbl")
    client("dynamodb").create_table(
        TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")
    code = ("import boto3, os\n"
            "def handler(event, context):\n"
            "    boto3.client('dynamodb').put_item(TableName=os.environ['TABLE'],"
            " Item={'id': {'S': context.aws_request_id}})\n"
            "    return 'ok'\n")
    fn = create_function(client, role, code, env={"TABLE": table})
    mark = requestlog.Mark(instance["LOCAL_AWS_DIR"])
    r = client("lambda").invoke(FunctionName=fn["FunctionName"])
    assert json.loads(r["Payload"].read()) == "ok"
    assert len(client("dynamodb").scan(TableName=table)["Items"]) == 1
    recs = mark.since()
    put = [x for x in recs if x["operation"] == "PutItem"]
    assert put and all(x["source"] == "lambda" and x["listener"] == "tls" for x in put)
    inv = [x for x in recs if x["operation"] == "Invoke"]
    assert inv and inv[0]["source"] == "client"


def test_event_invocation_runs_in_the_background(instance, client, role):
    code = ("import time\ndef handler(event, context):\n    time.sleep(1.0)\n"
            "    print('done', event['n'])\n")
    fn = create_function(client, role, code)
    name = fn["FunctionName"]
    t0 = time.monotonic()
    r = client("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 5}')
    assert time.monotonic() - t0 < 0.8
    assert r["StatusCode"] == 202
    assert invocations(instance, name) == []
    recs = wait_for(lambda: invocations(instance, name), timeout=10)
    assert recs[0]["ok"] and recs[0]["invocation_type"] == "Event" and recs[0]["attempt"] == 1


def test_failed_async_invocation_is_retried_twice(instance, client, role):
    code = "def handler(event, context):\n    raise RuntimeError('always fails')\n"
    fn = create_function(client, role, code)
    name = fn["FunctionName"]
    client("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    recs = wait_for(lambda: (lambda r: r if len(r) >= 3 else None)(invocations(instance, name)),
                    timeout=15)
    time.sleep(0.5)
    recs = [r for r in invocations(instance, name) if "condition" not in r]  # attempts only
    assert [r["attempt"] for r in recs] == [1, 2, 3]
    assert all(not r["ok"] and r["error_type"] == "RuntimeError" for r in recs)


def test_async_retry_stops_at_the_first_success(instance, client, role):
    code = ("import os\n"
            "def handler(event, context):\n"
            "    marker = os.path.join(os.environ['MARK_DIR'], 'tried')\n"
            "    if not os.path.exists(marker):\n"
            "        open(marker, 'w').close()\n"
            "        raise RuntimeError('first try fails')\n"
            "    return 'second try works'\n")
    mark_dir = os.path.join(instance["LOCAL_AWS_DIR"], uid("mark"))
    os.makedirs(mark_dir)
    fn = create_function(client, role, code, env={"MARK_DIR": mark_dir})
    name = fn["FunctionName"]
    client("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    wait_for(lambda: any(r["ok"] for r in invocations(instance, name)), timeout=15)
    time.sleep(0.5)
    assert [(r["attempt"], r["ok"]) for r in invocations(instance, name)] == [(1, False), (2, True)]


def test_stop_kills_running_function_processes(client):
    inst = start_instance()
    try:
        import boto3
        kw = dict(endpoint_url=inst["AWS_ENDPOINT_URL"], region_name=inst["AWS_REGION"],
                  verify=inst["AWS_CA_BUNDLE"], aws_access_key_id=inst["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=inst["AWS_SECRET_ACCESS_KEY"])
        iam = boto3.client("iam", **kw)
        lam = boto3.client("lambda", **kw)
        from .conftest import TRUST, make_zip
        role_arn = iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        code = ("import os, time\ndef handler(event, context):\n"
                "    open(os.environ['PIDFILE'], 'w').write(str(os.getpid()))\n"
                "    time.sleep(60)\n")
        pidfile = os.path.join(inst["LOCAL_AWS_DIR"], "fn.pid")
        lam.create_function(FunctionName="sleeper", Runtime="python3.12", Role=role_arn,
                            Handler="app.handler", Code={"ZipFile": make_zip({"app.py": code})},
                            Timeout=120, Environment={"Variables": {"PIDFILE": pidfile}})
        lam.invoke(FunctionName="sleeper", InvocationType="Event", Payload=b"{}")
        wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read(), timeout=10)
        fn_pid = int(open(pidfile).read())
        os.kill(fn_pid, 0)
    finally:
        stop_instance(inst)
    with pytest.raises(ProcessLookupError):
        os.kill(fn_pid, 0)


def test_invoke_unknown_function_is_not_found(client):
    with pytest.raises(ClientError) as e:
        client("lambda").invoke(FunctionName="does-not-exist")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_without_list_tags_get_function_has_tags_error_and_list_tags_is_denied(instance, client,
                                                                                role):
    """POST /_localaws/lambda/tags-denied (shims/lambda_tags.py)."""
    fn = create_function(client, role, "def handler(e, c):\n    return 1\n")
    name, arn = fn["FunctionName"], fn["FunctionArn"]
    lam = client("lambda")
    lam.tag_resource(Resource=arn, Tags={"team": "data"})
    assert lam.get_function(FunctionName=name)["Tags"] == {"team": "data"}

    def deny(denied: bool) -> dict:
        req = urllib.request.Request(
            instance["LOCAL_AWS_HTTP_URL"] + "/_localaws/lambda/tags-denied",
            data=json.dumps({"function": name, "denied": denied}).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    assert deny(True)["list_tags_denied"] is True
    out = lam.get_function(FunctionName=name)
    assert "Tags" not in out and out["Configuration"]["FunctionName"] == name
    err = out["TagsError"]
    assert err["ErrorCode"] == "AccessDeniedException"
    assert f"lambda:ListTags on resource: {arn}" in err["Message"]
    assert 84 <= len(err["Message"]) <= 1000
    with pytest.raises(ClientError) as e:
        lam.list_tags(Resource=arn)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # another function is not affected; lifting the denial gives the tags back
    other = create_function(client, role, "def handler(e, c):\n    return 1\n")
    assert "TagsError" not in lam.get_function(FunctionName=other["FunctionName"])
    deny(False)
    assert lam.get_function(FunctionName=name)["Tags"] == {"team": "data"}
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "data"}


def test_invoking_an_inactive_function_fails_and_wakes_it(instance, client, role):
    fn = create_function(client, role, CONTEXT_CODE)["FunctionName"]
    req = urllib.request.Request(
        instance["LOCAL_AWS_HTTP_URL"] + "/_localaws/lambda/inactive",
        data=json.dumps({"function": fn}).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
    lam = client("lambda")
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=fn, Payload=b"{}")
    err = e.value.response["Error"]
    assert err["Code"] == "ResourceConflictException"
    assert err["Message"].endswith("in the following state: Inactive")
    assert lam.get_function(FunctionName=fn)["Configuration"]["State"] == "Pending"
    wait_for(lambda: lam.get_function(FunctionName=fn)["Configuration"]["State"] == "Active")
    assert lam.invoke(FunctionName=fn, Payload=b"{}")["StatusCode"] == 200
