"""A deployer without ``lambda:ListTags`` on a function (``POST /_localaws/lambda/tags-denied``
``{"function": NAME[, "denied": false][, "region": R][, "account": A]}``).

Lambda API reference, GetFunction: "Tags — The function's tags. Lambda returns tag data
only if you have explicit allow permissions for lambda:ListTags"; otherwise the answer
carries ``TagsError`` ("An object that contains details about an error related to
retrieving tags": ``ErrorCode`` matching ``[A-Za-z]+Exception``, ``Message`` of 84 to
1000 characters) and no ``Tags``. ListTags itself answers 403 ``AccessDeniedException``
(the common error of every action). The denial is by function ARN, as an IAM policy
grants it: a function deleted and re-created under the name stays denied. moto 5.2.5
has no IAM evaluation for Lambda and always returns the tags.
"""

from __future__ import annotations

import threading
from typing import Any

from ..patching import replace

_denied: set[str] = set()
_lock = threading.Lock()


def _message(arn: str) -> str:
    account = arn.split(":")[4]
    return (f"User: arn:aws:iam::{account}:user/moto is not authorized to perform: "
            f"lambda:ListTags on resource: {arn} because no identity-based policy allows "
            "the lambda:ListTags action")


def _unqualified(arn: str) -> str:
    return ":".join(arn.split(":")[:7])


def is_denied(arn: str) -> bool:
    with _lock:
        return _unqualified(arn) in _denied


def set_denied(spec: Any, region: str) -> dict[str, Any]:
    from .. import ACCOUNT_ID
    from .lambda_states import get_function

    if not isinstance(spec, dict) or not isinstance(spec.get("function"), str):
        raise ValueError('needs {"function": NAME}')
    fn = get_function(str(spec.get("account") or ACCOUNT_ID), spec.get("region") or region,
                      spec["function"])
    arn = _unqualified(fn.function_arn)
    denied = bool(spec.get("denied", True))
    with _lock:
        (_denied.add if denied else _denied.discard)(arn)
    return {"function": fn.function_name, "arn": arn, "list_tags_denied": denied}


def install(runner: Any, config: Any) -> None:
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    class AccessDenied(LambdaClientError):
        code = 403

        def __init__(self, message: str):
            super().__init__("AccessDeniedException", message)

    orig_get_code = LambdaFunction.get_code

    def get_code(self: Any) -> dict[str, Any]:
        resp = orig_get_code(self)
        if is_denied(self.function_arn):
            resp.pop("Tags", None)
            resp["TagsError"] = {"ErrorCode": "AccessDeniedException",
                                 "Message": _message(_unqualified(self.function_arn))}
        return resp

    replace("moto.awslambda.models", "LambdaFunction.get_code", get_code)

    orig_list_tags = LambdaBackend.list_tags

    def list_tags(self: Any, resource_arn: str) -> dict[str, str]:
        # IAM decides before Lambda looks the function up.
        if is_denied(resource_arn):
            raise AccessDenied(_message(_unqualified(resource_arn)))
        return orig_list_tags(self, resource_arn)

    replace("moto.awslambda.models", "LambdaBackend.list_tags", list_tags)
