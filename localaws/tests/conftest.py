"""Fixtures: one local AWS instance per test session, started and stopped with
scripts/local-aws exactly as the Rust tests and the demo do, and boto3
clients configured from nothing but the variables it printed."""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import time
import urllib.request
import uuid
import zipfile

import boto3
import pytest
from botocore.config import Config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "local-aws")
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


def parse_exports(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        words = shlex.split(line)
        assert words[0] == "export" and len(words) == 2, line
        k, v = words[1].split("=", 1)
        env[k] = v
    return env


def start_instance(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "LOCAL_AWS_"))}
    env.update(extra_env or {})
    out = subprocess.run([SCRIPT, "start"], env=env, check=True, capture_output=True,
                         text=True, timeout=60)
    return parse_exports(out.stdout)


def stop_instance(inst: dict[str, str]) -> None:
    subprocess.run([SCRIPT, "stop", inst["LOCAL_AWS_DIR"]], check=True, timeout=60)


def control(inst: dict[str, str], changes: dict | None = None) -> dict:
    url = inst["LOCAL_AWS_HTTP_URL"] + "/_localaws/config"
    if changes is None:
        req = urllib.request.Request(url)
    else:
        req = urllib.request.Request(url, data=json.dumps(changes).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def wait_for(pred, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def instance():
    inst = start_instance()
    saved = {k: os.environ.get(k) for k in list(inst) + ["AWS_PROFILE", "AWS_SESSION_TOKEN"]}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.update(inst)
    try:
        yield inst
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        stop_instance(inst)


@pytest.fixture(autouse=False)
def knobs(instance):
    """Change knobs for one test; back to the instant profile afterwards."""
    yield lambda **kw: control(instance, kw)
    control(instance, {"profile": "instant", "fault_rate": 0, "fault_next": 0,
                       "fault_services": [], "fault_operations": [], "fault_source": "any",
                       "fault_kind": "throttle", "async_retry_delay": 0.2,
                       "handler_write_faults_for": 0, "destination_permission_check": True})


@pytest.fixture
def client(instance):
    def make(service: str, **kw):
        return boto3.client(service, **kw)
    return make


@pytest.fixture
def role(client):
    """A role Lambda can assume (created in the instant profile)."""
    iam = client("iam")
    name = uid("role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.attach_role_policy(
        RoleName=name,
        PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    return arn


def create_function(client, role_arn: str, code: str, *, name: str | None = None,
                    timeout: int = 10, env: dict | None = None, handler: str = "app.handler",
                    memory: int = 128) -> dict:
    lam = client("lambda")
    name = name or uid("fn")
    fn = lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role_arn, Handler=handler,
        Code={"ZipFile": make_zip({"app.py": code})}, Timeout=timeout, MemorySize=memory,
        Environment={"Variables": env or {}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return fn


def invocations(inst: dict[str, str], function: str | None = None) -> list[dict]:
    with urllib.request.urlopen(inst["LOCAL_AWS_HTTP_URL"] + "/_localaws/invocations",
                                timeout=10) as r:
        recs = json.loads(r.read())
    return [r for r in recs if function is None or r["function"] == function]
