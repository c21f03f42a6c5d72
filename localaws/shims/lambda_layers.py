"""Layers on the function's path, and the architecture set with the code.

Layers (Lambda developer guide, "Managing Lambda dependencies with layers" and "Layer paths
for each Lambda runtime"): Lambda extracts a function's layers, in order, into ``/opt`` (a
later layer's files overwrite an earlier one's) and puts ``/opt/python`` and
``/opt/python/lib/python3.X/site-packages`` on a Python function's path, after its code. A
function keeps running with a layer version deleted after it was attached: Lambda keeps a
copy for the functions that use it ("Deleting a layer version"). Here each version's zip is
extracted once, when a function's configuration names it (CreateFunction,
UpdateFunctionConfiguration), into the state folder (``lambda/layers/<CodeSha256>``); the
runner gives the function those folders' paths, the last layer first, after its code
(``LOCALAWS_LAYER_PATHS``, read by ``lambda_bootstrap``).

Architectures: UpdateFunctionCode takes ``Architectures`` (Lambda API reference,
UpdateFunctionCode: "The instruction set architecture that the function supports"); moto
keeps the old one, so a function moved to arm64 with its code reported x86_64 forever.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import uuid
import zipfile
from typing import Any

from ..patching import replace

_root: str | None = None


def layer_dirs(fn: Any) -> list[str]:
    """The extracted folders of the function's layers, in its configuration's order."""
    return list(getattr(fn, "_la_layer_dirs", []))


def python_paths(fn: Any) -> list[str]:
    """What the layers put on a Python function's path, the last layer first."""
    version = (fn.run_time or "python3").removeprefix("python")
    out: list[str] = []
    for d in reversed(layer_dirs(fn)):
        out += [os.path.join(d, "python", "lib", f"python{version}", "site-packages"),
                os.path.join(d, "python")]
    return out


# What Lambda's Python runtime has beside the standard library: the AWS SDK for Python and
# its dependencies (Lambda developer guide, "Building Lambda functions with Python": the
# runtime includes the SDK for Python (Boto3)).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3",
                    "six")


def runtime_site(state_dir: str) -> str:
    """A folder holding links to the host's copies of RUNTIME_PACKAGES only: the function's
    site-packages (made once per state folder)."""
    import importlib.util

    target = os.path.join(state_dir, "lambda", "runtime-site")
    if os.path.isdir(target):
        return target
    tmp = target + ".tmp-" + uuid.uuid4().hex[:8]
    os.makedirs(tmp)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            continue
        path = os.path.dirname(spec.origin) if spec.submodule_search_locations else spec.origin
        os.symlink(path, os.path.join(tmp, os.path.basename(path)))
    try:
        os.rename(tmp, target)
    except OSError:  # made meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _extract(code: bytes) -> str:
    assert _root is not None
    target = os.path.join(_root, hashlib.sha256(code).hexdigest())
    if not os.path.isdir(target):
        tmp = target + ".tmp-" + uuid.uuid4().hex[:8]
        os.makedirs(tmp)
        with zipfile.ZipFile(io.BytesIO(code)) as zf:
            zf.extractall(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # extracted meanwhile by another request
            pass
    return target


def install(runner: Any, config: Any) -> None:
    global _root
    state = getattr(runner, "state_dir", None) or tempfile.mkdtemp(prefix="localaws-")
    _root = os.path.join(state, "lambda", "layers")
    os.makedirs(_root, exist_ok=True)
    from moto.awslambda.models import LambdaFunction, get_backend

    orig_layers = LambdaFunction._get_layers_data

    def get_layers_data(self: Any, arns: list[str]) -> Any:
        data = orig_layers(self, arns)  # refuses an unknown version, as Lambda does
        backend = get_backend(self.account_id, self.region)
        dirs = []
        for arn in arns:
            lv = backend.layers_versions_by_arn(arn)
            dirs.append(_extract(lv.code_bytes or b""))
        self._la_layer_dirs = dirs
        return data

    replace("moto.awslambda.models", "LambdaFunction._get_layers_data", get_layers_data)

    orig_code = LambdaFunction.update_function_code

    def update_function_code(self: Any, spec: dict[str, Any]) -> Any:
        if spec.get("Architectures"):
            self.architectures = spec["Architectures"]
        return orig_code(self, spec)

    replace("moto.awslambda.models", "LambdaFunction.update_function_code",
            update_function_code)
