"""The request log: one line per API call with the real operation name, and
the write classification a "converged deploy made no write call" test uses."""

from __future__ import annotations

import json
import os

import boto3
import pytest
from botocore.exceptions import ClientError

from localaws import requestlog
from localaws.operations import classify

from .conftest import TRUST, make_zip, uid


def ops(records, service=None):
    return [r["operation"] for r in records if service is None or r["service"] == service]


def test_record_fields(instance, client):
    mark = requestlog.Mark(instance["LOCAL_AWS_DIR"])
    client("s3").list_buckets()
    rec = mark.since()[-1]
    assert set(rec) >= {"service", "operation", "status", "ms", "listener", "source", "ts"}
    assert (rec["service"], rec["operation"], rec["status"], rec["listener"], rec["source"]) == \
        ("s3", "ListBuckets", 200, "tls", "client")
    assert isinstance(rec["ms"], float)
    assert rec["write"] is False
    # each line is one JSON object
    with open(os.path.join(instance["LOCAL_AWS_DIR"], "requests.log")) as f:
        for line in f:
            json.loads(line)


def test_s3_operation_names(instance, client):
    s3 = client("s3")
    b = uid("bkt")
    mark = requestlog.Mark(instance["LOCAL_AWS_DIR"])
    s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.head_bucket(Bucket=b)
    s3.get_bucket_location(Bucket=b)
    s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})
    s3.get_public_access_block(Bucket=b)
    s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.get_bucket_encryption(Bucket=b)
    s3.put_bucket_ownership_controls(Bucket=b, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3.get_bucket_ownership_controls(Bucket=b)
    s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    s3.get_bucket_tagging(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_policy(Bucket=b, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{b}/*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    s3.get_bucket_policy(Bucket=b)
    s3.get_bucket_notification_configuration(Bucket=b)
    s3.put_object(Bucket=b, Key="k/1", Body=b"x")
    s3.get_object(Bucket=b, Key="k/1")
    s3.head_object(Bucket=b, Key="k/1")
    s3.copy_object(Bucket=b, Key="k/2", CopySource={"Bucket": b, "Key": "k/1"})
    s3.list_objects_v2(Bucket=b)
    up = s3.create_multipart_upload(Bucket=b, Key="mp")
    s3.list_multipart_uploads(Bucket=b)
    s3.abort_multipart_upload(Bucket=b, Key="mp", UploadId=up["UploadId"])
    vs = s3.list_object_versions(Bucket=b)
    s3.delete_objects(Bucket=b, Delete={"Objects": [
        {"Key": v["Key"], "VersionId": v["VersionId"]} for v in vs["Versions"]]})
    s3.delete_object(Bucket=b, Key="nothing")
    s3.delete_bucket_policy(Bucket=b)
    s3.delete_bucket(Bucket=b)
    assert ops(mark.since(), "s3") == [
        "CreateBucket", "HeadBucket", "GetBucketLocation", "PutPublicAccessBlock",
        "GetPublicAccessBlock", "PutBucketEncryption", "GetBucketEncryption",
        "PutBucketOwnershipControls", "GetBucketOwnershipControls", "PutBucketTagging",
        "GetBucketTagging", "PutBucketVersioning", "PutBucketPolicy", "GetBucketPolicy",
        "GetBucketNotificationConfiguration", "PutObject", "GetObject", "HeadObject",
        "CopyObject", "ListObjectsV2", "CreateMultipartUpload", "ListMultipartUploads",
        "AbortMultipartUpload", "ListObjectVersions", "DeleteObjects", "DeleteObject",
        "DeleteBucketPolicy", "DeleteBucket"]


def test_lambda_iam_sts_dynamodb_logs_operation_names(instance, client):
    iam, lam, sts = client("iam"), client("lambda"), client("sts")
    ddb, logs = client("dynamodb"), client("logs")
    mark = requestlog.Mark(instance["LOCAL_AWS_DIR"])
    role = uid("role")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.get_role(RoleName=role)
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                 "Resource": "*"}]}))
    iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/service-role/"
                                                    "AWSLambdaBasicExecutionRole")
    sts.get_caller_identity()
    fn = uid("fn")
    lam.create_function(FunctionName=fn, Runtime="python3.12", Role=arn, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
    lam.get_function(FunctionName=fn)
    lam.get_function_configuration(FunctionName=fn)
    lam.update_function_configuration(FunctionName=fn, Timeout=5)
    lam.update_function_code(FunctionName=fn, ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 2\n"}))
    lam.add_permission(FunctionName=fn, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com")
    lam.get_policy(FunctionName=fn)
    lam.remove_permission(FunctionName=fn, StatementId="s3")
    fn_arn = lam.get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
    lam.tag_resource(Resource=fn_arn, Tags={"a": "b"})
    lam.list_tags(Resource=fn_arn)
    lam.untag_resource(Resource=fn_arn, TagKeys=["a"])
    lam.invoke(FunctionName=fn)
    lam.delete_function(FunctionName=fn)
    t = uid("tbl")
    ddb.create_table(TableName=t, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.describe_table(TableName=t)
    ddb.update_continuous_backups(TableName=t, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    ddb.delete_table(TableName=t)
    g = "/aws/lambda/" + uid("g")
    logs.create_log_group(logGroupName=g)
    logs.put_retention_policy(logGroupName=g, retentionInDays=14)
    logs.describe_log_groups(logGroupNamePrefix=g)
    logs.delete_log_group(logGroupName=g)
    recs = mark.since()
    assert ops(recs, "iam") == ["CreateRole", "GetRole", "PutRolePolicy", "AttachRolePolicy"]
    assert ops(recs, "sts") == ["GetCallerIdentity"]
    assert ops([r for r in recs if r["source"] == "client"], "lambda") == [
        "CreateFunction", "GetFunction", "GetFunctionConfiguration",
        "UpdateFunctionConfiguration", "UpdateFunctionCode", "AddPermission", "GetPolicy",
        "RemovePermission", "GetFunction", "TagResource", "ListTags", "UntagResource",
        "Invoke", "DeleteFunction"]
    assert ops(recs, "dynamodb") == ["CreateTable", "DescribeTable", "UpdateContinuousBackups",
                                     "DeleteTable"]
    assert ops([r for r in recs if r["source"] == "client"], "logs") == [
        "CreateLogGroup", "PutRetentionPolicy", "DescribeLogGroups", "DeleteLogGroup"]


def test_plain_http_listener_is_recorded(instance):
    mark = requestlog.Mark(instance["LOCAL_AWS_DIR"])
    boto3.client("s3", endpoint_url=instance["LOCAL_AWS_HTTP_URL"]).list_buckets()
    assert [(r["operation"], r["listener"]) for r in mark.since()] == [("ListBuckets", "http")]


def test_errors_and_faults_are_recorded(instance, client, knobs):
    mark = requestlog.Mark(instance["LOCAL_AWS_DIR"])
    with pytest.raises(ClientError):
        client("s3").head_bucket(Bucket=uid("missing"))
    knobs(fault_next=1, fault_services=["dynamodb"])
    with pytest.raises(ClientError):
        client("dynamodb", config=boto3.session.Config(retries={"total_max_attempts": 1})).list_tables()
    recs = mark.since()
    assert (recs[0]["operation"], recs[0]["status"], recs[0]["fault"]) == ("HeadBucket", 404, None)
    assert (recs[1]["operation"], recs[1]["status"], recs[1]["fault"]) == \
        ("ListTables", 400, "throttle")


def test_a_read_only_pass_makes_no_write_call(instance, client):
    s3, ddb = client("s3"), client("dynamodb")
    b = uid("bkt")
    s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    mark = requestlog.Mark(instance["LOCAL_AWS_DIR"])
    s3.head_bucket(Bucket=b)
    s3.get_bucket_tagging  # noqa: B018 - not called
    ddb.list_tables()
    client("sts").get_caller_identity()
    assert requestlog.writes(mark.since()) == []
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    assert ops(requestlog.writes(mark.since())) == ["PutBucketVersioning"]


def test_write_classification():
    writes = ["CreateBucket", "PutObject", "PutBucketPolicy", "UpdateFunctionCode",
              "DeleteObjects", "AttachRolePolicy", "DetachRolePolicy", "AddPermission",
              "RemovePermission", "TagResource", "UntagResource", "AbortMultipartUpload",
              "Invoke", "UpdateContinuousBackups", "PutRetentionPolicy", "CopyObject",
              "UploadPart", "CompleteMultipartUpload", "BatchWriteItem", "PublishVersion",
              "PostObject"]
    reads = ["GetObject", "HeadBucket", "ListObjectVersions", "DescribeTable",
             "DescribeContinuousBackups", "GetCallerIdentity", "GetPolicy", "ListTags",
             "GetRole", "ListAttachedRolePolicies", "Query", "Scan", "FilterLogEvents",
             "GetBucketNotificationConfiguration", "AssumeRole", "BatchGetItem"]
    assert all(requestlog.is_write(o) for o in writes)
    assert not any(requestlog.is_write(o) for o in reads)


# ----------------------------------------------- classifier, no server ------

def env(method, path, query="", service="s3", **headers):
    e = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
         "HTTP_HOST": "127.0.0.1:4566",
         "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/{service}/"
                               "aws4_request, SignedHeaders=host, Signature=x"}
    e.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return e


@pytest.mark.parametrize("method,path,query,expected", [
    ("GET", "/", "", "ListBuckets"),
    ("PUT", "/b", "", "CreateBucket"),
    ("HEAD", "/b", "", "HeadBucket"),
    ("DELETE", "/b", "", "DeleteBucket"),
    ("GET", "/b", "list-type=2&prefix=x", "ListObjectsV2"),
    ("GET", "/b", "", "ListObjects"),
    ("GET", "/b", "versions", "ListObjectVersions"),
    ("GET", "/b", "uploads", "ListMultipartUploads"),
    ("GET", "/b", "location", "GetBucketLocation"),
    ("PUT", "/b", "notification", "PutBucketNotificationConfiguration"),
    ("GET", "/b", "notification", "GetBucketNotificationConfiguration"),
    ("PUT", "/b", "publicAccessBlock", "PutPublicAccessBlock"),
    ("DELETE", "/b", "publicAccessBlock", "DeletePublicAccessBlock"),
    ("GET", "/b", "policyStatus", "GetBucketPolicyStatus"),
    ("POST", "/b", "delete", "DeleteObjects"),
    ("PUT", "/b/a/b.txt", "", "PutObject"),
    ("PUT", "/b/k", "partNumber=1&uploadId=u", "UploadPart"),
    ("POST", "/b/k", "uploads", "CreateMultipartUpload"),
    ("POST", "/b/k", "uploadId=u", "CompleteMultipartUpload"),
    ("DELETE", "/b/k", "uploadId=u", "AbortMultipartUpload"),
    ("GET", "/b/k", "uploadId=u", "ListParts"),
    ("PUT", "/b/k", "tagging", "PutObjectTagging"),
    ("GET", "/b/k", "versionId=3", "GetObject"),
])
def test_s3_classifier(method, path, query, expected):
    assert classify(env(method, path, query)) == ("s3", expected)


def test_s3_classifier_copy_and_virtual_host():
    assert classify(env("PUT", "/b/k", x_amz_copy_source="/b/j"))[1] == "CopyObject"
    e = env("PUT", "/k", "tagging")
    e["HTTP_HOST"] = "mybucket.s3.us-west-2.amazonaws.com"
    assert classify(e)[1] == "PutObjectTagging"


@pytest.mark.parametrize("method,path,expected", [
    ("POST", "/2015-03-31/functions", "CreateFunction"),
    ("GET", "/2015-03-31/functions/", "ListFunctions"),
    ("GET", "/2015-03-31/functions/f", "GetFunction"),
    ("DELETE", "/2015-03-31/functions/f", "DeleteFunction"),
    ("PUT", "/2015-03-31/functions/f/code", "UpdateFunctionCode"),
    ("PUT", "/2015-03-31/functions/f/configuration", "UpdateFunctionConfiguration"),
    ("POST", "/2015-03-31/functions/f/invocations", "Invoke"),
    ("POST", "/2015-03-31/functions/f/policy", "AddPermission"),
    ("DELETE", "/2015-03-31/functions/f/policy/sid", "RemovePermission"),
    ("GET", "/2017-03-31/tags/arn:aws:lambda:us-west-2:1:function:f", "ListTags"),
    ("PUT", "/2017-10-31/functions/f/concurrency", "PutFunctionConcurrency"),
    ("GET", "/2019-09-25/functions/f/event-invoke-config", "GetFunctionEventInvokeConfig"),
])
def test_lambda_classifier(method, path, expected):
    assert classify(env(method, path, service="lambda")) == ("lambda", expected)


def test_json_and_query_classifiers():
    e = env("POST", "/", service="dynamodb", x_amz_target="DynamoDB_20120810.PutItem")
    assert classify(e) == ("dynamodb", "PutItem")
    e = env("POST", "/", service="logs", x_amz_target="Logs_20140328.CreateLogGroup")
    assert classify(e) == ("logs", "CreateLogGroup")
    assert classify(env("POST", "/", service="iam"), b"Action=CreateRole&Version=2010-05-08") \
        == ("iam", "CreateRole")
    assert classify(env("POST", "/", service="sts"), b"Action=GetCallerIdentity") == \
        ("sts", "GetCallerIdentity")


def test_each_record_says_whether_the_call_writes(instance, client):
    mark = requestlog.Mark(instance["LOCAL_AWS_DIR"])
    s3 = client("s3")
    b = uid("bkt")
    s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.head_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="k", Body=b"x")
    s3.list_objects_v2(Bucket=b)
    client("iam").list_roles()
    recs = mark.since()
    assert [(r["operation"], r["write"]) for r in recs] == [
        ("CreateBucket", True), ("HeadBucket", False), ("PutObject", True),
        ("ListObjectsV2", False), ("ListRoles", False)]
    assert all(r["write"] == requestlog.is_write(r["operation"]) for r in requestlog.read(
        instance["LOCAL_AWS_DIR"]) if "write" in r)
    assert requestlog.writes(recs) == [r for r in recs if r["write"]]
