"""SQS queue deletion as SQS does it (knobs ``sqs_delete_lag`` and ``sqs_name_hold``, s):

12. ``sqs_delete_lag``: for N s after DeleteQueue the queue still answers: GetQueueUrl,
    GetQueueAttributes, ListQueueTags, ListQueues, SendMessage... see it as it was; then it
    is gone (QueueDoesNotExist). DeleteQueue again meanwhile succeeds.
    Source: SQS API reference, DeleteQueue: "When you delete a queue, the deletion process
    takes up to 60 seconds. Requests you send involving that queue during the 60 seconds
    might succeed. For example, a SendMessage request might succeed, but after the 60
    seconds the queue and the message you sent no longer exist." terraform-provider-aws
    waits for it (internal/service/sqs/wait.go, ``waitQueueDeleted``: up to 3 minutes,
    12 consecutive not-found answers).
13. ``sqs_name_hold``: for N s after DeleteQueue, CreateQueue of that name (in that
    account and region) answers 400 ``QueueDeletedRecently`` "You must wait 60 seconds
    after deleting a queue before you can create another queue with the same name."
    Source: SQS API reference, CreateQueue ("After you delete a queue, you must wait at
    least 60 seconds before creating a queue with the same name") and its Errors section;
    terraform-provider-aws retries CreateQueue on it for 70 s (``queueCreatedTimeout``).
    CreateQueue while the deleted queue still answers (12) is refused the same way.

moto 5.2.5 deletes a queue at once and frees its name.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..patching import replace

HOLD_MESSAGE = ("You must wait 60 seconds after deleting a queue before you can create another "
                "queue with the same name.")

_lock = threading.Lock()


def install(runner: Any, config: Any) -> None:
    from moto.sqs.exceptions import SQSException
    from moto.sqs.models import SQSBackend

    class QueueDeletedRecently(SQSException):
        def __init__(self) -> None:
            super().__init__("QueueDeletedRecently", HOLD_MESSAGE)

    def deleted(backend: Any) -> dict[str, float]:
        # name -> when DeleteQueue was called, per account and region (one backend each)
        if not hasattr(backend, "_la_deleted"):
            backend._la_deleted = {}
        return backend._la_deleted

    orig_delete = SQSBackend.delete_queue

    def delete_queue(self: Any, queue_name: str) -> None:
        lag = config.get("sqs_delete_lag")
        hold = config.get("sqs_name_hold")
        with _lock:
            queue = self.get_queue(queue_name)
            if queue_name in deleted(self) and lag > 0:
                return  # already being deleted
            if hold > 0 or lag > 0:
                deleted(self)[queue_name] = time.monotonic()
            if lag <= 0:
                orig_delete(self, queue_name)
                return

        def drop() -> None:
            with _lock:
                if self.queues.get(queue_name) is queue:
                    del self.queues[queue_name]

        t = threading.Timer(lag, drop)
        t.daemon = True
        t.start()

    replace("moto.sqs.models", "SQSBackend.delete_queue", delete_queue)

    orig_create = SQSBackend.create_queue

    def create_queue(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            at = deleted(self).get(name)
            if at is not None:
                held_until = at + max(config.get("sqs_name_hold"), 0.0)
                still_there = name in self.queues
                if still_there or time.monotonic() < held_until:
                    raise QueueDeletedRecently()
                del deleted(self)[name]
        return orig_create(self, name, *args, **kwargs)

    replace("moto.sqs.models", "SQSBackend.create_queue", create_queue)
