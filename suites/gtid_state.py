"""MariaDB's record of a replica's position (``mysql.gtid_slave_pos``) against the server's own.

For every transaction its SQL thread applies, a replica inserts a row (domain_id, sub_id,
server_id, seq_no) into ``mysql.gtid_slave_pos``, ``sub_id`` from a counter the server keeps in
memory; the row recording its position (``@@gtid_slave_pos``) carries the counter's last value.
Rows above it are rows the server did not write: a ``mysqldump`` that included the ``mysql``
schema loaded them (the vendor's rebuild page does), and the server does not take them into
account (MariaDB MDEV-15393, fixed only for dumps made with ``--gtid``). On reaching the first
one the SQL thread stops: "failed to update GTID state in mysql.gtid_slave_pos: 1062".
Source: mariadb.com/kb/en/mysqlgtid_slave_pos-table; MDEV-15393 (MariaDB/server b8f92ade57).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The statement reading the rows: (domain_id, sub_id, server_id, seq_no).
ROWS_QUERY = "SELECT domain_id, sub_id, server_id, seq_no FROM mysql.{table}"


@dataclass(frozen=True)
class Ahead:
    """One replication domain's rows above the row recording the position."""

    domain: int
    position: str  # "domain-server-seq"
    at: int  # the sub_id of the row recording the position
    rows: tuple[tuple[int, str], ...]  # (sub_id, "domain-server-seq"), ascending

    def describe(self) -> str:
        top_sub, top = self.rows[-1]
        rows = "1 row" if len(self.rows) == 1 else f"{len(self.rows)} rows"
        return f"domain {self.domain}: {rows} above {self.position} (sub_id {self.at}), up to {top} (sub_id {top_sub})"


def positions(position: str) -> dict[int, str]:
    """``@@gtid_slave_pos`` as {domain: "domain-server-seq"}.

    >>> positions("0-1-39,1-2-7")
    {0: '0-1-39', 1: '1-2-7'}
    >>> positions("")
    {}
    """
    return {int(g.strip().split("-")[0]): g.strip() for g in position.split(",") if g.strip()}


def rows_ahead(position: str, rows: list[tuple[Any, ...]]) -> tuple[list[Ahead], list[str]]:
    """Per domain, the rows above the one recording ``position`` (read with no transaction
    applied between the two reads). Returns (the domains with such rows, a line per domain that
    cannot be judged: no row records its position).

    >>> [a.describe() for a in rows_ahead("0-1-39", [(0, 191, 1, 39), (0, 192, 1, 192), (0, 219, 1, 219)])[0]]
    ['domain 0: 2 rows above 0-1-39 (sub_id 191), up to 0-1-219 (sub_id 219)']
    >>> rows_ahead("0-1-39", [(0, 190, 1, 38), (0, 191, 1, 39)])
    ([], [])
    >>> rows_ahead("0-1-39", [(0, 7, 2, 5)])
    ([], ['domain 0: no row records the position 0-1-39'])
    """
    held = positions(position)
    ahead, unjudged = [], []
    for domain in sorted(held.keys() | {int(r[0]) for r in rows}):
        mine = sorted((int(r[1]), f"{r[0]}-{r[2]}-{r[3]}") for r in rows if int(r[0]) == domain)
        at = [sub for sub, gtid in mine if gtid == held.get(domain)]
        if not at:
            unjudged.append(f"domain {domain}: no row records the position {held.get(domain, '(none)')}")
            continue
        above = tuple((sub, gtid) for sub, gtid in mine if sub > max(at))
        if above:
            ahead.append(Ahead(domain, held[domain], max(at), above))
    return ahead, unjudged


def persistent(first: list[Ahead], second: list[Ahead]) -> list[Ahead]:
    """The rows ahead in both of two reads taken apart: a transaction committing between a
    read's two statements can put its own row ahead once, never twice (the position follows it);
    rows a dump loaded stay ahead until the counter reaches them.

    >>> a = Ahead(0, "0-1-39", 191, ((192, "0-1-192"), (219, "0-1-219")))
    >>> b = Ahead(0, "0-1-41", 193, ((219, "0-1-219"),))
    >>> [x.rows for x in persistent([a], [b])]
    [((219, '0-1-219'),)]
    >>> persistent([Ahead(0, "0-1-39", 191, ((192, "0-1-40"),))], [])
    []
    """
    earlier = {(a.domain, row) for a in first for row in a.rows}
    kept = []
    for a in second:
        rows = tuple(row for row in a.rows if (a.domain, row) in earlier)
        if rows:
            kept.append(Ahead(a.domain, a.position, a.at, rows))
    return kept
