"""scripts/bench: tapctl's performance scenarios, each on a fresh local AWS.

Prints one markdown table (scenario, tapctl median, baseline median, ratio,
API calls) on stdout; progress and per-run numbers on stderr. Medians, because
the machine is shared. Run it through scripts/bench (builds tapctl, installs
hyperfine and awscli). What each baseline is: docs/bench.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any, Callable

from localaws import cli as localaws_cli
from localaws import requestlog

TAPCTL = os.environ.get("TAPCTL") or "target/release/tapctl"
AWS = os.environ.get("BENCH_AWS") or "aws"
SCENARIOS = ["cold", "coldreal", "insync", "status", "down", "start", "code", "watch", "seek",
             "deps", "codedeps", "watchdeps"]
# uv (requirements-dev.txt) for the dependency scenarios; a cache of tapctl's own per run.
VENV_BIN = os.path.join(os.path.dirname(sys.executable))
DEPS_MB = 30


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def fmt_s(s: float) -> str:
    if s < 1.0:
        return f"{s * 1000:.0f} ms" if s >= 0.01 else f"{s * 1000:.1f} ms"
    return f"{s:.2f} s"


# ------------------------------------------------------------ local AWS ----

class Instance:
    """A fresh local AWS (scripts/local-aws start), stopped on exit."""

    def __init__(self, profile: str):
        self.profile = profile

    def __enter__(self) -> "Instance":
        saved = os.environ.get("LOCAL_AWS_PROFILE")
        os.environ["LOCAL_AWS_PROFILE"] = self.profile
        try:
            self.env, self.dir = localaws_cli.start_instance()
        finally:
            if saved is None:
                os.environ.pop("LOCAL_AWS_PROFILE", None)
            else:
                os.environ["LOCAL_AWS_PROFILE"] = saved
        self.config = self.control("config")
        self.settle()
        return self

    def settle(self, limit: float = 30.0) -> None:
        """Waits until the server is idle (it warms moto's IAM backends in a background
        thread after start, which slows every request meanwhile): 5 health checks in a row
        answered within 5 ms."""
        deadline, fast = time.monotonic() + limit, 0
        while fast < 5 and time.monotonic() < deadline:
            t = time.perf_counter()
            self.control("health")
            fast = fast + 1 if time.perf_counter() - t < 0.005 else 0
            time.sleep(0.05)

    def __exit__(self, *exc: Any) -> None:
        localaws_cli.stop_instance(self.dir)

    def control(self, path: str, body: dict | None = None, timeout: float = 600) -> Any:
        url = f"{self.env['LOCAL_AWS_HTTP_URL']}/_localaws/{path}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def process_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCAL_AWS_"))}
        env.update(self.env)
        env["NO_COLOR"] = "1"
        # nothing from the user's AWS files
        env["AWS_CONFIG_FILE"] = os.devnull
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        return env

    def records(self) -> list[dict[str, Any]]:
        return requestlog.read(self.dir)

    def boto(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(service, endpoint_url=self.env["AWS_ENDPOINT_URL"],
                            verify=self.env["AWS_CA_BUNDLE"],
                            region_name=self.env["AWS_REGION"],
                            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
                            config=Config(s3={"addressing_style": "path"},
                                          retries={"mode": "standard"}))


def timed(argv: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    t = time.perf_counter()
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode not in ok:
        sys.stderr.write(p.stdout[-3000:] + p.stderr[-3000:])
        raise SystemExit(f"bench: {' '.join(argv)} exited {p.returncode}")
    return dt


def tapctl(inst: Instance, *args: str, ok: tuple[int, ...] = (0,)) -> tuple[float, list[dict]]:
    """Runs tapctl; returns (wall seconds, the client requests it made)."""
    before = len(inst.records())
    wall = timed([TAPCTL, *args], inst.process_env(), ok)
    time.sleep(0.05)  # the server logs a request once its answer is written
    recs = [r for r in inst.records()[before:] if r.get("source") == "client"]
    return wall, recs


# ------------------------------------------------------------ scenarios ----

def process_start(runs: int) -> tuple[float, str]:
    """Median wall time of `tapctl --help`, seconds, and how it was measured."""
    if shutil.which("hyperfine"):
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            subprocess.run(["hyperfine", "-N", "--warmup", "10", "--runs", str(max(runs, 50)),
                            "--export-json", f.name, f"{TAPCTL} --help"],
                           check=True, capture_output=True)
            res = json.load(open(f.name))["results"][0]
        return res["median"], "hyperfine"
    times = []
    for _ in range(max(runs, 50)):
        times.append(timed([TAPCTL, "--help"], dict(os.environ)))
    return median(times), "python loop"


# the requests on the critical path of a cold `up`, in order
CRITICAL_PATH = ["GetCallerIdentity", "GetRole", "CreateRole", "CreateFunction",
                 "GetFunctionConfiguration", "AddPermission",
                 "GetBucketNotificationConfiguration", "PutBucketNotificationConfiguration"]


def critical_path_bound(recs: list[dict], config: dict, start: float) -> tuple[float, int]:
    """process start + role propagation + function Pending + the logged time of each
    request on the critical path (the identity check and the role's observe, the first
    of their kind; then the successful create/poll/permission/notification calls)."""
    total = 0.0
    for op in CRITICAL_PATH:
        mine = [r for r in recs if r["operation"] == op]
        if op in ("GetCallerIdentity", "GetRole"):
            hit = mine[:1]
        else:
            hit = [r for r in mine if r["status"] < 300][-1:]
        if not hit:
            raise SystemExit(f"bench: no successful {op} in the cold up's request log")
        total += hit[0]["ms"] / 1000.0
    return start + config["role_delay"] + config["function_delay"] + total, len(CRITICAL_PATH)


def scenario_cold(runs: int, start: float, profile: str = "aws-like") -> dict:
    with Instance(profile) as inst:
        walls, bounds, calls, refused = [], [], [], []
        for i in range(runs):
            suffix = f"cold{i}"
            wall, recs = tapctl(inst, "up", "--suffix", suffix)
            bound, n = critical_path_bound(recs, inst.config, start)
            walls.append(wall)
            bounds.append(bound)
            calls.append(len(recs))
            refused.append(len([r for r in recs if r.get("write") and r["status"] >= 400]))
            log(f"cold up ({profile}) #{i + 1}: {wall:.2f} s, bound {bound:.2f} s "
                f"(ratio {wall / bound:.3f}), {len(recs)} calls, {refused[-1]} writes refused")
    cfg = inst.config
    if profile == "aws-real":
        return {
            "scenario": ("cold `up`, aws-real (aws-like + AWS's eventual consistency and "
                         "conflicts: docs/consistency.md); baseline = critical-path bound "
                         f"({n} requests on the path); target ≤ 1.15"),
            "tapctl": walls, "baseline": bounds,
            "calls": f"{median(calls):.0f} ({median(refused):.0f} writes refused and retried)",
        }
    return {
        "scenario": (f"cold `up`, aws-like (role {cfg['role_delay']:g} s, table "
                     f"{cfg['table_delay']:g} s, function {cfg['function_delay']:g} s, "
                     f"{cfg['latency_ms']:g}±{cfg['jitter_ms']:g} ms); baseline = critical-path "
                     f"bound ({n} requests on the path); target ≤ 1.15"),
        "tapctl": walls, "baseline": bounds, "calls": f"{median(calls):.0f}",
    }


def scenario_in_sync(runs: int, start: float, command: str) -> dict:
    with Instance("instant") as inst:
        tapctl(inst, "up", "--suffix", "sync")
        inst.control("config", {"profile": "aws-like"})  # latency now; nothing is created
        walls, bases, calls, writes = [], [], [], []
        for i in range(runs):
            args = [command, "--suffix", "sync"]
            wall, recs = tapctl(inst, *args)
            lat = median([r["ms"] for r in recs]) / 1000.0
            base = start + 3 * lat
            w = requestlog.writes(recs, source=None)
            walls.append(wall)
            bases.append(base)
            calls.append(len(recs))
            writes.append(len(w))
            log(f"in-sync {command} #{i + 1}: {wall * 1000:.0f} ms, baseline "
                f"{base * 1000:.0f} ms (3 x {lat * 1000:.1f} ms + start), {len(recs)} calls, "
                f"{len(w)} writes {[r['operation'] for r in w]}")
    what = "in-sync `up`" if command == "up" else "`status` (in sync)"
    return {
        "scenario": (f"{what}, 40±10 ms latency; baseline = process start + 3 request "
                     "latencies (median logged request time)"),
        "tapctl": walls, "baseline": bases,
        "calls": f"{median(calls):.0f} ({max(writes)} writes)",
    }


def handler_folder(deps: bool = False) -> str:
    """A copy of the handler folder to edit (index.py only, as tapctl embeds it); with `deps`,
    a requirements.txt naming ~30 MB of dependencies from a local wheelhouse."""
    d = tempfile.mkdtemp(prefix="tapctl-bench-handler-")
    shutil.copy("handler/index.py", os.path.join(d, "index.py"))
    if deps:
        wh = os.path.join(d + "-wheels")
        os.makedirs(wh, exist_ok=True)
        big_wheel(wh, "benchdeps", DEPS_MB)
        with open(os.path.join(d, "requirements.txt"), "w") as f:
            f.write(f"--no-index\n--find-links {wh}\nbenchdeps==1.0\n")
    return d


def big_wheel(wh: str, name: str, mb: int) -> None:
    """A pure-Python wheel holding `mb` MB of data files (half random, half text-like, so the
    layer's zip is about two thirds of it, as real dependencies compress)."""
    import base64
    import hashlib
    import random
    import zipfile

    rng = random.Random(7)
    files: dict[str, bytes] = {f"{name}/__init__.py": b"VALUE = 1\n"}
    for i in range(mb):
        half = rng.randbytes(512 * 1024)
        text = (" ".join(rng.choice(["def", "return", "self", "value", "import", "class"])
                         for _ in range(100_000))).encode()[: 512 * 1024]
        files[f"{name}/data/blob{i:03}.bin"] = half + text
    dist = f"{name}-1.0"
    files[f"{dist}.dist-info/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()
    files[f"{dist}.dist-info/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: bench\n"
                                        b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\n"
    files[f"{dist}.dist-info/RECORD"] = (record + f"{dist}.dist-info/RECORD,,\n").encode()
    with zipfile.ZipFile(os.path.join(wh, f"{dist}-py3-none-any.whl"), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for path, data in files.items():
            z.writestr(path, data)


def remove_folder(h: str) -> None:
    shutil.rmtree(h, ignore_errors=True)
    shutil.rmtree(h + "-wheels", ignore_errors=True)


def scenario_deps_up(runs: int) -> dict:
    """The first `up` of a handler with ~30 MB of dependencies (installed with an empty cache,
    published as a layer) against the same `up` of the handler without them."""
    walls, bases, installs = [], [], []
    for i in range(max(1, min(runs, 3))):
        plain, h = handler_folder(), handler_folder(deps=True)
        cache = tempfile.mkdtemp(prefix="tapctl-bench-cache-")
        os.environ["TAPCTL_CACHE_DIR"] = cache
        with Instance("aws-like") as inst:
            base, _ = tapctl(inst, "up", "--suffix", "plain", "--handler", plain)
            t = time.perf_counter()
            p = subprocess.run([TAPCTL, "up", "--suffix", "deps", "--handler", h, "--output",
                                "json"], env=inst.process_env(), stdin=subprocess.DEVNULL,
                               capture_output=True, text=True)
            wall = time.perf_counter() - t
            if p.returncode != 0:
                raise SystemExit(f"bench: up with dependencies failed: {p.stderr[-2000:]}")
            doc = json.loads(p.stdout)
            install = doc["dependencies"]["install_s"]
            zipped = doc["dependencies"]["layer_zip_bytes"] / 1e6
        walls.append(wall)
        bases.append(base)
        installs.append(install)
        log(f"first up with {DEPS_MB} MB of dependencies #{i + 1}: {wall:.2f} s (install "
            f"{install:.2f} s, AWS {wall - install:.2f} s; layer zip {zipped:.1f} MB), without "
            f"dependencies {base:.2f} s")
        remove_folder(plain)
        remove_folder(h)
        shutil.rmtree(cache, ignore_errors=True)
    return {
        "scenario": (f"first `up` with {DEPS_MB} MB of dependencies (empty cache: uv install + "
                     f"PublishLayerVersion), aws-like; install {median(installs):.2f} s of it "
                     "(the rest is AWS time); baseline = the same cold `up` without "
                     "dependencies"),
        "tapctl": walls, "baseline": bases, "calls": "–",
    }


def edit(folder: str, n: int) -> None:
    with open(os.path.join(folder, "index.py"), "a") as f:
        f.write(f"# bench edit {n}\n")


def scenario_code_only(runs: int, start: float, deps: bool = False) -> dict:
    """A code-only `up` (an edited handler folder) against its bound: process start + one
    read round trip + UpdateFunctionCode + the function's update delay. With `deps`, the
    function has a ~30 MB dependency layer attached (cached: nothing installed)."""
    h = handler_folder(deps)
    with Instance("aws-like") as inst:
        cfg = inst.config
        tapctl(inst, "up", "--suffix", "code", "--handler", h)
        walls, bounds, calls = [], [], []
        for i in range(runs):
            edit(h, i)
            wall, recs = tapctl(inst, "up", "--suffix", "code", "--handler", h)
            writes = [r["operation"] for r in requestlog.writes(recs, source=None)]
            if writes != ["UpdateFunctionCode"]:
                raise SystemExit(f"bench: a code-only up wrote {writes}")
            reads = [r["ms"] for r in recs if not r.get("write")
                     and r["operation"] not in ("GetCallerIdentity", "GetFunctionConfiguration")]
            update = [r for r in recs if r["operation"] == "UpdateFunctionCode"][-1]["ms"]
            bound = start + (median(reads) + update) / 1000.0 + cfg["function_delay"]
            walls.append(wall)
            bounds.append(bound)
            calls.append(len(recs))
            log(f"code-only up #{i + 1}: {wall:.2f} s, bound {bound:.2f} s "
                f"(ratio {wall / bound:.3f}), {len(recs)} calls")
    remove_folder(h)
    with_deps = f" with a {DEPS_MB} MB dependency layer attached" if deps else ""
    return {
        "scenario": (f"code-only `up` (edited `--handler` folder){with_deps}, aws-like (function update "
                     f"{cfg['function_delay']:g} s); baseline = process start + one read round "
                     "trip + UpdateFunctionCode + the update delay; target ≤ 1.15"),
        "tapctl": walls, "baseline": bounds, "calls": f"{median(calls):.0f} (1 write)",
    }


def scenario_watch(runs: int, deps: bool = False) -> dict:
    """`watch`: from a save to the "deployed: new code live" line, on aws-like (with `deps`, a
    ~30 MB dependency layer attached)."""
    h = handler_folder(deps)
    with Instance("aws-like") as inst:
        cfg = inst.config
        tapctl(inst, "up", "--suffix", "watch", "--handler", h)
        target = 1.5 + cfg["function_delay"]
        p = subprocess.Popen([TAPCTL, "watch", "--suffix", "watch", "--handler", h],
                             env=inst.process_env(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert p.stdout is not None

        def wait_for(word: str) -> None:
            for line in p.stdout:
                if word in line:
                    return
            raise SystemExit(f"bench: watch ended before printing {word!r}")

        lat = []
        try:
            wait_for("watching")
            for i in range(runs):
                t = time.perf_counter()
                edit(h, i)
                wait_for("deployed: new code live")
                lat.append(time.perf_counter() - t)
                log(f"watch save-to-live #{i + 1}: {lat[-1]:.2f} s (target {target:.2f} s)")
        finally:
            p.send_signal(2)
            p.wait(timeout=30)
    remove_folder(h)
    with_deps = f" with a {DEPS_MB} MB dependency layer attached" if deps else ""
    return {
        "scenario": (f"`watch` save-to-live (save -> update finished){with_deps}, aws-like (function "
                     f"update {cfg['function_delay']:g} s); baseline = target 1.5 s + the update "
                     "delay"),
        "tapctl": lat, "baseline": [target], "calls": "–",
    }


def count_versions(s3: Any, bucket: str) -> tuple[int, int]:
    versions = markers = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions += len(page.get("Versions", []))
        markers += len(page.get("DeleteMarkers", []))
    return versions, markers


def count_current(s3: Any, bucket: str) -> int:
    return sum(page.get("KeyCount", 0)
               for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))


def scenario_down(runs: int, objects: int) -> dict:
    t_walls, a_walls, t_calls, a_calls = [], [], [], []
    removed: dict[str, str] = {}
    with Instance("instant") as inst:
        s3 = inst.boto("s3")
        account = inst.boto("sts").get_caller_identity()["Account"]
        aws_env = inst.process_env()
        for i in range(runs):
            suffix = f"down{i}"
            tapctl(inst, "up", "--suffix", suffix)
            ours = f"lambda-trigger-bucket-{suffix}-{account}"
            theirs = f"bench-rm-{i}-{account}"
            s3.create_bucket(Bucket=theirs, CreateBucketConfiguration={
                "LocationConstraint": inst.env["AWS_REGION"]})
            # the same settings as tapctl's bucket: TLS-only policy, SSE-S3, versioning
            policy = s3.get_bucket_policy(Bucket=ours)["Policy"].replace(ours, theirs)
            s3.put_bucket_policy(Bucket=theirs, Policy=policy)
            s3.put_bucket_encryption(Bucket=theirs, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
            t = time.perf_counter()
            for b in (ours, theirs):
                s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
                inst.control("s3/fill", {"bucket": b, "keys": objects, "versions": 2})
            before = {b: count_versions(s3, b) for b in (ours, theirs)}
            current_before = count_current(s3, theirs)
            log(f"down #{i + 1}: filled {ours} and {theirs} with {objects} keys x 2 versions "
                f"in {time.perf_counter() - t:.1f} s: {before}")

            def run_tapctl() -> None:
                wall, recs = tapctl(inst, "down", "--suffix", suffix, "--yes")
                t_walls.append(wall)
                t_calls.append(len(recs))

            def run_aws() -> None:
                n = len(inst.records())
                wall = timed([AWS, "s3", "rm", f"s3://{theirs}", "--recursive",
                              "--only-show-errors"], aws_env)
                time.sleep(0.05)
                a_walls.append(wall)
                a_calls.append(len([r for r in inst.records()[n:]
                                    if r.get("source") == "client"]))

            order: list[Callable[[], None]] = [run_tapctl, run_aws]
            for step in order if i % 2 == 0 else order[::-1]:
                step()
            try:
                s3.head_bucket(Bucket=ours)
                raise SystemExit(f"bench: {ours} still exists after tapctl down")
            except s3.exceptions.ClientError:
                pass
            v, m = count_versions(s3, theirs)
            current = count_current(s3, theirs)
            removed = {
                "tapctl": (f"{before[ours][0]:,} versions + {before[ours][1]:,} delete markers "
                           "and the bucket (the whole stack)"),
                "aws": (f"{current_before - current:,} of {current_before:,} current objects "
                        f"hidden behind {m - before[theirs][1]:,} new delete markers; "
                        f"{v:,} of {before[theirs][0]:,} versions left"),
            }
            log(f"down #{i + 1}: tapctl {t_walls[-1]:.2f} s ({t_calls[-1]} calls), "
                f"aws s3 rm {a_walls[-1]:.2f} s ({a_calls[-1]} calls); "
                f"tapctl removed {removed['tapctl']}; aws s3 rm: {removed['aws']}")
    return {
        "scenario": (f"`down --yes`, bucket of {objects:,} objects x 2 versions; baseline = "
                     f"`aws s3 rm --recursive` (awscli {awscli_version()}) on a same-filled "
                     "bucket in the same run; target ≥ 8x"),
        "tapctl": t_walls, "baseline": a_walls, "invert": True,
        "calls": f"{median(t_calls):.0f} vs {median(a_calls):.0f}",
        "removed": removed,
    }


def seek_runs(items: int, runs: int) -> dict[str, Any]:
    """On a stack whose table holds `items` log items: `events --key` and `smoke` walls,
    client calls, Scans, and the server time of their Queries."""
    with Instance("instant") as inst:
        tapctl(inst, "up", "--suffix", "seek")
        table = "lambda-invocation-logs-seek"
        inst.control("dynamodb/fill", {"table": table, "items": items})
        s3 = inst.boto("s3")
        bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"]
                      if b["Name"].startswith("lambda-trigger-bucket-seek-"))
        s3.put_object(Bucket=bucket, Key="bench/seek me.txt", Body=b"x")
        out: dict[str, Any] = {}
        for name, args in (("events", ["events", "--suffix", "seek", "--key", "bench/seek me.txt"]),
                           ("smoke", ["smoke", "--suffix", "seek", "--timeout", "60"])):
            walls, calls, scans, query_ms, rest = [], [], [], [], []
            for i in range(runs):
                wall, recs = tapctl(inst, *args)
                walls.append(wall)
                calls.append(len(recs))
                scans.append(sum(1 for r in recs if r["operation"] == "Scan"))
                queries = [r["ms"] for r in recs if r["operation"] == "Query"]
                query_ms += queries
                rest.append(wall - sum(queries) / 1000.0)
                log(f"{name} on {items} items #{i + 1}: {wall * 1000:.0f} ms, {len(recs)} calls")
            out[name] = {"walls": walls, "rest": rest, "calls": median(calls), "scans": max(scans),
                         "query_ms": median(query_ms) if query_ms else 0.0}
        return out


def scenario_seek(runs: int, big: int = 20000, small: int = 1000) -> list[dict]:
    """`events --key` and `smoke` on a big table vs a small one: both find items through the
    object index (a Query), so neither should grow with the table."""
    b, s = seek_runs(big, runs), seek_runs(small, runs)
    rows = []
    for name, what in (("events", "`events --key`"), ("smoke", "`smoke`")):
        rows.append({
            "scenario": (f"{what}, table of {big:,} items; baseline = the same on {small:,} "
                         "items; target: no growth beyond noise"),
            "tapctl": b[name]["walls"], "baseline": s[name]["walls"],
            "calls": (f"{b[name]['calls']:.0f} vs {s[name]['calls']:.0f} ({b[name]['scans']} Scan); "
                      f"Query server {b[name]['query_ms']:.1f} vs {s[name]['query_ms']:.1f} ms; "
                      f"wall without the server's Query time {fmt_s(median(b[name]['rest']))} vs "
                      f"{fmt_s(median(s[name]['rest']))}"),
        })
    return rows


def awscli_version() -> str:
    p = subprocess.run([AWS, "--version"], capture_output=True, text=True)
    return (p.stdout or p.stderr).split()[0].split("/")[-1] if p.returncode == 0 else "?"


# ---------------------------------------------------------------- main -----

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/bench")
    p.add_argument("--runs", type=int, default=5, help="runs per scenario (at least 5)")
    p.add_argument("--only", default=",".join(SCENARIOS),
                   help="comma list of " + ",".join(SCENARIOS))
    p.add_argument("--objects", type=int, default=20000, help="keys in the down scenario")
    p.add_argument("--json", help="also write every run's numbers to this file")
    a = p.parse_args(argv)
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    runs = max(a.runs, 1)
    if not os.access(TAPCTL, os.X_OK):
        p.error(f"no tapctl binary at {TAPCTL}")

    rows: list[dict] = []
    start, how = process_start(runs)
    log(f"process start (`tapctl --help`, {how}): {start * 1000:.1f} ms")
    if "cold" in only:
        rows.append(scenario_cold(runs, start))
    if "coldreal" in only:
        real = scenario_cold(runs, start, "aws-real")
        like = rows[-1] if "cold" in only else scenario_cold(runs, start)
        cost = median(real["tapctl"]) - median(like["tapctl"])
        real["scenario"] += (f"; the consistency waits cost {cost:+.2f} s "
                             f"({cost / median(like['tapctl']) * 100:+.0f} %) over the aws-like "
                             f"median ({fmt_s(median(like['tapctl']))})")
        rows.append(real)
    # the quick scenarios get more runs: their medians are noisier
    if "insync" in only:
        rows.append(scenario_in_sync(runs * 4, start, "up"))
    if "status" in only:
        rows.append(scenario_in_sync(runs * 4, start, "status"))
    if "down" in only:
        rows.append(scenario_down(runs, a.objects))
    if "code" in only:
        rows.append(scenario_code_only(runs, start))
    if "watch" in only:
        rows.append(scenario_watch(runs))
    if "seek" in only:
        rows.extend(scenario_seek(runs))
    if any(x in only for x in ("deps", "codedeps", "watchdeps")):
        os.environ["PATH"] = VENV_BIN + os.pathsep + os.environ.get("PATH", "")
    if "deps" in only:
        rows.append(scenario_deps_up(runs))
    if "codedeps" in only:
        rows.append(scenario_code_only(runs, start, deps=True))
    if "watchdeps" in only:
        rows.append(scenario_watch(runs, deps=True))
    if "start" in only:
        size = os.path.getsize(TAPCTL)
        rows.append({"scenario": f"`tapctl --help` start ({how}); target < 20 ms",
                     "tapctl": [start], "baseline": [0.020], "calls": "0"})
        rows.append({"scenario": "release binary size; target < 30 MB", "size": size})

    out = ["| scenario | tapctl median | baseline median | ratio | API calls |",
           "|---|---|---|---|---|"]
    for r in rows:
        if "size" in r:
            mb = r["size"] / 1e6
            out.append(f"| {r['scenario']} | {mb:.1f} MB | 30 MB | {mb / 30:.2f} | – |")
            continue
        t, b = median(r["tapctl"]), median(r["baseline"])
        ratio = f"{b / t:.1f}x faster" if r.get("invert") else f"{t / b:.2f}"
        out.append(f"| {r['scenario']} | {fmt_s(t)} | {fmt_s(b)} | {ratio} | {r['calls']} |")
    print("\n".join(out))
    for r in rows:
        if "removed" in r:
            print(f"\nRemoved per run: tapctl: {r['removed']['tapctl']}; "
                  f"aws s3 rm: {r['removed']['aws']}.")
    print(f"\n{runs} runs per scenario ({runs * 4} for in-sync up and status), medians; "
          f"process start {start * 1000:.1f} ms.")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"process_start": start, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
