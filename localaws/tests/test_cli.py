"""scripts/local-aws start / stop / run, several instances side by side, TLS material."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import boto3
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from .conftest import SCRIPT, parse_exports, start_instance, stop_instance

EXPORTS = {"AWS_ENDPOINT_URL", "AWS_CA_BUNDLE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
           "AWS_REGION", "AWS_DEFAULT_REGION", "LOCAL_AWS_HTTP_URL", "LOCAL_AWS_DIR"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purposes
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def _pid(inst: dict) -> int:
    with open(os.path.join(inst["LOCAL_AWS_DIR"], "server.pid")) as f:
        return int(f.read())


def _clean_env(inst: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCAL_AWS_"))}
    env.update(inst)
    return env


def test_start_prints_only_exports_and_is_fast_and_stop_leaves_nothing():
    t0 = time.monotonic()
    inst = start_instance()
    elapsed = time.monotonic() - t0
    try:
        assert set(inst) == EXPORTS
        assert elapsed < 3.0, f"start took {elapsed:.2f} s"
        assert inst["AWS_ENDPOINT_URL"].startswith("https://127.0.0.1:")
        assert inst["LOCAL_AWS_HTTP_URL"].startswith("http://127.0.0.1:")
        assert inst["AWS_REGION"] == "us-west-2"
        d = inst["LOCAL_AWS_DIR"]
        assert os.path.isabs(d) and os.path.isdir(d)
        assert os.path.basename(os.path.dirname(d)) == ".local-aws"
        assert os.path.isabs(inst["AWS_CA_BUNDLE"]) and os.path.exists(inst["AWS_CA_BUNDLE"])
        pid = _pid(inst)
        assert _alive(pid)
    finally:
        stop_instance(inst)
    assert not _alive(pid)
    assert os.path.isdir(inst["LOCAL_AWS_DIR"]), "stop removes nothing"
    # stopping again is harmless
    stop_instance(inst)


def test_certificates_are_a_ca_and_a_leaf_it_signed(instance):
    with open(instance["AWS_CA_BUNDLE"], "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(instance["LOCAL_AWS_DIR"], "server.pem"), "rb") as f:
        leaf = x509.load_pem_x509_certificates(f.read())[0]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)


def test_tls_needs_the_ca_bundle(instance):
    s3 = boto3.client("s3", verify=True)  # system roots only
    from botocore.exceptions import SSLError
    with pytest.raises(SSLError):
        s3.list_buckets()
    assert "Buckets" in boto3.client("s3").list_buckets()


def test_boto3_with_only_the_printed_variables(instance):
    code = ("import boto3\n"
            "s3 = boto3.client('s3')\n"
            "s3.create_bucket(Bucket='only-printed-vars', CreateBucketConfiguration="
            "{'LocationConstraint': 'us-west-2'})\n"
            "print(boto3.client('sts').get_caller_identity()['Account'])\n")
    out = subprocess.run([os.sys.executable, "-c", code], env=_clean_env(instance),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "123456789012"


def test_run_exports_the_variables_and_propagates_the_status():
    script = ('test -n "$AWS_ENDPOINT_URL" && test -f "$AWS_CA_BUNDLE" && '
              'echo "$LOCAL_AWS_DIR" && exit 7')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCAL_AWS_"))}
    out = subprocess.run([SCRIPT, "run", "--", "bash", "-c", script], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 7, out.stderr
    state_dir = out.stdout.strip()
    with open(os.path.join(state_dir, "server.pid")) as f:
        pid = int(f.read())
    assert not _alive(pid), "run stops its instance"


def test_run_stops_the_instance_when_the_command_is_killed():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCAL_AWS_"))}
    proc = subprocess.Popen([SCRIPT, "run", "--", "bash", "-c", 'echo "$LOCAL_AWS_DIR"; sleep 60'],
                            env=env, stdout=subprocess.PIPE, text=True)
    state_dir = proc.stdout.readline().strip()
    with open(os.path.join(state_dir, "server.pid")) as f:
        pid = int(f.read())
    assert _alive(pid)
    proc.terminate()
    assert proc.wait(timeout=30) != 0
    assert not _alive(pid)


def test_instances_side_by_side_are_independent_and_honour_port_and_region():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    a = start_instance({"LOCAL_AWS_PORT": str(port), "AWS_REGION": "eu-central-1"})
    b = start_instance()
    try:
        assert a["AWS_ENDPOINT_URL"] == f"https://127.0.0.1:{port}"
        assert a["AWS_REGION"] == "eu-central-1"
        assert a["AWS_ENDPOINT_URL"] != b["AWS_ENDPOINT_URL"]
        assert a["LOCAL_AWS_DIR"] != b["LOCAL_AWS_DIR"]

        def s3(inst):
            return boto3.client("s3", endpoint_url=inst["AWS_ENDPOINT_URL"],
                                region_name=inst["AWS_REGION"], verify=inst["AWS_CA_BUNDLE"],
                                aws_access_key_id=inst["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=inst["AWS_SECRET_ACCESS_KEY"])
        s3(a).create_bucket(Bucket="only-in-a",
                            CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        assert [x["Name"] for x in s3(a).list_buckets()["Buckets"]] == ["only-in-a"]
        assert s3(b).list_buckets()["Buckets"] == []
    finally:
        stop_instance(a)
        stop_instance(b)


def _bare_env(root: str) -> dict:
    """A shell that never eval'ed anything: no AWS_/LOCAL_AWS_ variables but the root
    (a private one, so these tests never see the session's or anyone else's instances)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCAL_AWS_"))}
    env["LOCAL_AWS_ROOT"] = root
    return env


def _local_aws(root: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, *args], env=_bare_env(root), capture_output=True, text=True,
                          timeout=60)


def test_stop_with_nothing_running_says_so(tmp_path):
    out = _local_aws(str(tmp_path), "stop")
    assert out.returncode == 0
    assert "no instance running" in out.stderr
    assert _local_aws(str(tmp_path), "status").stdout.strip() == "stopped"
    assert _local_aws(str(tmp_path), "stop", "--bogus").returncode == 2


def test_start_without_eval_then_stop_stops_the_only_instance(tmp_path):
    root = str(tmp_path)
    out = _local_aws(root, "start")  # printed, never eval'ed
    assert out.returncode == 0, out.stderr
    inst = parse_exports(out.stdout)
    pid = _pid(inst)
    assert _alive(pid)
    status = _local_aws(root, "status")
    assert status.stdout.strip() == f"running {inst['LOCAL_AWS_DIR']}"
    out = _local_aws(root, "stop")
    assert out.returncode == 0, out.stderr
    assert f"stopping the only running instance: {inst['LOCAL_AWS_DIR']}" in out.stderr
    assert not _alive(pid)


def test_stop_lists_several_instances_and_all_stops_them(tmp_path):
    root = str(tmp_path)
    a = start_instance({"LOCAL_AWS_ROOT": root})
    b = start_instance({"LOCAL_AWS_ROOT": root})
    try:
        out = _local_aws(root, "stop")
        assert out.returncode == 2
        assert "2 instances are running" in out.stderr
        assert a["LOCAL_AWS_DIR"] in out.stderr and b["LOCAL_AWS_DIR"] in out.stderr
        assert _alive(_pid(a)) and _alive(_pid(b)), "an ambiguous stop stops nothing"
        out = _local_aws(root, "stop", "--all")
        assert out.returncode == 0, out.stderr
        assert not _alive(_pid(a)) and not _alive(_pid(b))
        assert "no instance running" in _local_aws(root, "stop", "--all").stderr
    finally:
        stop_instance(a)
        stop_instance(b)


def test_start_output_evals_in_a_shell(instance):
    out = subprocess.run(["bash", "-c", f'eval "$({SCRIPT} start)"; echo "$LOCAL_AWS_DIR"; '
                          f'{SCRIPT} stop'], capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items()
                              if not k.startswith(("AWS_", "LOCAL_AWS_"))})
    assert out.returncode == 0, out.stderr
    assert os.path.isdir(out.stdout.strip())
    assert parse_exports(open(os.path.join(out.stdout.strip(), "env")).read())["LOCAL_AWS_DIR"] \
        == out.stdout.strip()
