"""Runs python Lambda functions without Docker: one subprocess per invocation.

Each invocation: the deployed zip (extracted once per code hash under
$LOCAL_AWS_DIR/lambda/code/), the configured handler, the function's env vars
plus Lambda's reserved ones, credentials/endpoint/CA pointing back to this
instance (with the Lambda access key id, so its calls are logged as source
"lambda"), killed at the function's timeout. Output (START/END/REPORT lines as
Lambda writes them) goes to CloudWatch Logs /aws/lambda/NAME, created if missing.

Asynchronous invocations (InvocationType Event, S3 notifications) run on a
worker pool; a failed one is retried twice (config async_retry_delay apart),
as Lambda does. Every attempt is recorded in $LOCAL_AWS_DIR/invocations.log.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import (LAMBDA_ACCESS_KEY_ID, LAMBDA_SECRET_ACCESS_KEY,
               LAMBDA_SESSION_TOKEN)
from .config import Config

BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambda_bootstrap.py")
ASYNC_ATTEMPTS = 3  # the first try and two retries


@dataclass
class InvokeResult:
    request_id: str
    ok: bool
    payload: bytes
    error_type: str | None = None
    log_text: str = ""
    duration_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class LambdaRunner:
    def __init__(self, state_dir: str, endpoint_url: str, ca_bundle: str, config: Config):
        self.state_dir = state_dir
        self.endpoint_url = endpoint_url
        self.ca_bundle = ca_bundle
        self.config = config
        self.code_root = os.path.join(state_dir, "lambda", "code")
        self.tmp_root = os.path.join(state_dir, "lambda", "tmp")
        os.makedirs(self.code_root, exist_ok=True)
        os.makedirs(self.tmp_root, exist_ok=True)
        self._lock = threading.Lock()
        self._logs_lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self._records: list[dict[str, Any]] = []
        self._inv_log = open(os.path.join(state_dir, "invocations.log"), "a", buffering=1)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lambda-async")
        self._stopping = threading.Event()
        self.pending = 0  # async invocations queued or running

    # ------------------------------------------------------------ public --

    def invoke_sync(self, fn: Any, payload: bytes) -> InvokeResult:
        res = self._run(fn, payload)
        self._record(fn, res, "RequestResponse", "invoke", 1)
        return res

    def invoke_async(self, fn_name: str, account_id: str, region: str, payload: bytes,
                     trigger: str) -> None:
        with self._lock:
            self.pending += 1
        self._pool.submit(self._async_job, fn_name, account_id, region, payload, trigger)

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)

    def shutdown(self) -> None:
        self._stopping.set()
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            try:
                p.kill()
            except OSError:
                pass
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._inv_log.close()

    # ----------------------------------------------------------- helpers --

    def _async_job(self, fn_name: str, account_id: str, region: str, payload: bytes,
                   trigger: str) -> None:
        from .shims.awslambda import function_state, get_function

        try:
            for attempt in range(1, ASYNC_ATTEMPTS + 1):
                if self._stopping.is_set():
                    return
                try:
                    fn = get_function(account_id, region, fn_name)
                except Exception:  # noqa: BLE001 - deleted meanwhile: the event is dropped
                    self._write_record({"function": fn_name, "invocation_type": "Event",
                                        "trigger": trigger, "attempt": attempt, "ok": False,
                                        "error_type": "ResourceNotFoundException"})
                    return
                # Lambda queues events for a function that is not Active yet.
                while function_state(fn) == "Pending" and not self._stopping.is_set():
                    time.sleep(0.05)
                res = self._run(fn, payload)
                self._record(fn, res, "Event", trigger, attempt)
                if res.ok or self._stopping.is_set():
                    return
                if attempt < ASYNC_ATTEMPTS:
                    self._stopping.wait(self.config.get("async_retry_delay"))
        finally:
            with self._lock:
                self.pending -= 1

    def _record(self, fn: Any, res: InvokeResult, inv_type: str, trigger: str, attempt: int) -> None:
        self._write_record({
            "function": fn.function_name, "request_id": res.request_id,
            "invocation_type": inv_type, "trigger": trigger, "attempt": attempt,
            "ok": res.ok, "error_type": res.error_type,
            "duration_ms": round(res.duration_ms, 1),
        })

    def _write_record(self, rec: dict[str, Any]) -> None:
        rec["ts"] = round(time.time(), 3)
        with self._lock:
            self._records.append(rec)
            del self._records[:-2000]
            try:
                self._inv_log.write(json.dumps(rec) + "\n")
            except ValueError:
                pass

    def _code_dir(self, fn: Any) -> str:
        code = fn.code_bytes or b""
        digest = hashlib.sha256(code).hexdigest()
        target = os.path.join(self.code_root, digest)
        with self._lock:
            if not os.path.isdir(target):
                tmp = target + ".tmp-" + uuid.uuid4().hex[:8]
                os.makedirs(tmp)
                with zipfile.ZipFile(io.BytesIO(code)) as zf:
                    zf.extractall(tmp)
                os.rename(tmp, target)
        return target

    def _env(self, fn: Any, code_dir: str, stream: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "HOME": os.environ.get("HOME", "/tmp"),
        }
        env.update({str(k): str(v) for k, v in (fn.environment_vars or {}).items()})
        env.update({
            # Lambda's reserved variables
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
            "LAMBDA_TASK_ROOT": code_dir,
            "_HANDLER": fn.handler or "",
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "AWS_ACCESS_KEY_ID": LAMBDA_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": LAMBDA_SECRET_ACCESS_KEY,
            "AWS_SESSION_TOKEN": LAMBDA_SESSION_TOKEN,
            # pointing back to this instance
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_CA_BUNDLE": self.ca_bundle,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "LOCALAWS_INVOKED_FUNCTION_ARN": fn.function_arn,
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        return env

    def _run(self, fn: Any, payload: bytes) -> InvokeResult:
        request_id = str(uuid.uuid4())
        now = datetime.datetime.now(datetime.timezone.utc)
        stream = f"{now:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        lines: list[tuple[int, str]] = []

        def log(msg: str) -> None:
            lines.append((int(time.time() * 1000), msg))

        log(f"START RequestId: {request_id} Version: $LATEST")
        t0 = time.monotonic()
        runtime = fn.run_time or ""
        if not runtime.startswith("python") or getattr(fn, "package_type", "Zip") != "Zip":
            err = {"errorMessage": f"local-aws runs only python zip functions, not {runtime or fn.package_type}",
                   "errorType": "Runtime.InvalidRuntime"}
            res = InvokeResult(request_id, False, json.dumps(err).encode(), err["errorType"])
        else:
            res = self._run_python(fn, payload, request_id, stream, log)
        res.duration_ms = (time.monotonic() - t0) * 1000.0
        log(f"END RequestId: {request_id}")
        billed = int(-(-res.duration_ms // 1))
        log(f"REPORT RequestId: {request_id}\tDuration: {res.duration_ms:.2f} ms\t"
            f"Billed Duration: {billed} ms\tMemory Size: {fn.memory_size} MB\t"
            f"Max Memory Used: {fn.memory_size} MB")
        res.log_text = "\n".join(m for _, m in lines) + "\n"
        self._ship_logs(fn, stream, lines)
        return res

    def _run_python(self, fn: Any, payload: bytes, request_id: str, stream: str, log) -> InvokeResult:
        try:
            code_dir = self._code_dir(fn)
        except (zipfile.BadZipFile, OSError) as e:
            err = {"errorMessage": f"Could not unzip the function's code: {e}",
                   "errorType": "Runtime.InvalidEntrypoint"}
            return InvokeResult(request_id, False, json.dumps(err).encode(), err["errorType"])
        timeout = float(fn.timeout or 3)
        tmp = os.path.join(self.tmp_root, request_id)
        os.makedirs(tmp)
        result_path = os.path.join(tmp, "result.json")
        deadline_ms = time.time() * 1000 + timeout * 1000
        cmd = [sys.executable, "-I", "-u", BOOTSTRAP, code_dir, fn.handler or "",
               result_path, request_id, str(deadline_ms)]
        timed_out = False
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, env=self._env(fn, code_dir, stream),
                                    cwd=code_dir)
            with self._lock:
                self._procs.add(proc)
            try:
                out, _ = proc.communicate(payload or b"{}", timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                proc.kill()
                out, _ = proc.communicate()
            finally:
                with self._lock:
                    self._procs.discard(proc)
            for line in out.decode("utf-8", "replace").splitlines():
                log(line)
            if timed_out:
                msg = f"Task timed out after {timeout:.2f} seconds"
                log(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%M:%S.%f}"[:-3]
                    + f"Z {request_id} {msg}")
                err = {"errorType": "Sandbox.Timedout",
                       "errorMessage": f"RequestId: {request_id} Error: {msg}"}
                return InvokeResult(request_id, False, json.dumps(err).encode(), err["errorType"])
            try:
                with open(result_path) as f:
                    outcome = json.load(f)
            except (OSError, ValueError):
                err = {"errorType": "Runtime.ExitError",
                       "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {proc.returncode}"}
                log(err["errorMessage"])
                return InvokeResult(request_id, False, json.dumps(err).encode(), err["errorType"])
            if outcome.get("ok"):
                return InvokeResult(request_id, True, json.dumps(outcome["result"]).encode())
            err = outcome["error"]
            return InvokeResult(request_id, False, json.dumps(err).encode(), err.get("errorType"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _ship_logs(self, fn: Any, stream: str, lines: list[tuple[int, str]]) -> None:
        from moto.logs.models import logs_backends

        group = f"/aws/lambda/{fn.function_name}"
        try:
            backend = logs_backends[fn.account_id][fn.region]
            with self._logs_lock:
                if group not in backend.groups:
                    # Lambda creates its log group on the first write (no retention).
                    backend.create_log_group(group, tags={})
                backend.create_log_stream(group, stream)
                backend.put_log_events(group, stream, [
                    {"timestamp": ts, "message": msg} for ts, msg in lines])
        except Exception as e:  # noqa: BLE001 - logging must not fail the invocation
            print(f"localaws: could not write logs to {group}: {e!r}", file=sys.stderr)


def log_tail(text: str) -> str:
    """x-amz-log-result: base64 of the last 4 KB of the invocation's log."""
    return base64.b64encode(text.encode()[-4096:]).decode()
