"""The HA document's steps, each idempotent: it looks first and changes only what
differs, counting each change.

Sections: OS preparation (关闭 selinux, DB-HA sysctls), MariaDB (安装部署Mariadb数据库
and the DB-HA page), keepalived for the DB and platform VIPs, the First Node's
passwordless SSH (配置ssh免密登录), kubectl configuration (配置使用kubectl命令),
compute nodes joined through the VIP, the ``yunion`` user of the upgrade section.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bootstrap.deploy.core import DeployError
from bootstrap.profiles import platform_auth_pass
from bootstrap.topology import Role
from bootstrap.vips import ADDR_COMMAND, addresses, holders

if TYPE_CHECKING:
    from bootstrap.deploy.core import Deployment
    from bootstrap.inventory import NodeEntry

MARK = "# Managed by cloudpods-ha-conformance (bootstrap/deploy); edits are overwritten.\n"


def sql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# OS ------------------------------------------------------------------------------
def os_prep(d: Deployment, node: NodeEntry) -> None:
    r = d.remote(node)
    step = "os"
    # SELinux: disabled in its config file (created where SELinux is absent, so the
    # file states the same on every node), and off now where it exists.
    current = r.read("/etc/selinux/config")
    if current is None:
        r.put("/etc/selinux/config", MARK + "SELINUX=disabled\nSELINUXTYPE=targeted\n")
        d.changed(node, step, "wrote /etc/selinux/config with SELINUX=disabled")
    elif not re.search(r"^SELINUX=disabled\s*$", current, re.M):
        r.run("sed -i -E 's/^SELINUX=.*/SELINUX=disabled/' /etc/selinux/config")
        d.changed(node, step, "set SELINUX=disabled in /etc/selinux/config")
    if r.run("command -v getenforce && getenforce", check=False).stdout.strip().endswith("Enforcing"):
        r.run("setenforce 0")
        d.changed(node, step, "setenforce 0")
    # firewalld off where present (a running firewalld breaks replication).
    if r.run("systemctl cat firewalld.service", check=False).ok and (
        r.run("systemctl is-enabled firewalld", check=False).ok
        or r.run("systemctl is-active firewalld", check=False).ok
    ):
        r.run("systemctl disable --now firewalld")
        d.changed(node, step, "disabled firewalld")
    # Swap off (the installer's precondition).
    if r.run("tail -n +2 /proc/swaps", check=False).stdout.strip():
        r.run("swapoff -a && sed -i -E 's/^([^#].*\\sswap\\s)/#\\1/' /etc/fstab")
        d.changed(node, step, "swap off")
    # Time in sync: a container shares its host's clock; elsewhere run the distro's NTP client.
    virt = r.run("systemd-detect-virt --container", check=False).stdout.strip()
    if virt in ("", "none"):
        dist = d.distro(node)
        svc = dist.time_service
        if not r.run(f"systemctl is-active {svc}", check=False).ok:
            if not r.run(f"systemctl cat {svc}.service", check=False).ok:
                r.run(f"{dist.install} {' '.join(dist.time_packages)}", timeout=600)
            r.run(f"systemctl enable --now {svc}")
            d.changed(node, step, f"started {svc}")
    # sysctls of the DB-HA page (VIP binding before it moves here).
    if node.has(Role.DB_HA):
        content = MARK + "net.ipv4.ip_forward = 1\nnet.ipv4.ip_nonlocal_bind = 1\n"
        if r.put("/etc/sysctl.d/90-cloudpods-ha.conf", content):
            d.changed(node, step, "wrote /etc/sysctl.d/90-cloudpods-ha.conf")
        live = r.run("sysctl -n net.ipv4.ip_forward net.ipv4.ip_nonlocal_bind").stdout.split()
        if live != ["1", "1"]:
            r.run("sysctl -q -p /etc/sysctl.d/90-cloudpods-ha.conf")
            d.changed(node, step, "applied ip_forward=1, ip_nonlocal_bind=1")


# MariaDB -------------------------------------------------------------------------------
def _db_ha_index(d: Deployment, node: NodeEntry) -> int:
    return [n.name for n in d.nodes(Role.DB_HA)].index(node.name)


def mariadb_config(d: Deployment, node: NodeEntry) -> str:
    p = d.profile
    lines = [
        MARK.strip(),
        "[mysqld]",
        "bind-address = 0.0.0.0",
        "skip_name_resolve",
        f"expire_logs_days = {p.expire_logs_days}",
        "innodb_file_per_table = ON",
    ]
    if node.has(Role.DB_HA):
        i = _db_ha_index(d, node) + 1
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
    pw = sql_quote(d.db_password)
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
    out = d.remote(node).run("mysql -E -e 'SHOW SLAVE STATUS'").stdout
    status = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            status[key.strip()] = value.strip()
    return status


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


# keepalived --------------------------------------------------------------------------------
def chk_mysql(port: int) -> str:
    """The DB-HA page's chk_mysql: ``echo | nc 127.0.0.1 3306 &>/dev/null`` (its port the site's).
    Written for CentOS 7, whose nc (nmap-ncat 6.40) closes the connection at stdin's end, so it
    is a TCP probe there (shared/docs/real-sites.md; nmap/nmap#1229)."""
    return "#!/bin/bash\n" + MARK + f"echo | nc 127.0.0.1 {port} &>/dev/null\n"


def check_interface_page(node_ip: str) -> str:
    """The DB-HA page's interface switcher: keepalived's ``interface`` follows the NIC that holds
    the node's address (br0 once the Host service moved it), keepalived restarted when it moved."""
    return (
        "#!/usr/bin/env bash\n"
        + MARK
        + f"""\
datestr="$(date +"%F %T")"
env_interface=$(cat /etc/keepalived/keepalived.conf | grep -w interface | awk '{{print $2}}')
echo "[$datestr] keepalived's interface now: $env_interface"
router_interface=$(/usr/sbin/ip a show | grep {node_ip} | awk '{{ print $NF}}')
echo "[$datestr] the interface that holds {node_ip}: [$router_interface]"
if [[ -n "$router_interface" ]] && [[ "$router_interface" != "$env_interface" ]]; then
    echo "[$datestr] updating keepalived.conf's interface"
    sed -i -e "s#$env_interface#$router_interface#g" /etc/keepalived/keepalived.conf
    systemctl restart keepalived
else
    echo "[$datestr] no need to update the interface"
fi
"""
    )


CHECK_INTERFACE2 = (
    "#!/usr/bin/env bash\n"
    + MARK
    + """\
for i in {1..3}; do
    /etc/keepalived/check_interface.sh >> /var/log/keepalived.log
    sleep 20
done
"""
)
INTERFACE_CRON = "/etc/cron.d/update_keepalived_interface"
INTERFACE_CRON_LINE = MARK + "* * * * * root /etc/keepalived/check_interface2.sh >/dev/null 2>&1\n"


def db_ha_page_files(d: Deployment, node: NodeEntry) -> dict[str, tuple[str, int]]:
    """The DB-HA page's files on a DB-HA node: {path: (text, mode)}."""
    return {
        "/etc/keepalived/chk_mysql": (chk_mysql(d.inventory.db.port), 0o755),
        "/etc/keepalived/check_interface.sh": (check_interface_page(str(node.address)), 0o755),
        "/etc/keepalived/check_interface2.sh": (CHECK_INTERFACE2, 0o755),
        INTERFACE_CRON: (INTERFACE_CRON_LINE, 0o644),
    }


def netcat(d: Deployment, node: NodeEntry) -> None:
    """The page's ``yum install keepalived nc``: the distribution's nc (Debian: nmap's ``ncat``,
    which provides ``nc``; RHEL: ``nc``, nmap-ncat). Nothing beyond the page's step is written.

    Raises DeployError naming the node when no ``nc`` is on the PATH even after the install."""
    r, step, dist = d.remote(node), "keepalived", d.distro(node)
    if r.run("command -v nc", check=False).ok:
        return
    r.run(f"{dist.install} {' '.join(dist.netcat_packages)}", timeout=600)
    d.changed(node, step, f"installed {', '.join(dist.netcat_packages)}")
    if not r.run("command -v nc", check=False).ok:
        raise DeployError(
            f"{node.name}: no nc after installing {', '.join(dist.netcat_packages)}; the DB-HA page's "
            "chk_mysql runs `nc`: install one that provides it"
        )


def nic_of(d: Deployment, node: NodeEntry) -> str:
    """The NIC that carries the node's own address (br0 once a Host service runs)."""
    found = addresses(d.remote(node).run(ADDR_COMMAND).stdout).get(str(node.address))
    if found is None:
        raise DeployError(f"{node.name}: no interface carries {node.address}")
    return found[0]


@dataclass(frozen=True)
class Vrrp:
    """One keepalived vrrp_instance."""

    name: str
    state: str
    nic: str
    router_id: int
    priority: int
    auth: str
    vip: str
    advert_int: int = 1
    nopreempt: bool = False
    track: str | None = None
    notify: str | None = None

    def render(self) -> str:
        lines = [
            f"vrrp_instance {self.name} {{",
            f"    state {self.state}",
            f"    interface {self.nic}",
            f"    virtual_router_id {self.router_id}",
            f"    priority {self.priority}",
            f"    advert_int {self.advert_int}",
        ]
        if self.nopreempt:
            lines.append("    nopreempt")
        lines += ["    authentication {", "        auth_type PASS", f"        auth_pass {self.auth}", "    }"]
        lines += ["    virtual_ipaddress {", f"        {self.vip}/32 dev {self.nic}", "    }"]
        if self.track:
            lines += ["    track_script {", f"        {self.track}", "    }"]
        if self.notify:
            lines.append(f"    notify {self.notify}")
        return "\n".join([*lines, "}"])


def vrrp_script(name: str) -> str:
    return f'vrrp_script {name} {{\n    script "/etc/keepalived/{name}"\n    interval 1\n    fall 2\n    rise 1\n}}'


def installer_db_keepalived(d: Deployment, node: NodeEntry, nic: str) -> tuple[str, dict[str, str]] | None:
    """The installer's own DB-HA keepalived for ``node`` (install stage only), or None."""
    if d.installer is None or d.stage != "install" or not node.has(Role.DB_HA):
        return None
    return d.installer.db_keepalived(d, node, nic)


# The installer's own VRRP instances (the lab's storage address) live in a file keepalived.conf
# includes: keepalived.conf then holds the DB VIP's instance alone, as the DB-HA page writes it
# (its interface switcher takes keepalived.conf's one `interface` line for granted).
INSTALLER_INCLUDE = "/etc/keepalived/installer.conf"


def installer_keepalived(d: Deployment, node: NodeEntry, nic: str) -> str | None:
    """The installer's own VRRP instances for ``node`` (install stage), or None."""
    if d.installer is None or d.stage != "install" or not any(node.has(r) for r in d.installer.keepalived_roles):
        return None
    blocks = d.installer.keepalived_blocks(d, node, nic)
    return MARK + "\n".join(blocks) + "\n" if blocks else None


def keepalived_config(d: Deployment, node: NodeEntry, nic: str) -> str:
    p = d.profile
    include = [f"include {INSTALLER_INCLUDE}"] if installer_keepalived(d, node, nic) is not None else []
    owned = installer_db_keepalived(d, node, nic)
    if owned is not None:
        return "\n".join([owned[0].rstrip("\n"), *include]) + "\n"
    parts = [
        MARK.strip(),
        "global_defs {",
        f"    router_id {node.name}",
        "    enable_script_security",
        "    script_user root",
        "}",
    ]
    if node.has(Role.DB_HA):
        i = _db_ha_index(d, node)
        vip = str(d.inventory.vips.db)
        parts += [
            vrrp_script("chk_mysql"),
            Vrrp(
                "VI_DB",
                p.db_states[i],
                nic,
                p.db_router_id,
                p.db_priorities[i],
                platform_auth_pass(vip),
                vip,
                advert_int=p.advert_int,
                nopreempt=True,
                track="chk_mysql",
            ).render(),
        ]
    return "\n".join(parts + include) + "\n"


def keepalived(d: Deployment, node: NodeEntry) -> None:
    r, step = d.remote(node), "keepalived"
    nic = nic_of(d, node)
    changed = False
    owned = installer_db_keepalived(d, node, nic)
    if owned is not None:
        files = {path: (text, 0o755) for path, text in owned[1].items()}
    elif node.has(Role.DB_HA):
        netcat(d, node)
        files = db_ha_page_files(d, node)
    else:
        files = {}
    for path, (text, mode) in files.items():
        if r.put(path, text, mode=mode):
            changed = True
            d.changed(node, step, f"wrote {path}")
    extra = installer_keepalived(d, node, nic)
    if extra is not None and r.put(INSTALLER_INCLUDE, extra):
        changed = True
        d.changed(node, step, f"wrote {INSTALLER_INCLUDE} (the installer's own instances)")
    conf = d.distro(node).keepalived_conf
    if r.put(conf, keepalived_config(d, node, nic)):
        changed = True
        d.changed(node, step, f"wrote {conf} (interface {nic})")
    if not r.run("command -v keepalived", check=False).ok:
        r.run(f"{d.distro(node).install} keepalived", timeout=600)
        d.changed(node, step, "installed keepalived")
    if not r.run("systemctl is-enabled keepalived", check=False).ok:
        r.run("systemctl enable keepalived")
        d.changed(node, step, "enabled keepalived")
    if changed or not r.run("systemctl is-active keepalived", check=False).ok:
        r.run("systemctl restart keepalived")
        d.changed(node, step, "restarted keepalived")


def vip_holders(d: Deployment, vip: str, group: list[NodeEntry]) -> list[str]:
    per_node = {node.name: d.remote(node).run(ADDR_COMMAND, check=False).stdout for node in group}
    return holders(per_node, {"vip": vip})["vip"]


def vips_settled(d: Deployment) -> str | None:
    """None once every VIP the deployer placed has one holder. A DB VIP whose keepalived the
    installer owns (ocboot's variant) is the installer's business: whether it holds is what
    the checks report, so the deployment does not wait for it."""
    groups = []
    db_nodes = d.nodes(Role.DB_HA)
    installer_owned = d.installer is not None and d.stage == "install" and d.installer.owns_db_keepalived
    if d.inventory.vips.db is not None and db_nodes and not installer_owned:
        groups.append((str(d.inventory.vips.db), db_nodes))
    if d.installer is not None and d.stage == "install":
        groups += d.installer.vip_groups(d)
    for vip, group in groups:
        holders = vip_holders(d, vip, group)
        if len(holders) != 1:
            return f"VIP {vip} held by {holders or 'nobody'}"
    return None


# SSH trust, kubectl, compute, upgrade user ---------------------------------------------------
def ssh_trust(d: Deployment) -> None:
    """配置ssh免密登录: the First Node's key on every other control node."""
    first = d.inventory.first_node()
    r = d.remote(first)
    if not r.run("test -f ~/.ssh/id_rsa.pub", check=False).ok:
        r.run("mkdir -p -m 700 ~/.ssh && ssh-keygen -q -t rsa -b 3072 -N '' -f ~/.ssh/id_rsa")
        d.changed(first, "ssh-trust", "generated ~/.ssh/id_rsa (ssh-keygen)")
    pub = r.run("cat ~/.ssh/id_rsa.pub").stdout.strip()
    for peer in d.nodes(Role.CONTROL):
        if peer.name == first.name:
            continue
        pr = d.remote(peer)
        if not pr.run(f"grep -qxF {shlex.quote(pub)} ~/.ssh/authorized_keys", check=False).ok:
            pr.run(
                f"mkdir -p -m 700 ~/.ssh && echo {shlex.quote(pub)} >> ~/.ssh/authorized_keys "
                "&& chmod 600 ~/.ssh/authorized_keys"
            )
            d.changed(peer, "ssh-trust", f"authorized {first.name}'s key (ssh-copy-id)")
        addr = str(peer.address)
        if not r.run(f"ssh-keygen -F {addr} -f ~/.ssh/known_hosts", check=False).ok:
            r.run(
                f"ssh-keyscan -T 5 -t ed25519,rsa,ecdsa {addr} 2>/dev/null >> ~/.ssh/known_hosts && "
                f"ssh-keygen -F {addr} -f ~/.ssh/known_hosts"
            )
            d.changed(first, "ssh-trust", f"recorded {peer.name}'s host key")


def kubectl_config(d: Deployment) -> None:
    """配置使用kubectl命令: on each control node, ``mkdir -p $HOME/.kube; cp -i
    <admin kubeconfig> $HOME/.kube/config``, once the installer has written the admin
    kubeconfig (the lab only: on a site that file is the installer's)."""
    assert d.installer is not None
    source = d.installer.admin_kubeconfig
    for node in d.nodes(Role.CONTROL):
        r = d.remote(node)
        conf = r.read(source)
        if conf is None:
            raise DeployError(f"{node.name}: step 'kubectl': the installer left no {source}")
        if r.put("/root/.kube/config", conf, mode=0o600):
            d.changed(node, "kubectl", f"copied {source} to $HOME/.kube/config")


def yunion_user(d: Deployment, node: NodeEntry) -> None:
    """高可用环境升级: upgrades run as the non-root ``yunion`` user with sudo."""
    r = d.remote(node)
    if not r.run("id -u yunion", check=False).ok:
        r.run("useradd -m -s /bin/bash yunion")
        d.changed(node, "upgrade", "created user yunion")
    sudoers = MARK + "yunion ALL=(ALL) NOPASSWD: ALL\n"
    if r.put("/etc/sudoers.d/yunion", sudoers, mode=0o440):
        r.run("visudo -cf /etc/sudoers.d/yunion")
        d.changed(node, "upgrade", "allowed yunion to sudo")
