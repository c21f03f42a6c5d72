"""Bucket tagging rules tapctl's adoption of CloudFormation/CDK buckets runs into:
system (aws:) tags (localaws/shims/s3_system_tags.py) and bucket ABAC
(localaws/shims/s3_abac.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from .conftest import uid

CFN = {"aws:cloudformation:stack-name": "legacy",
       "aws:cloudformation:logical-id": "DataBucket"}


def system_tags(instance, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(instance["LOCAL_AWS_HTTP_URL"] + "/_localaws/s3/system-tags",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def new_bucket(instance, s3, tags: dict | None = None) -> str:
    name = uid("cfn")
    conf: dict = {"LocationConstraint": instance["AWS_REGION"]}
    if tags:
        conf["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    s3.create_bucket(Bucket=name, CreateBucketConfiguration=conf)
    return name


def tags_of(s3, name: str) -> dict:
    return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}


def put(s3, name: str, tags: dict) -> None:
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [
        {"Key": k, "Value": v} for k, v in tags.items()]})


def error(e) -> tuple[int, str, str]:
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


# ---------------------------------------------------------------- system tags


def test_control_endpoint_gives_a_bucket_system_tags(instance, client):
    s3 = client("s3")
    name = new_bucket(instance, s3, {"team": "data"})
    status, out = system_tags(instance, {"bucket": name, "tags": CFN})
    assert status == 200 and out["tags"] == {"team": "data", **CFN}
    assert tags_of(s3, name) == {"team": "data", **CFN}
    # naming a different set replaces the system tags only; {} removes them
    status, out = system_tags(instance, {"bucket": name, "tags": {"aws:cdk:path": "X/Y"}})
    assert out["tags"] == {"team": "data", "aws:cdk:path": "X/Y"}
    status, out = system_tags(instance, {"bucket": name, "tags": {}})
    assert out["tags"] == {"team": "data"}
    # refused: non-aws: keys, a missing bucket
    assert system_tags(instance, {"bucket": name, "tags": {"team": "x"}})[0] == 400
    assert system_tags(instance, {"bucket": uid("nope"), "tags": CFN})[0] == 404
    assert system_tags(instance, {"tags": CFN})[0] == 400


def test_put_bucket_tagging_must_resend_system_tags_unchanged(instance, client):
    s3 = client("s3")
    name = new_bucket(instance, s3, {"team": "data"})
    system_tags(instance, {"bucket": name, "tags": CFN})

    # dropping them (what a naive "replace with my tags" does)
    with pytest.raises(ClientError) as e:
        put(s3, name, {"team": "data", "tapctl:managed": "true"})
    assert error(e) == (400, "InvalidTag", "System Tags cannot be removed by requester")
    # dropping one of them
    with pytest.raises(ClientError) as e:
        put(s3, name, {"aws:cloudformation:stack-name": "legacy", "tapctl:managed": "true"})
    assert error(e) == (400, "InvalidTag", "System Tags cannot be removed by requester")
    # changing one
    with pytest.raises(ClientError) as e:
        put(s3, name, {**CFN, "aws:cloudformation:stack-name": "mine"})
    assert error(e) == (400, "InvalidTag", "System tags cannot be added/updated by requester")
    # adding a new aws: key
    with pytest.raises(ClientError) as e:
        put(s3, name, {**CFN, "aws:tapctl": "x"})
    assert error(e) == (400, "InvalidTag", "Your TagKey cannot be prefixed with aws:")
    assert tags_of(s3, name) == {"team": "data", **CFN}  # nothing changed

    # resent unchanged: applied (user tags replaced as usual)
    put(s3, name, {**CFN, "tapctl:managed": "true", "tapctl:suffix": "s1"})
    assert tags_of(s3, name) == {**CFN, "tapctl:managed": "true", "tapctl:suffix": "s1"}


def test_aws_keys_refused_on_a_bucket_without_system_tags(instance, client):
    s3 = client("s3")
    name = new_bucket(instance, s3)
    with pytest.raises(ClientError) as e:
        put(s3, name, {"aws:cloudformation:stack-name": "x"})
    assert error(e) == (400, "InvalidTag", "Your TagKey cannot be prefixed with aws:")
    put(s3, name, {"tapctl:managed": "true"})
    assert tags_of(s3, name) == {"tapctl:managed": "true"}


def test_delete_bucket_tagging_cannot_remove_system_tags(instance, client):
    s3 = client("s3")
    name = new_bucket(instance, s3, {"team": "data"})
    system_tags(instance, {"bucket": name, "tags": CFN})
    with pytest.raises(ClientError) as e:
        s3.delete_bucket_tagging(Bucket=name)
    assert error(e) == (400, "InvalidTag", "System Tags cannot be removed by requester")
    assert tags_of(s3, name) == {"team": "data", **CFN}
    # user tags go by resending the system tags alone
    put(s3, name, CFN)
    assert tags_of(s3, name) == CFN
    # a bucket without system tags: DeleteBucketTagging works as before
    other = new_bucket(instance, s3, {"team": "data"})
    s3.delete_bucket_tagging(Bucket=other)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=other)
    assert e.value.response["Error"]["Code"] == "NoSuchTagSet"


def test_system_tags_die_with_the_bucket(instance, client):
    s3 = client("s3")
    name = new_bucket(instance, s3)
    system_tags(instance, {"bucket": name, "tags": CFN})
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name,
                     CreateBucketConfiguration={"LocationConstraint": instance["AWS_REGION"]})
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=name)
    assert e.value.response["Error"]["Code"] == "NoSuchTagSet"
    put(s3, name, {"tapctl:managed": "true"})  # no system tags left to resend


# ---------------------------------------------------------------- ABAC


def test_bucket_abac_status(instance, client):
    s3 = client("s3")
    name = new_bucket(instance, s3, {"team": "data"})
    # never configured: Disabled (ABAC is off by default)
    assert s3.get_bucket_abac(Bucket=name)["AbacStatus"] == {"Status": "Disabled"}
    s3.put_bucket_abac(Bucket=name, AbacStatus={"Status": "Enabled"})
    assert s3.get_bucket_abac(Bucket=name)["AbacStatus"] == {"Status": "Enabled"}
    # the bucket is untouched (moto would have taken PUT ?abac for CreateBucket)
    assert tags_of(s3, name) == {"team": "data"}
    s3.put_bucket_abac(Bucket=name, AbacStatus={"Status": "Disabled"})
    assert s3.get_bucket_abac(Bucket=name)["AbacStatus"] == {"Status": "Disabled"}
    with pytest.raises(ClientError) as e:
        s3.get_bucket_abac(Bucket=uid("missing"))
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"


def test_abac_enabled_refuses_put_and_delete_bucket_tagging(instance, client):
    s3 = client("s3")
    name = new_bucket(instance, s3, {"team": "data"})
    s3.put_bucket_abac(Bucket=name, AbacStatus={"Status": "Enabled"})
    with pytest.raises(ClientError) as e:
        put(s3, name, {"team": "data", "tapctl:managed": "true"})
    status, code, msg = error(e)
    assert (status, code) == (400, "InvalidRequest") and "TagResource" in msg
    with pytest.raises(ClientError) as e:
        s3.delete_bucket_tagging(Bucket=name)
    assert error(e)[:2] == (400, "InvalidRequest")
    assert tags_of(s3, name) == {"team": "data"}  # reads still work, nothing changed
    # disabled again: tagging as before
    s3.put_bucket_abac(Bucket=name, AbacStatus={"Status": "Disabled"})
    put(s3, name, {"tapctl:managed": "true"})
    assert tags_of(s3, name) == {"tapctl:managed": "true"}


def test_abac_wins_over_system_tag_rules(instance, client):
    s3 = client("s3")
    name = new_bucket(instance, s3)
    system_tags(instance, {"bucket": name, "tags": CFN})
    s3.put_bucket_abac(Bucket=name, AbacStatus={"Status": "Enabled"})
    with pytest.raises(ClientError) as e:
        put(s3, name, CFN)  # a valid set, still refused
    assert error(e)[:2] == (400, "InvalidRequest")


def test_request_log_names_the_abac_operations(instance, client):
    from localaws import requestlog

    s3 = client("s3")
    name = new_bucket(instance, s3)
    mark = requestlog.Mark(instance["LOCAL_AWS_DIR"])
    s3.put_bucket_abac(Bucket=name, AbacStatus={"Status": "Enabled"})
    s3.get_bucket_abac(Bucket=name)
    ops = [r["operation"] for r in mark.since() if r["service"] == "s3"]
    assert ops == ["PutBucketAbac", "GetBucketAbac"]
