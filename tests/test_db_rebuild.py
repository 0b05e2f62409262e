"""The vendor's MariaDB master-master recovery (bootstrap/db_rebuild.py) against a scripted
pair: its steps in the page's order, the replica's keepalived started again also when a step
fails, and a SHOW MASTER STATUS without a position refused. (On the lab: HA-SURV-008 and its
scenario mutation in tests/test_mutations.py.)"""

from __future__ import annotations

import doctest

import pytest

from bootstrap import db_rebuild as rb
from suites.findings import STALE_GTID_SLAVE_POS
from suites.survival import rebuild
from suites.survival.plan import Outcome

RUNNING = "Slave_IO_Running: Yes\nSlave_SQL_Running: Yes\n"


class Pair:
    """db1 the master, db2 the replica: what each command gets back; every command recorded."""

    def __init__(self, replica_follows: bool = True) -> None:
        self.calls: list[str] = []
        self.replica_follows = replica_follows

    def run(self, node: str, command: str, timeout: float = 30, stdin: str | None = None) -> str:
        self.calls.append(f"{node}: {command}" + (f" <- {stdin}" if stdin and command != "mysql" else ""))
        if "SHOW SLAVE STATUS" in command:
            return RUNNING if (node == "db1" or self.replica_follows) else "Slave_IO_Running: Connecting\n"
        if stdin and "SHOW MASTER STATUS" in stdin:
            return "mysql-bin.000001\t98\t\t\n" if node == "db1" else "mysql-bin.000001\t740\t\t\n"
        if stdin == "SHOW DATABASES":
            return "information_schema\nmysql\nperformance_schema\nsys\nyunioncloud\nkeystone\n"
        if command.startswith("mysqldump"):
            return "-- dump\n"
        return ""


def test_the_vendors_steps_run_in_the_pages_order() -> None:
    pair = Pair()
    rb.vendor_rebuild(pair.run, "db2", "db1")
    assert pair.calls == [
        "db2: systemctl stop keepalived",
        "db1: mysql -N -B <- STOP SLAVE; RESET SLAVE; RESET MASTER; FLUSH TABLES WITH READ LOCK; SHOW MASTER STATUS;",
        "db1: mysqldump --all-databases",
        "db1: mysql -N -B <- UNLOCK TABLES;",
        "db2: mysql -N -B <- STOP SLAVE;",
        "db2: mysql -N -B <- SHOW DATABASES",
        "db2: mysql -N -B <- DROP DATABASE `yunioncloud`;DROP DATABASE `keystone`;",
        "db2: mysql",
        "db2: mysql -N -B <- RESET SLAVE; CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000001', MASTER_LOG_POS=98; "
        "START SLAVE;",
        "db2: mysql -E -e 'SHOW SLAVE STATUS'",
        "db2: mysql -N -B <- RESET MASTER; SHOW MASTER STATUS;",
        "db1: mysql -N -B <- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000001', MASTER_LOG_POS=740; START SLAVE;",
        "db1: mysql -E -e 'SHOW SLAVE STATUS'",
        "db2: systemctl start keepalived",
    ]


def test_a_failed_step_still_gives_the_replica_its_keepalived_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rb, "wait_until", _fail_at_once)
    pair = Pair(replica_follows=False)
    with pytest.raises(rb.RebuildError, match="IO=Connecting"):
        rb.vendor_rebuild(pair.run, "db2", "db1")
    assert pair.calls[-1] == "db2: systemctl start keepalived"


def _fail_at_once(what: str, check, timeout: float, interval: float = 0.5):  # type: ignore[no-untyped-def]
    why = check()
    if why:
        raise rb.WaitTimeout(what, timeout, why)


def test_slave_status_fields_keep_colons_in_their_values() -> None:
    out = (
        "*************************** 1. row ***************************\n"
        "               Slave_SQL_Running: No\n"
        "                  Last_SQL_Errno: 1062\n"
        "                  Last_SQL_Error: Could not execute Write_rows_v1 event on table t; "
        "Duplicate entry '7' for key 'PRIMARY', Error_code: 1062\n"
    )
    fields = rb.slave_fields(out)
    assert fields["Slave_SQL_Running"] == "No" and fields["Last_SQL_Errno"] == "1062"
    assert fields["Last_SQL_Error"].endswith("Error_code: 1062")
    assert rb.slave_fields("") == {}


@pytest.mark.parametrize("answer", ["", "mysql-bin.000001\tNULL\n", "a;b\t98\n"])
def test_a_master_status_without_file_and_position_is_refused(answer: str) -> None:
    with pytest.raises(rb.RebuildError, match="no file and position"):
        rb._position(answer)


# The lab's node2 after the vendor's rebuild, then 39 transactions replicated (2026-12-03): the
# rows the dump loaded (0-1-192 .. 0-1-219) sit above the server's own sub_ids, and the 40th
# transaction stopped the SQL thread: "Error during XID COMMIT: failed to update GTID state in
# mysql.gtid_slave_pos: 1062: Duplicate entry '0-192' for key 'PRIMARY'".
AFTER_REBUILD = [(0, s, 1, s - 152) for s in range(153, 192)] + [(0, s, 1, s) for s in range(192, 220)]


class Replica:
    """A rebuilt replica (10.99.0.12) and its master (10.99.0.11): their answers to the GTID-state
    reads; every statement recorded as "host: statement"."""

    def __init__(
        self, position: str, rows: list[tuple[int, int, int, int]], master_at: str = "", error: str = ""
    ) -> None:
        self.position, self.rows, self.master_at, self.error = position, rows, master_at or position, error
        self.statements: list[str] = []

    def query(self, host: str, statement: str) -> list[tuple[object, ...]]:
        self.statements.append(f"{host}: {statement}")
        if statement == "SELECT @@GLOBAL.gtid_binlog_pos":
            return [(self.master_at,)]
        if statement == "SELECT @@GLOBAL.gtid_slave_pos":
            return [(self.position,)]
        if statement == "SHOW SLAVE STATUS":
            return [("Waiting for master to send event", "10.99.0.11", "1062", self.error)]
        return list(self.rows) if "FROM mysql.gtid_slave_pos" in statement else []


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(rebuild).failed == 0


def test_rows_a_dump_loaded_above_the_servers_counter_are_the_named_finding() -> None:
    pair = Replica("0-1-39", AFTER_REBUILD)
    out = Outcome()
    rebuild.gtid_state(pair.query, "10.99.0.12", "10.99.0.11", out)
    assert out.unexplained == [] and set(out.findings.values()) == {STALE_GTID_SLAVE_POS}
    assert "28 rows above 0-1-39 (sub_id 191), up to 0-1-219 (sub_id 219)" in out.problems[0]
    replica = [s.split(": ", 1)[1] for s in pair.statements if s.startswith("10.99.0.12")]
    # a marker written on the master first; read with the SQL thread stopped, the state rewritten
    # from the position, the thread started again
    assert pair.statements[0].startswith("10.99.0.11: CREATE TABLE IF NOT EXISTS")
    assert replica[1] == "STOP SLAVE SQL_THREAD" and replica[-1] == "START SLAVE SQL_THREAD"
    assert "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_slave_pos" in replica


def test_a_replica_in_step_with_its_table_is_left_alone() -> None:
    pair = Replica("0-1-39", AFTER_REBUILD[:39])
    out = Outcome()
    rebuild.gtid_state(pair.query, "10.99.0.12", "10.99.0.11", out)
    assert out.problems == [] and not any("SET GLOBAL" in s for s in pair.statements)
    assert pair.statements[-1] == "10.99.0.12: START SLAVE SQL_THREAD"
    # a domain whose position no row records cannot be judged: a problem, never a pass or the finding
    out = Outcome()
    rebuild.gtid_state(Replica("0-1-39", [(0, 7, 2, 5)]).query, "10.99.0.12", "10.99.0.11", out)
    assert out.findings == {} and out.problems == [
        "10.99.0.12: mysql.gtid_slave_pos could not be judged after the rebuild: "
        "domain 0: no row records the position 0-1-39"
    ]


def test_a_replica_that_does_not_apply_the_marker_is_not_judged_in_step() -> None:
    """Its own newest row then need not record a position: no verdict on the rows, a problem."""
    pair = Replica("0-1-39", AFTER_REBUILD[:39], master_at="0-1-40")
    out = Outcome()
    rebuild.gtid_state(pair.query, "10.99.0.12", "10.99.0.11", out, timeout=0.3)
    assert not any("SET GLOBAL" in s for s in pair.statements)
    assert out.findings == {} and out.problems == [
        "10.99.0.12: a transaction written on 10.99.0.11 after the rebuild was not applied within 0.3 s; "
        "its mysql.gtid_slave_pos could not be judged"
    ]
    assert pair.statements[-1] == "10.99.0.12: START SLAVE SQL_THREAD"


def test_a_replica_already_stopped_on_the_rows_is_the_finding_and_runs_again() -> None:
    """The collision can come within the few transactions before the check: the SQL thread's own
    error is the evidence; the state is rewritten all the same and the thread started again."""
    error = ("Error during XID COMMIT: failed to update GTID state in mysql.gtid_slave_pos: 1062: "
             "Duplicate entry '0-192' for key 'PRIMARY', Error_code: 1062")  # fmt: skip
    pair = Replica("0-1-39", AFTER_REBUILD, master_at="0-1-40", error=error)
    out = Outcome()
    rebuild.gtid_state(pair.query, "10.99.0.12", "10.99.0.11", out, timeout=0.3)
    assert set(out.findings.values()) == {STALE_GTID_SLAVE_POS} and "Duplicate entry '0-192'" in out.problems[0]
    assert "10.99.0.12: SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_slave_pos" in pair.statements
    assert pair.statements[-1] == "10.99.0.12: START SLAVE SQL_THREAD"


def test_a_replica_past_the_marker_has_applied_it() -> None:
    """Something else written on the master after the marker: the replica's position passes the
    marker's GTID, and that counts as applied (sequence numbers grow within a domain)."""
    pair = Replica("0-1-41", [*AFTER_REBUILD[:39], (0, 192, 1, 40), (0, 193, 1, 41)], master_at="0-1-40")
    assert rebuild.applied(pair.query, "10.99.0.12", "10.99.0.11", timeout=0.3)
    behind = Replica("0-1-39", AFTER_REBUILD[:39], master_at="0-1-40")
    assert not rebuild.applied(behind.query, "10.99.0.12", "10.99.0.11", timeout=0.3)
