"""HA-DBHA-009 (suites/checks/gtid_state.py, suites/gtid_state.py) on scripted servers: rows a
dump loaded above the server's counter fail it, a transaction landing between two reads does
not, and a server that cannot answer is "not verifiable", never a pass."""

from __future__ import annotations

import doctest
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
import pytest

from bootstrap import inventory as inv
from suites import gtid_state
from suites.checks import gtid_state as check
from suites.context import CheckFailed, Context, NotVerifiable
from suites.dbsession import DbFacts
from suites.engine import run_checks
from suites.runtime import SiteRuntime
from tests.test_db_rebuild import AFTER_REBUILD
from tests.test_layouts import CATALOG, CHECKS, k3s_site, recorded


class Server:
    """Answers the check's statements. ``states``: (position, rows) per read of the position, in
    turn (the last one repeats); ``error``: raised by every statement (a pymysql error)."""

    def __init__(self, states: list[tuple[str, list[Any]]], error: Exception | None = None) -> None:
        self.states, self.error, self.reads = states, error, 0
        self.rows: list[Any] = []

    @contextmanager
    def cursor(self) -> Iterator[Server]:
        yield self

    def _state(self) -> tuple[str, list[Any]]:
        return self.states[min(self.reads, len(self.states) - 1)]

    def execute(self, sql: str) -> None:
        if self.error:
            raise self.error
        if sql.startswith("SHOW TABLES"):
            self.rows = [("gtid_slave_pos",)]
        elif sql == "SELECT @@GLOBAL.gtid_slave_pos":
            self.rows = [(self._state()[0],)]
            self.reads += 1
        else:
            self.rows = list(self.states[min(self.reads - 1, len(self.states) - 1)][1])

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        return self.rows


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(gtid_state).failed == 0


def test_rows_a_dump_loaded_fail_in_both_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check, "APART_S", 0.0)
    ahead, ev = check.judge(Server([("0-1-39", AFTER_REBUILD)]), "node2")
    assert [a.describe() for a in ahead] == ["domain 0: 28 rows above 0-1-39 (sub_id 191), up to 0-1-219 (sub_id 219)"]
    assert ev[0] == ("SELECT @@GLOBAL.gtid_slave_pos", "0-1-39, then 0-1-39")


def test_a_transaction_landing_between_the_reads_is_not_a_row_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """Round one sees the row of 0-1-40 before the position moves to it; round two does not."""
    monkeypatch.setattr(check, "APART_S", 0.0)
    rows = [(0, 190, 1, 38), (0, 191, 1, 39)]
    landed = [*rows, (0, 192, 1, 40)]
    ahead, _ = check.judge(Server([("0-1-39", landed), ("0-1-39", landed), ("0-1-40", landed)]), "node2")
    assert ahead == []


def test_a_position_moving_during_every_read_is_not_verifiable(monkeypatch: pytest.MonkeyPatch) -> None:
    moving = [(f"0-1-{n}", [(0, n + 100, 1, n)]) for n in range(1, 20)]
    with pytest.raises(NotVerifiable, match="moved during each of 3 reads"):
        check.judge(Server(moving), "node2")


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (pymysql.err.OperationalError(1193, "Unknown system variable 'gtid_slave_pos'"), "keeps no GTID state"),
        (pymysql.err.OperationalError(1142, "SELECT command denied to user 'yunion'"), "may not read"),
    ],
)
def test_a_server_without_gtid_or_a_user_without_the_grant_is_not_verifiable(error: Exception, why: str) -> None:
    with pytest.raises(NotVerifiable, match=why):
        check.judge(Server([("", [])], error=error), "node2")


def test_rows_without_the_positions_row_are_not_verifiable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check, "APART_S", 0.0)
    assert check.judge(Server([("", [])]), "node2")[0] == []  # nothing applied, no rows: nothing to reach
    with pytest.raises(NotVerifiable, match=r"no row records the position \(none\)"):
        check.judge(Server([("", [(0, 7, 2, 5)])]), "node2")
    with pytest.raises(NotVerifiable, match="no row records the position 0-1-39"):
        check.judge(Server([("0-1-39", [(0, 7, 2, 5)])]), "node2")
    ahead, _ = check.judge(Server([("0-1-39", AFTER_REBUILD[:39])]), "node2")
    assert ahead == []


def test_a_sql_thread_stopped_on_the_rows_names_the_cause() -> None:
    """HA-DBHA-001 on a replica whose SQL thread already stopped on a loaded row: the message
    names the cause and the repair, beside the threads' states (the lab's error, verbatim)."""
    data, facts = k3s_site()
    inventory = inv.parse(data)
    rt = SiteRuntime.create(inventory, None, "postinstall", source=recorded(facts))
    error = ("Error during XID COMMIT: failed to update GTID state in mysql.gtid_slave_pos: 1062:  "
             "Duplicate entry '0-192' for key 'PRIMARY', Error_code: 1062")  # fmt: skip
    for name, sql_thread, last in (("dba", "Yes", ""), ("dbb", "No", error)):
        slave = {"Slave_IO_Running": "Yes", "Slave_SQL_Running": sql_thread, "Last_SQL_Error": last}
        rt.db.known[name] = DbFacts({}, [], slave)
    ctx = Context(rt, CATALOG["HA-DBHA-001"], inventory.node("dbb"), None)
    with pytest.raises(CheckFailed) as failed:
        run_checks(ctx, CHECKS["HA-DBHA-001"])
    assert "Slave_SQL_Running=No; its SQL thread stopped on a row of mysql.gtid_slave_pos" in failed.value.message
    assert "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_slave_pos" in failed.value.message
    run_checks(Context(rt, CATALOG["HA-DBHA-001"], inventory.node("dba"), None), CHECKS["HA-DBHA-001"])
