"""IAM role propagation, as Lambda sees it (knobs ``role_delay``, ``role_env_kms_error``).

A role is "young" for ``role_delay`` seconds after CreateRole (or UpdateAssumeRolePolicy).
CreateFunction naming a young role, and UpdateFunctionConfiguration switching to one,
answer 400 ``InvalidParameterValueException``:

- "The role defined for the function cannot be assumed by Lambda." (Lambda developer
  guide, troubleshooting; docs/consistency.md, row 7; terraform-provider-aws
  ``retryFunctionOp`` in internal/service/lambda/function.go retries it);
- with ``role_env_kms_error`` on and a function that has environment variables: "Lambda
  was unable to configure access to your environment variables because the KMS key is
  invalid for CreateGrant. Please check your KMS key settings. KMS Exception:
  InvalidArnException KMS Message: ARN does not refer to a valid principal:
  arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION" (verbatim in terraform-provider-aws
  issue #4633; function.go retries the message's first sentence).

A role that does not exist cannot be assumed either (same first error).
The Lambda side of the check is wrapped around moto's LambdaBackend here; function
states are ``lambda_states``."""

from __future__ import annotations

import time
from typing import Any

from ..patching import replace

ROLE_MSG = "The role defined for the function cannot be assumed by Lambda."
KMS_MSG = ("Lambda was unable to configure access to your environment variables because the "
           "KMS key is invalid for CreateGrant. Please check your KMS key settings. KMS "
           "Exception: InvalidArnException KMS Message: ARN does not refer to a valid "
           "principal: arn:aws:sts::{account}:assumed-role/{role}/{function}")


def install(runner: Any, config: Any) -> None:
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.models import LambdaBackend
    from moto.iam.models import IAMBackend, iam_backends
    from moto.utilities.utils import get_partition

    orig_create_role = IAMBackend.create_role

    def create_role(self: Any, *args: Any, **kwargs: Any) -> Any:
        role = orig_create_role(self, *args, **kwargs)
        role._la_created = time.monotonic()
        return role

    replace("moto.iam.models", "IAMBackend.create_role", create_role)

    orig_update_arp = IAMBackend.update_assume_role_policy

    def update_assume_role_policy(self: Any, role_name: str, policy_document: str) -> Any:
        out = orig_update_arp(self, role_name, policy_document)
        try:
            self.get_role(role_name)._la_created = time.monotonic()
        except Exception:  # noqa: BLE001
            pass
        return out

    replace("moto.iam.models", "IAMBackend.update_assume_role_policy",
            update_assume_role_policy)

    def check_role(role_arn: str | None, account_id: str, region: str, function: str,
                   has_env: bool) -> None:
        if not role_arn:
            return
        name = role_arn.rsplit("/", 1)[-1]
        try:
            role = iam_backends[account_id][get_partition(region)].get_role(name)
        except Exception:  # noqa: BLE001 - a missing role cannot be assumed either
            raise InvalidParameterValueException(ROLE_MSG)
        delay = config.get("role_delay")
        created = getattr(role, "_la_created", None)
        if delay > 0 and created is not None and time.monotonic() - created < delay:
            if has_env and config.get("role_env_kms_error"):
                raise InvalidParameterValueException(
                    KMS_MSG.format(account=account_id, role=name, function=function))
            raise InvalidParameterValueException(ROLE_MSG)

    orig_create_function = LambdaBackend.create_function

    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        env = (spec.get("Environment") or {}).get("Variables") or {}
        check_role(spec.get("Role"), self.account_id, self.region_name,
                   spec.get("FunctionName", ""), bool(env))
        return orig_create_function(self, spec)

    replace("moto.awslambda.models", "LambdaBackend.create_function", create_function)

    orig_update_config = LambdaBackend.update_function_configuration

    def update_function_configuration(self: Any, function_name: str, qualifier: str,
                                      body: dict) -> Any:
        if "Role" in body:
            fn = self.get_function(function_name, qualifier)
            if "Environment" in body:
                env = (body.get("Environment") or {}).get("Variables") or {}
            else:
                env = getattr(fn, "environment_vars", None) or {}
            check_role(body["Role"], self.account_id, self.region_name, fn.function_name,
                       bool(env))
        return orig_update_config(self, function_name, qualifier, body)

    replace("moto.awslambda.models", "LambdaBackend.update_function_configuration",
            update_function_configuration)
