"""suites/tls.py: the shared unverified TLS context for HTTPS and MariaDB's preferred TLS, as
a client of a self-signed HTTPS server on 127.0.0.1 sees it."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from suites import tls
from tests.test_certificates import issue, pem


def self_signed_context(tmp_path: Path) -> ssl.SSLContext:
    """A server context for 127.0.0.1 with a self-signed certificate (its files in ``tmp_path``)."""
    key, cert = issue("127.0.0.1", ["127.0.0.1"])
    (tmp_path / "c.pem").write_text(pem(cert))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    return context


@pytest.fixture
def https_url(tmp_path: Path) -> Iterator[str]:
    """A self-signed HTTPS server on 127.0.0.1 answering every GET with 200 "ok"."""
    context = self_signed_context(tmp_path)

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/healthz"
    finally:
        server.shutdown()
        server.server_close()


def test_the_shared_context_verifies_nothing_and_loads_no_ca_store() -> None:
    assert tls.UNVERIFIED.verify_mode == ssl.CERT_NONE and not tls.UNVERIFIED.check_hostname
    assert tls.UNVERIFIED.cert_store_stats()["x509_ca"] == 0


def test_a_self_signed_server_answers_through_the_shared_context(https_url: str) -> None:
    resp = tls.get(https_url, timeout=(3, 5))
    assert resp.status_code == 200 and resp.text == "ok"
    pooled = tls.pool_manager(connect=3, read=5).request("GET", https_url)
    assert pooled.status == 200 and pooled.data == b"ok"
    assert tls.UNVERIFIED.cert_store_stats()["x509_ca"] == 0  # nothing loaded into it on the way


def test_a_verifying_client_refuses_the_self_signed_server(https_url: str) -> None:
    """What the shared context changes: a default client (system CA store) refuses the server."""
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(https_url, timeout=(3, 5))


def test_a_closed_port_is_requests_own_error() -> None:
    with pytest.raises(requests.ConnectionError):
        tls.get("https://127.0.0.1:1/", timeout=(1, 1))


def test_mariadb_preferred_tls_uses_the_shared_context_and_given_options_their_own() -> None:
    preferred = tls.DbConnection(host="127.0.0.1", defer_connect=True)
    if getattr(preferred, "ctx", None) is None:
        pytest.skip(f"PyMySQL {pymysql.__version__} has no preferred TLS mode: no context is built")
    assert preferred.ctx is tls.UNVERIFIED and not preferred._ssl_required  # still optional
    verified = tls.DbConnection(host="127.0.0.1", defer_connect=True, ssl_verify_cert=True)
    assert verified.ctx is not tls.UNVERIFIED and verified.ctx.verify_mode == ssl.CERT_REQUIRED
