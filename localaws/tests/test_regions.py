"""Per-region state for every regional service (DynamoDB, Lambda, CloudWatch Logs, SQS);
IAM and S3 bucket names are global (moto keeps a backend per account and region, IAM
per partition, S3 names in one index)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from .conftest import NO_RETRY, TRUST, make_zip, uid

REGIONS = ("us-west-2", "eu-west-1")


def test_same_table_name_in_two_regions_is_two_tables(client):
    name = uid("tbl")
    west, eu = (client("dynamodb", region_name=r) for r in REGIONS)
    for ddb in (west, eu):
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    arns = [d.describe_table(TableName=name)["Table"]["TableArn"] for d in (west, eu)]
    assert arns[0].split(":")[3] == "us-west-2" and arns[1].split(":")[3] == "eu-west-1"
    west.put_item(TableName=name, Item={"id": {"S": "only-west"}})
    assert eu.scan(TableName=name)["Items"] == []
    eu.delete_table(TableName=name)
    assert west.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    assert len(west.scan(TableName=name)["Items"]) == 1
    with pytest.raises(ClientError) as e:
        eu.describe_table(TableName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_functions_log_groups_and_queues_are_regional(client, role):
    fn, group, queue = uid("fn"), "/aws/lambda/" + uid("g"), uid("q")
    for region in REGIONS:
        client("lambda", region_name=region).create_function(
            FunctionName=fn, Runtime="python3.12", Role=role, Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})},
            Tags={"region": region})
        client("logs", region_name=region).create_log_group(logGroupName=group,
                                                            tags={"region": region})
        client("sqs", region_name=region).create_queue(QueueName=queue)
    for region in REGIONS:
        lam = client("lambda", region_name=region)
        got = lam.get_function(FunctionName=fn)
        assert got["Configuration"]["FunctionArn"].split(":")[3] == region
        assert got["Tags"] == {"region": region}
        logs = client("logs", region_name=region)
        arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["arn"]
        assert arn.split(":")[3] == region
        sqs = client("sqs", region_name=region)
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        assert qarn["Attributes"]["QueueArn"].split(":")[3] == region
    client("lambda", region_name="eu-west-1").delete_function(FunctionName=fn)
    client("sqs", region_name="eu-west-1").delete_queue(
        QueueUrl=client("sqs", region_name="eu-west-1").get_queue_url(QueueName=queue)["QueueUrl"])
    assert client("lambda", region_name="us-west-2").get_function(FunctionName=fn)
    assert client("sqs", region_name="us-west-2").get_queue_url(QueueName=queue)


def test_iam_roles_are_global(client):
    name = uid("role")
    client("iam", region_name="eu-west-1").create_role(RoleName=name,
                                                       AssumeRolePolicyDocument=TRUST)
    assert client("iam", region_name="us-west-2").get_role(RoleName=name)["Role"]["RoleName"] == name
    with pytest.raises(ClientError) as e:
        client("iam", region_name="us-west-2").create_role(RoleName=name,
                                                           AssumeRolePolicyDocument=TRUST)
    assert e.value.response["Error"]["Code"] == "EntityAlreadyExists"


def test_bucket_names_are_global_and_head_bucket_names_the_region(client):
    name = uid("bkt")
    eu = client("s3", region_name="eu-west-1", config=NO_RETRY)
    eu.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    west = client("s3", region_name="us-west-2", config=NO_RETRY)
    with pytest.raises(ClientError) as e:
        west.create_bucket(Bucket=name,
                           CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    assert e.value.response["Error"]["Code"] in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")
    # s3_region_redirect is on by default: HeadBucket from another region is a 301 that
    # names the bucket's region (boto3 follows it)
    head = west.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"
    assert west.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
