"""Capacity-mode switches (knobs ``dynamodb_on_demand_switches``, default 4, and
``dynamodb_switch_window``, default 86400 s; on in every profile): UpdateTable that
switches a table from PROVISIONED to PAY_PER_REQUEST is allowed N times per table in a
rolling window; one more answers 400 ``LimitExceededException`` and changes nothing.

Sources: DynamoDB developer guide, "Considerations when switching capacity modes in
DynamoDB": "You can switch tables from provisioned capacity mode to on-demand mode up to
four times in a 24-hour rolling window. You can switch tables from on-demand mode to
provisioned capacity mode at any time." The message is DynamoDB's, as quoted from the
days of the once-a-day limit (serverless users, 2019; aws-amplify/amplify-cli #1054):
"Subscriber limit exceeded: Update to PayPerRequest mode are limited to once in 1 day(s).
Last update at Sat Feb 23 03:07:45 UTC 2019. Next update can be made at Sun Feb 24
03:07:45 UTC 2019". With a limit N > 1 "once" reads "N times" here (an extrapolation: no
newer message was found); "Last update" is the latest switch, "Next update" when the
oldest switch in the window leaves it.

Switching to PROVISIONED, and UpdateTable naming PAY_PER_REQUEST for a table already
on demand, are not switches and are never limited. The history lives on moto's table
object: a re-created table starts afresh. ``dynamodb_on_demand_switches: 0`` turns the
limit off. moto 5.2.5 has no limit.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .. import context
from ..patching import replace

_ATTR = "_localaws_on_demand_switches"
_lock = threading.Lock()


def _fmt(ts: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(ts))


def limit_message(limit: int, window: float, last: float, next_at: float) -> str:
    times = "once" if limit == 1 else f"{limit} times"
    if window % 86400 == 0:
        span = f"{int(window // 86400)} day(s)"
    else:
        span = f"{window:g} second(s)"
    return (f"Subscriber limit exceeded: Update to PayPerRequest mode are limited to {times} "
            f"in {span}. Last update at {_fmt(last)}. Next update can be made at "
            f"{_fmt(next_at)}")


def install(runner: Any, config: Any) -> None:
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.models import DynamoDBBackend

    class LimitExceeded(JsonRESTError):
        def __init__(self, message: str):
            super().__init__(ERROR_TYPE_PREFIX + "LimitExceededException", message)

    orig_update = DynamoDBBackend.update_table

    def update_table(self: Any, name: str, attr_definitions: Any, global_index: Any,
                     throughput: Any, billing_mode: str, *args: Any, **kwargs: Any) -> Any:
        limit = int(config.get("dynamodb_on_demand_switches"))
        if billing_mode != "PAY_PER_REQUEST" or context.listener() is None:
            return orig_update(self, name, attr_definitions, global_index, throughput,
                               billing_mode, *args, **kwargs)
        table = self.get_table(name)
        if (table.billing_mode or "PROVISIONED") == "PAY_PER_REQUEST":
            return orig_update(self, name, attr_definitions, global_index, throughput,
                               billing_mode, *args, **kwargs)
        window = float(config.get("dynamodb_switch_window"))
        with _lock:
            now = time.time()
            history = [t for t in getattr(table, _ATTR, []) if now - t < window]
            if limit > 0 and len(history) >= limit:
                raise LimitExceeded(limit_message(limit, window, history[-1],
                                                  history[0] + window))
            result = orig_update(self, name, attr_definitions, global_index, throughput,
                                 billing_mode, *args, **kwargs)
            history.append(now)
            setattr(table, _ATTR, history)
            return result

    replace("moto.dynamodb.models", "DynamoDBBackend.update_table", update_table)
