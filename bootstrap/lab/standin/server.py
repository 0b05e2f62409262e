#!/usr/bin/env python3
"""Lab stand-in for the platform's endpoints on one control node (stdlib only).

Copied to lab machines and run as the ``ha-standin`` service. It answers what
the suite probes on a real install, with the same dependencies:

- HTTPS :6443 ``/healthz`` -> ``ok`` only while the local etcd member sees a quorum
  (the k8s API server's health depends on etcd the same way);
- HTTPS :443 -> the web console's front page;
- HTTPS :30500 ``/ping`` -> ``pong`` only while the database answers a query
  through the DB VIP (keystone needs its database);
- HTTP :9000 (``minio_admin_port``) ``/minio/admin/v3/info`` -> MinIO's server information
  (admin_api.py) for the MinIO pods the lab's kubectl reports, to a request signed with its keys.

Configuration: /etc/ha-standin/config.json; DB credentials in a 0600 client
option file, never on a command line.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import admin_api  # bootstrap/lab/standin/admin_api.py, copied beside this file

CONFIG = "/etc/ha-standin/config.json"
CACHE_SECONDS = 0.3


class Probe:
    """A health probe whose result is reused for a short while."""

    def __init__(self, fn: Callable[[], tuple[bool, str]]) -> None:
        self.fn = fn
        self.lock = threading.Lock()
        self.at = 0.0
        self.value: tuple[bool, str] = (False, "not probed yet")

    def __call__(self) -> tuple[bool, str]:
        with self.lock:
            if time.monotonic() - self.at > CACHE_SECONDS:
                try:
                    self.value = self.fn()
                except Exception as exc:  # a probe must answer, not crash the server
                    self.value = (False, f"probe error: {exc}")
                self.at = time.monotonic()
            return self.value


def etcd_quorum(cfg: dict) -> tuple[bool, str]:  # type: ignore[type-arg]
    """A linearizable read of the key "health", as kube-apiserver's etcd health check reads it:
    it needs the quorum, and still succeeds under an alarm (NOSPACE refuses writes, not reads),
    where etcd's own /health says false."""
    request = urllib.request.Request(cfg["etcd_url"] + "/v3/kv/range", data=b'{"key": "aGVhbHRo"}', method="POST")
    try:
        with urllib.request.urlopen(request, timeout=1) as resp:
            body = json.loads(resp.read())
    except Exception as exc:
        return False, f"etcd gave no quorum read: {exc}"
    ok = isinstance(body, dict) and "header" in body
    return ok, "ok" if ok else f"etcd has no quorum: {body}"


def database(cfg: dict) -> tuple[bool, str]:  # type: ignore[type-arg]
    proc = subprocess.run(
        [
            "mysql",
            f"--defaults-extra-file={cfg['db_cnf']}",
            "--connect-timeout=2",
            "-h",
            cfg["db_host"],
            "-P",
            str(cfg["db_port"]),
            "-N",
            "-e",
            "SELECT 1",
        ],
        capture_output=True,
        text=True,
        timeout=4,
        check=False,
    )
    if proc.returncode == 0 and proc.stdout.strip() == "1":
        return True, "pong"
    return False, f"database at {cfg['db_host']} does not answer: {proc.stderr.strip()[:200]}"


def handler(routes: dict) -> type[BaseHTTPRequestHandler]:  # type: ignore[type-arg]
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real API servers
        timeout = 5

        def do_GET(self) -> None:
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self._send(404, "text/plain", "not found\n")
                return
            status, ctype, body = route(self)
            self._send(status, ctype, body)

        def _send(self, status: int, ctype: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # quiet: probes are frequent
            pass

    return Handler


class TLSServer(ThreadingHTTPServer):
    """TLS per connection, in the connection's own thread and with a time limit: a
    client that stalls in its handshake must not block the accept loop."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler_class: type, tls: ssl.SSLContext | None) -> None:
        self.tls = tls
        super().__init__(address, handler_class)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(5)
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        self.RequestHandlerClass(request, client_address, self)  # type: ignore[arg-type]


def serve(port: int, routes: dict, tls: ssl.SSLContext | None) -> ThreadingHTTPServer:  # type: ignore[type-arg]
    server = TLSServer(("0.0.0.0", port), handler(routes), tls)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    with open(CONFIG) as f:
        cfg = json.load(f)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cfg["cert"], cfg["key"])
    etcd = Probe(lambda: etcd_quorum(cfg))
    db = Probe(lambda: database(cfg))

    def healthz(_req: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        ok, why = etcd()
        return (200, "text/plain", "ok") if ok else (500, "text/plain", why)

    def console(_req: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        page = "<!doctype html><title>Cloudpods</title><h1>Cloudpods web console (lab stand-in)</h1>"
        return 200, "text/html; charset=utf-8", page

    def ping(_req: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        ok, why = db()
        return (200, "text/plain", "pong") if ok else (503, "text/plain", why)

    serve(6443, {"/healthz": healthz, "/readyz": healthz, "/livez": healthz}, tls)
    serve(443, {"/": console}, tls)
    serve(30500, {"/ping": ping}, tls)
    serve(cfg["minio_admin_port"], {"/minio/admin/v3/info": admin_api.admin_info}, None)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
