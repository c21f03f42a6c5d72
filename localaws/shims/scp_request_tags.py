"""A service control policy that requires tags on every create (request hook, knob
``required_request_tags``: a list of tag keys, empty = off, in every profile).

Organisations commonly deny the creation of untagged resources with an SCP such as::

    {"Effect": "Deny", "Action": ["dynamodb:CreateTable", "s3:CreateBucket", ...],
     "Resource": "*", "Condition": {"Null": {"aws:RequestTag/team": "true"}}}

(AWS Organizations user guide, "Service control policies (SCPs)" and its example "Require
a tag on specified created resources"; IAM user guide, "Controlling access during AWS
requests" — ``aws:RequestTag/key`` reads the tags *sent with the request*, so tagging the
resource in a later call does not help). With the knob set, each of these calls that does
not carry every listed key among its own request tags is refused before moto sees it:

  dynamodb CreateTable   ``Tags`` [{Key, Value}]         400 AccessDeniedException
  s3       CreateBucket  ``CreateBucketConfiguration/Tags``  403 AccessDenied
  iam      CreateRole    ``Tags.member.N.Key``           403 AccessDenied
  lambda   CreateFunction ``Tags`` {k: v}                403 AccessDeniedException
  logs     CreateLogGroup ``tags`` {k: v}                400 AccessDeniedException
  sqs      CreateQueue   ``tags`` {k: v} (JSON protocol)  400 AccessDeniedException

with the message IAM gives for an SCP denial (IAM user guide, "Access denied error
messages": "User: ARN is not authorized to perform: ACTION on resource: ARN with an
explicit deny in a service control policy"). A body that cannot be read (chunked, no
Content-Length) counts as carrying no tag.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote

from ..faults import query_error, s3_error
from ..hooks import Request, Response

CALLER = "arn:aws:sts::{account}:assumed-role/Deployer/tapctl"

CREATES = {
    ("dynamodb", "CreateTable"): "dynamodb:CreateTable",
    ("s3", "CreateBucket"): "s3:CreateBucket",
    ("iam", "CreateRole"): "iam:CreateRole",
    ("lambda", "CreateFunction"): "lambda:CreateFunction",
    ("logs", "CreateLogGroup"): "logs:CreateLogGroup",
    ("sqs", "CreateQueue"): "sqs:CreateQueue",
}


def _read_body(environ: dict) -> bytes | None:
    """The request body, put back for moto; None when it has no Content-Length."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    n = environ.get("CONTENT_LENGTH")
    if not n:
        return b""
    raw = environ["wsgi.input"].read(int(n))
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw


def _json(raw: bytes | None) -> dict[str, Any]:
    try:
        out = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def request_tags(req: Request) -> tuple[set[str], str]:
    """(the tag keys the request carries, the resource it creates)."""
    from .. import ACCOUNT_ID

    region = req.region or "us-east-1"
    if req.service == "iam":
        form = parse_qs((req.form or b"").decode("utf-8", "replace"))
        keys = {v[0] for k, v in form.items() if re.fullmatch(r"Tags\.member\.\d+\.Key", k)}
        name = (form.get("RoleName") or ["?"])[0]
        return keys, f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
    raw = _read_body(req.environ)
    if req.service == "s3":
        text = (raw or b"").decode("utf-8", "replace")
        m = re.search(r"<Tags>(.*?)</Tags>", text, re.DOTALL)
        keys = set(re.findall(r"<Key>(.*?)</Key>", m.group(1), re.DOTALL)) if m else set()
        return keys, f"arn:aws:s3:::{req.bucket}"
    body = _json(raw)
    if req.service == "dynamodb":
        keys = {t.get("Key") for t in body.get("Tags") or [] if isinstance(t, dict)}
        return keys, f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{body.get('TableName')}"
    if req.service == "lambda":
        return set(body.get("Tags") or {}), \
            f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{body.get('FunctionName')}"
    if req.service == "logs":
        return set(body.get("tags") or {}), \
            f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{body.get('logGroupName')}"
    # sqs: JSON protocol (the form protocol, if any, is in req.form)
    if req.form:
        form = parse_qs(req.form.decode("utf-8", "replace"))
        keys = {v[0] for k, v in form.items() if re.fullmatch(r"Tag\.\d+\.Key", k)}
        name = (form.get("QueueName") or ["?"])[0]
    else:
        keys, name = set(body.get("tags") or {}), body.get("QueueName")
    return keys, f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}"


def denial(req: Request, action: str, resource: str) -> Response:
    from .. import ACCOUNT_ID

    msg = (f"User: {CALLER.format(account=ACCOUNT_ID)} is not authorized to perform: {action} "
           f"on resource: {unquote(resource)} with an explicit deny in a service control policy")
    rid = str(uuid.uuid4())
    if req.service == "s3":
        return s3_error(403, "AccessDenied", msg, req.method)
    if req.service == "iam":
        return query_error("iam", 403, "AccessDenied", msg)
    if req.service == "lambda":
        body = json.dumps({"Type": "User", "message": msg}).encode()
        headers = [("x-amzn-RequestId", rid), ("x-amzn-ErrorType", "AccessDeniedException"),
                   ("Content-Type", "application/json")]
        status = 403
    elif req.service == "dynamodb":
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
                           "message": msg}).encode()
        headers = [("x-amzn-RequestId", rid), ("Content-Type", "application/x-amz-json-1.0")]
        status = 400
    elif req.service == "logs":
        body = json.dumps({"__type": "AccessDeniedException", "message": msg}).encode()
        headers = [("x-amzn-RequestId", rid), ("Content-Type", "application/x-amz-json-1.1")]
        status = 400
    else:  # sqs (JSON protocol, query-compatible)
        # SQS's common errors: AccessDeniedException, 400 (SQS API reference)
        body = json.dumps({"__type": "com.amazonaws.sqs#AccessDeniedException",
                           "message": msg}).encode()
        headers = [("x-amzn-RequestId", rid), ("Content-Type", "application/x-amz-json-1.0")]
        status = 400
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


class ScpRequestTags:
    def __init__(self, config: Any):
        self.config = config

    def before(self, req: Request) -> Response | None:
        required = self.config.get("required_request_tags")
        action = CREATES.get((req.service, req.operation))
        if not required or action is None or req.source != "client":
            return None
        keys, resource = request_tags(req)
        if all(k in keys for k in required):
            return None
        return denial(req, action, resource)

    def after(self, req: Request, status: int) -> None:
        pass
