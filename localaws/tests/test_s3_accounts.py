"""S3 and Logs ownership fidelity (localaws/shims/s3_ownership.py, logs_tags.py): tags given to
CreateBucket are on the bucket from its first moment, tags die with their bucket or log group,
and another account's bucket answers 403 / 409 as S3 does."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from .conftest import uid

OTHER = "111122223333"


def other_account_s3():
    s3 = boto3.client("s3")

    def add_header(request, **_kw):
        request.headers["x-moto-account-id"] = OTHER

    s3.meta.events.register("before-sign.s3.*", add_header)
    return s3


def cfg(region: str, tags: dict[str, str] | None = None) -> dict:
    c: dict = {"LocationConstraint": region}
    if tags:
        c["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return c


def test_create_bucket_applies_its_tags(instance, client):
    s3 = client("s3")
    name = uid("tagged")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration=cfg(
        instance["AWS_REGION"], {"tapctl:managed": "true", "a&b": "<x>"}))
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    assert tags == {"tapctl:managed": "true", "a&b": "<x>"}


def test_tags_do_not_outlive_the_bucket(instance, client):
    s3 = client("s3")
    name = uid("reborn")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration=cfg(
        instance["AWS_REGION"], {"owner": "first"}))
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration=cfg(instance["AWS_REGION"]))
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=name)
    assert e.value.response["Error"]["Code"] == "NoSuchTagSet"


def test_another_accounts_bucket_is_out_of_reach(instance, client):
    mine, theirs = client("s3"), other_account_s3()
    name = uid("theirs")
    theirs.create_bucket(Bucket=name, CreateBucketConfiguration=cfg(instance["AWS_REGION"]))
    with pytest.raises(ClientError) as e:
        mine.head_bucket(Bucket=name)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as e:
        mine.get_bucket_tagging(Bucket=name)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as e:
        mine.create_bucket(Bucket=name, CreateBucketConfiguration=cfg(instance["AWS_REGION"]))
    assert e.value.response["Error"]["Code"] == "BucketAlreadyExists"
    # the owner still sees it, and its own create says so
    theirs.head_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        theirs.create_bucket(Bucket=name,
                             CreateBucketConfiguration=cfg(instance["AWS_REGION"]))
    assert e.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"


def test_log_group_tags_do_not_outlive_the_group(instance, client):
    logs = client("logs")
    name = "/aws/lambda/" + uid("fn")
    logs.create_log_group(logGroupName=name, tags={"tapctl:managed": "true"})
    logs.delete_log_group(logGroupName=name)
    logs.create_log_group(logGroupName=name)
    arn = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["arn"].rstrip(":*")
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {}


# ------------------------------------------------- bucket owner condition (s3_expected_owner)

def test_expected_bucket_owner_of_another_account_is_denied(instance, client, knobs):
    s3 = client("s3")
    me = client("sts").get_caller_identity()["Account"]
    name = uid("owned")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration=cfg(instance["AWS_REGION"]))
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    # the right owner: as without the header
    s3.head_bucket(Bucket=name, ExpectedBucketOwner=me)
    s3.put_bucket_tagging(Bucket=name, ExpectedBucketOwner=me,
                          Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert s3.get_object(Bucket=name, Key="k", ExpectedBucketOwner=me)["Body"].read() == b"x"
    # another account expected: 403 AccessDenied for bucket and object calls, nothing done
    calls = [
        lambda: s3.get_bucket_tagging(Bucket=name, ExpectedBucketOwner=OTHER),
        lambda: s3.put_bucket_tagging(Bucket=name, ExpectedBucketOwner=OTHER,
                                      Tagging={"TagSet": [{"Key": "c", "Value": "d"}]}),
        lambda: s3.get_object(Bucket=name, Key="k", ExpectedBucketOwner=OTHER),
        lambda: s3.delete_object(Bucket=name, Key="k", ExpectedBucketOwner=OTHER),
        lambda: s3.list_object_versions(Bucket=name, ExpectedBucketOwner=OTHER),
        lambda: s3.delete_bucket(Bucket=name, ExpectedBucketOwner=OTHER),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert e.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name, ExpectedBucketOwner=OTHER)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "a", "Value": "b"}]
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"x"
    # CopyObject: the source bucket's owner in x-amz-source-expected-bucket-owner
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=name, Key="k2", CopySource={"Bucket": name, "Key": "k"},
                       ExpectedSourceBucketOwner=OTHER)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    s3.copy_object(Bucket=name, Key="k2", CopySource={"Bucket": name, "Key": "k"},
                   ExpectedSourceBucketOwner=me, ExpectedBucketOwner=me)
    # a bucket that does not exist stays 404
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=uid("missing"), ExpectedBucketOwner=OTHER)
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"
    # the knob turns the check off (moto's behaviour)
    knobs(s3_expected_owner_check=False)
    s3.head_bucket(Bucket=name, ExpectedBucketOwner=OTHER)


def test_expected_owner_names_the_owner_of_another_accounts_bucket(instance, client):
    theirs = other_account_s3()
    name = uid("theirs")
    theirs.create_bucket(Bucket=name, CreateBucketConfiguration=cfg(instance["AWS_REGION"]))
    theirs.head_bucket(Bucket=name, ExpectedBucketOwner=OTHER)
    with pytest.raises(ClientError) as e:
        theirs.head_bucket(Bucket=name, ExpectedBucketOwner="123456789012")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# ------------------------------------------------- re-creating your own bucket (s3_ownership)

def test_us_east_1_recreate_of_own_bucket_answers_200(instance, client):
    east = client("s3", region_name="us-east-1")
    name = uid("east")
    east.create_bucket(Bucket=name, CreateBucketConfiguration={"Tags": [
        {"Key": "tapctl:managed", "Value": "true"}]})
    east.put_bucket_acl(Bucket=name, ACL="public-read")
    out = east.create_bucket(Bucket=name)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    # S3 resets the ACL; the bucket (and its tags) is otherwise the same one
    grants = east.get_bucket_acl(Bucket=name)["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
    assert east.get_bucket_tagging(Bucket=name)["TagSet"] == [
        {"Key": "tapctl:managed", "Value": "true"}]
    assert east.get_bucket_location(Bucket=name)["LocationConstraint"] is None


def test_recreate_of_own_bucket_elsewhere_is_bucket_already_owned_by_you(instance, client):
    east = client("s3", region_name="us-east-1")
    west = client("s3", region_name="us-west-2")
    name = uid("west")
    west.create_bucket(Bucket=name, CreateBucketConfiguration=cfg("us-west-2"))
    with pytest.raises(ClientError) as e:
        west.create_bucket(Bucket=name, CreateBucketConfiguration=cfg("us-west-2"))
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert e.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    # asked from us-east-1, a us-west-2 bucket is not a us-east-1 re-create
    with pytest.raises(ClientError) as e:
        east.create_bucket(Bucket=name)
    assert e.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    # a us-east-1 bucket re-created with a LocationConstraint from elsewhere: 409 too
    name2 = uid("east")
    east.create_bucket(Bucket=name2)
    with pytest.raises(ClientError) as e:
        west.create_bucket(Bucket=name2, CreateBucketConfiguration=cfg("us-west-2"))
    assert e.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    # another account's us-east-1 bucket: 409 BucketAlreadyExists, even in us-east-1
    theirs = other_account_s3()
    name3 = uid("theirs")
    theirs.create_bucket(Bucket=name3, CreateBucketConfiguration=cfg(instance["AWS_REGION"]))
    with pytest.raises(ClientError) as e:
        east.create_bucket(Bucket=name3)
    assert e.value.response["Error"]["Code"] == "BucketAlreadyExists"


def test_request_log_names_the_expected_owner(instance, client):
    import json
    import os

    s3 = client("s3")
    me = client("sts").get_caller_identity()["Account"]
    name = uid("logged")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration=cfg(instance["AWS_REGION"]))
    s3.head_bucket(Bucket=name, ExpectedBucketOwner=me)
    s3.head_bucket(Bucket=name)
    with open(os.path.join(instance["LOCAL_AWS_DIR"], "requests.log")) as f:
        heads = [json.loads(line) for line in f if '"HeadBucket"' in line]
    assert heads[-2].get("expected_owner") == me
    assert "expected_owner" not in heads[-1]


# ------------------------------------------------- bucket policy deny of s3:ListBucket

def test_bucket_policy_deny_of_list_bucket_refuses_head_bucket(instance, client):
    import json

    s3 = client("s3")
    name = uid("denied")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration=cfg(instance["AWS_REGION"]))
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    deny = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{name}"}]}
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(deny))
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=name)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    # the bucket is still the caller's: listed, and other calls go through
    assert name in [b["Name"] for b in s3.list_buckets(Prefix=name)["Buckets"]]
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"x"
    # a Deny whose condition does not hold, or of another action, denies nothing
    deny["Statement"][0]["Condition"] = {"Bool": {"aws:SecureTransport": "false"}}
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(deny))
    s3.head_bucket(Bucket=name)
    s3.delete_bucket_policy(Bucket=name)
    s3.head_bucket(Bucket=name)
