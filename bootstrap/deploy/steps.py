"""The HA document's steps besides MariaDB (``mariadb.py``) and keepalived (``keepalived.py``),
each idempotent: it looks first and changes only what differs, counting each change.

OS preparation (关闭 selinux, DB-HA sysctls), the First Node's passwordless SSH (配置ssh免密登录),
kubectl configuration (配置使用kubectl命令), the ``yunion`` user of the upgrade section.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from bootstrap.deploy.core import MARK, DeployError
from bootstrap.topology import Role

if TYPE_CHECKING:
    from bootstrap.deploy.core import Deployment
    from bootstrap.inventory import NodeEntry

__all__ = ["MARK", "kubectl_config", "os_prep", "ssh_trust", "yunion_user"]


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


# SSH trust, kubectl, compute, upgrade user ---------------------------------------------------
def ssh_trust(d: Deployment) -> None:
    """配置ssh免密登录: the First Node's key on every other node. The document asks it for the
    control nodes; ocboot reaches every host of its config.yml from the First Node (ansible over
    SSH: it installs the DB nodes, adds compute nodes, upgrades them all), so a node it installed
    holds the First Node's key too (HA-SSH-002)."""
    first = d.inventory.first_node()
    r = d.remote(first)
    if not r.run("test -f ~/.ssh/id_rsa.pub", check=False).ok:
        r.run("mkdir -p -m 700 ~/.ssh && ssh-keygen -q -t rsa -b 3072 -N '' -f ~/.ssh/id_rsa")
        d.changed(first, "ssh-trust", "generated ~/.ssh/id_rsa (ssh-keygen)")
    pub = r.run("cat ~/.ssh/id_rsa.pub").stdout.strip()
    for peer in d.inventory.nodes:
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
