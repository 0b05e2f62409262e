"""Deploy a topology of the HA document onto the nodes of a site inventory, over SSH.

    from bootstrap.deploy import deploy
    changes = deploy(inventory, confirm_site="acme-prod")  # a site: the document's preparation only
    changes = deploy(inventory, installer=lab.installer())  # the lab: plus its installer stand-in

Who owns each step:
- the HA document's steps (OS preparation, MariaDB, DB HA and its VIP, the First
  Node's SSH trust; after the installer: kubectl on the control nodes, the upgrade
  user) are this package's (``steps``);
- the platform (control plane, platform VIP keepalived, kubeconfigs, kubelet files,
  compute join) belongs to the product's installer; only an ``Installer`` passed in
  (the lab's stand-in) does them.

On a site (no installer) the deployer changes nodes only when the caller confirmed
the site by name, refuses when a control plane already runs there, and never writes
a platform keepalived, a kubeconfig or a kubelet file.

Idempotent: a second run on a deployed site returns no changes.
"""

from __future__ import annotations

import sys

from bootstrap import inventory as inv
from bootstrap.deploy import keepalived, mariadb, steps
from bootstrap.deploy.core import Change, DeployError, Deployment, Log
from bootstrap.deploy.installer import Installer
from bootstrap.topology import Role

__all__ = ["Change", "DeployError", "Installer", "deploy", "refusal"]

# What an installed control plane leaves on a control node (either install line, see
# shared/docs/real-sites.md), and the API server's port.
CONTROL_PLANE_PROBE = (
    "for f in /etc/kubernetes/kubelet.conf /etc/kubernetes/admin.conf /etc/kubernetes/manifests/keepalived.yaml "
    "/etc/systemd/system/k3s.service /etc/systemd/system/k3s-agent.service /etc/rancher/k3s/k3s.yaml "
    '/var/lib/rancher/k3s/agent/pod-manifests/keepalived.yaml; do [ -e $f ] && echo "$f exists"; done; '
    "ss -ltn 2>/dev/null | grep -q ':6443 ' && echo 'something listens on port 6443'; true"
)


def refusal(inventory: inv.Inventory, installer: Installer | None, confirm_site: str | None) -> str | None:
    """Why the deployer must not start (before it connects anywhere), or None."""
    if installer is None and confirm_site != inventory.site:
        return (
            f"site {inventory.site!r} is not the local lab: the deployer changes its nodes (OS settings, MariaDB, "
            f"the DB VIP's keepalived, SSH trust) only when confirmed with --confirm-site={inventory.site}"
        )
    return None


def deploy(
    inventory: inv.Inventory,
    installer: Installer | None = None,
    log: Log = sys.stderr,
    stage: str = "install",
    confirm_site: str | None = None,
) -> list[Change]:
    """Bring the nodes to the document's state; return the changes made.

    ``stage="prepare"`` stops where the document's preparation ends and the installer
    would start (OS, databases, DB VIP, SSH trust): what ``--phase preinstall`` checks.
    Without an installer only that stage runs. Raises DeployError (refusals included).
    """
    why = refusal(inventory, installer, confirm_site)
    if why is not None:
        raise DeployError(why)
    if installer is None:
        stage = "prepare"
    d = Deployment(inventory, installer=installer, log=log, stage=stage)
    try:
        d.say(f"site {inventory.site} ({inventory.topology}), {len(inventory.nodes)} nodes")
        d.connect_all()
        if installer is None:
            _refuse_installed_site(d)
        d.parallel("os", d.nodes(), lambda n: steps.os_prep(d, n))
        d.parallel("mariadb", d.nodes(Role.DB, Role.DB_HA), lambda n: mariadb.mariadb(d, n))
        if d.nodes(Role.DB_HA):
            d.parallel("replication", d.nodes(Role.DB_HA), lambda n: mariadb.replication(d, n))
        install = installer is not None and stage == "install"
        if install:
            assert installer is not None
            installer.before_keepalived(d)
        ka_roles = [Role.DB_HA, *(installer.keepalived_roles if install and installer else ())]
        d.parallel("keepalived", d.nodes(*ka_roles), lambda n: keepalived.keepalived(d, n))
        steps.ssh_trust(d)
        if install:
            assert installer is not None
            installer.after_keepalived(d)
            steps.kubectl_config(d)
            d.parallel("upgrade user", d.nodes(Role.CONTROL), lambda n: steps.yunion_user(d, n))
        if d.nodes(Role.DB_HA):
            d.wait_for("replication", lambda: mariadb.replication_running(d))
        d.wait_for("VIPs", lambda: keepalived.vips_settled(d))
        if install:
            assert installer is not None
            d.wait_for("installer's services", lambda: installer.ready(d), timeout=90)
        d.say(f"done: {len(d.changes)} change(s)")
        return d.changes
    finally:
        d.close()


def _refuse_installed_site(d: Deployment) -> None:
    """Before any change on a site: refuse when its control plane is installed (the document's
    preparation is over) or when a node the deployer would give a keepalived.conf already has
    one it did not write (it may hold the site's own VRRP instances)."""
    installed: list[str] = []
    foreign: list[str] = []

    def probe(node: inv.NodeEntry) -> None:
        out = d.remote(node).run(CONTROL_PLANE_PROBE, timeout=30).stdout.strip()
        if out:
            installed.append(f"{node.name}: " + "; ".join(out.splitlines()))

    def foreign_keepalived(node: inv.NodeEntry) -> None:
        conf = d.distro(node).keepalived_conf
        current = d.remote(node).read(conf)
        if current is not None and steps.MARK not in current:
            foreign.append(f"{node.name}: {conf} exists and was not written by this deployer")

    d.parallel("control-plane probe", d.nodes(Role.CONTROL, Role.COMPUTE), probe)
    d.parallel("keepalived probe", d.nodes(Role.DB_HA), foreign_keepalived)
    reasons = []
    if installed:
        reasons.append("already runs a control plane, so the installer has run and the document's preparation is over")
    if foreign:
        reasons.append("keeps a keepalived.conf of its own, which may hold VRRP instances this deployer would drop")
    if reasons:
        raise DeployError(
            f"site {d.inventory.site!r} {' and '.join(reasons)}; nothing was changed:\n  "
            + "\n  ".join(sorted(installed + foreign))
        )
