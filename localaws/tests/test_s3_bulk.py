"""The fill helper (POST /_localaws/s3/fill) and the ListObjectVersions shim
(shims/s3_versions.py): real versions, S3's paging, markers that survive
deletes of the previous page."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from localaws.shims.s3_versions import list_versions

from .conftest import uid


def fill(instance, **spec) -> dict:
    req = urllib.request.Request(instance["LOCAL_AWS_HTTP_URL"] + "/_localaws/s3/fill",
                                 data=json.dumps(spec).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


@pytest.fixture
def versioned(client):
    s3 = client("s3")
    name = uid("bulk")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def all_versions(s3, bucket: str, page: int) -> list[tuple[str, str, bool, bool]]:
    out = []
    kw: dict = {}
    while True:
        p = s3.list_object_versions(Bucket=bucket, MaxKeys=page, **kw)
        got = [(v["Key"], v["VersionId"], v["IsLatest"], False) for v in p.get("Versions", [])]
        got += [(m["Key"], m["VersionId"], m["IsLatest"], True) for m in p.get("DeleteMarkers", [])]
        assert len(got) <= page
        out += got
        if not p["IsTruncated"]:
            return out
        kw = {"KeyMarker": p["NextKeyMarker"], "VersionIdMarker": p["NextVersionIdMarker"]}


def test_fill_puts_real_versions_without_notifications(instance, client, versioned):
    s3 = client("s3")
    assert fill(instance, bucket=versioned, keys=30, versions=2, prefix="o/") == {
        "bucket": versioned, "keys": 30, "versions": 2, "objects": 60}
    versions = all_versions(s3, versioned, 7)
    assert len(versions) == 60
    assert len({v[1] for v in versions}) == 60  # distinct version ids
    assert sum(1 for v in versions if v[2]) == 30  # one latest per key
    assert s3.get_object(Bucket=versioned, Key="o/000029")["Body"].read() == b"x"


def test_fill_rejects_a_missing_bucket(instance):
    with pytest.raises(urllib.error.HTTPError) as e:
        fill(instance, bucket=uid("nope"), keys=1)
    assert e.value.code == 400


def test_pages_cover_versions_and_delete_markers_once(instance, client, versioned):
    s3 = client("s3")
    fill(instance, bucket=versioned, keys=10, versions=3, prefix="k")
    for i in (2, 5):
        s3.delete_object(Bucket=versioned, Key=f"k{i:06d}")  # a delete marker on top
    for page in (1, 4, 1000):
        got = all_versions(s3, versioned, page)
        assert len(got) == 32 and len(set(got)) == 32
        latest = {g[0]: g for g in got if g[2]}
        assert len(latest) == 10
        assert latest["k000002"][3] and latest["k000005"][3]  # the marker is the latest


def test_deleting_each_page_before_listing_the_next_empties_the_bucket(instance, client,
                                                                       versioned):
    s3 = client("s3")
    fill(instance, bucket=versioned, keys=25, versions=2)
    kw: dict = {}
    deleted = 0
    while True:
        p = s3.list_object_versions(Bucket=versioned, MaxKeys=7, **kw)
        ids = [{"Key": v["Key"], "VersionId": v["VersionId"]}
               for v in p.get("Versions", []) + p.get("DeleteMarkers", [])]
        if ids:
            s3.delete_objects(Bucket=versioned, Delete={"Objects": ids, "Quiet": True})
            deleted += len(ids)
        if not p["IsTruncated"]:
            break
        kw = {"KeyMarker": p["NextKeyMarker"], "VersionIdMarker": p["NextVersionIdMarker"]}
    assert deleted == 50
    assert "Versions" not in s3.list_object_versions(Bucket=versioned)


class _Keys(dict):
    def getlist(self, key, default=None):
        return self.get(key, default)


class _V:
    def __init__(self, name: str, vid: str):
        self.name, self.version_id = name, vid


def test_prefix_delimiter_and_key_marker():
    keys = _Keys({n: [_V(n, f"{n}-1"), _V(n, f"{n}-2")]
                  for n in ("a/1", "a/2", "b", "c/1", "d")})
    versions, prefixes, markers, nk, nv = list_versions(keys, "/", None, 1000, "", None,
                                                        lambda v: True)
    assert prefixes == ["a/", "c/"] and [v.name for v in versions] == ["b", "b", "d", "d"]
    assert [v.is_latest for v in versions] == [True, False, True, False]
    assert (nk, nv) == (None, None) and markers == []
    # paging through common prefixes: the marker is the last prefix returned
    versions, prefixes, _, nk, nv = list_versions(keys, "/", None, 1, "", None, lambda v: True)
    assert prefixes == ["a/"] and versions == [] and (nk, nv) == ("a/", None)
    versions, prefixes, _, nk, nv = list_versions(keys, "/", "a/", 2, "", None, lambda v: True)
    assert prefixes == [] and [v.version_id for v in versions] == ["b-2", "b-1"]
    assert (nk, nv) == ("b", "b-1")
    # prefix filter, and a version marker in the middle of a key
    versions, _, _, nk, _ = list_versions(keys, None, "c/1", 10, "c/", "c/1-2", lambda v: True)
    assert [v.version_id for v in versions] == ["c/1-1"] and nk is None


def test_listing_with_prefix_and_delimiter_over_the_wire(instance, client, versioned):
    s3 = client("s3")
    fill(instance, bucket=versioned, keys=3, versions=1, prefix="a/")
    fill(instance, bucket=versioned, keys=2, versions=2, prefix="b&<x>")
    p = s3.list_object_versions(Bucket=versioned, Delimiter="/")
    assert [c["Prefix"] for c in p["CommonPrefixes"]] == ["a/"]
    assert sorted({v["Key"] for v in p["Versions"]}) == ["b&<x>000000", "b&<x>000001"]
    p = s3.list_object_versions(Bucket=versioned, Prefix="a/", MaxKeys=2)
    assert [v["Key"] for v in p["Versions"]] == ["a/000000", "a/000001"]
    assert p["IsTruncated"] and p["NextKeyMarker"] == "a/000001"
    assert all(v["ETag"].startswith('"') and v["Size"] == 1 for v in p["Versions"])


def test_table_fill_puts_items_every_index_sees(instance, client):
    ddb = client("dynamodb")
    name = uid("tbl")
    attrs = [{"AttributeName": a, "AttributeType": "S"} for a in ("requestId", "timestamp", "objectKey")]
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=attrs,
        KeySchema=[{"AttributeName": "requestId", "KeyType": "HASH"},
                   {"AttributeName": "timestamp", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-object", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "objectKey", "KeyType": "HASH"},
                                               {"AttributeName": "timestamp", "KeyType": "RANGE"}]}])
    req = urllib.request.Request(instance["LOCAL_AWS_HTTP_URL"] + "/_localaws/dynamodb/fill",
                                 data=json.dumps({"table": name, "items": 50}).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert json.loads(r.read()) == {"table": name, "items": 50}
    assert ddb.scan(TableName=name, Select="COUNT")["Count"] == 50
    got = ddb.query(TableName=name, IndexName="by-object",
                    KeyConditionExpression="objectKey = :k",
                    ExpressionAttributeValues={":k": {"S": "obj/000007"}})["Items"]
    assert [i["objectKey"]["S"] for i in got] == ["obj/000007"]
    bad = urllib.request.Request(instance["LOCAL_AWS_HTTP_URL"] + "/_localaws/dynamodb/fill",
                                 data=json.dumps({"table": uid("nope"), "items": 1}).encode(),
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(bad, timeout=10)
    assert e.value.code == 400
