"""Layers on the function's path (in order, after the code; kept after the version is
deleted), and UpdateFunctionCode's Architectures."""

from __future__ import annotations

import json

from .conftest import create_function, make_zip, uid

CODE = '''
import sys
def handler(event, context):
    import shared
    out = {"value": shared.VALUE}
    try:
        import only_in_a
        out["a"] = only_in_a.X
    except ImportError as e:
        out["a"] = str(e)
    return out
'''


def _publish(lam, name: str, files: dict[str, str]) -> str:
    v = lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip(files)},
                                  CompatibleRuntimes=["python3.12"],
                                  CompatibleArchitectures=["x86_64"])
    return v["LayerVersionArn"]


def _invoke(lam, name: str) -> dict:
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    return body


def _wait(lam, name: str) -> None:
    lam.get_waiter("function_updated_v2").wait(FunctionName=name,
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def test_layers_are_on_the_path_in_order_and_outlive_their_deletion(instance, client, role):
    lam = client("lambda")
    layer = uid("layer")
    a = _publish(lam, layer, {"python/shared.py": "VALUE = 'a'\n",
                              "python/only_in_a.py": "X = 1\n"})
    b = _publish(lam, layer + "-b", {
        "python/lib/python3.12/site-packages/shared.py": "VALUE = 'b'\n"})
    fn = create_function(client, role, CODE)
    name = fn["FunctionName"]
    lam.update_function_configuration(FunctionName=name, Layers=[a, b])
    _wait(lam, name)
    # The later layer's file wins (it overwrites the earlier one in /opt).
    assert _invoke(lam, name) == {"value": "b", "a": 1}
    assert [x["Arn"] for x in lam.get_function(FunctionName=name)["Configuration"]["Layers"]] \
        == [a, b]
    # A deleted version keeps working for the function that uses it.
    lam.delete_layer_version(LayerName=layer + "-b", VersionNumber=1)
    assert _invoke(lam, name)["value"] == "b"
    # Without layers, nothing of theirs is importable.
    lam.update_function_configuration(FunctionName=name, Layers=[a])
    _wait(lam, name)
    assert _invoke(lam, name) == {"value": "a", "a": 1}
    lam.update_function_configuration(FunctionName=name, Layers=[])
    _wait(lam, name)
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    assert r.get("FunctionError") == "Unhandled"
    assert json.loads(r["Payload"].read())["errorType"] == "ModuleNotFoundError"


def test_update_function_code_sets_the_architecture(instance, client, role):
    lam = client("lambda")
    fn = create_function(client, role, "def handler(e, c):\n    return 1\n")
    name = fn["FunctionName"]
    assert lam.get_function_configuration(FunctionName=name)["Architectures"] == ["x86_64"]
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 2\n"}),
                             Architectures=["arm64"])
    _wait(lam, name)
    assert lam.get_function_configuration(FunctionName=name)["Architectures"] == ["arm64"]


def test_only_the_runtimes_packages_are_importable(instance, client, role):
    """Lambda's Python runtime has boto3 and its dependencies, not the host's other packages:
    a handler importing one fails as on Lambda, with Runtime.ImportModuleError."""
    lam = client("lambda")
    ok = create_function(client, role, "import boto3, botocore, urllib3, dateutil\n"
                                       "def handler(e, c):\n    return boto3.__name__\n")
    assert _invoke(lam, ok["FunctionName"]) == "boto3"
    bad = create_function(client, role, "import pytest\ndef handler(e, c):\n    return 1\n")
    r = lam.invoke(FunctionName=bad["FunctionName"], Payload=b"{}")
    assert r.get("FunctionError") == "Unhandled"
    err = json.loads(r["Payload"].read())
    assert err["errorType"] == "Runtime.ImportModuleError"
    assert err["errorMessage"] == "Unable to import module 'app': No module named 'pytest'"
