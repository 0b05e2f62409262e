"""A workload that runs through a fault, in the style of Jepsen: every operation's
start, end and outcome goes to a history; checkers decide afterwards.

- writer: inserts uniquely numbered rows through the DB endpoint (the VIP); the numbers are
  unique across workloads too (``first_wid``), so a row some earlier workload's abandoned
  statement left is told apart (a stray row), never taken for a duplicate;
- reader: reads the highest number through the same endpoint;
- probes: the platform VIP's endpoints over HTTPS, and the storage endpoint;
- VIP sampler: who holds each VIP.

Each loop runs at <= 100 ms spacing; every call has a time limit of about 1 s. A database
connection that fails is aborted (RST, nothing left to send): closed politely, its socket would
keep retransmitting the unacknowledged statement for minutes (FIN-WAIT-1 with data queued) and
deliver it to whichever node holds the VIP when the path comes back, long after this workload
ended (found in the soak: a later scenario's table got an earlier scenario's INSERT).
"""

from __future__ import annotations

import contextlib
import functools
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import requests
import urllib3

from suites import tls

SCHEMA = "ha_survival"
TABLE = f"{SCHEMA}.writes"
SPACING = 0.1
OP_TIMEOUT = 1.0


@dataclass
class Op:
    service: str
    start: float
    end: float
    ok: bool | None  # True: acknowledged; False: certainly failed; None: unknown (may have applied)
    value: int | None = None
    detail: str = ""


@dataclass
class History:
    t0: float = field(default_factory=time.monotonic)
    wall0: float = field(default_factory=time.time)  # the same instant on the wall clock (rows carry it)
    ops: list[Op] = field(default_factory=list)
    vip_samples: list[tuple[float, dict[str, tuple[str, ...]]]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)  # fault injected, restored...
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def add(self, op: Op) -> None:
        with self._lock:
            self.ops.append(op)

    def mark(self, what: str) -> float:
        at = self.now()
        with self._lock:
            self.events.append((at, what))
        return at

    def by_service(self) -> dict[str, list[Op]]:
        result: dict[str, list[Op]] = {}
        for op in sorted(self.ops, key=lambda o: o.start):
            result.setdefault(op.service, []).append(op)
        return result


def connect(host: str, port: int, user: str, password: str) -> pymysql.connections.Connection:
    return tls.connect_db(
        host=host,
        port=port,
        user=user,
        password=password,
        connect_timeout=OP_TIMEOUT,
        read_timeout=OP_TIMEOUT,
        write_timeout=OP_TIMEOUT,
        autocommit=True,
    )


def abortive(conn: Any) -> Any:
    """Make every close of this connection abortive, from the start: SO_LINGER 0 makes close()
    send RST and discard what is still queued. Set at connect, since pymysql closes the socket
    itself (politely) when a read times out, before the caller sees the error."""
    sock = getattr(conn, "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return conn


def abort(conn: Any) -> None:
    """Drop a broken connection at once: abortive (RST, nothing queued) and no COM_QUIT;
    nothing is retransmitted later."""
    abortive(conn)
    with contextlib.suppress(Exception):
        conn._force_close()


def first_wid() -> int:
    """Where a workload's write numbers start: the current time in ms, times 1000, so that no
    two workloads (scenarios, runs) share a number while each writes under 1000 rows a second."""
    return int(time.time() * 1000) * 1000


def runner_arp() -> dict[str, str]:
    """The runner's IPv4 neighbour table: {address: MAC} of complete entries (/proc/net/arp)."""
    found = {}
    try:
        lines = Path("/proc/net/arp").read_text().splitlines()[1:]
    except OSError:
        return {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[2] != "0x0":  # flags 0x0: incomplete
            found[parts[0]] = parts[3]
    return found


def mac_owners(table: dict[str, str], node_addresses: dict[str, str]) -> dict[str, str]:
    """{MAC: node} for the nodes the runner's neighbour table knows ({node: address} given)."""
    return {mac: node for node, addr in node_addresses.items() if (mac := table.get(addr))}


def prepare_table(host: str, port: int, user: str, password: str) -> None:
    conn = connect(host, port, user, password)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {SCHEMA}")
            cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
            cur.execute(f"CREATE TABLE {TABLE} (seq BIGINT AUTO_INCREMENT PRIMARY KEY, wid BIGINT NOT NULL, at DOUBLE)")
    finally:
        conn.close()


class Workload:
    def __init__(
        self,
        history: History,
        db: tuple[str, int, str, str] | None,
        http: dict[str, str],
        vip_sampler: Callable[[], dict[str, list[str]]] | None,
        storage_url: str | None = None,
        *,
        arp_watch: dict[str, str] | None = None,
        node_addresses: dict[str, str] | None = None,
    ) -> None:
        self.h = history
        self.db = db
        self.http = http
        self.vip_sampler = vip_sampler
        self.storage_url = storage_url
        # The runner's own neighbour entries for the VIPs ({VIP name: address}): which node's
        # MAC the runner sends each VIP's traffic to, beside who holds the address.
        self.arp_watch = arp_watch or {}
        self.node_addresses = node_addresses or {}
        self._arp_seen: dict[str, str] = {}
        self.stop_event = threading.Event()
        # The platform halted (the vendor's step before a DB repair): no writes while set.
        self.halted = threading.Event()
        self.threads: list[threading.Thread] = []
        self.first_wid = first_wid()
        self.next_wid = self.first_wid

    # Loops -------------------------------------------------------------------------
    def _loop(self, body: Callable[[], None]) -> None:
        while not self.stop_event.is_set():
            began = time.monotonic()
            body()
            rest = SPACING - (time.monotonic() - began)
            if rest > 0:
                self.stop_event.wait(rest)

    def _db_loop(self, service: str, statement: Callable[[Any], tuple[bool | None, int | None, str]]) -> None:
        assert self.db is not None
        conn: list[Any] = [None]

        def once() -> None:
            if service == "db-write" and self.halted.is_set():
                return
            start = self.h.now()
            try:
                if conn[0] is None:
                    conn[0] = abortive(connect(*self.db))  # type: ignore[misc]
            except Exception as exc:
                self.h.add(Op(service, start, self.h.now(), False, None, f"connect: {exc}"))
                return
            try:
                ok, value, detail = statement(conn[0])
            except Exception as exc:
                with_conn = conn[0]
                conn[0] = None
                abort(with_conn)
                # The statement may have been applied before the connection broke.
                self.h.add(
                    Op(
                        service,
                        start,
                        self.h.now(),
                        None if service == "db-write" else False,
                        getattr(exc, "wid", None),
                        str(exc)[:200],
                    )
                )
                return
            self.h.add(Op(service, start, self.h.now(), ok, value, detail))

        self._loop(once)

    def _write(self, conn: Any) -> tuple[bool | None, int | None, str]:
        self.next_wid += 1
        wid = self.next_wid
        try:
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {TABLE} (wid, at) VALUES (%s, %s)", (wid, time.time()))
        except Exception as exc:
            exc.wid = wid  # type: ignore[attr-defined]
            raise
        return True, wid, ""

    @staticmethod
    def _read(conn: Any) -> tuple[bool | None, int | None, str]:
        with conn.cursor() as cur:
            cur.execute(f"SELECT MAX(wid) FROM {TABLE}")
            row = cur.fetchone()
        return True, (row[0] if row else None), ""

    def _http_loop(self, service: str, url: str, expect: str | None) -> None:
        # One TLS context for the whole loop: building one per connection (what requests does
        # with verify=False) costs more CPU than the probe itself.
        pool = tls.pool_manager(connect=0.5, read=OP_TIMEOUT)

        def once() -> None:
            start = self.h.now()
            try:
                resp = pool.request("GET", url)
                body = resp.data.decode(errors="replace").strip()
                ok = resp.status < 400 and (expect is None or body == expect)
                detail = "" if ok else f"{resp.status} {body[:60]}"
            except urllib3.exceptions.HTTPError as exc:
                ok, detail = False, type(exc).__name__
                pool.clear()
            self.h.add(Op(service, start, self.h.now(), ok, None, detail))

        self._loop(once)

    def _storage_loop(self) -> None:
        assert self.storage_url is not None

        def once() -> None:
            start = self.h.now()
            try:  # a new connection each time, as before; https unverified, as the HTTP loop's
                resp = tls.get(self.storage_url or "", timeout=(0.5, OP_TIMEOUT))
                ok, detail = resp.status_code < 500, f"{resp.status_code}"
            except requests.RequestException as exc:
                ok, detail = False, type(exc).__name__
            self.h.add(Op("storage", start, self.h.now(), ok, None, detail))

        self._loop(once)

    def _vip_loop(self) -> None:
        assert self.vip_sampler is not None

        def once() -> None:
            at = self.h.now()
            try:
                held = {k: tuple(v) for k, v in self.vip_sampler().items()}  # type: ignore[misc]
            except Exception:
                return
            with self.h._lock:
                self.h.vip_samples.append((at, held))
            self._watch_arp(at)

        self._loop(once)

    def _watch_arp(self, at: float) -> None:
        """Mark each change of the runner's neighbour entry for a VIP (from /proc/net/arp),
        naming the node whose MAC it now carries."""
        if not self.arp_watch:
            return
        table = runner_arp()
        owners = mac_owners(table, self.node_addresses)
        for vip, addr in self.arp_watch.items():
            mac = table.get(addr, "none")
            if self._arp_seen.get(vip) != mac:
                self._arp_seen[vip] = mac
                self.h.mark(f"runner ARP: {vip} VIP -> {owners.get(mac, mac)}")

    # Control -----------------------------------------------------------------------
    def start(self) -> None:
        loops: list[Callable[[], None]] = []
        if self.db is not None:
            loops.append(lambda: self._db_loop("db-write", self._write))
            loops.append(lambda: self._db_loop("db-read", self._read))
        for service, (url, expect) in _http_targets(self.http).items():
            loops.append(functools.partial(self._http_loop, service, url, expect))
        if self.storage_url:
            loops.append(self._storage_loop)
        if self.vip_sampler is not None:
            loops.append(self._vip_loop)
        for loop in loops:
            t = threading.Thread(target=loop, daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=5)


def _http_targets(http: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    expects = {"platform-api": "ok", "keystone": "pong", "web": None}
    return {name: (url, expects.get(name)) for name, url in http.items()}
