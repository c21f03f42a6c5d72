"""A small forwarding HTTP proxy for tests (tapctl must honour HTTPS_PROXY / HTTP_PROXY /
NO_PROXY, as the SDKs' default clients do).

    python -m localaws.proxy [--port 0] [--count-file PATH] [--host 127.0.0.1]

Prints the port it listens on (one line, the number alone) on stdout once it accepts
connections, then serves until SIGTERM / SIGINT. It carries:

- ``CONNECT host:port`` (what a client does for an https:// URL through a proxy): answers
  ``200 Connection established`` and relays bytes both ways (TLS stays end to end);
- absolute-URI requests (``GET http://host:port/path HTTP/1.1``, any method: what a
  client sends for a plain http:// URL through a proxy): forwards them to the origin
  (``Connection: close``, body by Content-Length or chunked) and relays the answer.

Counts: every request carried (one CONNECT tunnel counts once, however many requests go
through it) is counted; ``GET /_proxy/stats`` on the proxy itself (origin-form, not
proxied) answers ``{"requests": N, "connect": C, "http": H, "targets": {"host:port": n}}``,
and with ``--count-file`` the same JSON is rewritten (atomically) after each one. A request
the proxy cannot carry (origin unreachable) is answered 502 and counted under
``"failed"``.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authorization",
        "proxy-authenticate", "te", "trailers", "upgrade"}


class Stats:
    def __init__(self, path: str | None):
        self.path = path
        self.lock = threading.Lock()
        self.data: dict[str, Any] = {"requests": 0, "connect": 0, "http": 0, "failed": 0,
                                     "targets": {}}
        self._write()

    def count(self, kind: str, target: str, ok: bool = True) -> None:
        with self.lock:
            self.data["requests"] += 1
            self.data[kind] += 1
            if not ok:
                self.data["failed"] += 1
            self.data["targets"][target] = self.data["targets"].get(target, 0) + 1
            self._write()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.data))

    def _write(self) -> None:
        if not self.path:
            return
        tmp = f"{self.path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)


def _relay(a: socket.socket, b: socket.socket) -> None:
    socks = [a, b]
    try:
        while True:
            readable, _, broken = select.select(socks, [], socks, 300)
            if broken or not readable:
                return
            for s in readable:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return


def make_handler(stats: Stats) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def do_CONNECT(self) -> None:  # noqa: N802
            target = self.path
            host, _, port = target.rpartition(":")
            try:
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
            except (OSError, ValueError) as e:
                stats.count("connect", target, ok=False)
                self._plain(502, f"proxy: cannot reach {target}: {e}\n")
                return
            stats.count("connect", target)
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            upstream.settimeout(None)
            self.connection.settimeout(None)
            try:
                _relay(self.connection, upstream)
            finally:
                upstream.close()
                self.close_connection = True

        def _plain(self, status: int, text: str, ctype: str = "text/plain") -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def _read_body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _forward(self) -> None:
            if not self.path.startswith(("http://", "https://")):
                if self.command == "GET" and self.path.rstrip("/") == "/_proxy/stats":
                    self._plain(200, json.dumps(stats.snapshot()), "application/json")
                else:
                    self._plain(400, "proxy: expected an absolute URI or CONNECT\n")
                return
            url = urlsplit(self.path)
            port = url.port or (443 if url.scheme == "https" else 80)
            target = f"{url.hostname}:{port}"
            body = self._read_body()
            path = url.path or "/"
            if url.query:
                path += "?" + url.query
            head = [f"{self.command} {path} HTTP/1.1"]
            for k, v in self.headers.items():
                if k.lower() in _HOP or k.lower() in ("transfer-encoding", "content-length"):
                    continue
                head.append(f"{k}: {v}")
            if body or self.command in ("POST", "PUT", "PATCH"):
                head.append(f"Content-Length: {len(body)}")
            head.append("Connection: close")
            try:
                if url.scheme == "https":
                    raise OSError("https:// in an absolute URI is not supported (use CONNECT)")
                upstream = socket.create_connection((url.hostname, port), timeout=30)
            except OSError as e:
                stats.count("http", target, ok=False)
                self._plain(502, f"proxy: cannot reach {target}: {e}\n")
                return
            stats.count("http", target)
            try:
                upstream.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
                # relay the answer until the origin closes (we asked it to)
                while True:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                pass
            finally:
                upstream.close()
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _forward

    return Handler


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m localaws.proxy")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--count-file", default=None,
                   help="JSON counts, rewritten after each request carried")
    args = p.parse_args(argv)
    stats = Stats(args.count_file)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(stats))
    server.daemon_threads = True

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
