"""keepalived for the DB and platform VIPs: the DB-HA page's files (chk_mysql, its interface
switcher and cron line), the VRRP instances, and the wait for each VIP on one node."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bootstrap.deploy.core import MARK, DeployError
from bootstrap.deploy.installer import VipGroup
from bootstrap.deploy.mariadb import db_ha_index
from bootstrap.profiles import platform_auth_pass
from bootstrap.topology import Role
from bootstrap.vips import ADDR_COMMAND, addresses, holders

if TYPE_CHECKING:
    from bootstrap.deploy.core import Deployment
    from bootstrap.inventory import NodeEntry


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
        i = db_ha_index(d, node)
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
    """None once every VIP the deployer placed has one holder, and where its configuration
    makes one node take it over (``VipGroup.preferred``), that node: one holder alone is not
    settled while the preferred instance is still in FAULT or has not yet preempted (seen: a
    run started right after the deployment saw the platform VIP move back to the First Node
    1.3 s in). A DB VIP whose keepalived the installer owns (ocboot's variant) is the
    installer's business: whether it holds is what the checks report, so the deployment does
    not wait for it."""
    groups = []
    db_nodes = d.nodes(Role.DB_HA)
    installer_owned = d.installer is not None and d.stage == "install" and d.installer.owns_db_keepalived
    if d.inventory.vips.db is not None and db_nodes and not installer_owned:
        groups.append(VipGroup(str(d.inventory.vips.db), db_nodes, db_preferred(d)))
    if d.installer is not None and d.stage == "install":
        groups += d.installer.vip_groups(d)
    for vip, group, preferred in groups:
        holders = vip_holders(d, vip, group)
        if len(holders) != 1:
            return f"VIP {vip} held by {holders or 'nobody'}"
        if preferred is not None and holders != [preferred]:
            return f"VIP {vip} held by {holders[0]}, not yet by {preferred} (its preempting, highest-priority instance)"
    return None


def db_preferred(d: Deployment) -> str | None:
    """The DB-HA node that ends up holding the DB VIP: the one with the highest priority where
    its instance starts as MASTER (keepalived ignores nopreempt there, as it says at start);
    None where the highest is BACKUP with nopreempt (whoever holds it keeps it) or shared."""
    p, nodes = d.profile, d.nodes(Role.DB_HA)
    priorities = [p.db_priorities[i] for i in range(len(nodes))]
    top = max(priorities)
    i = priorities.index(top)
    return nodes[i].name if priorities.count(top) == 1 and p.db_states[i] == "MASTER" else None
