"""DynamoDB table tags: eventually consistent, paged, and overwritten by key.

- ``dynamodb_tags_lag`` (s; 0 = off): ListTagsOfResource answers the table's tags as
  they were N s ago: no tags for N s after CreateTable (even with ``Tags``), the
  previous set for N s after TagResource / UntagResource. "TagResource and
  UntagResource ... are eventually consistent" since August 2024 (DynamoDB developer
  guide, "Tagging resources"; terraform-provider-aws PR #39326 waits for tags after
  create/update for this).
- ``dynamodb_tags_page_size`` (default 10, moto's): ListTagsOfResource answers at most
  N tags and a ``NextToken`` for the rest (DynamoDB API reference, ListTagsOfResource:
  "NextToken ... If this value is returned, there are additional results").
- TagResource with a key the table already has replaces its value (moto 5.2.5 appended
  a second tag with the same key).
"""

from __future__ import annotations

import time
from typing import Any

from ..patching import replace


def _snapshot(table: Any) -> None:
    hist = table.__dict__.setdefault("_la_tag_history", [])
    hist.append((time.monotonic(), [dict(t) for t in table.tags or []]))
    if len(hist) > 64:
        del hist[:-64]


def visible_tags(table: Any, lag: float) -> list[dict[str, str]]:
    if lag <= 0:
        return list(table.tags or [])
    hist = getattr(table, "_la_tag_history", None)
    if not hist:
        return list(table.tags or [])
    cutoff = time.monotonic() - lag
    seen: list[dict[str, str]] = []
    for t, tags in hist:
        if t > cutoff:
            break
        seen = tags
    return [dict(t) for t in seen]


def install(runner: Any, config: Any) -> None:
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler

    def _table_by_arn(self: Any, arn: str) -> Any:
        for table in self.tables.values():
            if table.table_arn == arn:
                return table
        return None

    orig_create = DynamoDBBackend.create_table

    def create_table(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        table = orig_create(self, name, *args, **kwargs)
        _snapshot(table)
        return table

    replace("moto.dynamodb.models", "DynamoDBBackend.create_table", create_table)

    def tag_resource(self: Any, arn: str, tags: dict[str, str]) -> None:
        table = _table_by_arn(self, arn)
        if table is None:
            return
        kept = [t for t in table.tags if t["Key"] not in tags]
        table.tags = kept + [{"Key": k, "Value": v} for k, v in tags.items()]
        _snapshot(table)

    replace("moto.dynamodb.models", "DynamoDBBackend.tag_resource", tag_resource)

    orig_untag = DynamoDBBackend.untag_resource

    def untag_resource(self: Any, arn: str, tag_keys: list[str]) -> None:
        orig_untag(self, arn, tag_keys)
        table = _table_by_arn(self, arn)
        if table is not None:
            _snapshot(table)

    replace("moto.dynamodb.models", "DynamoDBBackend.untag_resource", untag_resource)

    def list_tags_of_resource(self: Any) -> Any:
        arn = self.body["ResourceArn"]
        table = _table_by_arn(self.dynamodb_backend, arn)
        if table is None:
            raise ResourceNotFoundException()
        tags = visible_tags(table, config.get("dynamodb_tags_lag"))
        size = config.get("dynamodb_tags_page_size")
        try:
            start = int(self.body.get("NextToken") or 0)
        except ValueError:
            start = 0
        page = tags[start:start + size]
        out: dict[str, Any] = {"Tags": page}
        if start + size < len(tags):
            out["NextToken"] = str(start + size)
        return ActionResult(out)

    replace("moto.dynamodb.responses", "DynamoHandler.list_tags_of_resource",
            list_tags_of_resource)
