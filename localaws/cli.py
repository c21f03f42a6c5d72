"""scripts/local-aws: start | stop [DIR | --all] | run -- CMD... | status [DIR]

start  starts an instance in the background under .local-aws/<id>/, waits until
       it answers and prints shell export lines (eval them).
stop   stops the instance in DIR, else the one named by $LOCAL_AWS_DIR, else the
       only instance running under .local-aws/ (saying which); when several run
       it lists them and stops none. --all stops every one running there. Each
       stop signals the process group of the pid in its server.pid only and
       waits until it is gone.
status prints running / stopped for DIR or $LOCAL_AWS_DIR; with neither, lists
       the instances running under .local-aws/.
run    starts a fresh instance, runs CMD with its variables, stops it, exits
       with CMD's status.

Deliberately imports nothing heavy: moto lives in the server process.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT = float(os.environ.get("LOCAL_AWS_START_TIMEOUT", "30"))
STOP_TIMEOUT = 10.0


def _err(msg: str) -> None:
    print(f"local-aws: {msg}", file=sys.stderr)


def state_root() -> str:
    return os.path.abspath(os.environ.get("LOCAL_AWS_ROOT") or os.path.join(REPO, ".local-aws"))


def start_instance() -> tuple[dict[str, str], str]:
    """Start an instance; return (its env, its state dir)."""
    root = state_root()
    os.makedirs(root, exist_ok=True)
    instance = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{secrets.token_hex(3)}"
    state_dir = os.path.join(root, instance)
    os.makedirs(state_dir)
    cmd = [sys.executable, "-m", "localaws.server", "--dir", state_dir,
           "--region", os.environ.get("AWS_REGION") or "us-west-2",
           "--port", os.environ.get("LOCAL_AWS_PORT") or "0",
           "--http-port", os.environ.get("LOCAL_AWS_HTTP_PORT") or "0"]
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log = open(os.path.join(state_dir, "server.log"), "ab")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    with open(os.path.join(state_dir, "server.pid"), "w") as f:
        f.write(f"{proc.pid}\n")
    ready = os.path.join(state_dir, "ready.json")
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            _err(f"server exited with status {proc.returncode} during startup; its log:")
            with open(os.path.join(state_dir, "server.log"), errors="replace") as f:
                sys.stderr.write(f.read()[-4000:])
            raise SystemExit(1)
        if os.path.exists(ready):
            break
        if time.monotonic() > deadline:
            _err(f"server did not become ready within {START_TIMEOUT:.0f} s; stopping it")
            stop_instance(state_dir)
            raise SystemExit(1)
        time.sleep(0.02)
    with open(ready) as f:
        info = json.load(f)
    # it answers?
    url = info["env"]["LOCAL_AWS_HTTP_URL"] + "/_localaws/health"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                _err("server does not answer; stopping it")
                stop_instance(state_dir)
                raise SystemExit(1)
            time.sleep(0.02)
    return info["env"], state_dir


def _is_our_server(pid: int, state_dir: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return False
    return b"localaws.server" in args and os.fsencode(state_dir) in args


def stop_instance(state_dir: str) -> int:
    state_dir = os.path.abspath(state_dir)
    pid_file = os.path.join(state_dir, "server.pid")
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        _err(f"no pid file in {state_dir}")
        return 1
    if not _is_our_server(pid, state_dir):
        return 0  # already gone (and the pid is not to be trusted any more)

    def group_alive() -> bool:
        # live (non-zombie) processes in the server's process group: the server and
        # the Lambda function processes it started. A zombie waits for its reaper
        # (init or a subreaper) and holds nothing.
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pid and fields[0] not in ("Z", "X"):
                return True
        return False

    def reap() -> None:
        try:
            os.waitpid(pid, os.WNOHANG)  # when we are its parent (run)
        except ChildProcessError:
            pass

    # the server is its session's leader: its group holds it and its Lambda processes
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0
    deadline = time.monotonic() + STOP_TIMEOUT
    while group_alive() and time.monotonic() < deadline:
        reap()
        time.sleep(0.02)
    if group_alive():
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while group_alive():
            reap()
            time.sleep(0.02)
    return 0


def cmd_start(argv: list[str]) -> int:
    env, state_dir = start_instance()
    from localaws.server import export_lines

    sys.stdout.write(export_lines(env))
    if sys.stdout.isatty():
        _err(f"started {state_dir}; to use it in this shell: eval \"$(scripts/local-aws start)\" "
             f"(or source {os.path.join(state_dir, 'env')}); stop it with scripts/local-aws stop")
    return 0


def running_instances() -> list[str]:
    """State folders under the state root whose server is running, oldest first."""
    root = state_root()
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    out = []
    for name in names:
        state_dir = os.path.join(root, name)
        try:
            with open(os.path.join(state_dir, "server.pid")) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if _is_our_server(pid, state_dir):
            out.append(state_dir)
    return out


def cmd_stop(argv: list[str]) -> int:
    if argv and argv[0] == "--all":
        found = running_instances()
        if not found:
            _err(f"stop --all: no instance running under {state_root()}")
        status = 0
        for state_dir in found:
            _err(f"stopping {state_dir}")
            status = stop_instance(state_dir) or status
        return status
    if argv and argv[0].startswith("-"):
        _err(f"stop: unknown option {argv[0]} (usage: stop [DIR | --all])")
        return 2
    state_dir = argv[0] if argv else os.environ.get("LOCAL_AWS_DIR")
    if state_dir:
        return stop_instance(state_dir)
    found = running_instances()
    if not found:
        _err(f"stop: no instance running under {state_root()}: nothing to stop")
        return 0
    if len(found) > 1:
        _err(f"stop: {len(found)} instances are running; name one (stop DIR) or stop them "
             f"all (stop --all):")
        for d in found:
            print(d, file=sys.stderr)
        return 2
    _err(f"stopping the only running instance: {found[0]}")
    return stop_instance(found[0])


def cmd_run(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        _err("run: usage: local-aws run -- CMD [ARGS...]")
        return 2
    env, state_dir = start_instance()
    child: subprocess.Popen | None = None
    # A signal that arrives while Popen is still returning (the command may already be
    # running) is kept and delivered once the child is known, not lost.
    pending: list[int] = []

    def forward(signum: int, frame) -> None:
        if child is None:
            pending.append(signum)
        elif child.poll() is None:
            child.send_signal(signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, forward)
    try:
        child = subprocess.Popen(argv, env={**os.environ, **env})
        for signum in pending:
            child.send_signal(signum)
        while True:
            try:
                status = child.wait()
                break
            except InterruptedError:
                continue
        return status if status >= 0 else 128 - status
    except FileNotFoundError as e:
        _err(f"run: {e}")
        return 127
    finally:
        stop_instance(state_dir)


def cmd_status(argv: list[str]) -> int:
    state_dir = argv[0] if argv else os.environ.get("LOCAL_AWS_DIR")
    if not state_dir:
        found = running_instances()
        for d in found:
            print(f"running {d}")
        if not found:
            print("stopped")
        return 0 if found else 1
    try:
        with open(os.path.join(state_dir, "server.pid")) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        print("stopped")
        return 1
    alive = _is_our_server(pid, os.path.abspath(state_dir))
    print("running" if alive else "stopped")
    return 0 if alive else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"start": cmd_start, "stop": cmd_stop, "run": cmd_run, "status": cmd_status}
    if not argv or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
