"""The local AWS server process: moto behind two listeners sharing one state.

    python -m localaws.server --dir STATE_DIR [--region R] [--port P] [--http-port P2]

TLS on 127.0.0.1:P (certificate from a per-instance CA) and plain HTTP on
127.0.0.1:P2 (port 0 = a free one). When both answer it writes
STATE_DIR/env (export lines) and STATE_DIR/ready.json. SIGTERM/SIGINT stop it,
killing any Lambda function processes it started.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import ssl
import sys
import threading
from typing import Any

from . import CLIENT_ACCESS_KEY_ID, CLIENT_SECRET_ACCESS_KEY, DEFAULT_REGION

HOST = "127.0.0.1"


def _write_atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def export_lines(env: dict[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m localaws.server")
    p.add_argument("--dir", required=True)
    p.add_argument("--region", default=os.environ.get("AWS_REGION") or DEFAULT_REGION)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--http-port", type=int, default=0)
    args = p.parse_args(argv)
    state_dir = os.path.abspath(args.dir)
    os.makedirs(state_dir, exist_ok=True)

    # moto reads these at import time
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "false")

    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                               create_backend_app)

    from . import registry
    from .certs import make_certs
    from .config import Config
    from .control import Control
    from .lambda_runner import LambdaRunner
    from .middleware import LocalAwsMiddleware
    from .requestlog import RequestLogWriter

    ca_path, cert_path, key_path = make_certs(state_dir)
    config = Config()

    class Handler(MotoRequestHandler):
        timeout = 120  # an idle connection does not hold a thread forever

        def setup(self) -> None:
            # Answers go out as several small writes (status line and headers, then the
            # body): without TCP_NODELAY, Nagle holds the body until the client's delayed
            # ACK (40 ms on Linux), on every request of a kept-alive connection.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # TLS handshake in the connection's own thread, not in accept()
            if isinstance(self.request, ssl.SSLSocket):
                self.request.settimeout(30)
                self.request.do_handshake()
            super().setup()

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            pass

    def quiet_errors(server: Any) -> None:
        def handle_error(request: Any, client_address: Any) -> None:
            exc = sys.exc_info()[1]
            if isinstance(exc, (ssl.SSLError, ConnectionError, TimeoutError, OSError)):
                return
            print(f"localaws: error handling a request from {client_address}: {exc!r}",
                  file=sys.stderr)
        server.handle_error = handle_error

    placeholder = lambda environ, start_response: []  # noqa: E731
    tls_server = make_server(HOST, args.port, placeholder, threaded=True, request_handler=Handler)
    http_server = make_server(HOST, args.http_port, placeholder, threaded=True,
                              request_handler=Handler)
    tls_port = tls_server.socket.getsockname()[1]
    http_port = http_server.socket.getsockname()[1]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    tls_server.socket = ctx.wrap_socket(tls_server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    tls_server.ssl_context = ctx
    quiet_errors(tls_server)
    quiet_errors(http_server)

    endpoint = f"https://{HOST}:{tls_port}"
    http_url = f"http://{HOST}:{http_port}"
    runner = LambdaRunner(state_dir, endpoint, ca_path, config)
    registry.install(runner, config)

    moto_app = DomainDispatcherApplication(create_backend_app)
    for service in ("s3", "dynamodb", "iam", "sts", "awslambda", "logs", "sqs", "cloudwatch"):
        moto_app.app_instances[service] = moto_app.create_app(service)
    from moto.iam.models import iam_backends

    from . import ACCOUNT_ID
    iam_backends[ACCOUNT_ID]["aws"]  # load managed policies now, not on the first call

    reqlog = RequestLogWriter(os.path.join(state_dir, "requests.log"))
    runner.reqlog = reqlog
    control = Control(config, runner, args.region)
    request_hooks = registry.request_hooks(config)
    tls_server.app = LocalAwsMiddleware(moto_app, "tls", config, reqlog, control, request_hooks)
    http_server.app = LocalAwsMiddleware(moto_app, "http", config, reqlog, control, request_hooks)

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                daemon=True, name=f"serve-{n}")
               for n, s in (("tls", tls_server), ("http", http_server))]
    for t in threads:
        t.start()

    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CA_BUNDLE": ca_path,
        "AWS_ACCESS_KEY_ID": CLIENT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": CLIENT_SECRET_ACCESS_KEY,
        "AWS_REGION": args.region,
        "AWS_DEFAULT_REGION": args.region,  # boto3 and the aws cli read only this one
        "LOCAL_AWS_HTTP_URL": http_url,
        "LOCAL_AWS_DIR": state_dir,
    }
    with open(os.path.join(state_dir, "server.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")
    _write_atomic(os.path.join(state_dir, "env"), export_lines(env))
    _write_atomic(os.path.join(state_dir, "ready.json"),
                  json.dumps({"pid": os.getpid(), "tls_port": tls_port, "http_port": http_port,
                              "env": env, "config": config.snapshot()}, indent=1))
    print(f"localaws: serving {endpoint} and {http_url} (state {state_dir})", flush=True)

    def warm_up() -> None:
        # moto looks the caller's access key up in the IAM backend of every partition,
        # creating each (with ~1,600 managed policies) on the first request: do it now.
        from moto.iam.models import get_account_id_from

        get_account_id_from(CLIENT_ACCESS_KEY_ID)

    threading.Thread(target=warm_up, daemon=True, name="warm-up").start()

    stop.wait()
    print("localaws: stopping", flush=True)
    runner.shutdown()
    for s in (tls_server, http_server):
        threading.Thread(target=s.shutdown, daemon=True).start()
    for t in threads:
        t.join(timeout=2)
    reqlog.close()
    print("localaws: stopped", flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown (seconds of freeing moto's state): nothing is left to flush.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
