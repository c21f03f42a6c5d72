"""Which AWS service and API operation a raw HTTP request is.

Pure functions over the WSGI environ (plus, for query-protocol services, the
already-read form body), so they are unit-testable and never touch S3 bodies.

- service: from the SigV4 credential scope (``Credential=AKID/date/region/SERVICE/aws4_request``)
- JSON-protocol services (DynamoDB, CloudWatch Logs): X-Amz-Target ``Prefix.Operation``
- query-protocol services (IAM, STS): ``Action`` from the form body or query string
- REST services: S3 (method + path + subresource query) and Lambda (method + path)
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote

SIGNING_NAME_TO_SERVICE = {"s3": "s3", "dynamodb": "dynamodb", "iam": "iam",
                           "sts": "sts", "lambda": "lambda", "logs": "logs", "sqs": "sqs",
                           "monitoring": "cloudwatch"}


def credential_scope(environ: dict) -> tuple[str | None, str | None, str | None]:
    """(access key id, region, signing service) from the Authorization header
    or a presigned URL's X-Amz-Credential."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    cred = None
    m = re.search(r"Credential=([^,\s]+)", auth)
    if m:
        cred = m.group(1)
    else:
        qs = parse_qs(environ.get("QUERY_STRING", ""))
        if "X-Amz-Credential" in qs:
            cred = qs["X-Amz-Credential"][0]
    if not cred:
        return None, None, None
    parts = unquote(cred).split("/")
    if len(parts) >= 5:
        return parts[0], parts[2], parts[3]
    return parts[0], None, None


def query_keys(environ: dict) -> dict[str, list[str]]:
    return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)


# ---------------------------------------------------------------- S3 -------

# subresource -> operation suffix, per method, for bucket-level requests
_S3_BUCKET_SUB = [
    # (query key, PUT, GET, DELETE)
    ("policyStatus", None, "GetBucketPolicyStatus", None),
    ("policy", "PutBucketPolicy", "GetBucketPolicy", "DeleteBucketPolicy"),
    ("encryption", "PutBucketEncryption", "GetBucketEncryption", "DeleteBucketEncryption"),
    ("publicAccessBlock", "PutPublicAccessBlock", "GetPublicAccessBlock", "DeletePublicAccessBlock"),
    ("ownershipControls", "PutBucketOwnershipControls", "GetBucketOwnershipControls",
     "DeleteBucketOwnershipControls"),
    ("tagging", "PutBucketTagging", "GetBucketTagging", "DeleteBucketTagging"),
    ("abac", "PutBucketAbac", "GetBucketAbac", None),
    ("notification", "PutBucketNotificationConfiguration",
     "GetBucketNotificationConfiguration", None),
    ("versioning", "PutBucketVersioning", "GetBucketVersioning", None),
    ("lifecycle", "PutBucketLifecycleConfiguration", "GetBucketLifecycleConfiguration",
     "DeleteBucketLifecycle"),
    ("cors", "PutBucketCors", "GetBucketCors", "DeleteBucketCors"),
    ("website", "PutBucketWebsite", "GetBucketWebsite", "DeleteBucketWebsite"),
    ("logging", "PutBucketLogging", "GetBucketLogging", None),
    ("acl", "PutBucketAcl", "GetBucketAcl", None),
    ("replication", "PutBucketReplication", "GetBucketReplication", "DeleteBucketReplication"),
    ("accelerate", "PutBucketAccelerateConfiguration", "GetBucketAccelerateConfiguration", None),
    ("requestPayment", "PutBucketRequestPayment", "GetBucketRequestPayment", None),
    ("object-lock", "PutObjectLockConfiguration", "GetObjectLockConfiguration", None),
    ("intelligent-tiering", "PutBucketIntelligentTieringConfiguration",
     "GetBucketIntelligentTieringConfiguration", "DeleteBucketIntelligentTieringConfiguration"),
    ("inventory", "PutBucketInventoryConfiguration", "GetBucketInventoryConfiguration",
     "DeleteBucketInventoryConfiguration"),
    ("metrics", "PutBucketMetricsConfiguration", "GetBucketMetricsConfiguration",
     "DeleteBucketMetricsConfiguration"),
    ("analytics", "PutBucketAnalyticsConfiguration", "GetBucketAnalyticsConfiguration",
     "DeleteBucketAnalyticsConfiguration"),
    ("location", None, "GetBucketLocation", None),
    ("versions", None, "ListObjectVersions", None),
    ("uploads", None, "ListMultipartUploads", None),
]

_S3_OBJECT_SUB = [
    ("tagging", "PutObjectTagging", "GetObjectTagging", "DeleteObjectTagging"),
    ("acl", "PutObjectAcl", "GetObjectAcl", None),
    ("retention", "PutObjectRetention", "GetObjectRetention", None),
    ("legal-hold", "PutObjectLegalHold", "GetObjectLegalHold", None),
    ("attributes", None, "GetObjectAttributes", None),
]

_IP_OR_LOCAL = re.compile(r"^(\d+\.\d+\.\d+\.\d+|localhost|\[.*\])(:\d+)?$")


def s3_bucket_and_key(environ: dict) -> tuple[str | None, str | None]:
    path = environ.get("PATH_INFO", "") or "/"
    host = environ.get("HTTP_HOST", "")
    virtual_bucket = None
    hostname = host.split(":")[0]
    if host and not _IP_OR_LOCAL.match(host):
        # bucket.s3.region.amazonaws.com or bucket.localhost
        m = re.match(r"^(.+?)\.s3[.-]", hostname) or re.match(r"^(.+)\.localhost$", hostname)
        if m:
            virtual_bucket = m.group(1)
    parts = path.lstrip("/").split("/", 1)
    if virtual_bucket:
        key = path.lstrip("/") or None
        return virtual_bucket, key
    bucket = parts[0] or None
    key = parts[1] if len(parts) > 1 and parts[1] != "" else None
    return bucket, key


def s3_operation(environ: dict) -> str:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    q = query_keys(environ)
    bucket, key = s3_bucket_and_key(environ)
    copy_source = "HTTP_X_AMZ_COPY_SOURCE" in environ
    if bucket is None:
        return "ListBuckets" if method == "GET" else f"{method} /"
    if key is None:
        if method == "HEAD":
            return "HeadBucket"
        if method == "POST":
            return "DeleteObjects" if "delete" in q else "PostObject"
        col = {"PUT": 1, "GET": 2, "DELETE": 3}.get(method)
        if col is None:
            return f"{method}Bucket"
        for entry in _S3_BUCKET_SUB:
            if entry[0] in q and entry[col]:
                return entry[col]
        if method == "PUT":
            return "CreateBucket"
        if method == "DELETE":
            return "DeleteBucket"
        return "ListObjectsV2" if q.get("list-type") == ["2"] else "ListObjects"
    # object level
    if method == "HEAD":
        return "HeadObject"
    if method == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload"
        if "uploadId" in q:
            return "CompleteMultipartUpload"
        if "restore" in q:
            return "RestoreObject"
        if "select" in q:
            return "SelectObjectContent"
        return "PostObject"
    col = {"PUT": 1, "GET": 2, "DELETE": 3}.get(method)
    if col is None:
        return f"{method}Object"
    if method == "PUT" and "uploadId" in q:
        return "UploadPartCopy" if copy_source else "UploadPart"
    if method == "GET" and "uploadId" in q:
        return "ListParts"
    if method == "DELETE" and "uploadId" in q:
        return "AbortMultipartUpload"
    for entry in _S3_OBJECT_SUB:
        if entry[0] in q and entry[col]:
            return entry[col]
    if method == "PUT":
        return "CopyObject" if copy_source else "PutObject"
    if method == "GET":
        return "GetObject"
    return "DeleteObject"


# ------------------------------------------------------------ Lambda -------

_FN = r"[^/]+"
_LAMBDA_ROUTES: list[tuple[str, str, str]] = [
    # (method, path regex after the version prefix, operation)
    ("POST", r"/functions/?", "CreateFunction"),
    ("GET", r"/functions/?", "ListFunctions"),
    ("GET", rf"/functions/{_FN}/configuration/?", "GetFunctionConfiguration"),
    ("PUT", rf"/functions/{_FN}/configuration/?", "UpdateFunctionConfiguration"),
    ("PUT", rf"/functions/{_FN}/code/?", "UpdateFunctionCode"),
    ("POST", rf"/functions/{_FN}/invocations/?", "Invoke"),
    ("POST", rf"/functions/{_FN}/invoke-async/?", "InvokeAsync"),
    ("POST", rf"/functions/{_FN}/policy/?", "AddPermission"),
    ("GET", rf"/functions/{_FN}/policy/?", "GetPolicy"),
    ("DELETE", rf"/functions/{_FN}/policy/[^/]+/?", "RemovePermission"),
    ("POST", rf"/functions/{_FN}/versions/?", "PublishVersion"),
    ("GET", rf"/functions/{_FN}/versions/?", "ListVersionsByFunction"),
    ("POST", rf"/functions/{_FN}/aliases/?", "CreateAlias"),
    ("GET", rf"/functions/{_FN}/aliases/?", "ListAliases"),
    ("GET", rf"/functions/{_FN}/aliases/[^/]+/?", "GetAlias"),
    ("PUT", rf"/functions/{_FN}/aliases/[^/]+/?", "UpdateAlias"),
    ("DELETE", rf"/functions/{_FN}/aliases/[^/]+/?", "DeleteAlias"),
    ("PUT", rf"/functions/{_FN}/concurrency/?", "PutFunctionConcurrency"),
    ("GET", rf"/functions/{_FN}/concurrency/?", "GetFunctionConcurrency"),
    ("DELETE", rf"/functions/{_FN}/concurrency/?", "DeleteFunctionConcurrency"),
    ("GET", rf"/functions/{_FN}/event-invoke-config/list/?", "ListFunctionEventInvokeConfigs"),
    ("PUT", rf"/functions/{_FN}/event-invoke-config/?", "PutFunctionEventInvokeConfig"),
    ("POST", rf"/functions/{_FN}/event-invoke-config/?", "UpdateFunctionEventInvokeConfig"),
    ("GET", rf"/functions/{_FN}/event-invoke-config/?", "GetFunctionEventInvokeConfig"),
    ("DELETE", rf"/functions/{_FN}/event-invoke-config/?", "DeleteFunctionEventInvokeConfig"),
    ("POST", rf"/functions/{_FN}/url/?", "CreateFunctionUrlConfig"),
    ("GET", rf"/functions/{_FN}/url/?", "GetFunctionUrlConfig"),
    ("PUT", rf"/functions/{_FN}/url/?", "UpdateFunctionUrlConfig"),
    ("DELETE", rf"/functions/{_FN}/url/?", "DeleteFunctionUrlConfig"),
    ("GET", rf"/functions/{_FN}/code-signing-config/?", "GetFunctionCodeSigningConfig"),
    ("GET", rf"/functions/{_FN}/recursion-config/?", "GetFunctionRecursionConfig"),
    ("GET", rf"/functions/{_FN}/?", "GetFunction"),
    ("DELETE", rf"/functions/{_FN}/?", "DeleteFunction"),
    ("POST", r"/tags/.+", "TagResource"),
    ("GET", r"/tags/.+", "ListTags"),
    ("DELETE", r"/tags/.+", "UntagResource"),
    ("POST", r"/event-source-mappings/?", "CreateEventSourceMapping"),
    ("GET", r"/event-source-mappings/?", "ListEventSourceMappings"),
    ("GET", r"/event-source-mappings/[^/]+/?", "GetEventSourceMapping"),
    ("PUT", r"/event-source-mappings/[^/]+/?", "UpdateEventSourceMapping"),
    ("DELETE", r"/event-source-mappings/[^/]+/?", "DeleteEventSourceMapping"),
    ("GET", r"/account-settings/?", "GetAccountSettings"),
    ("GET", r"/layers/?", "ListLayers"),
    ("POST", r"/layers/[^/]+/versions/?", "PublishLayerVersion"),
    ("GET", r"/layers/[^/]+/versions/?", "ListLayerVersions"),
    ("GET", r"/layers/[^/]+/versions/[^/]+/?", "GetLayerVersion"),
    ("DELETE", r"/layers/[^/]+/versions/[^/]+/?", "DeleteLayerVersion"),
]
_LAMBDA_COMPILED = [(m, re.compile(r"^/\d{4}-\d{2}-\d{2}" + p + "$"), op)
                    for m, p, op in _LAMBDA_ROUTES]


def lambda_operation(environ: dict) -> str:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO", "")
    for m, rx, op in _LAMBDA_COMPILED:
        if m == method and rx.match(path):
            return op
    return f"{method} {path}"


# ----------------------------------------------------------- dispatch ------

def form_action(body: bytes | None, environ: dict) -> str | None:
    if body:
        try:
            qs = parse_qs(body.decode("utf-8"))
            if "Action" in qs:
                return qs["Action"][0]
        except UnicodeDecodeError:
            pass
    q = query_keys(environ)
    if "Action" in q:
        return q["Action"][0]
    return None


def needs_form_body(environ: dict, service: str | None) -> bool:
    """Only small url-encoded form bodies (IAM/STS query protocol) are read,
    and only when they carry a Content-Length and are not chunked."""
    if service not in ("iam", "sts", "sqs"):
        return False
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return False
    ctype = environ.get("CONTENT_TYPE", "")
    return ctype.startswith("application/x-www-form-urlencoded") and bool(
        environ.get("CONTENT_LENGTH")
    )


def classify(environ: dict, body: bytes | None = None) -> tuple[str, str]:
    """(service, operation) for a request; body is the form body for IAM/STS."""
    _, _, signing = credential_scope(environ)
    service = SIGNING_NAME_TO_SERVICE.get(signing or "", signing or "")
    target = environ.get("HTTP_X_AMZ_TARGET")
    if not service:
        if target:
            prefix = target.split(".", 1)[0].lower()
            service = "dynamodb" if prefix.startswith("dynamodb") else (
                "logs" if prefix.startswith("logs") else
                "sqs" if prefix == "amazonsqs" else prefix)
        elif re.match(r"^/\d{4}-\d{2}-\d{2}/", environ.get("PATH_INFO", "")):
            service = "lambda"
        else:
            service = "s3"
    if target and "." in target:
        return service, target.split(".", 1)[1]
    # Smithy RPC v2 CBOR (CloudWatch): POST /service/SERVICE/operation/OPERATION
    rpc = re.match(r"^/service/[^/]+/operation/([A-Za-z0-9]+)$", environ.get("PATH_INFO", ""))
    if rpc:
        return service, rpc.group(1)
    if service == "s3":
        return service, s3_operation(environ)
    if service == "lambda":
        return service, lambda_operation(environ)
    action = form_action(body, environ)
    if action:
        return service, action
    return service, f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
