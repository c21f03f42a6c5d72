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
