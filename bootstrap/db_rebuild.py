"""Replication broken as field reports show it, and the vendor's repair as written.

``break_replication``: a row the replica has and its peer then writes too, so the replica's SQL
thread stops on error 1062 (duplicate key), the stop users report (yunionio/cloudpods#18380).

``vendor_rebuild``: the steps of the vendor's "MariaDB 双主同步恢复" page (cloudpods.org,
operations/databases/mysql_ha_recovery; yunionio/website
docs/shared/operations/databases/mysql_ha_recovery.md at 2425c80, 2026-07-01), in its order and
with its statements: keepalived stopped on the replica; on the master ``STOP SLAVE; RESET SLAVE;
RESET MASTER; FLUSH TABLES WITH READ LOCK; SHOW MASTER STATUS`` in one client session that then
exits, ``mysqldump --all-databases``, ``UNLOCK TABLES`` in a new session; on the replica
``STOP SLAVE``, every database but the system ones dropped, the dump loaded, ``RESET SLAVE;
CHANGE MASTER TO`` the master's file and position, ``START SLAVE``; then ``RESET MASTER`` there and
the master pointed at the replica's new position; keepalived started again. The page's first
step, halting the platform's services so that nothing writes meanwhile, is the caller's.

Statements run through each node's own ``mysql`` client as its root over the local socket, as
the page runs them; ``run(node, command, stdin=)`` is a driver's ``run`` (raises FaultError).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from bootstrap.poll import WaitTimeout, wait_until

Run = Callable[..., str]
SCHEMA = "ha_conformance_rebuild"
SYSTEM_SCHEMAS = ("information_schema", "performance_schema", "mysql", "sys")
DUPLICATE_KEY = "1062"


class RebuildError(RuntimeError):
    """A step of the procedure did not do what the page says it does."""


def sql(run: Run, node: str, statements: str, timeout: float = 60) -> str:
    """The statements in one ``mysql`` session on the node (read from stdin), tab-separated."""
    return run(node, "mysql -N -B", timeout=timeout, stdin=statements)


def slave_fields(out: str) -> dict[str, str]:
    """``mysql -E -e 'SHOW SLAVE STATUS'`` (one field a line, "Key: value") as {key: value};
    {} when the node replicates from nobody."""
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def slave_state(run: Run, node: str) -> dict[str, str]:
    """The node's SHOW SLAVE STATUS, read through its own client."""
    return slave_fields(run(node, "mysql -E -e 'SHOW SLAVE STATUS'"))


def break_replication(run: Run, replica: str, master: str, timeout: float = 30) -> None:
    """Stop the replica's SQL thread on error 1062: a row written on the replica alone (binary
    log off for its session), then the same key written on the master. Raises RebuildError."""
    sql(run, master, f"CREATE DATABASE IF NOT EXISTS {SCHEMA}; CREATE TABLE IF NOT EXISTS {SCHEMA}.t "
        "(id INT PRIMARY KEY, node VARCHAR(64));")  # fmt: skip
    try:
        wait_until(f"{SCHEMA}.t on {replica}", lambda: None if sql(run, replica, f"SHOW TABLES FROM {SCHEMA}").strip()
                   else "not replicated yet", timeout, interval=0.5)  # fmt: skip
    except WaitTimeout as exc:
        raise RebuildError(str(exc)) from None
    key = int(time.time() * 1000) % 2_000_000_000
    sql(run, replica, f"SET SESSION sql_log_bin=0; INSERT INTO {SCHEMA}.t VALUES ({key}, '{replica}');")
    sql(run, master, f"INSERT INTO {SCHEMA}.t VALUES ({key}, '{master}');")

    def stopped() -> str | None:
        st = slave_state(run, replica)
        if st.get("Slave_SQL_Running") == "No" and st.get("Last_SQL_Errno") == DUPLICATE_KEY:
            return None
        return f"SQL thread {st.get('Slave_SQL_Running')}, last error {st.get('Last_SQL_Errno')}"

    try:
        wait_until(f"{replica}'s replication stopped on 1062", stopped, timeout, interval=0.5)
    except WaitTimeout as exc:
        raise RebuildError(str(exc)) from None


def _position(out: str) -> tuple[str, int]:
    """(binary log file, position) from SHOW MASTER STATUS's tab-separated row."""
    fields = out.strip().splitlines()[-1].split("\t") if out.strip() else []
    if len(fields) < 2 or not fields[1].isdigit() or not re.fullmatch(r"[\w.-]+", fields[0]):
        raise RebuildError(f"SHOW MASTER STATUS gave no file and position: {out.strip()[:200]!r}")
    return fields[0], int(fields[1])


def replicating(run: Run, node: str, timeout: float = 30, after: str = "") -> None:
    """Wait until the node's SHOW SLAVE STATUS shows both threads running (``after``: when, for
    the message). Raises RebuildError with the threads' states and the last error."""

    def both() -> str | None:
        st = slave_state(run, node)
        io, sql_ = st.get("Slave_IO_Running"), st.get("Slave_SQL_Running")
        return None if (io, sql_) == ("Yes", "Yes") else f"IO={io} SQL={sql_} {st.get('Last_Error', '')[:200]}"

    try:
        wait_until(f"{node}'s replication running{after}", both, timeout, interval=0.5)
    except WaitTimeout as exc:
        raise RebuildError(str(exc)) from None


def vendor_rebuild(run: Run, replica: str, master: str, log: Callable[[str], object] = lambda _: None) -> None:
    """The vendor's repair, step by step (module docstring); ``log`` is told each step as it
    starts. Raises RebuildError when a step leaves replication not running, FaultError when a
    command fails."""
    log(f"stop keepalived on {replica}")
    run(replica, "systemctl stop keepalived")
    try:
        log(f"{master}: STOP SLAVE; RESET SLAVE; RESET MASTER; FLUSH TABLES WITH READ LOCK; SHOW MASTER STATUS")
        file, pos = _position(sql(run, master, "STOP SLAVE; RESET SLAVE; RESET MASTER; FLUSH TABLES WITH READ LOCK; "
                                               "SHOW MASTER STATUS;"))  # fmt: skip
        log(f"{master}: mysqldump --all-databases (the read lock ended with its session)")
        dump = run(master, "mysqldump --all-databases", timeout=600)
        sql(run, master, "UNLOCK TABLES;")
        log(f"{replica}: STOP SLAVE; drop the non-system databases; load the dump")
        sql(run, replica, "STOP SLAVE;")
        names = [d for d in sql(run, replica, "SHOW DATABASES").split() if d not in SYSTEM_SCHEMAS]
        if names:
            sql(run, replica, "".join(f"DROP DATABASE `{d}`;" for d in names), timeout=300)
        run(replica, "mysql", timeout=600, stdin=dump)
        log(f"{replica}: RESET SLAVE; CHANGE MASTER TO {file}:{pos}; START SLAVE")
        sql(run, replica, f"RESET SLAVE; CHANGE MASTER TO MASTER_LOG_FILE='{file}', MASTER_LOG_POS={pos}; START SLAVE;")
        replicating(run, replica)
        log(f"{replica}: RESET MASTER; SHOW MASTER STATUS; {master}: CHANGE MASTER TO it; START SLAVE")
        file2, pos2 = _position(sql(run, replica, "RESET MASTER; SHOW MASTER STATUS;"))
        sql(run, master, f"CHANGE MASTER TO MASTER_LOG_FILE='{file2}', MASTER_LOG_POS={pos2}; START SLAVE;")
        replicating(run, master)
    finally:  # also when a step failed: the replica may take the VIP again
        log(f"start keepalived on {replica}")
        run(replica, "systemctl start keepalived")
