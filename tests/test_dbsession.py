"""The database sessions the checks read through (suites/dbsession.py): a hung server is the
root item ROOT-DB[site], asked once, never a failure or a wait per check."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap import inventory as inv
from suites.dbsession import DbSessions
from suites.errors import DB_NO_ANSWER, ROOT_DB, Blocked
from tests.conftest import loopback_data


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP server on loopback that takes connections and never answers (a frozen mysqld:
    the kernel completes the handshake, the process sends no greeting)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], accepted
    stop.set()
    t.join()
    for c in accepted:
        c.close()
    srv.close()


def test_a_hung_server_is_one_root_cause_asked_once(
    tmp_path: Path, silent_server: tuple[int, list[socket.socket]]
) -> None:
    port, accepted = silent_server
    data = loopback_data(tmp_path)
    data["nodes"][3]["address"] = "127.0.0.1"  # dba: the hung server
    data["db"] = {**data["db"], "port": port}
    site = inv.parse(data)
    sessions = DbSessions(site, redact=lambda text: text)
    dba = site.node("dba")
    for _ in range(3):  # every DB check on dba asks; the server is asked once
        with pytest.raises(Blocked) as caught:
            sessions.db_facts(dba)
        assert caught.value.root == ROOT_DB and caught.value.code == DB_NO_ANSWER
    assert len(accepted) == 1
    message = str(caught.value)
    assert message == (
        f"blocked by {ROOT_DB}: MariaDB on dba (127.0.0.1) took the TCP connection but gave no greeting "
        "within 1 s (hung: a frozen or overloaded server)"
    )
