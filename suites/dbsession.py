"""The database as the checks read it: one SQL session per DB node with the inventory's
credentials (server variables, root's grants, replication state), fetched once per worker; a
refused login is the root item ROOT-DB[site], never a failure of each check."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymysql

from bootstrap import inventory as inv
from bootstrap.topology import Role
from suites.errors import DB_LOGIN_REFUSED, ROOT_DB, Blocked, CheckFailed

DB_VARIABLES = (
    "skip_name_resolve",
    "expire_logs_days",
    "innodb_file_per_table",
    "max_connections",
    "server_id",
    "auto_increment_offset",
    "auto_increment_increment",
    "log_bin",
    "binlog_format",
    "log_slave_updates",
)


@dataclass
class DbFacts:
    variables: dict[str, Any]
    grants: list[str]
    slave: dict[str, Any]


@dataclass
class DbSessions:
    """Per-worker sessions to the site's MariaDB; ``redact`` keeps secrets out of messages."""

    inventory: inv.Inventory
    redact: Callable[[str], str]
    known: dict[str, DbFacts] = field(default_factory=dict)  # read already (or recorded, in unit tests)
    _db_dead: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def connect_db(self, host: str, timeout: float = 5) -> pymysql.connections.Connection:
        """A session with the inventory's credentials. Raises Blocked (naming ROOT_DB) when
        MariaDB refuses those credentials, pymysql's errors otherwise."""
        try:
            return self._connect_db(host, timeout)
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in DB_LOGIN_REFUSED:
                raise Blocked(ROOT_DB, self.redact(self.db_login_refused(host, exc)), exc.args[0]) from None
            raise

    def db_login_refused(self, host: str, exc: pymysql.MySQLError) -> str:
        where = next((n.name for n in self.inventory.nodes if str(n.address) == host), None)
        if where is None:
            where = "the DB VIP" if host == str(self.inventory.vips.db) else host
        return (
            f"MariaDB on {where} ({host}) refuses the inventory's credentials for user "
            f"{self.inventory.db.user!r} (error {exc.args[0]}): {exc.args[-1]}"
        )

    def db_endpoints(self) -> list[tuple[str, str]]:
        """(label, address) of every place the checks log in to MariaDB: the DB nodes, the DB VIP."""
        found = [(n.name, str(n.address)) for n in self.inventory.nodes if n.has(Role.DB) or n.has(Role.DB_HA)]
        if self.inventory.vips.db is not None:
            found.append(("vip-db", str(self.inventory.vips.db)))
        return found

    def _connect_db(self, host: str, timeout: float) -> pymysql.connections.Connection:
        db = self.inventory.db
        return pymysql.connect(
            host=host,
            port=db.port,
            user=db.user,
            password=db.password(),
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            autocommit=True,
        )

    def db_facts(self, node: inv.NodeEntry) -> DbFacts:
        if node.name in self._db_dead:
            raise CheckFailed(self._db_dead[node.name])
        if node.name not in self.known:
            try:
                conn = self.connect_db(str(node.address), timeout=self.inventory.ssh.connect_timeout)
            except pymysql.MySQLError as exc:
                port = self.inventory.db.port
                self._db_dead[node.name] = f"{node.name}: cannot connect to MariaDB at {node.address}:{port}: {exc}"
                raise CheckFailed(self._db_dead[node.name]) from None
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT " + ", ".join(f"@@{v}" for v in DB_VARIABLES))
                    variables = dict(zip(DB_VARIABLES, cur.fetchone() or (), strict=False))
                    try:
                        cur.execute("SHOW GRANTS FOR 'root'@'%'")
                        grants = [row[0] for row in cur.fetchall()]
                    except pymysql.MySQLError as exc:
                        grants = [f"(none: {exc.args[-1]})"]
                with conn.cursor(pymysql.cursors.DictCursor) as cur:
                    cur.execute("SHOW SLAVE STATUS")
                    slave = cur.fetchone() or {}
            finally:
                conn.close()
            self.known[node.name] = DbFacts(variables, grants, slave)
        return self.known[node.name]
