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
from suites import gtid_state as gtid
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


def applied(query: Query, replica: str, master: str, timeout: float = 10.0) -> bool:
    """A marker transaction written on ``master`` (in the scenario's schema) and waited for on
    ``replica`` (its ``@@gtid_slave_pos`` at or past the master's newest GTID): True once applied,
    False after ``timeout`` seconds (its SQL thread stopped, or slow)."""
    query(master, f"CREATE TABLE IF NOT EXISTS {SCHEMA}.marker (id INT PRIMARY KEY, at DOUBLE)")
    query(master, f"REPLACE INTO {SCHEMA}.marker VALUES (1, {time.time():.3f})")
    newest = gtid.positions(str(query(master, "SELECT @@GLOBAL.gtid_binlog_pos")[0][0] or ""))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = gtid.positions(str(query(replica, "SELECT @@GLOBAL.gtid_slave_pos")[0][0] or ""))
        # Sequence numbers grow within a domain: at or past the marker's is applied.
        if newest and all(d in held and seq(held[d]) >= seq(g) for d, g in newest.items()):
            return True
        time.sleep(0.2)
    return False


def seq(g: str) -> int:
    """A GTID's sequence number ("domain-server-seq").

    >>> seq("0-1-274")
    274
    """
    return int(g.rsplit("-", 1)[1])


def gtid_state(query: Query, replica: str, master: str, out: Outcome, timeout: float = 10.0) -> None:
    """Right after the procedure, before the platform writes again: the replica's
    ``mysql.gtid_slave_pos`` against its server's position. A transaction is first replicated
    (``applied``), so that the server's own newest row records its position; then, with the SQL
    thread stopped (no row lands between the two reads), a newer row is one the dump loaded above
    the server's counter (``suites.gtid_state``): the named finding STALE_GTID_SLAVE_POS, the evidence the
    rows. The state is then rewritten from the server's position (``SET GLOBAL gtid_slave_pos``,
    which replaces the table's rows) and the SQL thread started again, so the site is left
    replicating (it also retries a transaction that already stopped on the rows)."""
    replicated = applied(query, replica, master, timeout)
    query(replica, "STOP SLAVE SQL_THREAD")
    try:
        # Already stopped on the rows (a few transactions suffice): its last error says so.
        error = next((str(v) for row in query(replica, "SHOW SLAVE STATUS") for v in row
                      if "gtid_slave_pos" in str(v) and "1062" in str(v)), "")  # fmt: skip
        position = str(query(replica, "SELECT @@GLOBAL.gtid_slave_pos")[0][0] or "")
        rows = query(replica, gtid.ROWS_QUERY.format(table="gtid_slave_pos"))
        ahead, unjudged = gtid.rows_ahead(position, rows) if replicated or error else ([], [])
        stale = [a.describe() for a in ahead]
        if stale or error:
            query(replica, "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_slave_pos")
    finally:
        query(replica, "START SLAVE SQL_THREAD")
    if stale or error:
        found = "; ".join(stale) + (f"; its SQL thread had stopped: {error}" if error else "")
        out.explain([f"{replica}: after the rebuild mysql.gtid_slave_pos holds rows the dump loaded above the "
                     f"server's own counter ({found.strip('; ')}): its SQL thread stops on 1062 when it reaches "
                     "them (MDEV-15393); the state was rewritten from the position"], STALE_GTID_SLAVE_POS)  # fmt: skip
    elif not replicated:
        out.problems.append(f"{replica}: a transaction written on {master} after the rebuild was not applied "
                            f"within {timeout:g} s; its mysql.gtid_slave_pos could not be judged")  # fmt: skip
    elif unjudged:
        out.problems.append(f"{replica}: mysql.gtid_slave_pos could not be judged after the rebuild: "
                            + "; ".join(unjudged))  # fmt: skip


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
