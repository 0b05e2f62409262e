"""What a scenario's problems are, where the history shows it: a frozen database's outage as the
named finding, a duplicated write's rows and where each came from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pymysql

from suites.findings import HUNG_DATABASE
from suites.survival import analysis
from suites.survival.plan import DB_SERVICES, Outcome
from suites.survival.workload import TABLE, History

Query = Callable[[str, str], list[tuple[Any, ...]]]


def hung_database(history: History, fault_at: float, restore_at: float, out: Outcome) -> None:
    """The frozen database's outages are the named finding when its VIP never left the
    frozen node: the health check still passed on a server that answered nothing."""
    moves = analysis.vip_moves(history).get("db", [])
    before = [held for at, held in moves if at <= fault_at]
    moved = any(fault_at < at < restore_at and held != before[-1] for at, held in moves) if before else True
    db_problems = [p for p in out.problems if p.split(" ", 1)[0] in DB_SERVICES]
    if moved or not db_problems:
        return
    holder = ", ".join(before[-1]) or "nobody"
    out.findings.update(dict.fromkeys(db_problems, HUNG_DATABASE))
    out.explain(
        [
            f"the DB VIP stayed on {holder} for the {restore_at - fault_at:.1f} s its MariaDB was frozen: the "
            "health check still connects to a server that answers nothing (a TCP probe: the kernel completes "
            "the handshake). Remediation: a track script that runs a real query under a time limit, e.g. "
            "timeout 2 mysql -e 'SELECT 1', so that keepalived moves the VIP"
        ],
        HUNG_DATABASE,
    )


def duplicate_rows(query: Query, db_host: str, wids: list[int], history: History) -> str:
    """Where each duplicated write's rows came from, to tell a second execution of one
    statement from two statements: each row's seq (auto_increment_offset: odd rows were
    inserted on the first DB node, even ones on the second) and the client's time in the
    row (``at``, seconds into the workload; the same value twice is one statement run twice)."""
    listed = ", ".join(str(int(w)) for w in wids)
    try:
        rows = query(db_host, f"SELECT wid, seq, at FROM {TABLE} WHERE wid IN ({listed}) ORDER BY wid, seq")
    except pymysql.MySQLError as exc:
        return f" (their rows could not be read: {exc})"
    start = history.wall0
    shown = "; ".join(f"wid {w}: seq {q}, at {float(a) - start:.2f} s" for w, q, a in rows)
    return f" (rows: {shown})"
