"""Microbenchmark: N sequential Invoke (RequestResponse) calls against a fresh instance.

    PYTHONPATH=. .venv/bin/python -m localaws.bench_invoke [N] [--boto3] [--plain]

Starts an instance with scripts/local-aws, creates a trivial function (or, with
--boto3, one whose handler imports boto3 and creates a DynamoDB client, like
tapctl's handler), invokes it once to warm up, then N times in a row, and
prints ms per invoke (mean, median, p90) together with the load average.
--plain starts the instance with LOCAL_AWS_LAMBDA_FORKSERVER=0 (the plain
subprocess path, as before the fork server) for comparison.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import boto3

from localaws.tests.conftest import TRUST, make_zip, start_instance, stop_instance

PLAIN = "def handler(event, context):\n    return event\n"
WITH_BOTO3 = ("import boto3\n"
              "def handler(event, context):\n"
              "    boto3.client('dynamodb')\n"
              "    return event\n")


def main(argv: list[str]) -> int:
    n = int(next((a for a in argv if a.isdigit()), "50"))
    code = WITH_BOTO3 if "--boto3" in argv else PLAIN
    plain = "--plain" in argv
    inst = start_instance({"LOCAL_AWS_LAMBDA_FORKSERVER": "0"} if plain else None)
    try:
        kw = dict(endpoint_url=inst["AWS_ENDPOINT_URL"], region_name=inst["AWS_REGION"],
                  verify=inst["AWS_CA_BUNDLE"], aws_access_key_id=inst["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=inst["AWS_SECRET_ACCESS_KEY"])
        iam = boto3.client("iam", **kw)
        lam = boto3.client("lambda", **kw)
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        lam.create_function(FunctionName="bench", Runtime="python3.12", Role=role,
                            Handler="app.handler", Code={"ZipFile": make_zip({"app.py": code})},
                            Timeout=10)
        lam.get_waiter("function_active_v2").wait(FunctionName="bench")
        lam.invoke(FunctionName="bench", Payload=b"{}")  # warm-up (code unzip, zygote start)
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            r = lam.invoke(FunctionName="bench", Payload=json.dumps({"i": i}))
            out = json.loads(r["Payload"].read())
            times.append((time.perf_counter() - t0) * 1000)
            assert out == {"i": i} and "FunctionError" not in r, out
    finally:
        stop_instance(inst)
    times.sort()
    load = os.getloadavg()
    print(f"{n} sequential invokes, {'plain subprocess' if plain else 'fork server'}, "
          f"{'boto3 handler' if code is WITH_BOTO3 else 'trivial handler'}: "
          f"mean {statistics.mean(times):.1f} ms, median {statistics.median(times):.1f} ms, "
          f"p90 {times[int(0.9 * (n - 1))]:.1f} ms; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cpus)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
