"""TLS to the site's services without verifying their certificates: HTTPS (the platform's
are self-signed; the checks judge what answers, certificates.py judges the certificates) and
MariaDB's opportunistic TLS.

One TLS context serves every connection. requests builds a context per connection with
``verify=False`` and loads the system's CA store into it all the same (urllib3 2.x
``_ssl_wrap_socket_and_match_hostname``, 1.26 ``ssl_wrap_socket``), and PyMySQL >= 1.2 does the
same for its "preferred" TLS (``Connection._create_ssl_ctx({})``, CERT_NONE): 73 ms of CPU per
connection in the read-only run on two cores (2026-12-04, docs/measurements.md), more than the
requests and queries themselves.
"""

from __future__ import annotations

import ssl
import warnings
from typing import Any

import pymysql
import requests
import urllib3
from requests.adapters import HTTPAdapter


def unverified_context() -> ssl.SSLContext:
    """A client context that checks neither chain nor name and loads no CA store."""
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    return tls


UNVERIFIED = unverified_context()
# Every HTTPS client here accepts what answers (the sites' certificates are self-signed): say so
# once for the process, not per request (warnings.catch_warnings is not thread-safe).
warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)


class _Unverified(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = UNVERIFIED
        super().init_poolmanager(*args, **kwargs)


def get(url: str, timeout: float | tuple[float, float]) -> requests.Response:
    """GET ``url`` (body read), certificate unverified; ``timeout``: seconds, or (connect, read).

    Raises requests.RequestException as requests.get does."""
    with requests.Session() as session:
        session.mount("https://", _Unverified())
        return session.get(url, verify=False, timeout=timeout)


def pool_manager(connect: float, read: float, maxsize: int = 1) -> urllib3.PoolManager:
    """urllib3's pool on the shared context: certificates unverified, no retries; ``connect``
    and ``read`` are the time limits in seconds. For clients given an ``http_client`` (minio)
    and for loops that keep one connection alive. Raises nothing; its requests raise
    urllib3.exceptions.HTTPError."""
    return urllib3.PoolManager(
        ssl_context=UNVERIFIED,
        cert_reqs="CERT_NONE",
        retries=False,
        maxsize=maxsize,
        timeout=urllib3.Timeout(connect=connect, read=read),
    )


class DbConnection(pymysql.connections.Connection):
    """PyMySQL's connection, its "preferred" TLS (no ssl option given: TLS where the server
    offers it, no verification) on the shared context. Any ssl option given is PyMySQL's own."""

    def _create_ssl_ctx(self, sslp: Any) -> ssl.SSLContext:
        if sslp == {}:
            return UNVERIFIED
        return super()._create_ssl_ctx(sslp)  # type: ignore[misc,no-any-return]


def connect_db(**kwargs: Any) -> pymysql.connections.Connection:
    """``pymysql.connect(**kwargs)`` on the shared TLS context. Raises pymysql.MySQLError."""
    return DbConnection(**kwargs)
