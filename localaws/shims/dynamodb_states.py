"""DynamoDB shims: a table is CREATING for `table_delay` seconds after
CreateTable and DELETING for as long after DeleteTable; calls that need an
ACTIVE table fail meanwhile as DynamoDB's do:

  CREATING: item calls -> ResourceNotFoundException; UpdateContinuousBackups ->
            ContinuousBackupsUnavailableException; UpdateTable, DeleteTable,
            UpdateTimeToLive, CreateBackup -> ResourceInUseException
  DELETING: item calls -> ResourceNotFoundException; other changes ->
            ResourceInUseException; DescribeTable shows DELETING, then the
            table is gone (ResourceNotFoundException)

and (``table_describe_lag``) DescribeTable answers ResourceNotFoundException for N s
after CreateTable, whatever the status: "If you issue a DescribeTable request
immediately after a CreateTable request, DynamoDB might return a
ResourceNotFoundException. This is because DescribeTable uses an eventually consistent
query" (DynamoDB API reference, DescribeTable). The SDK waiter ``table_exists`` retries it.

With the same ``table_delay``, a global secondary index added by UpdateTable is
``CREATING`` (DynamoDB backfills it) before ``ACTIVE``, and UpdateTimeToLive moves
TTL through ``ENABLING`` / ``DISABLING`` (DynamoDB API reference, DescribeTable
``IndexStatus`` and TimeToLiveDescription ``TimeToLiveStatus``).

``dynamodb_index_backfill`` (s, 0 = ``table_delay``) sets how long an index added by
UpdateTable stays ``CREATING``: "the time required for building a global secondary index
depends on ... the size of the base table" (DynamoDB developer guide, "Adding a global
secondary index to an existing table"); a Query on it meanwhile is refused (see
``dynamodb_index``).

``dynamodb_ttl_delay`` (s, 0 = ``table_delay``) sets how long ENABLING / DISABLING last
on their own: "It can take up to one hour for the change to fully process" (DynamoDB API
reference, UpdateTimeToLive). ``dynamodb_ttl_change_interval`` (s, 0 = off): another
UpdateTimeToLive on the same table within N s of the last accepted one answers 400
``ValidationException`` "Time to live has been modified multiple times within a fixed
interval": "You cannot make any additional UpdateTimeToLive calls for the same table
during this one hour duration" (same reference; the message as aws-cdk#13720 quotes it).

DescribeTimeToLive and UpdateTimeToLive on a missing table answer
``ResourceNotFoundException`` (their API references' Errors sections), not moto's
``ResourceNotFound``: an SDK's typed not-found predicate must match it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .. import context
from ..patching import replace

ITEM_OPS = {
    "PutItem", "GetItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchWriteItem",
    "BatchGetItem", "TransactWriteItems", "TransactGetItems", "ExecuteStatement",
    "BatchExecuteStatement", "ExecuteTransaction",
}
CHANGE_OPS_WHILE_CREATING = {"UpdateTable", "DeleteTable", "UpdateTimeToLive", "CreateBackup"}
READ_OPS = {"DescribeTable", "DescribeContinuousBackups", "ListTagsOfResource",
            "DescribeTimeToLive", "ListTables"}


def table_status(table: Any) -> str:
    now = time.monotonic()
    if getattr(table, "_la_deleting_until", None) is not None:
        return "DELETING"
    if now < getattr(table, "_la_ready_at", 0.0):
        return "CREATING"
    return "ACTIVE"


def install(runner: Any, config: Any) -> None:
    from moto.dynamodb.exceptions import (ERROR_TYPE_PREFIX, DeletionProtectedException,
                                          ResourceInUseException, ResourceNotFoundException)
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    class ContinuousBackupsUnavailable(JsonRESTError):
        def __init__(self, name: str):
            super().__init__(ERROR_TYPE_PREFIX + "ContinuousBackupsUnavailableException",
                             f"Backups are being enabled for the table: {name}. Please retry later")

    orig_describe = Table.describe

    def describe(self: Any, base_key: str = "TableDescription") -> dict[str, Any]:
        out = orig_describe(self, base_key)
        out[base_key]["TableStatus"] = table_status(self)
        return out

    replace("moto.dynamodb.models.table", "Table.describe", describe)

    orig_create = DynamoDBBackend.create_table

    def create_table(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        table = orig_create(self, name, *args, **kwargs)
        now = time.monotonic()
        table._la_ready_at = now + config.get("table_delay")
        table._la_visible_at = now + config.get("table_describe_lag")
        return table

    replace("moto.dynamodb.models", "DynamoDBBackend.create_table", create_table)

    orig_get_table = DynamoDBBackend.get_table

    def get_table(self: Any, table_name: str) -> Any:
        table = orig_get_table(self, table_name)
        op = context.operation()
        if op is None:
            return table
        status = table_status(table)
        if op == "DescribeTable" and time.monotonic() < getattr(table, "_la_visible_at", 0.0):
            raise ResourceNotFoundException(
                f"Requested resource not found: Table: {table.name} not found")
        if status == "CREATING":
            if op in ITEM_OPS:
                raise ResourceNotFoundException()
            if op == "UpdateContinuousBackups":
                raise ContinuousBackupsUnavailable(table.name)
            if op in CHANGE_OPS_WHILE_CREATING:
                raise ResourceInUseException(
                    f"Attempt to change a resource which is still in use: Table is being created: {table.name}")
        elif status == "DELETING":
            if op in ITEM_OPS:
                raise ResourceNotFoundException()
            if op not in READ_OPS:
                raise ResourceInUseException(
                    f"Attempt to change a resource which is still in use: Table is being deleted: {table.name}")
        return table

    replace("moto.dynamodb.models", "DynamoDBBackend.get_table", get_table)

    orig_delete = DynamoDBBackend.delete_table

    def delete_table(self: Any, name: str) -> Any:
        delay = config.get("table_delay")
        if delay <= 0:
            return orig_delete(self, name)
        table = self.get_table(name)
        if getattr(table, "deletion_protection_enabled", False):
            raise DeletionProtectedException(name)
        table._la_deleting_until = time.monotonic() + delay

        def drop() -> None:
            if self.tables.get(table.name) is table:
                self.tables.pop(table.name, None)

        t = threading.Timer(delay, drop)
        t.daemon = True
        t.start()
        return table

    replace("moto.dynamodb.models", "DynamoDBBackend.delete_table", delete_table)

    def later(delay: float, action: Any) -> None:
        t = threading.Timer(delay, action)
        t.daemon = True
        t.start()

    orig_update = DynamoDBBackend.update_table

    def update_table(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        before = {i.name for i in self.get_table(name).global_indexes}
        table = orig_update(self, name, *args, **kwargs)
        delay = config.get("dynamodb_index_backfill") or config.get("table_delay")
        for index in table.global_indexes:
            if delay > 0 and index.name not in before:
                index.status = "CREATING"
                later(delay, lambda i=index: setattr(i, "status", "ACTIVE"))
        return table

    replace("moto.dynamodb.models", "DynamoDBBackend.update_table", update_table)

    def not_found_as_aws_names_it(method: Any) -> Any:
        def wrapped(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, table_name, *args, **kwargs)
            except JsonRESTError as e:
                if e.error_type != "ResourceNotFound":
                    raise
                raise ResourceNotFoundException(
                    f"Requested resource not found: Table: {table_name} not found") from None
        return wrapped

    replace("moto.dynamodb.models", "DynamoDBBackend.describe_time_to_live",
            not_found_as_aws_names_it(DynamoDBBackend.describe_time_to_live))
    orig_ttl = not_found_as_aws_names_it(DynamoDBBackend.update_time_to_live)

    def update_time_to_live(self: Any, table_name: str, ttl_spec: dict[str, Any]) -> None:
        interval = config.get("dynamodb_ttl_change_interval")
        table = self.get_table(table_name)
        last = getattr(table, "_localaws_ttl_changed_at", None)
        if interval > 0 and last is not None and time.monotonic() - last < interval:
            from moto.dynamodb.exceptions import MockValidationException
            raise MockValidationException(
                "Time to live has been modified multiple times within a fixed interval")
        orig_ttl(self, table_name, ttl_spec)
        table._localaws_ttl_changed_at = time.monotonic()
        delay = config.get("dynamodb_ttl_delay") or config.get("table_delay")
        ttl = self.get_table(table_name).ttl
        final = ttl["TimeToLiveStatus"]
        # The last change wins: a change still in progress when another one comes must not
        # land after it (each carries its generation).
        generation = table.__dict__.get("_localaws_ttl_generation", 0) + 1
        table._localaws_ttl_generation = generation
        if delay > 0:
            ttl["TimeToLiveStatus"] = "ENABLING" if final == "ENABLED" else "DISABLING"

            def settle() -> None:
                if table.__dict__.get("_localaws_ttl_generation") == generation:
                    ttl["TimeToLiveStatus"] = final

            later(delay, settle)

    replace("moto.dynamodb.models", "DynamoDBBackend.update_time_to_live", update_time_to_live)
