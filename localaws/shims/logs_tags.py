"""CloudWatch Logs shim: tags die with their log group.

moto 5.2.5 keeps log group tags in a tagger keyed by the group's ARN, and
DeleteLogGroup does not clear them: a group re-created under the same name (by
CreateLogGroup, or by Lambda on its first log write) would show the deleted
group's tags. In CloudWatch Logs a new group starts without tags; tapctl's
ownership rule ("tags are the state") depends on it.

moto also answers ListTagsForResource / TagResource / UntagResource on the ARN of a log
group that does not exist (an empty tag set; tags stored for nothing). CloudWatch Logs
answers 400 ``ResourceNotFoundException`` (CloudWatch Logs API reference, each call's
Errors section): a reader racing a create or a delete must see "no group", not an
untagged one.
"""

from __future__ import annotations

from typing import Any

from ..patching import replace


def install(runner: Any, config: Any) -> None:
    from moto.logs.models import LogsBackend

    orig_delete = LogsBackend.delete_log_group

    def delete_log_group(self: Any, log_group_name: str) -> None:
        group = self.groups.get(log_group_name)
        orig_delete(self, log_group_name)
        if group is not None:
            self.tagger.delete_all_tags_for_resource(group.arn)

    replace("moto.logs.models", "LogsBackend.delete_log_group", delete_log_group)

    from moto.logs.exceptions import ResourceNotFoundException

    def group_must_exist(method: Any) -> Any:
        def wrapped(self: Any, arn: str, *args: Any, **kwargs: Any) -> Any:
            if ":log-group:" in arn:
                name = arn.split(":log-group:", 1)[1].removesuffix(":*")
                if name not in self.groups:
                    raise ResourceNotFoundException()
            return method(self, arn, *args, **kwargs)
        return wrapped

    replace("moto.logs.models", "LogsBackend.list_tags_for_resource",
            group_must_exist(LogsBackend.list_tags_for_resource))
    replace("moto.logs.models", "LogsBackend.tag_resource",
            group_must_exist(LogsBackend.tag_resource))
    replace("moto.logs.models", "LogsBackend.untag_resource",
            group_must_exist(LogsBackend.untag_resource))
