"""The vendor's DB rebuild as a scenario (HA-SURV-008, bootstrap/db_rebuild.py for the steps): the
platform halted while the procedure runs, as the vendor's page asks first (the lab's platform is
the workload: its writes stop, its reads and probes go on and measure what clients see), and
afterwards the table the replication broke on the same on both DB nodes, and the replica's
record of its replication position (``mysql.gtid_slave_pos``) in step with the server's."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pymysql

from bootstrap.db_rebuild import SCHEMA
from suites.findings import STALE_GTID_SLAVE_POS
from suites.survival.plan import Outcome
from suites.survival.workload import History, Workload


@contextlib.contextmanager
def halted(workload: Workload, history: History, out: Outcome) -> Iterator[None]:
    """The platform's writes stopped for the body (the vendor's "暂停集群服务"); its length is
    the figure ``halted_s`` (the platform's outage for writes during the procedure)."""
    workload.halted.set()
    began = history.mark("platform halted: the vendor's procedure runs")
    start = time.monotonic()
    try:
        yield
    finally:
        workload.halted.clear()
        out.figures["halted_s"] = round(time.monotonic() - start, 2)
        history.mark(f"platform resumed ({history.now() - began:.1f} s halted)")


Query = Callable[[str, str], list[tuple[Any, ...]]]


def stale_rows(position: str, rows: list[tuple[Any, ...]]) -> list[str]:
    """Where ``mysql.gtid_slave_pos`` runs ahead of the server: per replication domain, the row
    with the highest sub_id must record the position the server holds (``@@gtid_slave_pos``,
    "domain-server-seq" joined by commas) while the SQL thread is stopped. ``rows``: (domain_id,
    sub_id, server_id, seq_no). Returns a line per domain whose newest row is another
    transaction's: rows a dump loaded above the server's own sub_id counter, which its SQL
    thread reaches later and stops on with 1062 (MariaDB MDEV-15393).

    >>> stale_rows("0-1-39", [(0, 191, 1, 39), (0, 192, 1, 192), (0, 219, 1, 219)])
    ['domain 0: newest row 0-1-219 (sub_id 219) is not the position 0-1-39']
    >>> stale_rows("0-1-39", [(0, 190, 1, 38), (0, 191, 1, 39)])
    []
    """
    held = {int(g.split("-")[0]): g.strip() for g in position.split(",") if g.strip()}
    newest: dict[int, tuple[Any, ...]] = {}
    for row in rows:
        domain, sub_id = int(row[0]), int(row[1])
        if domain not in newest or sub_id > int(newest[domain][1]):
            newest[domain] = row
    stale = []
    for domain, (_, sub_id, server_id, seq_no) in sorted(newest.items()):
        recorded = f"{domain}-{server_id}-{seq_no}"
        if held.get(domain) != recorded:
            stale.append(f"domain {domain}: newest row {recorded} (sub_id {sub_id}) is not the position "
                         f"{held.get(domain, '(none)')}")  # fmt: skip
    return stale


def applied(query: Query, replica: str, master: str, timeout: float = 10.0) -> bool:
    """A marker transaction written on ``master`` (in the scenario's schema) and waited for on
    ``replica`` (its ``@@gtid_slave_pos`` holding the master's newest GTID): True once applied,
    False after ``timeout`` seconds (its SQL thread stopped, or slow)."""
    query(master, f"CREATE TABLE IF NOT EXISTS {SCHEMA}.marker (id INT PRIMARY KEY, at DOUBLE)")
    query(master, f"REPLACE INTO {SCHEMA}.marker VALUES (1, {time.time():.3f})")
    newest = str(query(master, "SELECT @@GLOBAL.gtid_binlog_pos")[0][0] or "")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = str(query(replica, "SELECT @@GLOBAL.gtid_slave_pos")[0][0] or "")
        if newest and all(g in held.split(",") for g in newest.split(",")):
            return True
        time.sleep(0.2)
    return False


def gtid_state(query: Query, replica: str, master: str, out: Outcome, timeout: float = 10.0) -> None:
    """Right after the procedure, before the platform writes again: the replica's
    ``mysql.gtid_slave_pos`` against its server's position. A transaction is first replicated
    (``applied``), so that the server's own newest row records its position; then, with the SQL
    thread stopped (no row lands between the two reads), a newer row is one the dump loaded above
    the server's counter (``stale_rows``): the named finding STALE_GTID_SLAVE_POS, the evidence the
    rows. The state is then rewritten from the server's position (``SET GLOBAL gtid_slave_pos``,
    which replaces the table's rows) and the SQL thread started again, so the site is left
    replicating (it also retries a transaction that already stopped on the rows)."""
    replicated = applied(query, replica, master, timeout)
    query(replica, "STOP SLAVE SQL_THREAD")
    try:
        position = str(query(replica, "SELECT @@GLOBAL.gtid_slave_pos")[0][0] or "")
        rows = query(replica, "SELECT domain_id, sub_id, server_id, seq_no FROM mysql.gtid_slave_pos")
        stale = stale_rows(position, rows)
        if stale:
            query(replica, "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_slave_pos")
    finally:
        query(replica, "START SLAVE SQL_THREAD")
    if stale:
        out.explain([f"{replica}: after the rebuild mysql.gtid_slave_pos holds rows the dump loaded above the "
                     f"server's own counter ({'; '.join(stale)}): its SQL thread stops on 1062 when it reaches "
                     "them (MDEV-15393); the state was rewritten from the position"], STALE_GTID_SLAVE_POS)  # fmt: skip
    elif not replicated:
        out.problems.append(f"{replica}: a transaction written on {master} after the rebuild was not applied "
                            f"within {timeout:g} s; its mysql.gtid_slave_pos could not be judged")  # fmt: skip


def judge(query: Query, db_nodes: list[str], endpoint: str, out: Outcome) -> None:
    """The table replication broke on: its checksum equal on every DB node (the rows of the
    replica's stray write replaced by the master's); then its schema dropped, through
    ``endpoint``, so nothing of the scenario is left."""
    try:
        sums = {node: query(node, f"CHECKSUM TABLE {SCHEMA}.t")[0][1] for node in db_nodes}
        if len(set(sums.values())) > 1:
            out.problems.append(f"{SCHEMA}.t differs between the DB nodes after the rebuild: checksums {sums}")
        with contextlib.suppress(pymysql.MySQLError):
            query(endpoint, f"DROP DATABASE IF EXISTS {SCHEMA}")
    except pymysql.MySQLError as exc:
        out.problems.append(f"{SCHEMA}.t could not be compared after the rebuild: {exc}")
