"""A Query reads only the partition it names (localaws/shims/dynamodb_index.py): the answers
are those of moto's walk over the whole table (a reference computed here from a Scan), for
every query shape and after every kind of write, and a Query returning one item from a
20,000-item table examines one item."""

from __future__ import annotations

import json
import threading
import urllib.request
from decimal import Decimal

from .conftest import uid

# name -> (hash attribute, range attribute or None); None is the table itself
INDEXES = {
    None: ("requestId", "timestamp"),
    "by-object": ("objectKey", "timestamp"),  # GSI, as tapctl's
    "by-bucket": ("bucketName", "size"),  # GSI on a number that some items lack
    "by-flag": ("flag", None),  # GSI without a range key
    "by-size": ("requestId", "size"),  # LSI
}


def index_stats(instance) -> dict:
    with urllib.request.urlopen(instance["LOCAL_AWS_HTTP_URL"]
                                + "/_localaws/dynamodb/index-stats", timeout=10) as r:
        return json.loads(r.read())


def make_table(ddb) -> str:
    name = uid("idx")

    def gsi(index, hash_attr, range_attr):
        schema = [{"AttributeName": hash_attr, "KeyType": "HASH"}]
        if range_attr:
            schema.append({"AttributeName": range_attr, "KeyType": "RANGE"})
        return {"IndexName": index, "KeySchema": schema, "Projection": {"ProjectionType": "ALL"}}

    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in [
            ("requestId", "S"), ("timestamp", "S"), ("objectKey", "S"), ("bucketName", "S"),
            ("size", "N"), ("flag", "S")]],
        KeySchema=[{"AttributeName": "requestId", "KeyType": "HASH"},
                   {"AttributeName": "timestamp", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[gsi(i, *INDEXES[i]) for i in ("by-object", "by-bucket", "by-flag")],
        LocalSecondaryIndexes=[gsi("by-size", *INDEXES["by-size"])])
    return name


def typed(av: dict):
    (t, v), = av.items()
    return Decimal(v) if t == "N" else v


def seed_items() -> list[dict]:
    """60 items: requestIds shared by up to 3 items, equal timestamps under one objectKey
    (ties the table key breaks), items lacking objectKey, size or flag."""
    items = []
    for i in range(60):
        item = {"requestId": {"S": f"r{i // 3:02d}"},
                "timestamp": {"S": f"2024-01-01T00:00:{(i * 7) % 13:02d}Z"},
                "bucketName": {"S": f"b{i % 2}"}, "n": {"N": str(i)}}
        if i % 11 != 5:
            item["objectKey"] = {"S": f"k{i % 4}"}
        if i % 3:
            item["size"] = {"N": str((i * 5) % 17)}
        if i % 4 == 1:
            item["flag"] = {"S": "on"}
        items.append(item)
    return items


def scan_all(ddb, table) -> list[dict]:
    items, kw = [], {}
    while True:
        page = ddb.scan(TableName=table, **kw)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kw = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


RANGE_TESTS = {
    "=": lambda v, a: v == a[0], "<": lambda v, a: v < a[0], "<=": lambda v, a: v <= a[0],
    ">": lambda v, a: v > a[0], ">=": lambda v, a: v >= a[0],
    "BETWEEN": lambda v, a: a[0] <= v <= a[1],
    "begins_with": lambda v, a: isinstance(v, str) and v.startswith(a[0]),
}


def reference(items, index, hash_value, cond, forward, limit, flt) -> list[dict]:
    """The pages moto answers, from a Scan: the partition's items that have the index's
    key attributes, sorted by index range key then table key; a page takes up to `limit`
    items meeting the range condition and ends early (with a LastEvaluatedKey) when a
    further item of the partition follows, whether or not that one meets the condition
    (so an empty last page can follow: DynamoDB does that too when Limit is reached);
    the filter applies to each page afterwards."""
    hash_attr, range_attr = INDEXES[index]
    part = [i for i in items if hash_attr in i and typed(i[hash_attr]) == hash_value
            and (range_attr is None or range_attr in i)]
    part.sort(key=lambda i: (typed(i[range_attr or "timestamp"]), i["requestId"]["S"],
                             i["timestamp"]["S"]), reverse=not forward)
    pages: list[list[dict]] = [[]]
    for i in part:
        if limit and len(pages[-1]) == limit:
            pages.append([])
        if cond is None or RANGE_TESTS[cond[0]](typed(i[range_attr]), cond[1]):
            pages[-1].append(i)
    return [{"Items": [i for i in page if flt is None or flt(i)], "ScannedCount": len(page)}
            for page in pages]


def ask(ddb, table, index, hash_value, cond, forward, limit, flt_expr, select=None):
    """All pages of one Query."""
    hash_attr, range_attr = INDEXES[index]
    values = {":h": {"N" if isinstance(hash_value, Decimal) else "S": str(hash_value)}}
    expr = "#h = :h"
    names = {"#h": hash_attr}
    if cond:
        op, args = cond
        names["#r"] = range_attr
        for n, a in enumerate(args):
            values[f":r{n}"] = {"N" if isinstance(a, Decimal) else "S": str(a)}
        expr += {"BETWEEN": " AND #r BETWEEN :r0 AND :r1",
                 "begins_with": " AND begins_with(#r, :r0)"}.get(op, f" AND #r {op} :r0")
    kw = {"TableName": table, "KeyConditionExpression": expr, "ScanIndexForward": forward,
          "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
    if index:
        kw["IndexName"] = index
    if limit:
        kw["Limit"] = limit
    if flt_expr:
        kw["FilterExpression"] = flt_expr
        if ":f" in flt_expr:
            values[":f"] = {"N": "20"}
    if select:
        kw["Select"] = select
    pages = []
    while True:
        page = ddb.query(**kw)
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            return pages
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def shapes(items, index):
    """(hash value, range condition, forward, limit, filter) to try on this index: each
    of two partitions and an absent one, every range operator on values that occur."""
    hash_attr, range_attr = INDEXES[index]
    values = sorted({typed(i[hash_attr]) for i in items if hash_attr in i})
    ranges = sorted({typed(i[range_attr]) for i in items if range_attr in i}) if range_attr else []
    has_n = ("n > :f", lambda i: "n" in i and int(i["n"]["N"]) > 20)
    flag = ("attribute_exists(flag)", lambda i: "flag" in i)
    absent = Decimal(999) if values and isinstance(values[0], Decimal) else "absent"
    for h in values[:2] + [absent]:
        yield h, None, True, None, None
        yield h, None, False, 2, has_n
        if ranges and h != absent:
            lo, mid, hi = ranges[0], ranges[len(ranges) // 2], ranges[-1]
            conds = [("=", (mid,)), ("<", (mid,)), ("<=", (mid,)), (">", (mid,)),
                     (">=", (lo,)), ("BETWEEN", (mid, hi))]
            if isinstance(mid, str):
                conds.append(("begins_with", (mid[:-2],)))
            for n, cond in enumerate(conds):
                yield h, cond, n % 2 == 0, 3 if n % 3 == 0 else None, flag if n % 2 else None


def check_all(ddb, table) -> tuple[int, int]:
    """Every shape on every index against the reference. Answers the number of Query calls
    and how many items moto's loop should have examined: each call, its partition's items
    (those with the index's partition key value, whether or not they have its range key)."""
    items = scan_all(ddb, table)
    asked = examined = 0
    for index in INDEXES:
        hash_attr = INDEXES[index][0]
        for h, cond, forward, limit, flt in shapes(items, index):
            partition = sum(1 for i in items if hash_attr in i and typed(i[hash_attr]) == h)
            want = reference(items, index, h, cond, forward, limit, flt and flt[1])
            got = ask(ddb, table, index, h, cond, forward, limit, flt and flt[0])
            asked += len(got)
            examined += len(got) * partition
            what = f"{index} {h} {cond} forward={forward} limit={limit} filter={flt and flt[0]}"
            assert [p["Items"] for p in got] == [p["Items"] for p in want], what
            assert [p["ScannedCount"] for p in got] == [p["ScannedCount"] for p in want], what
            assert [p["Count"] for p in got] == [len(p["Items"]) for p in want], what
            if cond and cond[0] in ("<=", "BETWEEN"):
                counted = ask(ddb, table, index, h, cond, forward, None, None, select="COUNT")
                assert counted[0]["Count"] == sum(p["ScannedCount"] for p in want), what
                assert "Items" not in counted[0], what
                asked += 1
                examined += partition
    # projection on the object index: moto's, on the candidates only
    h = next(typed(i["objectKey"]) for i in items if "objectKey" in i)
    got = ddb.query(TableName=table, IndexName="by-object", KeyConditionExpression="objectKey = :h",
                    ExpressionAttributeValues={":h": {"S": h}}, ProjectionExpression="n, flag")
    want = reference(items, "by-object", h, None, True, None, None)[0]["Items"]
    assert got["Items"] == [{k: v for k, v in i.items() if k in ("n", "flag")} for i in want]
    return asked + 1, examined + sum(1 for i in items if i.get("objectKey") == {"S": h})


def key(item) -> dict:
    return {"requestId": item["requestId"], "timestamp": item["timestamp"]}


def test_index_queries_equal_moto_walk_after_every_kind_of_write(client, instance):
    ddb = client("dynamodb")
    table = make_table(ddb)
    items = seed_items()
    for n in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}}
                                                   for i in items[n:n + 25]]})
    before = index_stats(instance).get(table, {"queries": 0, "examined": 0})
    asked, examined = check_all(ddb, table)
    stats = index_stats(instance)[table]
    assert stats["queries"] - before["queries"] == asked
    # each Query examined its partition only, never the 60 items of the table
    assert stats["examined"] - before["examined"] == examined < asked * 20

    # UpdateItem changes index keys in place: another object, none, a new size, a flag
    a, b, c, d = items[0], items[1], items[2], items[4]
    ddb.update_item(TableName=table, Key=key(a), UpdateExpression="SET objectKey = :k",
                    ExpressionAttributeValues={":k": {"S": "k3"}})
    ddb.update_item(TableName=table, Key=key(b), UpdateExpression="REMOVE objectKey, #s",
                    ExpressionAttributeNames={"#s": "size"})
    ddb.update_item(TableName=table, Key=key(c), UpdateExpression="SET #s = :s, flag = :f",
                    ExpressionAttributeNames={"#s": "size"},
                    ExpressionAttributeValues={":s": {"N": "16"}, ":f": {"S": "on"}})
    ddb.update_item(TableName=table, Key={"requestId": {"S": "new"}, "timestamp": {"S": "t"}},
                    UpdateExpression="SET objectKey = :k, bucketName = :b, #s = :s",
                    ExpressionAttributeNames={"#s": "size"},
                    ExpressionAttributeValues={":k": {"S": "k1"}, ":b": {"S": "b0"},
                                               ":s": {"N": "3"}})
    # a conditional update that fails changes nothing
    try:
        ddb.update_item(TableName=table, Key=key(d), UpdateExpression="SET objectKey = :k",
                        ConditionExpression="attribute_not_exists(requestId)",
                        ExpressionAttributeValues={":k": {"S": "k0"}})
        raise AssertionError("the condition should have failed")
    except ddb.exceptions.ConditionalCheckFailedException:
        pass
    check_all(ddb, table)

    # PutItem replaces an item (another object), DeleteItem and BatchWriteItem delete
    ddb.put_item(TableName=table, Item={**items[3], "objectKey": {"S": "k2"}})
    ddb.delete_item(TableName=table, Key=key(items[5]))
    ddb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": key(i)}}
                                               for i in items[6:12]]})
    check_all(ddb, table)

    # TransactWriteItems: one that succeeds, one cancelled (moto restores a copy of the table)
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {**items[7], "objectKey": {"S": "k0"}}}},
        {"Update": {"TableName": table, "Key": key(items[13]),
                    "UpdateExpression": "SET objectKey = :k",
                    "ExpressionAttributeValues": {":k": {"S": "k1"}}}},
        {"Delete": {"TableName": table, "Key": key(items[14])}}])
    check_all(ddb, table)
    try:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {**items[15], "objectKey": {"S": "k3"}}}},
            {"Delete": {"TableName": table, "Key": key(items[16]),
                        "ConditionExpression": "attribute_not_exists(requestId)"}}])
        raise AssertionError("the transaction should have been cancelled")
    except ddb.exceptions.TransactionCanceledException:
        pass
    check_all(ddb, table)

    # PartiQL writes
    ddb.execute_statement(Statement=f'UPDATE "{table}" SET objectKey=\'k2\' '
                          f"WHERE requestId='{items[18]['requestId']['S']}' "
                          f"AND \"timestamp\"='{items[18]['timestamp']['S']}'")
    ddb.execute_statement(Statement=f'INSERT INTO "{table}" VALUE {{\'requestId\': \'pq\', '
                          "'timestamp': 'z', 'objectKey': 'k0', 'bucketName': 'b1'}")
    ddb.execute_statement(Statement=f'DELETE FROM "{table}" '
                          f"WHERE requestId='{items[20]['requestId']['S']}' "
                          f"AND \"timestamp\"='{items[20]['timestamp']['S']}'")
    check_all(ddb, table)

    # a table deleted and created again under the same name starts with its own items
    ddb.delete_table(TableName=table)
    ddb.get_waiter("table_not_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "requestId", "AttributeType": "S"},
                                           {"AttributeName": "timestamp", "AttributeType": "S"},
                                           {"AttributeName": "objectKey", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "requestId", "KeyType": "HASH"},
                                {"AttributeName": "timestamp", "KeyType": "RANGE"}],
                     GlobalSecondaryIndexes=[{
                         "IndexName": "by-object", "Projection": {"ProjectionType": "ALL"},
                         "KeySchema": [{"AttributeName": "objectKey", "KeyType": "HASH"}]}])
    ddb.put_item(TableName=table, Item={"requestId": {"S": "x"}, "timestamp": {"S": "t"},
                                        "objectKey": {"S": "k0"}})
    got = ddb.query(TableName=table, IndexName="by-object", KeyConditionExpression="objectKey = :k",
                    ExpressionAttributeValues={":k": {"S": "k0"}})["Items"]
    assert [i["requestId"]["S"] for i in got] == ["x"]


def test_queries_while_items_are_written(client):
    """Writes on other threads during Queries: every Query answers, and once the writes
    are done the index holds all of them."""
    ddb = client("dynamodb")
    table = make_table(ddb)
    errors: list[BaseException] = []

    def write(w, start: int) -> None:
        try:
            for n in range(start, start + 60):
                w.put_item(TableName=table, Item={
                    "requestId": {"S": f"w{n:03d}"}, "timestamp": {"S": f"t{n:03d}"},
                    "objectKey": {"S": "hot"}, "bucketName": {"S": "b"}, "n": {"N": str(n)}})
                if n % 3 == 0:
                    w.update_item(TableName=table, Key={"requestId": {"S": f"w{n:03d}"},
                                                        "timestamp": {"S": f"t{n:03d}"}},
                                  UpdateExpression="SET objectKey = :k",
                                  ExpressionAttributeValues={":k": {"S": "cold"}})
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    # clients made here: boto3's default session is not thread-safe, its clients are
    writers = [threading.Thread(target=write, args=(client("dynamodb"), s)) for s in (0, 100)]
    for t in writers:
        t.start()
    seen = 0
    while any(t.is_alive() for t in writers):
        got = ddb.query(TableName=table, IndexName="by-object",
                        KeyConditionExpression="objectKey = :k",
                        ExpressionAttributeValues={":k": {"S": "hot"}})["Items"]
        assert all(i["objectKey"]["S"] == "hot" for i in got)
        seen += 1
    for t in writers:
        t.join()
    assert not errors, errors
    assert seen > 0
    check_all(ddb, table)
    hot = ask(ddb, table, "by-object", "hot", None, True, None, None)[0]["Items"]
    assert len(hot) == 80  # 120 written, every third moved to "cold"


def test_a_query_on_20000_items_examines_its_partition_only(client, instance):
    """Not a timing test: moto's query loop is shown only the candidates of the partition."""
    ddb = client("dynamodb")
    table = uid("big")
    ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"}
                              for a in ("requestId", "timestamp", "objectKey")],
        KeySchema=[{"AttributeName": "requestId", "KeyType": "HASH"},
                   {"AttributeName": "timestamp", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "by-object", "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": "objectKey", "KeyType": "HASH"},
                          {"AttributeName": "timestamp", "KeyType": "RANGE"}]}])
    req = urllib.request.Request(instance["LOCAL_AWS_HTTP_URL"] + "/_localaws/dynamodb/fill",
                                 data=json.dumps({"table": table, "items": 20000}).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        assert json.loads(r.read()) == {"table": table, "items": 20000}

    def query(value: str) -> list[dict]:
        return ddb.query(TableName=table, IndexName="by-object",
                         KeyConditionExpression="objectKey = :k",
                         ExpressionAttributeValues={":k": {"S": value}})["Items"]

    s0 = index_stats(instance).get(table, {"queries": 0, "examined": 0, "indexed": 0})
    got = query("obj/012345")
    assert [i["objectKey"]["S"] for i in got] == ["obj/012345"]
    s1 = index_stats(instance)[table]
    assert s1["queries"] - s0["queries"] == 1
    assert s1["examined"] - s0["examined"] == 1  # moto's loop saw 1 item, not 20,000
    assert s1["indexed"] - s0["indexed"] == 20000  # built once, on the first Query

    # a new item (as the handler writes one) is indexed alone; the table is not walked again
    ddb.put_item(TableName=table, Item={"requestId": {"S": "s3:new"}, "timestamp": {"S": "z"},
                                        "objectKey": {"S": "obj/012345"}})
    got = query("obj/012345")
    assert [i["requestId"]["S"] for i in got] == [got[0]["requestId"]["S"], "s3:new"]
    # a Query on the table's own key reads its hash bucket only
    rid = got[0]["requestId"]["S"]
    by_id = ddb.query(TableName=table, KeyConditionExpression="requestId = :r",
                      ExpressionAttributeValues={":r": {"S": rid}})["Items"]
    assert [i["objectKey"]["S"] for i in by_id] == ["obj/012345"]
    s2 = index_stats(instance)[table]
    assert s2["queries"] - s1["queries"] == 2
    assert s2["examined"] - s1["examined"] == 3
    assert s2["indexed"] - s1["indexed"] == 1
