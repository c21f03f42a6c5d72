"""localaws.proxy: CONNECT for https, absolute-URI requests for plain http, counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest
from botocore.config import Config

from .conftest import REPO


@pytest.fixture
def proxy(tmp_path):
    count_file = tmp_path / "proxy.json"
    env = dict(os.environ, PYTHONPATH=REPO)
    p = subprocess.Popen([sys.executable, "-m", "localaws.proxy", "--port", "0",
                          "--count-file", str(count_file)], stdout=subprocess.PIPE, text=True,
                         env=env)
    port = int(p.stdout.readline())
    try:
        yield {"url": f"http://127.0.0.1:{port}", "count_file": count_file}
    finally:
        p.terminate()
        assert p.wait(timeout=10) == 0


def counts(proxy) -> dict:
    return json.loads(proxy["count_file"].read_text())


def stats(proxy) -> dict:
    with urllib.request.urlopen(proxy["url"] + "/_proxy/stats", timeout=5) as r:
        return json.loads(r.read())


def test_https_through_connect_and_http_through_absolute_uris(instance, client, proxy):
    assert counts(proxy)["requests"] == 0
    https = client("sts", config=Config(proxies={"https": proxy["url"]}))
    assert https.get_caller_identity()["Account"] == "123456789012"
    c = counts(proxy)
    assert (c["connect"], c["http"]) == (1, 0)
    tls_target = instance["AWS_ENDPOINT_URL"].split("//")[1]
    assert c["targets"] == {tls_target: 1}

    plain = client("dynamodb", endpoint_url=instance["LOCAL_AWS_HTTP_URL"],
                   config=Config(proxies={"http": proxy["url"]}))
    plain.list_tables()
    s3 = client("s3", endpoint_url=instance["LOCAL_AWS_HTTP_URL"],
                config=Config(proxies={"http": proxy["url"]}))
    s3.list_buckets()
    c = stats(proxy)
    assert (c["requests"], c["connect"], c["http"], c["failed"]) == (3, 1, 2, 0)
    assert c == counts(proxy)


def test_an_unreachable_origin_answers_502_and_is_counted_as_failed(proxy):
    req = urllib.request.Request("http://127.0.0.1:9/x")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy["url"]}))
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(req, timeout=5)
    assert e.value.code == 502
    assert counts(proxy)["failed"] == 1
