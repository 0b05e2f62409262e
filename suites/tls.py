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


class _Unverified(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = UNVERIFIED
        super().init_poolmanager(*args, **kwargs)


def get(url: str, timeout: float | tuple[float, float]) -> requests.Response:
    """GET ``url`` (body read), certificate unverified; ``timeout``: seconds, or (connect, read).

    Raises requests.RequestException as requests.get does."""
    with requests.Session() as session, warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        session.mount("https://", _Unverified())
        return session.get(url, verify=False, timeout=timeout)


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
