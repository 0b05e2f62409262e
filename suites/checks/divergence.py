"""HA-DBHA-007: the two DB-HA nodes hold the same data, compared read-only at rest.

Replication that skipped an error, a write made on one node with the binary log off, or a
peer rebuilt from an old dump leaves both replication threads running and the rows different
(the field reports around pt-table-checksum and pt-slave-repair; MariaDB's own warnings about
skipping replication errors). The comparison, per round:

1. each node waits (``MASTER_GTID_WAIT``) until it has applied what the other had logged;
2. ``CHECKSUM TABLE`` on node A, then on node B, then on A again (tables that differed only);
3. a table whose checksum on A changed between the two passes was being written during the
   comparison: excluded, and said so; one that stayed the same on A and differs on B diverged.

``CHECKSUM TABLE`` reads each table whole and changes nothing; the tables compared are those of
the non-system schemas, smallest first, up to ``BUDGET_MB`` of data and index (the rest named in
the evidence as not compared). The suite's own probe schemas are left out (their rows are being
written by the suite itself). MariaDB without GTID (5.5, CentOS 7's) cannot be compared at one
position: not verifiable.
"""

from __future__ import annotations

from typing import Any

import pymysql

from bootstrap.topology import Role
from suites.context import Context, NotVerifiable
from suites.registry import check

BUDGET_MB = 2048  # data + index read per node and round; the cost is measured in docs/measurements.md
SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
OWN_SCHEMAS = ("ha_conformance", "ha_survival")  # HA-DBHA-005's probe, the survivability workload
WAIT_S = 10  # how long a node may take to apply what its peer logged
# One CHECKSUM TABLE statement's answer: 50 tables of the 2 GiB budget at the lab's slowest
# measured rate (54 MiB/s, docs/measurements.md) take about 40 s; a disk 5x slower still fits.
QUERY_TIMEOUT_S = 300
ROUNDS = 2


def _tables(conn: Any) -> tuple[list[tuple[str, int]], list[str]]:
    """([(`schema`.`table`, bytes)] within the budget, smallest first; [names over it])."""
    skip = SYSTEM_SCHEMAS + OWN_SCHEMAS
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema, table_name, COALESCE(data_length, 0) + COALESCE(index_length, 0) "
            "FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            f"AND table_schema NOT IN ({', '.join(['%s'] * len(skip))}) ORDER BY 3, 1, 2",
            skip,
        )
        rows = cur.fetchall()
    chosen, over, total = [], [], 0
    for schema, table, size in rows:
        name = f"`{schema}`.`{table}`"
        if total + int(size) > BUDGET_MB * 2**20:
            over.append(name)
            continue
        total += int(size)
        chosen.append((name, int(size)))
    return chosen, over


def _both_sides(a: Any, b: Any) -> tuple[list[tuple[str, int]], list[str]]:
    """The tables of either node (one that exists on one side only has no checksum on the other:
    it differs), within the budget as each node counts it."""
    chosen_a, over_a = _tables(a)
    chosen_b, over_b = _tables(b)
    chosen = list({**dict(chosen_b), **dict(chosen_a)}.items())
    names = {t for t, _ in chosen}
    return chosen, sorted({*over_a, *over_b} - names)


def _checksums(conn: Any, tables: list[str]) -> dict[str, Any]:
    sums: dict[str, Any] = {}
    with conn.cursor() as cur:
        for i in range(0, len(tables), 50):
            cur.execute("CHECKSUM TABLE " + ", ".join(tables[i : i + 50]))
            sums.update({str(name): value for name, value in cur.fetchall()})
    return {t: sums.get(t.replace("`", "")) for t in tables}


def _gtid_pos(conn: Any) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.gtid_binlog_pos")
        row = cur.fetchone()
    return str(row[0] if row else "")


def _catch_up(conn: Any, pos: str) -> bool:
    """Whether the node applied the GTID position ``pos`` within WAIT_S seconds."""
    if not pos:
        return True
    with conn.cursor() as cur:
        cur.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (pos, WAIT_S))
        row = cur.fetchone()
    return bool(row) and row[0] == 0


def _round(a: Any, b: Any, tables: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(diverged, written during the round, not caught up) among ``tables``."""
    if not (_catch_up(a, _gtid_pos(b)) and _catch_up(b, _gtid_pos(a))):
        return [], [], tables
    first = _checksums(a, tables)
    caught = _catch_up(b, _gtid_pos(a))
    other = _checksums(b, tables)
    differing = [t for t in tables if first[t] != other[t]]
    again = _checksums(a, differing) if differing else {}
    moving = [t for t in differing if again[t] != first[t]]
    if not caught:
        return [], moving, [t for t in differing if t not in moving]
    return [t for t in differing if t not in moving], moving, []


@check("HA-DBHA-007")
def same_data_on_both_nodes(ctx: Context) -> None:
    """Both DB-HA nodes' tables have equal checksums at one GTID position (module docstring)."""
    a_node, b_node = ctx.inventory.nodes_with(Role.DB_HA)[:2]
    timeout = ctx.inventory.ssh.connect_timeout
    a = ctx.rt.connect_db(str(a_node.address), timeout=timeout, query_timeout=QUERY_TIMEOUT_S)
    b = ctx.rt.connect_db(str(b_node.address), timeout=timeout, query_timeout=QUERY_TIMEOUT_S)
    try:
        try:
            chosen, over = _both_sides(a, b)
            tables = [t for t, _ in chosen]
            pending = tables
            diverged: list[str] = []
            moving: list[str] = []
            behind: list[str] = []
            for _ in range(ROUNDS):  # what differed is compared again: equal later is equal
                diverged, moving, behind = _round(a, b, pending)
                pending = diverged + moving + behind
                if not pending:
                    break
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == 1305:  # MASTER_GTID_WAIT does not exist: no GTID
                why = f"MariaDB on {a_node.name} has no GTID (MASTER_GTID_WAIT): {exc.args[-1]}"
                raise NotVerifiable(why) from None
            raise
    finally:
        a.close()
        b.close()
    size = sum(s for _, s in chosen) / 2**20
    ev = [
        (
            f"CHECKSUM TABLE on {a_node.name}, {b_node.name}, {a_node.name} at one GTID position",
            f"{len(tables)} table(s), {size:.1f} MiB compared"
            + (f"; written during the comparison, excluded: {', '.join(moving)}" if moving else "")
            + (f"; over the {BUDGET_MB} MiB budget, not compared: {', '.join(over)}" if over else ""),
        )
    ]
    if behind:
        raise NotVerifiable(
            f"{b_node.name} or {a_node.name} did not apply its peer's writes within {WAIT_S} s; "
            f"tables not compared at rest: {', '.join(behind)}"
        )
    ctx.require(
        not diverged,
        f"{a_node.name} and {b_node.name} hold different rows at the same GTID position in "
        f"{len(diverged)} table(s): {', '.join(diverged)}",
        ev,
    )
