"""The Lambda fork server ("zygote"): one per local AWS instance, started lazily by
lambda_runner.ForkServer as `python -I -u lambda_forkserver.py FD`.

It imports boto3/botocore and the other modules a handler commonly needs once,
creates no session, client or thread, never imports user code, and then forks
one child per invocation. The child is a new process, so no module state leaks
from one invocation to the next: it replaces os.environ wholesale with the
function's environment, wires stdin/stdout/stderr to the pipes the runner sent,
and runs lambda_bootstrap.main() exactly as the plain subprocess would (which
chdirs to the code, puts it first on sys.path, imports the handler fresh).

Protocol on FD (a SOCK_SEQPACKET unix socket; one JSON object per message):
  runner -> {"run": ID, "argv": [...], "env": {...}} with two fds (SCM_RIGHTS):
            the child's stdin (read end) and stdout+stderr (write end)
         -> {"kill": ID}: SIGKILL that child if it has not been reaped yet
  server <- {"ready": PID} once, after the imports
         <- {"id": ID, "pid": PID} after the fork, or {"id": ID, "error": MSG}
         <- {"id": ID, "status": WAITSTATUS} when the child is reaped
EOF on FD (the runner closed it or died) or SIGTERM/SIGHUP/SIGINT ends the fork
server: it SIGKILLs and reaps its children first (an orphan would be reparented
to an init that may never reap it: a zombie). Children also get PR_SET_PDEATHSIG
SIGKILL, so none outlives a fork server that was SIGKILLed; everything here stays
in the server's process group, which `scripts/local-aws stop` signals.
"""

import atexit
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
BOOTSTRAP = os.path.join(HERE, "lambda_bootstrap.py")

# What a python Lambda handler usually imports (the runtime bundles boto3).
PRELOAD = [
    "base64", "collections", "datetime", "decimal", "hashlib", "http.client", "logging",
    "re", "ssl", "threading", "typing", "urllib.parse", "urllib.request", "uuid", "zlib",
    "gzip", "email.utils", "concurrent.futures",
    "boto3", "boto3.session", "boto3.dynamodb.conditions", "boto3.dynamodb.types",
    "boto3.s3.transfer", "botocore", "botocore.session", "botocore.client",
    "botocore.config", "botocore.exceptions", "botocore.credentials", "botocore.handlers",
    "botocore.httpsession", "botocore.endpoint", "botocore.parsers", "botocore.serialize",
    "botocore.regions", "botocore.retries.standard", "botocore.retries.adaptive",
    "botocore.auth", "botocore.utils", "botocore.paginate", "botocore.waiter",
]


def _preload() -> set[str]:
    """Import PRELOAD; return the top-level names of the third-party packages loaded
    (those a function's zip may ship its own copy of)."""
    # -I implies -P: this file's directory is not on sys.path; lambda_bootstrap is
    # imported from it, and the directory taken off again (nor is it in the children's).
    sys.path.insert(0, HERE)
    try:
        importlib.import_module("lambda_bootstrap")
    finally:
        sys.path.remove(HERE)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module is fine
            pass
    third_party = set()
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None) or ""
        if ("site-packages" + os.sep) in f or ("dist-packages" + os.sep) in f:
            third_party.add(name.partition(".")[0])
    return third_party


def _set_pdeathsig() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the runner's kill still works
        pass


def _shadowed(code_dir: str, third_party: set[str]) -> bool:
    """Does the function's code ship its own copy of a preloaded package? (In the
    plain subprocess the code dir comes first on sys.path, so its copy wins.)"""
    try:
        entries = os.listdir(code_dir)
    except OSError:
        return False
    for e in entries:
        name = e.partition(".")[0]
        if name in third_party and (e == name or e.endswith((".py", ".so", ".pyc"))):
            return True
    return False


def _child(req: dict, fds: list[int], zygote_pid: int, close_fds: list[int],
           third_party: set[str]) -> None:
    """In the forked child: become the function's process, run it, exit. Never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in close_fds:
            os.close(fd)
        _set_pdeathsig()
        if os.getppid() != zygote_pid:  # the fork server died before prctl
            os._exit(1)
        stdin_fd, out_fd = fds
        os.dup2(stdin_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        for fd in (stdin_fd, out_fd):
            if fd > 2:
                os.close(fd)
        os.environ.clear()
        os.environ.update(req["env"])
        time.tzset()
        if "tempfile" in sys.modules:
            sys.modules["tempfile"].tempdir = None
        argv = list(req["argv"])
        sys.argv = [BOOTSTRAP] + argv
        if _shadowed(argv[0], third_party):
            for name in list(sys.modules):
                if name.partition(".")[0] in third_party:
                    del sys.modules[name]
        importlib.invalidate_caches()
        import lambda_bootstrap

        try:
            lambda_bootstrap.main(argv)
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:  # noqa: BLE001 - like an uncaught exception in a script
            traceback.print_exc()
            code = 1
        # What interpreter exit would do: wait for non-daemon threads, run atexit.
        shutdown = getattr(__import__("threading"), "_shutdown", None)
        if shutdown is not None:
            try:
                shutdown()
            except Exception:  # noqa: BLE001
                pass
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
    except BaseException:  # noqa: BLE001 - never return into the fork server's loop
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def serve(sock_fd: int) -> None:
    sock = socket.socket(fileno=sock_fd)
    third_party = _preload()
    zygote_pid = os.getpid()

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    # SIGTERM (`stop` signals the whole process group) or EOF: kill and reap the children
    # before exiting. Orphans would be reparented to an init that may never reap them.
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stopping.append(signum))

    def send(msg: dict) -> None:
        sock.send(json.dumps(msg).encode())

    children: dict[int, int] = {}  # pid -> request id

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            rid = children.pop(pid, None)
            if rid is not None:
                send({"id": rid, "status": status})

    gc.collect()
    gc.freeze()  # fewer copy-on-write pages in the children
    send({"ready": zygote_pid})
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    def finish() -> None:
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in list(children):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    while True:
        events = poller.poll()  # (a signal writes to wake_w: poll returns)
        try:
            while os.read(wake_r, 512):
                pass
        except BlockingIOError:
            pass
        if stopping:
            finish()
            return
        reap()
        if not any(fd == sock.fileno() for fd, _ in events):
            continue
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1 << 20, 4)
        except OSError:
            msg, fds = b"", []
        if not msg:
            finish()
            return  # the runner is gone
        req = json.loads(msg)
        if "kill" in req:
            for pid, rid in children.items():
                if rid == req["kill"]:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            continue
        rid = req["run"]
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            send({"id": rid, "error": f"expected 2 fds, got {len(fds)}"})
            continue
        try:
            pid = os.fork()
        except OSError as e:
            for fd in fds:
                os.close(fd)
            send({"id": rid, "error": f"fork failed: {e}"})
            continue
        if pid == 0:
            _child(req, fds, zygote_pid, [sock.fileno(), wake_r, wake_w], third_party)
        for fd in fds:
            os.close(fd)
        children[pid] = rid
        send({"id": rid, "pid": pid})


if __name__ == "__main__":
    try:
        serve(int(sys.argv[1]))
    except (BrokenPipeError, ConnectionResetError):
        pass
    os._exit(0)
