"""DynamoDB shim: a Query reads only the items of the partition it names, as DynamoDB's
does, instead of every item of the table.

moto 5.2.5's ``Table.query`` walks ``self.all_items()`` (every item, sorted by primary key)
and keeps those whose key attributes match: a Query on a global or local secondary index
returning one item costs about 1 s at 20,000 items. DynamoDB reads only the partition the
key condition names: "You must provide the name of the partition key attribute and a
single value for that attribute. Query returns all items with that partition key value"
(DynamoDB developer guide, "Querying tables in DynamoDB"); "The Query operation will return
all of the items from the table or index with that partition key value" (API reference,
Query); and an index holds only the items that have its key attributes: "Global secondary
indexes are sparse by default ... only items in the base table that contain those
attributes appear in the index" (developer guide, "Take advantage of sparse indexes").

Here, per table and index, a dict from the index's partition-key value(s) to the items
carrying them is kept (items missing a key attribute are in no partition). During a
Query, moto's own loop sees only those candidate items (``all_items`` answers them for
that call, on that thread), so its key checks, range conditions, sort, pagination,
filters, projection and ``Select=COUNT`` are unchanged. A Query on the table itself takes
the one hash bucket moto already keeps (``table.items[hash_key]``).

Consistency: every path that changes items marks the item's primary key (``Table.put_item``,
``Table.delete_item``, which moto's PutItem, DeleteItem, BatchWriteItem, TransactWriteItems,
PartiQL statements, imports and localaws.bulk all end in, and ``DynamoDBBackend.update_item``,
which changes an item in place); the next Query re-indexes just the marked keys. A table
copied or restored by moto (TransactWriteItems' rollback, backups) or created again after
DeleteTable is a new object without an index (indexes are held weakly by table object,
not by name): it is built on its first Query. One lock guards marks, builds and lookups (the
local AWS serves requests on threads, and Lambda writes while ``smoke`` queries).

``stats()`` (``GET /_localaws/dynamodb/index-stats``) counts per table the Queries, the
items moto's loop examined, and the items (re)indexed: tests check that a Query returning
one item on a 20,000-item table examines one item and does not re-walk the table.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from ..patching import replace

_lock = threading.Lock()
_local = threading.local()
# Table -> _State; weak so a deleted table takes its index with it, and not an attribute
# so moto's deepcopy of a table (transaction rollback) does not copy it.
_states: "weakref.WeakKeyDictionary[Any, _State]" = weakref.WeakKeyDictionary()
_stats: dict[str, dict[str, int]] = {}
KEY_TYPES = ("S", "N", "B")


class _Index:
    __slots__ = ("attrs", "buckets", "where")

    def __init__(self, attrs: tuple[str, ...]):
        self.attrs = attrs  # the index's partition-key attribute names, schema order
        self.buckets: dict[tuple, dict[tuple, Any]] = {}  # key values -> {pk: Item}
        self.where: dict[tuple, tuple] = {}  # pk -> key values

    def key_of(self, item: Any) -> tuple | None:
        values = []
        for name in self.attrs:
            v = item.attrs.get(name)
            # moto's loop skips an item whose attribute is missing or falsy; a key value
            # is S, N or B (another type can never equal a query's key value)
            if not v or v.type not in KEY_TYPES:
                return None
            values.append(v)
        return tuple(values)

    def put(self, pk: tuple, item: Any) -> None:
        self.drop(pk)
        key = self.key_of(item) if item is not None else None
        if key is not None:
            self.buckets.setdefault(key, {})[pk] = item
            self.where[pk] = key

    def drop(self, pk: tuple) -> None:
        old = self.where.pop(pk, None)
        if old is not None:
            bucket = self.buckets[old]
            bucket.pop(pk, None)
            if not bucket:
                del self.buckets[old]


class _State:
    __slots__ = ("indexes", "pending")

    def __init__(self) -> None:
        self.indexes: dict[str, _Index] = {}
        self.pending: set[tuple] = set()


def _count(table: Any, what: str, n: int) -> None:
    s = _stats.setdefault(table.name, {"queries": 0, "examined": 0, "indexed": 0})
    s[what] += n


def stats() -> dict[str, dict[str, int]]:
    """Per table name: queries, items moto's query loop examined, items (re)indexed."""
    with _lock:
        return {name: dict(s) for name, s in _stats.items()}


def _current(table: Any, pk: tuple) -> Any:
    hash_key, range_key = pk
    found = table.items.get(hash_key)
    if table.range_key_attr is None or found is None:
        return found
    return found.get(range_key)


def _snapshot(table: Any) -> list[Any]:
    # list(dict.values()) runs in C without releasing the GIL: a write on another thread
    # cannot change a dict under it (a write after it is marked and re-indexed later)
    buckets = list(table.items.values())
    if table.range_key_attr is None:
        return buckets
    return [item for bucket in buckets for item in list(bucket.values())]


def _mark(table: Any, pk: tuple) -> None:
    with _lock:
        state = _states.get(table)
        if state is not None and state.indexes:
            state.pending.add(pk)


def _forget(table: Any) -> None:
    with _lock:
        _states.pop(table, None)


def _candidates(table: Any, index_name: str, hash_attrs: tuple[str, ...],
                key: tuple) -> list[Any]:
    with _lock:
        state = _states.get(table)
        if state is None:
            state = _states[table] = _State()
        if state.pending:
            pending, state.pending = state.pending, set()
            for pk in pending:
                item = _current(table, pk)
                for idx in state.indexes.values():
                    idx.put(pk, item)
            _count(table, "indexed", len(pending))
        idx = state.indexes.get(index_name)
        if idx is None or idx.attrs != hash_attrs:
            idx = _Index(hash_attrs)
            items = _snapshot(table)
            for item in items:
                idx.put((item.hash_key, item.range_key), item)
            state.indexes[index_name] = idx
            _count(table, "indexed", len(items))
        return list(idx.buckets.get(key, {}).values())


def _plan(table: Any, hash_key: Any, index_name: str | None,
          hash_key_conditions: list | None) -> list[Any] | None:
    """The items moto's query loop needs to see, or None to let it walk the table."""
    if not index_name:
        if hash_key is None or hash_key.type not in KEY_TYPES:
            return None
        found = table.items.get(hash_key)
        if found is None:
            return []
        if table.range_key_attr is None:
            return [found]
        return list(found.values())
    index = {i.name: i for i in table.all_indexes()}.get(index_name)
    if index is None:
        return None  # moto answers the ValidationException
    attrs = tuple(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")
    conditions = dict(hash_key_conditions or [])  # as moto's loop reads them
    if not attrs or set(conditions) != set(attrs):
        return None
    key = tuple(conditions[a] for a in attrs)
    if any(v.type not in KEY_TYPES for v in key):
        return None
    return _candidates(table, index_name, attrs, key)


def install(runner: Any, config: Any) -> None:
    from moto.dynamodb.exceptions import ConditionalCheckFailed
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    orig_all_items = Table.all_items
    orig_query = Table.query
    orig_put = Table.put_item
    orig_delete = Table.delete_item
    orig_update = DynamoDBBackend.update_item

    def all_items(self: Any) -> list[Any]:
        q = getattr(_local, "query", None)
        if q is None or q[0] is not self:
            return orig_all_items(self)
        items = orig_all_items(self) if q[1] is None else q[1]
        with _lock:
            _count(self, "examined", len(items))
        return items

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        # A Query on an index still being built (added to a table with items, DynamoDB
        # backfills it) is refused: "Cannot read from backfilling global secondary index"
        # (AWS Knowledge Center, "create-gsi-dynamodb"; DynamoDB developer guide, "Adding a
        # global secondary index to an existing table").
        building = [i for i in getattr(self, "global_indexes", [])
                    if i.name == index_name and getattr(i, "status", "ACTIVE") == "CREATING"]
        if building:
            from moto.dynamodb.exceptions import MockValidationException
            raise MockValidationException(
                f"Cannot read from backfilling global secondary index: {index_name}")
        candidates = _plan(self, hash_key, index_name, kwargs.get("hash_key_conditions"))
        with _lock:
            _count(self, "queries", 1)
        _local.query = (self, candidates)
        try:
            return orig_query(self, hash_key, *args, **kwargs)
        finally:
            _local.query = None

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = orig_put(self, *args, **kwargs)  # moto raises before it stores anything
        _mark(self, (item.hash_key, item.range_key))
        return item

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return orig_delete(self, hash_key, range_key)
        finally:
            _mark(self, (hash_key, range_key))

    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        # moto changes the stored Item in place (its attributes, so its index keys)
        try:
            item = orig_update(self, table_name, *args, **kwargs)
        except ConditionalCheckFailed:
            raise  # checked before anything changed
        except Exception:
            # an update that failed half-way: index the table afresh
            if table_name in self.tables:
                _forget(self.tables[table_name])
            raise
        _mark(self.tables[table_name], (item.hash_key, item.range_key))
        return item

    replace("moto.dynamodb.models.table", "Table.all_items", all_items)
    replace("moto.dynamodb.models.table", "Table.query", query)
    replace("moto.dynamodb.models.table", "Table.put_item", put_item)
    replace("moto.dynamodb.models.table", "Table.delete_item", delete_item)
    replace("moto.dynamodb.models", "DynamoDBBackend.update_item", update_item)
