"""The database as the checks read it: one SQL session per DB node with the inventory's
credentials (server variables, root's grants, replication state), fetched once per worker. A
refused login, and a server that takes the TCP connection but gives no answer in time (hung: a
frozen or overloaded mysqld), are the root item ROOT-DB[site], never a failure of each check."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymysql

from bootstrap import inventory as inv
from bootstrap.topology import Role
from suites import tls
from suites.errors import DB_LOGIN_REFUSED, DB_NO_ANSWER, ROOT_DB, Blocked, CheckFailed

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
    "read_only",
    "slave_skip_errors",
    "slave_exec_mode",
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
    _db_dead: dict[str, Exception] = field(default_factory=dict)  # what ended a node's session
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def connect_db(
        self, host: str, timeout: float = 5, query_timeout: float | None = None
    ) -> pymysql.connections.Connection:
        """A session with the inventory's credentials. Raises Blocked (naming ROOT_DB) when
        MariaDB refuses those credentials, pymysql's errors otherwise. ``timeout`` (s) bounds the
        connect and, unless ``query_timeout`` (s) is given, each query's answer."""
        try:
            return self._connect_db(host, timeout, timeout if query_timeout is None else query_timeout)
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in DB_LOGIN_REFUSED:
                raise Blocked(ROOT_DB, self.redact(self.db_login_refused(host, exc)), exc.args[0]) from None
            if exc.args and exc.args[0] == DB_NO_ANSWER and self._is_node(host):
                raise self.hung(host, "gave no greeting", timeout) from None
            raise  # through the DB VIP the same silence may be the VIP held twice: the checks judge it

    def _is_node(self, host: str) -> bool:
        return any(str(n.address) == host for n in self.inventory.nodes)

    def _where(self, host: str) -> str:
        where = next((n.name for n in self.inventory.nodes if str(n.address) == host), None)
        if where is None:
            where = "the DB VIP" if host == str(self.inventory.vips.db) else host
        return where

    def hung(self, host: str, what: str, timeout: float) -> Blocked:
        """ROOT-DB for a server that took the TCP connection but ``what`` within ``timeout`` s."""
        return Blocked(
            ROOT_DB,
            f"MariaDB on {self._where(host)} ({host}) took the TCP connection but {what} within {timeout:g} s "
            "(hung: a frozen or overloaded server)",
            DB_NO_ANSWER,
        )

    def db_login_refused(self, host: str, exc: pymysql.MySQLError) -> str:
        where = self._where(host)
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

    def _connect_db(self, host: str, timeout: float, query_timeout: float) -> pymysql.connections.Connection:
        db = self.inventory.db
        return tls.connect_db(
            host=host,
            port=db.port,
            user=db.user,
            password=db.password(),
            connect_timeout=timeout,
            read_timeout=query_timeout,
            write_timeout=query_timeout,
            autocommit=True,
        )

    def db_facts(self, node: inv.NodeEntry) -> DbFacts:
        """The node's server variables, root's grants and replication state, read once. Raises
        Blocked (ROOT-DB: refused or hung) or CheckFailed (cannot connect), the same each time."""
        if node.name in self._db_dead:
            raise self._db_dead[node.name]
        if node.name not in self.known:
            try:
                self.known[node.name] = self._read(node)
            except (Blocked, CheckFailed) as exc:
                self._db_dead[node.name] = exc
                raise
        return self.known[node.name]

    def _read(self, node: inv.NodeEntry) -> DbFacts:
        timeout = self.inventory.ssh.connect_timeout
        try:
            conn = self.connect_db(str(node.address), timeout=timeout)
        except pymysql.MySQLError as exc:
            port = self.inventory.db.port
            raise CheckFailed(f"{node.name}: cannot connect to MariaDB at {node.address}:{port}: {exc}") from None
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT " + ", ".join(f"@@{v}" for v in DB_VARIABLES))
                variables = dict(zip(DB_VARIABLES, cur.fetchone() or (), strict=False))
                try:
                    cur.execute("SHOW GRANTS FOR 'root'@'%'")
                    grants = [row[0] for row in cur.fetchall()]
                except pymysql.MySQLError as exc:
                    if exc.args and exc.args[0] == DB_NO_ANSWER:
                        raise
                    grants = [f"(none: {exc.args[-1]})"]  # no grant for root@'%' (1141): the checks say so
            with conn.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute("SHOW SLAVE STATUS")
                slave = cur.fetchone() or {}
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == DB_NO_ANSWER:
                raise self.hung(str(node.address), "answered no query after the login", timeout) from None
            raise CheckFailed(f"{node.name}: MariaDB at {node.address}: {exc.args[-1]}") from None
        finally:
            conn.close()
        return DbFacts(variables, grants, slave)
