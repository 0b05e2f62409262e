"""MariaDB as the HA document has it (安装部署Mariadb数据库) and the DB-HA page's master-master
replication (GTID): each step idempotent, looking first and counting each change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bootstrap.db_rebuild import slave_fields
from bootstrap.deploy.core import MARK
from bootstrap.topology import Role

if TYPE_CHECKING:
    from bootstrap.deploy.core import Deployment
    from bootstrap.inventory import NodeEntry
    from bootstrap.profiles import Profile


def sql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def db_ha_index(d: Deployment, node: NodeEntry) -> int:
    return [n.name for n in d.nodes(Role.DB_HA)].index(node.name)


def mariadb_config(d: Deployment, node: NodeEntry) -> str:
    return render_config(d.profile, db_ha_index(d, node) + 1 if node.has(Role.DB_HA) else None)


def render_config(p: Profile, server_id: int | None) -> str:
    """The document's my.cnf for a DB-HA node with ``server_id`` (1 or 2: its auto-increment
    offset too), or for a single DB node (None)."""
    lines = [
        MARK.strip(),
        "[mysqld]",
        "bind-address = 0.0.0.0",
        "skip_name_resolve",
        f"expire_logs_days = {p.expire_logs_days}",
        "innodb_file_per_table = ON",
    ]
    if server_id is not None:
        i = server_id
        lines += [
            f"max_connections = {p.max_connections_ha}",
            "log-bin = mysql-bin",
            "binlog-format = row",
            "log-slave-updates",
            "auto_increment_increment = 2",
            f"auto_increment_offset = {i}",
            f"server-id = {i}",
            "slave-net-timeout = 10",
        ]
    else:
        lines.append(f"max_connections = {p.max_connections_single}")
    return "\n".join(lines) + "\n"


def mysql(d: Deployment, node: NodeEntry, sql: str, check: bool = True) -> str:
    """SQL as the local root over the server's socket; the SQL (with any password) goes on stdin."""
    res = d.remote(node).run("mysql -N -B", stdin=sql, check=check)
    return res.stdout


def mariadb(d: Deployment, node: NodeEntry) -> None:
    """MariaDB installed, configured, running as a plain service, with the document's accounts."""
    _server(d, node)
    _accounts(d, node)


def _server(d: Deployment, node: NodeEntry) -> None:
    r, dist, step = d.remote(node), d.distro(node), "mariadb"
    if not r.run("command -v mysqld || test -x /usr/sbin/mariadbd", check=False).ok:
        r.run(f"{dist.install} {' '.join(dist.mariadb_packages)}", timeout=900)
        d.changed(node, step, "installed MariaDB")
    conf = f"{dist.mariadb_conf_dir}/90-cloudpods-ha.cnf"
    conf_changed = r.put(conf, mariadb_config(d, node))
    if conf_changed:
        d.changed(node, step, f"wrote {conf}")
    svc = dist.mariadb_service
    if not r.run(f"systemctl is-enabled {svc}", check=False).ok:
        r.run(f"systemctl enable {svc}")
        d.changed(node, step, f"enabled {svc}")
    # Debian activates MariaDB from a socket: a stopped or crashed server would come back at
    # the next connection, unseen by keepalived's chk_mysql. The document's hosts run it as a
    # plain service, so a dead database stays dead until someone (or the VIP's move) acts.
    socket = f"{svc}.socket"
    if r.run(f"systemctl cat {socket}", check=False).ok and r.run(f"systemctl is-enabled {socket}", check=False).ok:
        r.run(f"systemctl disable --now {socket}")
        d.changed(node, step, f"disabled {socket} (no socket activation)")
    if conf_changed or not r.run(f"systemctl is-active {svc}", check=False).ok:
        r.run(f"systemctl restart {svc}", timeout=180)
        d.changed(node, step, f"restarted {svc}")


def _accounts(d: Deployment, node: NodeEntry) -> None:
    step, pw = "mariadb", sql_quote(d.db_password)
    # root@localhost: the document's `mysqladmin password`, keeping socket login for root.
    has_pw = mysql(
        d,
        node,
        "SELECT COUNT(*) FROM mysql.global_priv WHERE User='root' AND Host='localhost' "
        "AND JSON_EXISTS(Priv, '$.auth_or');",
    ).strip()
    if has_pw != "1":
        mysql(
            d,
            node,
            "SET sql_log_bin=0; ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket "
            f"OR mysql_native_password USING PASSWORD({pw});",
        )
        d.changed(node, step, "set the root password")
    # root@'%' with ALL and GRANT OPTION (the document's GRANT, the installer's preflight).
    users = [("root", "ALL PRIVILEGES", " WITH GRANT OPTION")]
    if node.has(Role.DB_HA):
        users.append(("repl", "REPLICATION SLAVE", ""))
    for user, privs, extra in users:
        ok = mysql(
            d,
            node,
            f"SELECT COUNT(*) FROM mysql.user WHERE User='{user}' AND Host='%' "
            f"AND authentication_string=PASSWORD({pw})"
            + (" AND Grant_priv='Y' AND Super_priv='Y'" if extra else " AND Repl_slave_priv='Y'")
            + ";",
        ).strip()
        if ok != "1":
            mysql(
                d,
                node,
                f"SET sql_log_bin=0; CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY {pw}; "
                f"ALTER USER '{user}'@'%' IDENTIFIED BY {pw}; GRANT {privs} ON *.* TO '{user}'@'%'{extra}; "
                "FLUSH PRIVILEGES;",
            )
            d.changed(node, step, f"granted {privs} to {user}@'%'")


def _slave_status(d: Deployment, node: NodeEntry) -> dict[str, str]:
    return slave_fields(d.remote(node).run("mysql -E -e 'SHOW SLAVE STATUS'").stdout)


def replication(d: Deployment, node: NodeEntry) -> None:
    """Master-master: each DB-HA node replicates from the other (GTID)."""
    peers = [n for n in d.nodes(Role.DB_HA) if n.name != node.name]
    peer = str(peers[0].address)
    status = _slave_status(d, node)
    if status.get("Master_Host") != peer or status.get("Master_User") != "repl":
        mysql(
            d,
            node,
            "STOP SLAVE; CHANGE MASTER TO "
            f"MASTER_HOST='{peer}', MASTER_PORT={d.inventory.db.port}, MASTER_USER='repl', "
            f"MASTER_PASSWORD={sql_quote(d.db_password)}, MASTER_USE_GTID=slave_pos, "
            "MASTER_CONNECT_RETRY=1; START SLAVE;",
        )
        d.changed(node, "replication", f"replicating from {peers[0].name} ({peer})")
    elif status.get("Slave_IO_Running") != "Yes" or status.get("Slave_SQL_Running") != "Yes":
        mysql(d, node, "START SLAVE;")
        d.changed(node, "replication", "started the slave threads")


def replication_running(d: Deployment) -> str | None:
    for node in d.nodes(Role.DB_HA):
        st = _slave_status(d, node)
        if (st.get("Slave_IO_Running"), st.get("Slave_SQL_Running")) != ("Yes", "Yes"):
            return (
                f"{node.name}: IO={st.get('Slave_IO_Running')} SQL={st.get('Slave_SQL_Running')} "
                f"{st.get('Last_IO_Error', '')}{st.get('Last_SQL_Error', '')}"
            )
    return None
