"""HA-DB and HA-DBHA: MariaDB as the document configures it, and its replication."""

from __future__ import annotations

import re
import time
import uuid

import pymysql

from bootstrap.poll import WaitTimeout, wait_until
from bootstrap.topology import Role
from suites import history, mariadb_log
from suites.context import Context, NotVerifiable
from suites.messages import number
from suites.registry import check


def _vars_evidence(ctx: Context, names: list[str]) -> list[tuple[str, str]]:
    assert ctx.node is not None
    v = ctx.rt.db_facts(ctx.node).variables
    return [("SELECT " + ", ".join(f"@@{n}" for n in names), ", ".join(f"{n}={v.get(n)}" for n in names))]


@check("HA-DB-001")
def db_answers_through_endpoint(ctx: Context) -> None:
    if ctx.inventory.vips.db is not None:
        ctx.through_vip("db")
    host = ctx.rt.db_endpoint()
    try:
        conn = ctx.rt.connect_db(host)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                row = cur.fetchone()
        finally:
            conn.close()
    except pymysql.MySQLError as exc:
        ctx.fail(f"cannot query MariaDB at {host}:{ctx.inventory.db.port} as {ctx.inventory.db.user}: {exc}")
    ctx.require(row == (1,), f"SELECT 1 at {host} returned {row}")


@check("HA-DB-002")
def db_settings(ctx: Context) -> None:
    assert ctx.node is not None
    v = ctx.rt.db_facts(ctx.node).variables
    names = ["skip_name_resolve", "expire_logs_days", "innodb_file_per_table"]
    ev = _vars_evidence(ctx, names)
    problems = []
    if int(v["skip_name_resolve"] or 0) != 1:
        problems.append("skip_name_resolve is OFF")
    if int(v["expire_logs_days"] or 0) != int(ctx.expected("expire_logs_days")):
        problems.append(
            f"expire_logs_days is {number(v['expire_logs_days'])} (expected {number(ctx.expected('expire_logs_days'))})"
        )
    if int(v["innodb_file_per_table"] or 0) != 1:
        problems.append("innodb_file_per_table is OFF")
    ctx.require(not problems, f"{ctx.node.name}: " + "; ".join(problems), ev)


@check("HA-DB-003")
def db_max_connections(ctx: Context) -> None:
    assert ctx.node is not None
    want = ctx.expected("ha") if ctx.node.has(Role.DB_HA) else ctx.expected("single")
    have = ctx.rt.db_facts(ctx.node).variables["max_connections"]
    ctx.require(
        int(have) == int(want),
        f"{ctx.node.name}: max_connections is {have}, expected {want}",
        _vars_evidence(ctx, ["max_connections"]),
    )


@check("HA-DB-004")
def root_grant_option(ctx: Context) -> None:
    assert ctx.node is not None
    # The password hash is no business of a report's.
    grants = [re.sub(r"(PASSWORD\s+)'[^']*'", r"\1'<redacted>'", g) for g in ctx.rt.db_facts(ctx.node).grants]
    ev = [("SHOW GRANTS FOR 'root'@'%'", "\n".join(grants))]
    # MariaDB 10.x quotes the account with backticks, 5.5 (CentOS 7) with single quotes.
    ok = any(
        g.replace("'", "`").startswith("GRANT ALL PRIVILEGES ON *.* TO `root`@`%`") and "WITH GRANT OPTION" in g
        for g in grants
    )
    ctx.require(ok, f"{ctx.node.name}: root@'%' lacks ALL PRIVILEGES ON *.* WITH GRANT OPTION", ev)


def _slave_evidence(slave: dict[str, object]) -> list[tuple[str, str]]:
    keys = (
        "Master_Host",
        "Slave_IO_Running",
        "Slave_SQL_Running",
        "Seconds_Behind_Master",
        "Last_IO_Error",
        "Last_SQL_Error",
    )
    return [("SHOW SLAVE STATUS", "\n".join(f"{k}: {slave.get(k)}" for k in keys) if slave else "(empty)")]


@check("HA-DBHA-001")
def replication_threads(ctx: Context) -> None:
    assert ctx.node is not None
    slave = ctx.rt.db_facts(ctx.node).slave
    ev = _slave_evidence(slave)
    ctx.require(slave, f"{ctx.node.name} replicates from nobody (SHOW SLAVE STATUS is empty)", ev)
    io, sql = slave.get("Slave_IO_Running"), slave.get("Slave_SQL_Running")
    error = str(slave.get("Last_SQL_Error") or "")
    # The stop HA-DBHA-009 foresees: rows a dump loaded into mysql.gtid_slave_pos (MDEV-15393).
    cause = (
        "; its SQL thread stopped on a row of mysql.gtid_slave_pos a dump loaded (MDEV-15393, "
        "docs/findings/vendor-rebuild-loads-gtid-slave-pos.md): STOP SLAVE; SET GLOBAL gtid_slave_pos = "
        "@@GLOBAL.gtid_slave_pos; START SLAVE"
        if sql != "Yes" and "gtid_slave_pos" in error and "1062" in error
        else ""
    )
    message = f"{ctx.node.name}: Slave_IO_Running={io}, Slave_SQL_Running={sql}{cause}"
    ctx.require((io, sql) == ("Yes", "Yes"), message, ev)


@check("HA-DBHA-002")
def distinct_ids(ctx: Context) -> None:
    nodes = ctx.inventory.nodes_with(Role.DB_HA)
    v = {n.name: ctx.rt.db_facts(n).variables for n in nodes}
    names = ["server_id", "auto_increment_offset", "auto_increment_increment"]
    ev = [(f"SELECT @@server_id, ... on {n}", ", ".join(f"{k}={v[n][k]}" for k in names)) for n in v]
    for key in ("server_id", "auto_increment_offset"):
        values = [int(x[key]) for x in v.values()]
        ctx.require(len(set(values)) == len(values), f"{key} is the same on the DB nodes: {values}", ev)
    increments = [int(x["auto_increment_increment"]) for x in v.values()]
    ctx.require(all(i == 2 for i in increments), f"auto_increment_increment is {increments}, expected 2", ev)


@check("HA-DBHA-003")
def binary_log(ctx: Context) -> None:
    assert ctx.node is not None
    v = ctx.rt.db_facts(ctx.node).variables
    ev = _vars_evidence(ctx, ["log_bin", "binlog_format", "log_slave_updates"])
    problems = []
    if int(v["log_bin"] or 0) != 1:
        problems.append("log_bin is OFF")
    if str(v["binlog_format"]).upper() != "ROW":
        problems.append(f"binlog_format is {v['binlog_format']}")
    if int(v["log_slave_updates"] or 0) != 1:
        problems.append("log_slave_updates is OFF")
    ctx.require(not problems, f"{ctx.node.name}: " + "; ".join(problems), ev)


@check("HA-DBHA-004")
def replication_lag(ctx: Context) -> None:
    assert ctx.node is not None
    slave = ctx.rt.db_facts(ctx.node).slave
    lag = slave.get("Seconds_Behind_Master")
    bound = float(ctx.expected("max_lag_s"))
    ev = _slave_evidence(slave)
    ctx.require(lag is not None, f"{ctx.node.name}: no replication lag figure (replication not running)", ev)
    ctx.require(float(lag) <= bound, f"{ctx.node.name}: {lag} s behind its master (bound {bound:g} s)", ev)  # type: ignore[arg-type]


PROBE_SCHEMA = "ha_conformance"


@check("HA-DBHA-005")
def probe_row_replicates(ctx: Context) -> None:
    """Writes one row through the VIP, reads it on both nodes, removes it (and the
    probe schema when this check created it)."""
    if ctx.inventory.vips.db is not None:
        ctx.through_vip("db")
    marker = uuid.uuid4().hex
    bound = float(ctx.expected("max_lag_s"))
    vip = ctx.rt.db_endpoint()
    try:
        conn = ctx.rt.connect_db(vip)
    except pymysql.MySQLError as exc:
        ctx.fail(f"cannot connect through the DB VIP {vip}: {exc}")
    created = False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name=%s", (PROBE_SCHEMA,))
            created = cur.fetchone() == (0,)
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {PROBE_SCHEMA}")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {PROBE_SCHEMA}.probe (id CHAR(32) PRIMARY KEY, at DOUBLE)")
            cur.execute(f"INSERT INTO {PROBE_SCHEMA}.probe VALUES (%s, %s)", (marker, time.time()))
        missing = []
        for node in ctx.inventory.nodes_with(Role.DB_HA):

            def arrived(address: str = str(node.address)) -> str | None:
                peer = ctx.rt.connect_db(address, timeout=3)
                try:
                    with peer.cursor() as cur:
                        cur.execute(f"SELECT COUNT(*) FROM {PROBE_SCHEMA}.probe WHERE id=%s", (marker,))
                        return None if cur.fetchone() == (1,) else "not there yet"
                finally:
                    peer.close()

            try:
                wait_until(f"the probe row on {node.name}", arrived, bound, interval=0.2, swallow=(pymysql.MySQLError,))
            except WaitTimeout:
                missing.append(node.name)
        ctx.require(not missing, f"a row written through {vip} did not reach {', '.join(missing)} within {bound:g} s")
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM {PROBE_SCHEMA}.probe WHERE id=%s", (marker,))
            if created:
                cur.execute(f"DROP DATABASE IF EXISTS {PROBE_SCHEMA}")
        conn.close()


@check("HA-DBHA-006")
def writable_and_strict(ctx: Context) -> None:
    """Where the DB VIP can move, the node must take writes: a passive node left read_only
    refuses every write once the VIP moves there. And replication must stop on an error rather
    than skip it (slave_skip_errors, slave_exec_mode IDEMPOTENT): skipping hides divergence, both
    threads still Yes with the rows different. Sources: MariaDB's variable reference, Percona's
    advisor on skipping replicas (catalog references)."""
    assert ctx.node is not None
    names = ["read_only", "slave_skip_errors", "slave_exec_mode"]
    v = ctx.rt.db_facts(ctx.node).variables
    unread = [n for n in names if v.get(n) is None]
    if unread:
        raise NotVerifiable(f"{ctx.node.name}: MariaDB gave no value for {', '.join(unread)}")
    ev = _vars_evidence(ctx, names)
    problems = []
    if int(v["read_only"]) != 0:
        problems.append("read_only is ON: it refuses writes once the DB VIP moves to it")
    if str(v["slave_skip_errors"]).upper() not in ("OFF", ""):
        problems.append(f"slave_skip_errors is {v['slave_skip_errors']}: replication skips those errors and diverges")
    if str(v["slave_exec_mode"]).upper() != "STRICT":
        problems.append(f"slave_exec_mode is {v['slave_exec_mode']}: replication ignores missing and duplicate rows")
    ctx.require(not problems, f"{ctx.node.name}: " + "; ".join(problems), ev)


@check("HA-DBHA-008", facts=("mariadb_log",))
def replication_never_stopped(ctx: Context) -> None:
    """MariaDB's error log since boot (the file my.cnf names, else the journal; at most
    history_days back) on this DB-HA node holds no replication thread given up on an error
    (suites/mariadb_log.py): a stop someone resumed by skipping the event leaves SHOW SLAVE STATUS
    clean and the two nodes' data apart."""
    node = ctx.node
    assert node is not None
    since, now = history.window(ctx, ctx.facts.runner_after or time.time())
    lines = ctx.facts["mariadb_log"]
    if lines is None:
        ctx.fail(f"MariaDB is not installed on {node.name} (no my_print_defaults)")
    stopped = mariadb_log.stops([(t, line) for t, line in lines if since <= t <= now])
    ctx.figures.update(replication_stops=len(stopped))
    if stopped:
        last = stopped[-1]
        why = (last.cause or last.line).split("] ", 1)[-1]
        shown = "\n".join(f"{s.cause}\n{s.line}" if s.cause else s.line for s in stopped[-10:])
        ctx.fail(
            f"replication stopped on an error {len(stopped)} time(s) on {node.name} since boot, the last at "
            f"{history.iso(last.at)}, on: {why}",
            [(f"{node.name}: MariaDB's error log, the replication stops", shown)],
        )
