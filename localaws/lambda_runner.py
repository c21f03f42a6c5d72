"""Runs python Lambda functions without Docker: one process per invocation.

Each invocation: the deployed zip (extracted once per code hash under
$LOCAL_AWS_DIR/lambda/code/), the configured handler, the function's env vars
plus Lambda's reserved ones, credentials/endpoint/CA pointing back to this
instance (with the Lambda access key id, so its calls are logged as source
"lambda"), killed at the function's timeout. Output (START/END/REPORT lines as
Lambda writes them) goes to CloudWatch Logs /aws/lambda/NAME, created if missing.

The process is a child forked by a per-instance fork server (lambda_forkserver.py,
started on the first invocation, boto3 already imported, no user code ever
imported), which saves the interpreter start and `import boto3` of a fresh
`python lambda_bootstrap.py` (the plain subprocess path, still used when the fork
server cannot be started or LOCAL_AWS_LAMBDA_FORKSERVER=0). A fork server that
died is restarted on the next invocation.

Asynchronous invocations (InvocationType Event, S3 notifications) run on a
worker pool, as Lambda runs them: retried per the function's event invoke config
(MaximumRetryAttempts, default 2; MaximumEventAgeInSeconds, default 6 h), the
waits (AWS: 1 min, then 2 min) scaled by the knob async_retry_delay; an event
exhausted goes to the on-failure destination (shims/lambda_destinations.py).
Every attempt is recorded in $LOCAL_AWS_DIR/invocations.log.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import os
import selectors
import shutil
import socket
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
FORKSERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambda_forkserver.py")
FORKSERVER_START_TIMEOUT = 20.0  # s: imports on a loaded machine
FORKSERVER_RETRY_AFTER = 30.0  # s on the plain path after a failed start
KILL_GRACE = 5.0  # s to collect output after a kill


class NotDelivered(Exception):
    """The fork server did not get (or could not fork for) the request: nothing ran."""


class _Job:
    __slots__ = ("rid", "pid", "status", "lost", "error", "started", "done")

    def __init__(self, rid: int):
        self.rid = rid
        self.pid: int | None = None
        self.status: int | None = None  # wait status
        self.lost = False  # the fork server died before reporting the exit
        self.error: str | None = None
        self.started = threading.Event()
        self.done = threading.Event()


class ForkServer:
    """Client side of one lambda_forkserver.py process (see its docstring)."""

    def __init__(self, env: dict[str, str]):
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._send_lock = threading.Lock()
        self._jobs: dict[int, _Job] = {}
        self._jobs_lock = threading.Lock()
        self._next = 0
        self.dead = False
        self.ready = threading.Event()
        try:
            # Same process group as the server: `stop` kills it with everything else.
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-u", FORKSERVER, str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env,
                cwd=os.path.dirname(FORKSERVER))
        except BaseException:
            self._sock.close()
            raise
        finally:
            theirs.close()
        self.pid = self.proc.pid
        threading.Thread(target=self._reader, daemon=True, name="lambda-forkserver").start()

    def _reader(self) -> None:
        try:
            while True:
                msg = self._sock.recv(65536)
                if not msg:
                    break
                m = json.loads(msg)
                if "ready" in m:
                    self.ready.set()
                    continue
                with self._jobs_lock:
                    job = self._jobs.get(m["id"])
                if job is None:
                    continue
                if "pid" in m:
                    job.pid = m["pid"]
                    job.started.set()
                else:
                    if "error" in m:
                        job.error = m["error"]
                        job.started.set()
                    else:
                        job.status = m["status"]
                    with self._jobs_lock:
                        self._jobs.pop(job.rid, None)
                    job.done.set()
        except (OSError, ValueError, KeyError) as e:
            print(f"localaws: Lambda fork server connection: {e!r}", file=sys.stderr, flush=True)
        self._died()

    def _died(self) -> None:
        with self._jobs_lock:
            self.dead = True  # under the lock: spawn() registers no job after this
            jobs = list(self._jobs.values())
            self._jobs.clear()
        self.ready.set()
        for job in jobs:
            job.lost = True
            job.started.set()
            job.done.set()
        self.close()  # reaps it (and ends it when only the reader failed)

    def _send(self, msg: dict, fds: list[int] | None = None) -> None:
        data = json.dumps(msg).encode()
        with self._send_lock:
            if fds:
                socket.send_fds(self._sock, [data], fds)
            else:
                self._sock.send(data)

    def spawn(self, argv: list[str], env: dict[str, str], fds: list[int]) -> _Job:
        """Fork a child running lambda_bootstrap with argv/env; fds = its stdin (read end)
        and stdout (write end). Returns once it runs; NotDelivered when nothing ran."""
        with self._jobs_lock:
            if self.dead:
                raise NotDelivered("the fork server is dead")
            self._next += 1
            job = _Job(self._next)
            self._jobs[job.rid] = job
        try:
            self._send({"run": job.rid, "argv": argv, "env": env}, fds)
        except OSError as e:
            with self._jobs_lock:
                self._jobs.pop(job.rid, None)
            raise NotDelivered(f"could not reach the fork server: {e}") from e
        if not job.started.wait(FORKSERVER_START_TIMEOUT):
            self.close()  # hung: kill it (a child it forked dies with it)
            raise NotDelivered("the fork server did not answer")
        if job.error is not None:
            raise NotDelivered(job.error)
        if job.pid is None:
            # It died before reporting a fork: the child, if there was one, got SIGKILL
            # (PR_SET_PDEATHSIG) at once, almost surely before it got to the handler.
            raise NotDelivered("the fork server died")
        return job

    def kill(self, job: _Job) -> None:
        try:
            self._send({"kill": job.rid})
        except OSError:
            pass  # dead: its children got SIGKILL (PR_SET_PDEATHSIG)

    def close(self) -> None:
        """EOF to the fork server: it kills and reaps its children and exits; SIGKILL if
        it has not within 3 s. Reaped here (the server's init may never reap orphans)."""
        self.dead = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass


def _pump(in_w: int | None, out_r: int, data: bytes, deadline: float) -> tuple[bytes, bool]:
    """Write data to in_w (then close it) while reading out_r, until EOF on out_r or the
    deadline (time.monotonic()). Returns (what was read, whether EOF was reached)."""
    chunks: list[bytes] = []
    eof = False
    view = memoryview(data)
    pos = 0
    with selectors.DefaultSelector() as sel:
        if in_w is not None:
            if data:
                os.set_blocking(in_w, False)
                sel.register(in_w, selectors.EVENT_WRITE)
            else:
                os.close(in_w)
                in_w = None
        sel.register(out_r, selectors.EVENT_READ)
        try:
            while not eof:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                for key, _ in sel.select(remaining):
                    if key.fd == out_r:
                        b = os.read(out_r, 65536)
                        if b:
                            chunks.append(b)
                        else:
                            eof = True
                            sel.unregister(out_r)
                    else:
                        try:
                            pos += os.write(in_w, view[pos:pos + 65536])
                        except BrokenPipeError:
                            pos = len(data)
                        if pos >= len(data):
                            sel.unregister(in_w)
                            os.close(in_w)
                            in_w = None
        finally:
            if in_w is not None:
                os.close(in_w)
    return b"".join(chunks), eof


@dataclass
class InvokeResult:
    request_id: str
    ok: bool
    payload: bytes
    error_type: str | None = None
    log_text: str = ""
    duration_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _AsyncEvent:
    fn_name: str
    account_id: str
    region: str
    payload: bytes
    trigger: str
    request_id: str
    attempts: int = 0
    started: float | None = None  # when a worker first took it (time.monotonic())
    waited: float = 0.0    # real seconds of retry waits so far
    nominal: float = 0.0   # the AWS seconds those waits stand for (60, 120)
    last: InvokeResult | None = None

    def age(self) -> float:
        """The event's age in AWS seconds: time since a worker first took it (the local
        AWS's few workers are not Lambda's scaling: waiting for one does not count),
        with the retry waits counted at AWS's length."""
        if self.started is None:
            return 0.0
        return time.monotonic() - self.started - self.waited + self.nominal


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
        self.pending = 0  # async events queued, running or waiting for a retry
        self.reqlog: Any = None  # the request log (set by the server): destination deliveries
        self._fs: ForkServer | None = None
        self._fs_lock = threading.Lock()
        self._fs_retry_at = 0.0
        self.use_forkserver = os.environ.get("LOCAL_AWS_LAMBDA_FORKSERVER", "1") != "0"

    # ------------------------------------------------------------ public --

    def invoke_sync(self, fn: Any, payload: bytes) -> InvokeResult:
        res = self._run(fn, payload)
        self._record(fn, res, "RequestResponse", "invoke", 1)
        return res

    def invoke_async(self, fn_name: str, account_id: str, region: str, payload: bytes,
                     trigger: str) -> str:
        """Queue an Event invocation; returns its request id (the same for every attempt,
        as Lambda's retries keep it)."""
        ev = _AsyncEvent(fn_name, account_id, region, payload, trigger, str(uuid.uuid4()))
        with self._lock:
            self.pending += 1
        self._pool.submit(self._async_job, ev)
        return ev.request_id

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
        fs = self._fs
        if fs is not None:
            fs.close()  # it kills and reaps its children, then exits
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._inv_log.close()

    # ----------------------------------------------------------- helpers --

    def _async_job(self, ev: "_AsyncEvent") -> None:
        """One attempt of an asynchronous event (on a pool worker); a failed attempt is
        scheduled again (a timer, so the wait holds no worker) or, when its retries or its
        age are exhausted, its record goes to the on-failure destination."""
        from .shims import lambda_destinations as dest
        from .shims.lambda_states import function_state, get_function, touch

        done = True
        try:
            if self._stopping.is_set():
                return
            try:
                fn = get_function(ev.account_id, ev.region, ev.fn_name)
            except Exception:  # noqa: BLE001 - deleted meanwhile: the event is dropped
                self._write_record({"function": ev.fn_name, "request_id": ev.request_id,
                                    "invocation_type": "Event", "trigger": ev.trigger,
                                    "attempt": ev.attempts + 1, "ok": False,
                                    "error_type": "ResourceNotFoundException"})
                return
            # Lambda queues events for a function that is not Active yet.
            while function_state(fn) == "Pending" and not self._stopping.is_set():
                time.sleep(0.05)
            max_retries, max_age, dest_arn = dest.async_settings(fn)
            if ev.started is None:
                ev.started = time.monotonic()
            if ev.age() > max_age:
                self._exhausted(fn, ev, "EventAgeExceeded", dest_arn)
                return
            touch(fn)  # an event wakes an Inactive function
            ev.attempts += 1
            res = self._run(fn, ev.payload, ev.request_id)
            ev.last = res
            self._record(fn, res, "Event", ev.trigger, ev.attempts)
            if res.ok or self._stopping.is_set():
                return
            if ev.attempts > max_retries:
                self._exhausted(fn, ev, "RetriesExhausted", dest_arn)
                return
            # AWS waits 1 min, then 2 min; here async_retry_delay, then twice that. The age
            # counts AWS's waits, so an event that would be too old at its next attempt is
            # not retried.
            i = min(ev.attempts - 1, len(dest.AWS_RETRY_DELAYS) - 1)
            if ev.age() + dest.AWS_RETRY_DELAYS[i] > max_age:
                self._exhausted(fn, ev, "EventAgeExceeded", dest_arn)
                return
            delay = float(self.config.get("async_retry_delay")) * (2 ** i)
            ev.waited += delay
            ev.nominal += dest.AWS_RETRY_DELAYS[i]
            done = False
            t = threading.Timer(delay, self._resubmit, args=(ev,))
            t.daemon = True
            t.start()
        finally:
            if done:
                with self._lock:
                    self.pending -= 1

    def _resubmit(self, ev: "_AsyncEvent") -> None:
        try:
            if self._stopping.is_set():
                raise RuntimeError("stopping")
            self._pool.submit(self._async_job, ev)
        except RuntimeError:  # the pool is shut down
            with self._lock:
                self.pending -= 1

    def _exhausted(self, fn: Any, ev: "_AsyncEvent", condition: str, dest_arn: str | None) -> None:
        """Lambda gives the event up: to the on-failure destination, if any, else dropped."""
        from .shims import lambda_destinations as dest

        rec: dict[str, Any] = {"function": fn.function_name, "request_id": ev.request_id,
                               "invocation_type": "Event", "trigger": ev.trigger,
                               "attempt": ev.attempts, "ok": False, "condition": condition,
                               "destination": dest_arn}
        if dest_arn:
            record = dest.invocation_record(fn, ev.request_id, condition, ev.attempts,
                                            ev.payload, ev.last)
            ok, reason = dest.deliver(fn, dest_arn, record, self.config, self.reqlog)
            rec["delivered"] = ok
            if not ok:
                from .shims import cloudwatch_metrics

                cloudwatch_metrics.delivery_failure(fn)
                rec["delivery_error"] = reason
                print(f"localaws: {fn.function_name}: {condition}, the record for request "
                      f"{ev.request_id} is dropped: {reason}", file=sys.stderr, flush=True)
        else:
            rec["delivered"] = False
            rec["delivery_error"] = "no on-failure destination: the event is dropped"
        rec["error_type"] = ev.last.error_type if ev.last is not None else None
        self._write_record(rec)

    def _record(self, fn: Any, res: InvokeResult, inv_type: str, trigger: str, attempt: int) -> None:
        from .shims import cloudwatch_metrics

        cloudwatch_metrics.invocation(fn, res.ok, res.duration_ms)
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
        from .shims.lambda_layers import python_paths, runtime_site

        env["LOCALAWS_RUNTIME_SITE"] = runtime_site(self.state_dir)
        paths = python_paths(fn)
        if paths:
            env["LOCALAWS_LAYER_PATHS"] = os.pathsep.join(paths)
        return env

    def _run(self, fn: Any, payload: bytes, request_id: str | None = None) -> InvokeResult:
        request_id = request_id or str(uuid.uuid4())
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

    def _forkserver(self) -> ForkServer | None:
        """The live fork server, started (or restarted) if need be; None when it cannot
        be had (the plain subprocess path is used then)."""
        if not self.use_forkserver or self._stopping.is_set():
            return None
        with self._fs_lock:
            fs = self._fs
            if fs is not None and not fs.dead:
                return fs
            if time.monotonic() < self._fs_retry_at:
                return None
            if fs is not None:
                print(f"localaws: the Lambda fork server (pid {fs.pid}) died; restarting it",
                      file=sys.stderr, flush=True)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                   "TZ": ":UTC", "HOME": os.environ.get("HOME", "/tmp"),
                   "PYTHONDONTWRITEBYTECODE": "1"}
            try:
                fs = ForkServer(env)
            except OSError as e:
                fs = None
                err = repr(e)
            else:
                if not fs.ready.wait(FORKSERVER_START_TIMEOUT) or fs.dead:
                    fs.close()
                    fs, err = None, "it did not become ready"
            if fs is None:
                self._fs_retry_at = time.monotonic() + FORKSERVER_RETRY_AFTER
                print(f"localaws: could not start the Lambda fork server ({err}); plain "
                      f"subprocesses for {FORKSERVER_RETRY_AFTER:.0f} s", file=sys.stderr, flush=True)
                self._fs = None
                return None
            self._fs = fs
            return fs

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
        env = self._env(fn, code_dir, stream)

        def args() -> list[str]:  # the function's clock starts now
            deadline_ms = time.time() * 1000 + timeout * 1000
            return [code_dir, fn.handler or "", result_path, request_id, str(deadline_ms)]

        try:
            ran = None
            for _ in range(2):  # a fork server found dead is restarted once
                fs = self._forkserver()  # (its start does not count against the timeout)
                if fs is None:
                    break
                try:
                    ran = self._run_forked(fs, args(), env, payload or b"{}",
                                           time.monotonic() + timeout)
                    break
                except NotDelivered:
                    continue
            if ran is None:
                ran = self._run_subprocess(args(), env, code_dir, payload or b"{}", timeout)
            out, timed_out, exit_status = ran
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
                       "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {exit_status}"}
                log(err["errorMessage"])
                return InvokeResult(request_id, False, json.dumps(err).encode(), err["errorType"])
            if outcome.get("ok"):
                return InvokeResult(request_id, True, json.dumps(outcome["result"]).encode())
            err = outcome["error"]
            return InvokeResult(request_id, False, json.dumps(err).encode(), err.get("errorType"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _run_forked(self, fs: ForkServer, argv: list[str], env: dict[str, str], payload: bytes,
                    deadline: float) -> tuple[bytes, bool, Any]:
        """(output, timed out, exit status) of a child of the fork server."""
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            job = fs.spawn(argv, env, [in_r, out_w])
        except BaseException:
            os.close(in_w)
            os.close(out_r)
            raise
        finally:
            os.close(in_r)
            os.close(out_w)
        try:
            out, eof = _pump(in_w, out_r, payload, deadline)
            # stdout closed: the child is exiting; its exit counts within the timeout too
            timed_out = not (eof and job.done.wait(max(deadline - time.monotonic(), 0)))
            if timed_out:
                fs.kill(job)
                more, _ = _pump(None, out_r, b"", time.monotonic() + KILL_GRACE)
                out += more
                job.done.wait(KILL_GRACE)
        finally:
            os.close(out_r)
        if job.lost:
            status: Any = "unknown (the Lambda fork server died)"
        elif job.status is None:
            status = "unknown"
        else:
            status = os.waitstatus_to_exitcode(job.status)
        return out, timed_out, status

    def _run_subprocess(self, argv: list[str], env: dict[str, str], code_dir: str, payload: bytes,
                        timeout: float) -> tuple[bytes, bool, Any]:
        """(output, timed out, exit status) of `python lambda_bootstrap.py ARGV`."""
        cmd = [sys.executable, "-I", "-u", BOOTSTRAP, *argv]
        timed_out = False
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, cwd=code_dir)
        with self._lock:
            self._procs.add(proc)
        try:
            try:
                out, _ = proc.communicate(payload, timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                proc.kill()
                out, _ = proc.communicate()
        finally:
            with self._lock:
                self._procs.discard(proc)
        return out, timed_out, proc.returncode

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
