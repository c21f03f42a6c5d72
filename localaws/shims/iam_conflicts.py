"""IAM conflicts on a role's policies (request hook).

- ``iam_conflict_window`` (s; 0 = off): AttachRolePolicy / DetachRolePolicy on a role
  while another policy change of that role (Attach/Detach/Put/DeleteRolePolicy) is in
  flight, or less than N s after one succeeded, answers 409 ``ConcurrentModification``:
  "The request was rejected because multiple requests to change this object were
  submitted simultaneously. Wait a few minutes and submit your request again." (IAM API
  reference, AttachRolePolicy / DetachRolePolicy errors; terraform-provider-aws retries
  ConcurrentModification for its propagation timeout).
- ``iam_delete_conflict`` (s; 0 = off): DeleteRole less than N s after a
  DetachRolePolicy / DeleteRolePolicy of that role succeeded answers 409
  ``DeleteConflict``: "Cannot delete entity, must detach all policies first." (IAM is
  eventually consistent, IAM user guide "Troubleshoot IAM" / "Changes that I make are
  not always immediately visible"; terraform-provider-aws retries DeleteConflict on
  DeleteRole).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..faults import query_error
from ..hooks import Request, Response

CONCURRENT_MSG = ("The request was rejected because multiple requests to change this object "
                  "were submitted simultaneously. Wait a few minutes and submit your request "
                  "again.")
DELETE_CONFLICT_MSG = "Cannot delete entity, must detach all policies first."

CHECKED = {"AttachRolePolicy", "DetachRolePolicy"}
POLICY_CHANGES = CHECKED | {"PutRolePolicy", "DeleteRolePolicy"}
REMOVALS = {"DetachRolePolicy", "DeleteRolePolicy"}


class IamConflicts:
    def __init__(self, config: Any):
        self.config = config
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._last_change: dict[str, float] = {}
        self._last_removal: dict[str, float] = {}

    def before(self, req: Request) -> Response | None:
        if req.service != "iam" or req.operation not in POLICY_CHANGES | {"DeleteRole"}:
            return None
        role = req.param("RoleName")
        if not role:
            return None
        now = time.monotonic()
        with self._lock:
            if req.operation == "DeleteRole":
                hold = self.config.get("iam_delete_conflict")
                if hold > 0 and now - self._last_removal.get(role, -1e18) < hold:
                    return query_error("iam", 409, "DeleteConflict", DELETE_CONFLICT_MSG)
                return None
            window = self.config.get("iam_conflict_window")
            if req.operation in CHECKED and window > 0 and (
                    self._in_flight.get(role, 0) > 0
                    or now - self._last_change.get(role, -1e18) < window):
                return query_error("iam", 409, "ConcurrentModification", CONCURRENT_MSG)
            self._in_flight[role] = self._in_flight.get(role, 0) + 1
            req.environ["localaws.iam_role_change"] = role
        return None

    def after(self, req: Request, status: int) -> None:
        role = req.environ.get("localaws.iam_role_change")
        if role is None:
            return
        now = time.monotonic()
        with self._lock:
            n = self._in_flight.get(role, 1) - 1
            if n > 0:
                self._in_flight[role] = n
            else:
                self._in_flight.pop(role, None)
            if status < 300:
                self._last_change[role] = now
                if req.operation in REMOVALS:
                    self._last_removal[role] = now
