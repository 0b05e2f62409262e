"""HA-DBHA-009: each DB-HA node's record of its replication position (``mysql.gtid_slave_pos``)
holds no row above the one the server last wrote (suites/gtid_state.py: MariaDB MDEV-15393, the
rows a dump loads with the ``mysql`` schema, as the vendor's rebuild page does). Read-only: two
reads 0.2 s apart, each with the position read before and after the rows."""

from __future__ import annotations

import time
from typing import Any

import pymysql

from suites import gtid_state as gtid
from suites.context import Context, NotVerifiable
from suites.registry import check

TRIES = 3  # reads a round may take to find the position unchanged around the rows
APART_S = 0.2  # seconds between the two rounds (a commit's position update takes microseconds)
UNKNOWN_VARIABLE, NO_TABLE, DENIED = 1193, 1146, 1142  # MariaDB error numbers


def read_state(conn: Any, tries: int = TRIES) -> tuple[str, list[tuple[Any, ...]], list[str]]:
    """(position, rows, tables read) with no transaction applied between the position and the rows
    (the position alike before and after them). The rows come from every ``mysql.gtid_slave_pos*``
    table (gtid_pos_auto_engines adds one per engine). Raises NotVerifiable when the position moved
    during each of ``tries`` reads; pymysql's errors otherwise."""
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES FROM mysql LIKE 'gtid\\_slave\\_pos%'")
        tables = sorted(str(r[0]) for r in cur.fetchall())
        for _ in range(tries):
            cur.execute("SELECT @@GLOBAL.gtid_slave_pos")
            before = str((cur.fetchone() or ("",))[0] or "")
            rows: list[tuple[Any, ...]] = []
            for table in tables:
                cur.execute(gtid.ROWS_QUERY.format(table=table))
                rows += list(cur.fetchall())
            cur.execute("SELECT @@GLOBAL.gtid_slave_pos")
            if str((cur.fetchone() or ("",))[0] or "") == before:
                return before, rows, tables
    raise NotVerifiable(f"the replication position moved during each of {tries} reads of mysql.gtid_slave_pos")


def judge(conn: Any, node: str) -> tuple[list[gtid.Ahead], list[tuple[str, str]]]:
    """Two rounds APART_S apart: the rows ahead in both (``gtid.persistent``), and the evidence.
    Raises NotVerifiable: no GTID state (MariaDB 5.5), the table not readable, no position to
    judge by."""
    try:
        position, rows, tables = read_state(conn)
        time.sleep(APART_S)
        position2, rows2, _ = read_state(conn)
    except pymysql.MySQLError as exc:
        code = exc.args[0] if exc.args else None
        if code in (UNKNOWN_VARIABLE, NO_TABLE):
            why = "before 10.0: replication by binary log file and position, so no such rows can exist"
            raise NotVerifiable(f"{node}: MariaDB keeps no GTID state here ({why}): {exc.args[-1]}") from None
        if code == DENIED:
            why = f"the inventory's DB user may not read mysql.gtid_slave_pos: {exc.args[-1]}"
            raise NotVerifiable(f"{node}: {why}") from None
        raise
    first, _ = gtid.rows_ahead(position, rows)
    second, unjudged = gtid.rows_ahead(position2, rows2)
    ev = [
        ("SELECT @@GLOBAL.gtid_slave_pos", f"{position or '(empty)'}, then {position2 or '(empty)'}"),
        (f"rows of {', '.join(f'mysql.{t}' for t in tables) or '(no table)'}", f"{len(rows)}, then {len(rows2)}"),
    ]
    ahead = gtid.persistent(first, second)
    if not ahead and unjudged:  # rows, but none records the position: the counter is unknown
        raise NotVerifiable(f"{node}: mysql.gtid_slave_pos cannot be judged: {'; '.join(unjudged)}")
    return ahead, ev


@check("HA-DBHA-009")
def replication_state_in_step(ctx: Context) -> None:
    """No row of mysql.gtid_slave_pos lies above the one the server last wrote (module docstring)."""
    assert ctx.node is not None
    ctx.rt.db_facts(ctx.node)  # ROOT-DB or the node's connection error first, as every DB check
    conn = ctx.rt.connect_db(str(ctx.node.address), timeout=ctx.inventory.ssh.connect_timeout)
    try:
        ahead, ev = judge(conn, ctx.node.name)
    finally:
        conn.close()
    ctx.require(
        not ahead,
        f"{ctx.node.name}: mysql.gtid_slave_pos holds rows its server did not write ("
        + "; ".join(a.describe() for a in ahead)
        + "): its SQL thread stops on 1062 when it reaches them",
        ev,
    )
