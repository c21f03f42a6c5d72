"""The Lambda fork server: still one fresh process per invocation, with the function's own
environment, the timeout enforced, crashes reported, and a dead fork server replaced."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import boto3

from .conftest import (TRUST, create_function, make_zip, start_instance, stop_instance, uid,
                       wait_for)

ENV_CODE = '''
import os
import boto3
def handler(event, context):
    sts = boto3.client("sts")
    ddb = boto3.session.Session().client("dynamodb")
    creds = boto3.session.Session().get_credentials()
    return {
        "env": dict(os.environ),
        "endpoint": sts.meta.endpoint_url,
        "verify": sts._endpoint.http_session._verify,
        "access_key": creds.access_key,
        "max_attempts": ddb.meta.config.retries.get("total_max_attempts"),
        "caller": sts.get_caller_identity()["Account"],
        "pid": os.getpid(),
        "ppid": os.getppid(),
    }
'''


def _invoke(client, name: str, payload: bytes = b"{}") -> tuple[dict, object]:
    r = client("lambda").invoke(FunctionName=name, Payload=payload)
    return r, json.loads(r["Payload"].read())


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _gone(pid: int) -> bool:
    """Dead, or a zombie (holds nothing, waits for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_each_function_sees_only_its_own_environment(instance, client, role):
    a = create_function(client, role, ENV_CODE, env={"ONLY_A": "a", "SHARED": "from-a",
                                                     "AWS_MAX_ATTEMPTS": "2"})
    b = create_function(client, role, ENV_CODE, env={"ONLY_B": "b", "SHARED": "from-b",
                                                     "AWS_MAX_ATTEMPTS": "7"})
    seen = {}
    for fn in (a, b, a, b):  # interleaved: the same fork server serves both
        r, out = _invoke(client, fn["FunctionName"])
        assert "FunctionError" not in r, out
        seen.setdefault(fn["FunctionName"], []).append(out)
    for fn, mine, theirs, shared, attempts in ((a, "ONLY_A", "ONLY_B", "from-a", 2),
                                               (b, "ONLY_B", "ONLY_A", "from-b", 7)):
        for out in seen[fn["FunctionName"]]:
            env = out["env"]
            assert env[mine] and theirs not in env and env["SHARED"] == shared
            assert env["AWS_LAMBDA_FUNCTION_NAME"] == fn["FunctionName"]
            # replaced wholesale: nothing of the server's or the fork server's own environment
            assert not any(k.startswith("LOCAL_AWS") for k in env)
            assert "PYTHONPATH" not in env
            # botocore reads endpoint, CA bundle, credentials and retry settings when the
            # client is made (in the child), not when it was imported (in the fork server)
            assert out["endpoint"] == instance["AWS_ENDPOINT_URL"]
            assert out["verify"] == instance["AWS_CA_BUNDLE"]
            assert out["access_key"] == env["AWS_ACCESS_KEY_ID"] != instance["AWS_ACCESS_KEY_ID"]
            assert out["max_attempts"] == attempts
            assert out["caller"] == "123456789012"
    outs = seen[a["FunctionName"]] + seen[b["FunctionName"]]
    assert len({o["pid"] for o in outs}) == 4, "one process per invocation"
    assert len({o["ppid"] for o in outs}) == 1
    assert "lambda_forkserver.py" in _cmdline(outs[0]["ppid"])


def test_the_handler_module_is_imported_fresh_every_time(client, role):
    code = ("import helper\n"
            "COUNT = 0\n"
            "def handler(event, context):\n"
            "    global COUNT\n"
            "    COUNT += 1\n"
            "    helper.N += 1\n"
            "    return [COUNT, helper.N]\n")
    name = uid("fn")
    client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": code, "helper.py": "N = 0\n"})}, Timeout=10)
    results = [_invoke(client, name)[1] for _ in range(4)]
    assert results == [[1, 1]] * 4


def test_a_vendored_copy_of_a_preloaded_package_wins(client, role):
    # In the plain subprocess the code directory is first on sys.path; the fork server has
    # jmespath (a botocore dependency) imported already, and must not shadow the zip's copy.
    code = "import jmespath\ndef handler(event, context):\n    return jmespath.MARK\n"
    name = uid("fn")
    client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": code,
                                   "jmespath/__init__.py": "MARK = 'vendored'\n"})}, Timeout=10)
    assert _invoke(client, name)[1] == "vendored"


def test_timeout_kills_the_process(instance, client, role):
    pidfile = os.path.join(instance["LOCAL_AWS_DIR"], uid("pid"))
    code = ("import os, signal, time\n"
            "def handler(event, context):\n"
            "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "    open(os.environ['PIDFILE'], 'w').write(str(os.getpid()))\n"
            "    time.sleep(30)\n")
    fn = create_function(client, role, code, timeout=1, env={"PIDFILE": pidfile})
    t0 = time.monotonic()
    r, err = _invoke(client, fn["FunctionName"])
    assert time.monotonic() - t0 < 5
    assert r["FunctionError"] == "Unhandled"
    assert err["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in err["errorMessage"]
    pid = int(open(pidfile).read())
    wait_for(lambda: _gone(pid), timeout=3)
    # a timeout while the module is imported (init) counts too
    fn = create_function(client, role, "import time\ntime.sleep(30)\n"
                         "def handler(event, context):\n    return 1\n", timeout=1)
    r, err = _invoke(client, fn["FunctionName"])
    assert err["errorType"] == "Sandbox.Timedout"


def test_a_crashing_process_is_an_error_and_the_next_invocation_works(client, role):
    code = ("import os, signal\n"
            "def handler(event, context):\n"
            "    if event.get('exit') is not None:\n"
            "        print('about to exit', flush=True)\n"
            "        os._exit(event['exit'])\n"
            "    if event.get('kill'):\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "    if event.get('sys_exit'):\n"
            "        raise SystemExit(event['sys_exit'])\n"
            "    return 'fine'\n")
    fn = create_function(client, role, code)
    name = fn["FunctionName"]
    for payload, status in (({"exit": 3}, "3"), ({"kill": True}, "-9"), ({"sys_exit": 4}, "4")):
        r, err = _invoke(client, name, json.dumps(payload).encode())
        assert r["FunctionError"] == "Unhandled", err
        assert err["errorType"] == "Runtime.ExitError"
        assert err["errorMessage"].endswith(f"Runtime exited with error: exit status {status}")
    assert _invoke(client, name)[1] == "fine"


def test_a_dead_fork_server_is_replaced(client, role):
    code = ("import os, time\n"
            "def handler(event, context):\n"
            "    time.sleep(event.get('sleep', 0))\n"
            "    return os.getppid()\n")
    fn = create_function(client, role, code)
    name = fn["FunctionName"]
    zygote = _invoke(client, name)[1]
    assert "lambda_forkserver.py" in _cmdline(zygote)

    # killed while idle: the next invocation starts a new one and works
    os.kill(zygote, signal.SIGKILL)
    wait_for(lambda: _gone(zygote), timeout=5)
    r, second = _invoke(client, name)
    assert "FunctionError" not in r and second != zygote
    assert "lambda_forkserver.py" in _cmdline(second)

    # killed during an invocation: that one fails (its process dies with the fork server),
    # the next one works
    box = {}
    t = threading.Thread(target=lambda: box.update(r=_invoke(client, name, b'{"sleep": 5}')))
    t.start()
    time.sleep(1.0)
    os.kill(second, signal.SIGKILL)
    t.join(timeout=10)
    r, err = box["r"]
    assert r["FunctionError"] == "Unhandled" and err["errorType"] == "Runtime.ExitError", err
    r, third = _invoke(client, name)
    assert "FunctionError" not in r and third not in (zygote, second)


def test_stop_leaves_no_fork_server_behind():
    inst = start_instance()
    try:
        kw = dict(endpoint_url=inst["AWS_ENDPOINT_URL"], region_name=inst["AWS_REGION"],
                  verify=inst["AWS_CA_BUNDLE"], aws_access_key_id=inst["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=inst["AWS_SECRET_ACCESS_KEY"])
        role = boto3.client("iam", **kw).create_role(
            RoleName="r", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        lam = boto3.client("lambda", **kw)
        lam.create_function(FunctionName="f", Runtime="python3.12", Role=role,
                            Handler="app.handler", Timeout=10, Code={"ZipFile": make_zip(
                                {"app.py": "import os\ndef handler(e, c):\n"
                                           "    return [os.getppid(), os.getpgid(0)]\n"})})
        zygote, pgid = json.loads(lam.invoke(FunctionName="f")["Payload"].read())
        with open(os.path.join(inst["LOCAL_AWS_DIR"], "server.pid")) as f:
            server = int(f.read())
        assert pgid == server == os.getpgid(zygote), "all in the server's process group"
        assert not _gone(zygote)
    finally:
        stop_instance(inst)
    assert _gone(zygote)


def test_without_the_fork_server_each_invocation_is_a_plain_subprocess():
    inst = start_instance({"LOCAL_AWS_LAMBDA_FORKSERVER": "0"})
    try:
        kw = dict(endpoint_url=inst["AWS_ENDPOINT_URL"], region_name=inst["AWS_REGION"],
                  verify=inst["AWS_CA_BUNDLE"], aws_access_key_id=inst["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=inst["AWS_SECRET_ACCESS_KEY"])
        role = boto3.client("iam", **kw).create_role(
            RoleName="r", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        lam = boto3.client("lambda", **kw)
        lam.create_function(FunctionName="f", Runtime="python3.12", Role=role,
                            Handler="app.handler", Timeout=10, Code={"ZipFile": make_zip(
                                {"app.py": "import os\ndef handler(e, c):\n"
                                           "    return os.getppid()\n"})})
        ppid = json.loads(lam.invoke(FunctionName="f")["Payload"].read())
        with open(os.path.join(inst["LOCAL_AWS_DIR"], "server.pid")) as f:
            assert ppid == int(f.read())
    finally:
        stop_instance(inst)
