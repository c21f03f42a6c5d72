"""S3: the TLS-only bucket policy (aws:SecureTransport per listener), the policy
evaluator shim, and aws-chunked PutObject from the SDK over TLS."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from localaws.shims.policy_eval import Result, evaluate

from .conftest import uid


def tls_only_policy(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})


@pytest.fixture
def bucket(client):
    s3 = client("s3")
    name = uid("bkt")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return name


def http_s3(instance):
    return boto3.client("s3", endpoint_url=instance["LOCAL_AWS_HTTP_URL"],
                        config=boto3.session.Config(retries={"max_attempts": 1}))


def test_tls_only_policy_allows_tls_and_denies_plain_http(instance, client, bucket):
    s3 = client("s3")
    s3.put_bucket_policy(Bucket=bucket, Policy=tls_only_policy(bucket))
    s3.put_object(Bucket=bucket, Key="over-tls.txt", Body=b"secure")
    assert s3.get_object(Bucket=bucket, Key="over-tls.txt")["Body"].read() == b"secure"

    plain = http_s3(instance)
    with pytest.raises(ClientError) as e:
        plain.put_object(Bucket=bucket, Key="over-http.txt", Body=b"insecure")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as e:
        plain.get_object(Bucket=bucket, Key="over-tls.txt")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="over-http.txt")  # never written


def test_plain_http_works_without_the_policy(instance, bucket):
    plain = http_s3(instance)
    plain.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert plain.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_unconditional_deny_still_denies_over_tls(client, bucket):
    s3 = client("s3")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/locked/*"}]}))
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="locked/x", Body=b"1")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    s3.put_object(Bucket=bucket, Key="open/x", Body=b"1")  # other resources unaffected


def test_many_concurrent_sdk_puts_over_tls(client, bucket):
    """boto3's default PutObject is aws-chunked with a trailing checksum over TLS."""
    s3 = client("s3")
    s3.put_bucket_policy(Bucket=bucket, Policy=tls_only_policy(bucket))
    seen = []
    s3.meta.events.register("before-send.s3.PutObject",
                            lambda request, **kw: seen.append(dict(request.headers)))
    bodies = {f"obj-{i:02d}": (f"{i}-".encode() * (50 + i * 40)) for i in range(60)}

    def put(k):
        s3.put_object(Bucket=bucket, Key=k, Body=bodies[k])
        return k

    with concurrent.futures.ThreadPoolExecutor(max_workers=60) as ex:
        done = list(ex.map(put, bodies))
    assert len(done) == 60
    assert all(h.get("x-amz-trailer") or h.get("X-Amz-Trailer") for h in seen), \
        "the SDK did not send aws-chunked with a trailing checksum"
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert len(listed) == 60
    for k in ("obj-00", "obj-31", "obj-59"):
        got = s3.get_object(Bucket=bucket, Key=k)["Body"].read()
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(bodies[k]).hexdigest()
    # and sequentially, a larger object with the default checksum
    big = b"z" * (3 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == len(big)


# --------------------------------------------------- evaluator, no server ---

ACCOUNT = "123456789012"
RES = "arn:aws:s3:::b/k"


def _pol(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_evaluator_deny_applies_only_when_its_condition_holds():
    p = json.loads(tls_only_policy("b"))
    assert evaluate(p, "s3:PutObject", RES, {"aws:SecureTransport": "true"}, ACCOUNT) == Result.NEUTRAL
    assert evaluate(p, "s3:PutObject", RES, {"aws:SecureTransport": "false"}, ACCOUNT) == Result.DENIED


def test_evaluator_allow_with_unmet_condition_is_neutral_and_deny_wins():
    allow = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::b/*",
             "Condition": {"StringEquals": {"aws:SourceAccount": "999999999999"}}}
    assert evaluate(_pol(allow), "s3:GetObject", RES, {}, ACCOUNT) == Result.NEUTRAL
    allow.pop("Condition")
    assert evaluate(_pol(allow), "s3:GetObject", RES, {}, ACCOUNT) == Result.PERMITTED
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:Get*", "Resource": "*"}
    assert evaluate(_pol(allow, deny), "s3:GetObject", RES, {}, ACCOUNT) == Result.DENIED


def test_evaluator_operators():
    def st(cond):
        return _pol({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
                     "Condition": cond})
    ctx = {"aws:SourceArn": "arn:aws:s3:::my-bucket", "aws:SecureTransport": "true"}
    assert evaluate(st({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::my-*"}}), "s3:X", RES, ctx,
                    ACCOUNT) == Result.DENIED
    assert evaluate(st({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::my-*"}}), "s3:X", RES, ctx,
                    ACCOUNT) == Result.NEUTRAL
    assert evaluate(st({"StringEquals": {"aws:Missing": "x"}}), "s3:X", RES, ctx,
                    ACCOUNT) == Result.NEUTRAL
    assert evaluate(st({"StringNotEquals": {"aws:Missing": "x"}}), "s3:X", RES, ctx,
                    ACCOUNT) == Result.DENIED
    assert evaluate(st({"StringEqualsIfExists": {"aws:Missing": "x"}}), "s3:X", RES, ctx,
                    ACCOUNT) == Result.DENIED
    assert evaluate(st({"Null": {"aws:Missing": "true"}}), "s3:X", RES, ctx,
                    ACCOUNT) == Result.DENIED
    assert evaluate(st({"Bool": {"aws:securetransport": "TRUE"}}), "s3:X", RES, ctx,
                    ACCOUNT) == Result.DENIED
    svc_only = _pol({"Effect": "Deny", "Principal": {"Service": "s3.amazonaws.com"},
                     "Action": "s3:*", "Resource": "*"})
    assert evaluate(svc_only, "s3:GetObject", RES, ctx, ACCOUNT) == Result.NEUTRAL


def test_empty_notification_configuration_has_the_s3_root_element(client, bucket):
    """shims/s3_notifications: the Rust SDK rejects moto's <GetBucketNotificationResponse/>."""
    s3 = client("s3")
    raw = []
    s3.meta.events.register(
        "before-parse.s3.GetBucketNotificationConfiguration",
        lambda response_dict, **kw: raw.append(response_dict["body"]))
    out = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert "LambdaFunctionConfigurations" not in out
    assert b"<NotificationConfiguration" in raw[0]
