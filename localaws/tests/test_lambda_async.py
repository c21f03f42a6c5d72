"""Asynchronous invocations as Lambda runs them: retries per the event invoke config,
maximum event age, the on-failure destination and its record; synchronous Invoke's
FunctionError / payload / LogResult (tapctl's redrive and invoke)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from botocore.exceptions import ClientError

from .conftest import create_function, invocations, uid, wait_for

FAILING = '''
import json
def handler(event, context):
    print("attempt for", context.aws_request_id)
    raise ValueError("boom " + json.dumps(event))
'''

SQS_POLICY = '''{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
 "Action": "sqs:SendMessage", "Resource": "%s"}]}'''


@pytest.fixture
def queue(client):
    sqs = client("sqs")
    name = uid("failures")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"url": url, "arn": arn, "name": name}


def allow_send(client, role_arn: str, queue_arn: str) -> None:
    client("iam").put_role_policy(RoleName=role_arn.rsplit("/", 1)[-1], PolicyName="to-queue",
                                  PolicyDocument=SQS_POLICY % queue_arn)


def on_failure(queue_arn: str) -> dict:
    return {"OnFailure": {"Destination": queue_arn}}


def receive_all(sqs, url: str, expect: int, timeout: float = 20.0) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < expect and time.monotonic() < deadline:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        for m in r.get("Messages", []):
            got.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if len(got) < expect:
            time.sleep(0.1)
    return got


def finished(instance, fn_name: str):
    return [r for r in invocations(instance, fn_name) if "condition" in r]


def test_event_invoke_config_put_replaces_update_merges_ranges_checked(client, role, queue):
    lam = client("lambda")
    fn = create_function(client, role, FAILING)
    name = fn["FunctionName"]
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1,
                                         MaximumEventAgeInSeconds=120)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert got["MaximumRetryAttempts"] == 0
    assert "MaximumEventAgeInSeconds" not in got  # Put removes what it leaves out
    lam.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=600)
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (0, 600)
    assert len(lam.list_function_event_invoke_configs(FunctionName=name)
               ["FunctionEventInvokeConfigs"]) == 1
    # the role may not send to the queue yet: AWS refuses the destination
    with pytest.raises(ClientError) as e:
        lam.put_function_event_invoke_config(FunctionName=name,
                                             DestinationConfig=on_failure(queue["arn"]))
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert e.value.response["Error"]["Message"] == f"The destination ARN {queue['arn']} is invalid."
    allow_send(client, role, queue["arn"])
    lam.put_function_event_invoke_config(FunctionName=name,
                                         DestinationConfig=on_failure(queue["arn"]))
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert got["DestinationConfig"]["OnFailure"]["Destination"] == queue["arn"]


def test_event_invoke_config_ranges_are_validated_by_the_server(client, role):
    from botocore.config import Config
    lam = client("lambda", config=Config(parameter_validation=False,
                                         retries={"total_max_attempts": 1}))
    name = create_function(client, role, FAILING)["FunctionName"]
    for kw in ({"MaximumRetryAttempts": 3}, {"MaximumRetryAttempts": -1},
               {"MaximumEventAgeInSeconds": 59}, {"MaximumEventAgeInSeconds": 21601}):
        with pytest.raises(ClientError) as e:
            lam.put_function_event_invoke_config(FunctionName=name, **kw)
        assert e.value.response["Error"]["Code"] == "ValidationException", kw


def test_retries_exhausted_go_to_the_destination_in_aws_record_format(
        instance, client, role, queue, knobs):
    knobs(async_retry_delay=0.1)
    lam, sqs = client("lambda"), client("sqs")
    allow_send(client, role, queue["arn"])
    fn = create_function(client, role, FAILING)
    name = fn["FunctionName"]
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2,
                                         DestinationConfig=on_failure(queue["arn"]))
    event = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "a+b"}}}]}
    t0 = time.monotonic()
    r = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event))
    assert r["StatusCode"] == 202
    [rec] = receive_all(sqs, queue["url"], 1)
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.3  # 0.1 s, then 0.2 s between the three attempts
    assert set(rec) == {"version", "timestamp", "requestContext", "requestPayload",
                        "responseContext", "responsePayload"}
    assert rec["version"] == "1.0" and rec["timestamp"].endswith("Z")
    assert rec["requestContext"] == {
        "requestId": r["ResponseMetadata"]["RequestId"],
        "functionArn": fn["FunctionArn"] + ":$LATEST",
        "condition": "RetriesExhausted", "approximateInvokeCount": 3}
    assert rec["requestPayload"] == event
    assert rec["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                      "functionError": "Unhandled"}
    assert rec["responsePayload"]["errorType"] == "ValueError"
    assert rec["responsePayload"]["errorMessage"].startswith("boom ")
    attempts = [x for x in invocations(instance, name) if "condition" not in x]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    # every retry keeps the event's request id, as Lambda's do
    assert {a["request_id"] for a in attempts} == {rec["requestContext"]["requestId"]}
    [done] = finished(instance, name)
    assert done["delivered"] is True and done["condition"] == "RetriesExhausted"


def test_maximum_retry_attempts_zero_and_one(instance, client, role, queue, knobs):
    knobs(async_retry_delay=0.05)
    lam, sqs = client("lambda"), client("sqs")
    allow_send(client, role, queue["arn"])
    for retries in (0, 1):
        name = create_function(client, role, FAILING)["FunctionName"]
        lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=retries,
                                             DestinationConfig=on_failure(queue["arn"]))
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
        [rec] = receive_all(sqs, queue["url"], 1)
        assert rec["requestContext"]["approximateInvokeCount"] == retries + 1
        assert len([x for x in invocations(instance, name) if "condition" not in x]) == retries + 1


def test_an_event_too_old_for_its_next_attempt_is_not_retried(instance, client, role, queue, knobs):
    """MaximumEventAgeInSeconds 60: the retry after AWS's one-minute wait would be older
    than 60 s, so the first failure ends it (EventAgeExceeded)."""
    knobs(async_retry_delay=0.05)
    lam, sqs = client("lambda"), client("sqs")
    allow_send(client, role, queue["arn"])
    name = create_function(client, role, FAILING)["FunctionName"]
    lam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=60,
                                         DestinationConfig=on_failure(queue["arn"]))
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"x": 1}')
    [rec] = receive_all(sqs, queue["url"], 1)
    assert rec["requestContext"]["condition"] == "EventAgeExceeded"
    assert rec["requestContext"]["approximateInvokeCount"] == 1
    assert rec["requestPayload"] == {"x": 1}
    # 180 s allows the first retry (at 60 s) but not the second (at 180 s + run time)
    name = create_function(client, role, FAILING)["FunctionName"]
    lam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=180,
                                         DestinationConfig=on_failure(queue["arn"]))
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    [rec] = receive_all(sqs, queue["url"], 1)
    assert rec["requestContext"]["condition"] == "EventAgeExceeded"
    assert rec["requestContext"]["approximateInvokeCount"] == 2


def test_success_after_a_retry_sends_nothing(instance, client, role, queue, knobs):
    knobs(async_retry_delay=0.05)
    lam, sqs = client("lambda"), client("sqs")
    allow_send(client, role, queue["arn"])
    flaky = '''
import os
def handler(event, context):
    marker = "/tmp/" + context.aws_request_id
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("first attempt fails")
    os.remove(marker)
    return "ok"
'''
    name = create_function(client, role, flaky)["FunctionName"]
    lam.put_function_event_invoke_config(FunctionName=name,
                                         DestinationConfig=on_failure(queue["arn"]))
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    recs = wait_for(lambda: [x for x in invocations(instance, name) if x.get("ok")])
    assert recs[0]["attempt"] == 2
    assert receive_all(sqs, queue["url"], 1, timeout=1.0) == []
    assert finished(instance, name) == []


def test_a_missing_destination_queue_drops_the_record_and_logs_it(instance, client, role, queue,
                                                                  knobs):
    from localaws import requestlog

    knobs(async_retry_delay=0.05)
    lam, sqs = client("lambda"), client("sqs")
    allow_send(client, role, queue["arn"])
    name = create_function(client, role, FAILING)["FunctionName"]
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                         DestinationConfig=on_failure(queue["arn"]))
    sqs.delete_queue(QueueUrl=queue["url"])
    mark = requestlog.Mark(instance["LOCAL_AWS_DIR"])
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    [done] = wait_for(lambda: finished(instance, name))
    assert done["delivered"] is False and "does not exist" in done["delivery_error"]
    [line] = wait_for(lambda: [r for r in mark.since() if r.get("destination")])
    assert (line["service"], line["operation"], line["source"], line["status"]) == \
        ("sqs", "SendMessage", "lambda", 400)
    assert line["destination"] == queue["arn"]


def test_a_role_that_lost_the_permission_drops_the_record(instance, client, role, queue, knobs):
    knobs(async_retry_delay=0.05)
    lam, sqs, iam = client("lambda"), client("sqs"), client("iam")
    allow_send(client, role, queue["arn"])
    name = create_function(client, role, FAILING)["FunctionName"]
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                         DestinationConfig=on_failure(queue["arn"]))
    iam.delete_role_policy(RoleName=role.rsplit("/", 1)[-1], PolicyName="to-queue")
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    [done] = wait_for(lambda: finished(instance, name))
    assert done["delivered"] is False and "sqs:SendMessage" in done["delivery_error"]
    assert receive_all(sqs, queue["url"], 1, timeout=0.5) == []
    # with the check off (knob), the record is delivered
    knobs(destination_permission_check=False)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert len(receive_all(sqs, queue["url"], 1)) == 1


def test_without_a_destination_the_exhausted_event_is_dropped(instance, client, role, knobs):
    knobs(async_retry_delay=0.05)
    name = create_function(client, role, FAILING)["FunctionName"]
    client("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    [done] = wait_for(lambda: finished(instance, name))
    assert done["condition"] == "RetriesExhausted" and done["attempt"] == 3
    assert done["delivered"] is False


def test_synchronous_invoke_reports_the_error_payload_and_tail_only_when_asked(client, role):
    lam = client("lambda")
    name = create_function(client, role, FAILING)["FunctionName"]
    r = lam.invoke(FunctionName=name, Payload=b'{"k": 2}', LogType="Tail")
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    err = json.loads(r["Payload"].read())
    assert err["errorType"] == "ValueError" and err["errorMessage"] == 'boom {"k": 2}'
    tail = base64.b64decode(r["LogResult"]).decode()
    assert "attempt for" in tail and "REPORT RequestId:" in tail
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    assert r["FunctionError"] == "Unhandled" and "LogResult" not in r
