"""The vendor's MariaDB master-master recovery (bootstrap/db_rebuild.py) against a scripted
pair: its steps in the page's order, the replica's keepalived started again also when a step
fails, and a SHOW MASTER STATUS without a position refused. (On the lab: HA-SURV-008 and its
scenario mutation in tests/test_mutations.py.)"""

from __future__ import annotations

import pytest

from bootstrap import db_rebuild as rb

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
