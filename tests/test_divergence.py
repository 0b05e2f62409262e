"""HA-DBHA-007's comparison rounds (suites/checks/divergence.py) on scripted servers: what is
at rest and differs diverged, what changed under the comparison is left out, a node that does
not catch up leaves the tables uncompared."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from suites.checks.divergence import _both_sides, _round, _tables


class Server:
    """Answers the comparison's statements: checksums from ``sums`` (a list is read in turn:
    a table being written), gtid_binlog_pos, MASTER_GTID_WAIT (0, or -1 when ``behind``)."""

    def __init__(self, sums: dict[str, Any], behind: bool = False, sizes: dict[str, int] | None = None) -> None:
        self.sums, self.behind, self.sizes = sums, behind, sizes or {}
        self.rows: list[Any] = []
        self.log: list[str] = []

    @contextmanager
    def cursor(self) -> Iterator[Server]:
        yield self

    def execute(self, sql: str, args: Any = None) -> None:
        self.log.append(sql)
        if sql.startswith("CHECKSUM TABLE"):
            names = [n.strip().replace("`", "") for n in sql.removeprefix("CHECKSUM TABLE ").split(",")]
            self.rows = [(n, self._sum(n)) for n in names]
        elif "gtid_binlog_pos" in sql:
            self.rows = [("0-1-42",)]
        elif sql.startswith("SELECT MASTER_GTID_WAIT"):
            self.rows = [(-1 if self.behind else 0,)]
        elif "information_schema.tables" in sql:
            by_size = sorted(self.sizes.items(), key=lambda item: item[1])  # ORDER BY the size, as asked
            self.rows = [(n.split(".")[0], n.split(".")[1], size) for n, size in by_size]

    def _sum(self, name: str) -> Any:
        value = self.sums[name]
        return value.pop(0) if isinstance(value, list) else value

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        return self.rows


T1, T2 = "`keystone`.`user`", "`region`.`guests`"


def test_tables_at_rest_that_differ_have_diverged() -> None:
    a = Server({"keystone.user": 11, "region.guests": 22})
    b = Server({"keystone.user": 11, "region.guests": 99})
    assert _round(a, b, [T1, T2]) == ([T2], [], [])
    assert _round(a, Server({"keystone.user": 11, "region.guests": 22}), [T1, T2]) == ([], [], [])


def test_a_table_written_during_the_comparison_is_left_out() -> None:
    a = Server({"keystone.user": 11, "region.guests": [22, 23]})  # another checksum the second time
    b = Server({"keystone.user": 11, "region.guests": 21})
    assert _round(a, b, [T1, T2]) == ([], [T2], [])


def test_a_node_that_does_not_catch_up_leaves_the_tables_uncompared() -> None:
    a = Server({"keystone.user": 11})
    b = Server({"keystone.user": 12}, behind=True)
    assert _round(a, b, [T1]) == ([], [], [T1])
    assert not any(s.startswith("CHECKSUM") for s in a.log + b.log)  # nothing read before both caught up


def test_the_budget_takes_the_smallest_tables_and_names_the_rest() -> None:
    a = Server({}, sizes={"keystone.user": 2**20, "region.guests": 3 * 2**30, "glance.images": 2**10})
    chosen, over = _tables(a)
    assert [t for t, _ in chosen] == ["`glance`.`images`", "`keystone`.`user`"] and over == ["`region`.`guests`"]


def test_a_table_on_one_node_only_is_compared_and_differs() -> None:
    """A table only db2 has (created with db1's binary log off, or left by an old dump) has no
    checksum on db1 (MariaDB answers NULL for a missing table): it is compared and differs."""
    a = Server({"keystone.user": 11, "region.extra": None}, sizes={"keystone.user": 100})
    b = Server({"keystone.user": 11, "region.extra": 5}, sizes={"keystone.user": 100, "region.extra": 10})
    chosen, over = _both_sides(a, b)
    tables = [t for t, _ in chosen]
    assert set(tables) == {T1, "`region`.`extra`"} and over == []
    assert _round(a, b, tables) == (["`region`.`extra`"], [], [])
