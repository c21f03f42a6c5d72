"""The request log: ``$LOCAL_AWS_DIR/requests.log``, one JSON object a line.

Each API call handled by the instance (control-endpoint calls excluded) is
logged once the response is produced:

    {"service": "s3", "operation": "PutObject", "listener": "tls", "source": "client",
     "write": true, "status": 200, "ms": 12.3, "fault": null, "ts": 1700000000.123}

service   s3 | dynamodb | iam | sts | lambda | logs (SigV4 signing name)
operation the AWS API operation name (CreateBucket, PutItem, CreateRole, Invoke...)
status    HTTP status returned
ms        time spent in the server, injected latency included
listener  tls | http
source    client | lambda (requests signed with the key handed to Lambda functions)
write     true when the operation writes (``is_write`` below), false for a read
fault     null, or "throttle" / "5xx" when the answer was an injected fault
expected_owner  S3 only, when the request carried ``x-amz-expected-bucket-owner``: its
          account id (absent otherwise)

Write classification (``is_write``): an operation is a write when its name
starts with one of WRITE_PREFIXES (Create, Put, Update, Delete, Attach,
Detach, Add, Remove, Tag, Untag, Enable, Disable, Abort, Invoke, Upload, Copy,
Complete, Publish, Set, Associate, Disassociate, Restore, Start, Stop, Reset,
Change, Modify, Register, Deregister, Import, Send, BatchWrite, TransactWrite,
Execute), plus PostObject. Everything else (Get, List, Describe, Head, Query,
Scan, BatchGet, TransactGet, Filter, Test, AssumeRole, ...) is a read.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Iterable

WRITE_PREFIXES = (
    "Create", "Put", "Update", "Delete", "Attach", "Detach", "Add", "Remove",
    "Tag", "Untag", "Enable", "Disable", "Abort", "Invoke", "Upload", "Copy",
    "Complete", "Publish", "Set", "Associate", "Disassociate", "Restore",
    "Start", "Stop", "Reset", "Change", "Modify", "Register", "Deregister",
    "Import", "Send", "BatchWrite", "TransactWrite", "Execute",
)
WRITE_OPERATIONS = {"PostObject"}


def is_write(operation: str) -> bool:
    return operation in WRITE_OPERATIONS or operation.startswith(WRITE_PREFIXES)


class RequestLogWriter:
    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._f = open(path, "a", buffering=1, encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            self._f.write(line + "\n")
            self._f.flush()

    def close(self) -> None:
        with self._lock:
            self._f.close()


def log_path(state_dir: str | None = None) -> str:
    state_dir = state_dir or os.environ["LOCAL_AWS_DIR"]
    return os.path.join(state_dir, "requests.log")


def read(state_dir: str | None = None) -> list[dict[str, Any]]:
    """All records so far (state_dir defaults to $LOCAL_AWS_DIR)."""
    path = log_path(state_dir)
    if not os.path.exists(path):
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


class Mark:
    """Remember the log's length now; ``since()`` returns what came after.

        mark = requestlog.Mark()
        run_converged_deploy()
        assert requestlog.writes(mark.since(), source="client") == []
    """

    def __init__(self, state_dir: str | None = None):
        self.state_dir = state_dir
        self.count = len(read(state_dir))

    def since(self) -> list[dict[str, Any]]:
        return read(self.state_dir)[self.count:]


def writes(records: Iterable[dict[str, Any]], source: str | None = "client") -> list[dict[str, Any]]:
    """The write calls among records (only from ``source`` unless None)."""
    return [r for r in records
            if r.get("write", is_write(r["operation"]))
            and (source is None or r.get("source") == source)]


def main(argv: list[str] | None = None) -> int:
    """python -m localaws.requestlog [--writes] [--source client|lambda] [DIR]"""
    import argparse

    p = argparse.ArgumentParser(prog="python -m localaws.requestlog")
    p.add_argument("dir", nargs="?", default=None)
    p.add_argument("--writes", action="store_true", help="only write calls")
    p.add_argument("--source", default=None, help="client or lambda")
    a = p.parse_args(argv)
    recs = read(a.dir)
    if a.source:
        recs = [r for r in recs if r.get("source") == a.source]
    if a.writes:
        recs = writes(recs, source=None)
    for r in recs:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
