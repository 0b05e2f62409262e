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


def rows_ahead(position: str, rows: list[tuple[Any, ...]]) -> tuple[list[str], list[str]]:
    """Rows of ``mysql.gtid_slave_pos`` above the server's own ``sub_id`` counter. ``position``:
    the server's ``@@gtid_slave_pos`` ("domain-server-seq" joined by commas), read with the SQL
    thread stopped; ``rows``: (domain_id, sub_id, server_id, seq_no). Per domain, the row
    recording the position carries the counter's value (the last one the server wrote); a row
    above it is one the server did not write, such as a dump loaded it, and its SQL thread stops on
    1062 on reaching it (MariaDB MDEV-15393). Returns (a line per domain with such rows, a line
    per domain that cannot be judged: no row records its position).

    >>> rows_ahead("0-1-39", [(0, 191, 1, 39), (0, 192, 1, 192), (0, 219, 1, 219)])
    (['domain 0: 2 rows above 0-1-39 (sub_id 191), up to 0-1-219 (sub_id 219)'], [])
    >>> rows_ahead("0-1-39", [(0, 190, 1, 38), (0, 191, 1, 39)])
    ([], [])
    >>> rows_ahead("0-1-39", [(0, 7, 2, 5)])
    ([], ['domain 0: no row records the position 0-1-39'])
    """
    held = {int(g.split("-")[0]): g.strip() for g in position.split(",") if g.strip()}
    ahead, unjudged = [], []
    for domain in sorted(held.keys() | {int(r[0]) for r in rows}):
        mine = sorted((int(r[1]), f"{r[0]}-{r[2]}-{r[3]}") for r in rows if int(r[0]) == domain)
        at = [sub for sub, gtid in mine if gtid == held.get(domain)]
        if not at:
            unjudged.append(f"domain {domain}: no row records the position {held.get(domain, '(none)')}")
            continue
        above = [(sub, gtid) for sub, gtid in mine if sub > max(at)]
        if above:
            ahead.append(f"domain {domain}: {len(above)} rows above {held[domain]} (sub_id {max(at)}), "
                         f"up to {above[-1][1]} (sub_id {above[-1][0]})")  # fmt: skip
    return ahead, unjudged


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
    the server's counter (``rows_ahead``): the named finding STALE_GTID_SLAVE_POS, the evidence the
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
        rows = query(replica, "SELECT domain_id, sub_id, server_id, seq_no FROM mysql.gtid_slave_pos")
        stale, unjudged = rows_ahead(position, rows) if replicated or error else ([], [])
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
