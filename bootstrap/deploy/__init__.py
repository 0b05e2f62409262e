"""Deploy a topology of the HA document onto the nodes of a site inventory, over SSH.

    from bootstrap.deploy import deploy
    changes = deploy(inventory)            # a real site: the document's steps
    changes = deploy(inventory, lab=...)   # the local lab: plus the platform stand-in

Idempotent: a second run on a deployed site returns no changes.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bootstrap import inventory as inv
from bootstrap.deploy import steps
from bootstrap.deploy.core import Change, DeployError, Deployment, LabExtras
from bootstrap.topology import Role

__all__ = ["Change", "DeployError", "LabExtras", "deploy"]


def deploy(
    inventory: inv.Inventory, lab: LabExtras | None = None, log: TextIO = sys.stderr, stage: str = "install"
) -> list[Change]:
    """``stage="prepare"`` stops where the document's preparation ends and the
    installer would start (OS, databases, DB VIP, SSH trust): what
    ``--phase preinstall`` checks."""
    d = Deployment(inventory, lab=lab, log=log, stage=stage)
    try:
        d.say(f"site {inventory.site} ({inventory.topology}), {len(inventory.nodes)} nodes")
        d.connect_all()
        d.parallel("os", d.nodes(), lambda n: steps.os_prep(d, n))
        d.parallel("mariadb", d.nodes(Role.DB, Role.DB_HA), lambda n: steps.mariadb(d, n))
        if d.nodes(Role.DB_HA):
            d.parallel("replication", d.nodes(Role.DB_HA), lambda n: steps.replication(d, n))
        install = stage == "install"
        if lab is not None and install:
            from bootstrap.lab.standin import deploy as standin

            standin.etcd(d)
            d.wait_for("etcd quorum", lambda: standin.etcd_healthy(d))
            d.parallel("standin", d.nodes(Role.CONTROL), lambda n: standin.standin(d, n))
        ka_roles = [Role.DB_HA, *([Role.PLATFORM_HA] if install else []), *([Role.CONTROL] if lab and install else [])]
        d.parallel("keepalived", d.nodes(*ka_roles), lambda n: steps.keepalived(d, n))
        steps.ssh_trust(d)
        if install:
            steps.control_files(d)
            d.parallel("upgrade user", d.nodes(Role.CONTROL), lambda n: steps.yunion_user(d, n))
        if d.nodes(Role.DB_HA):
            d.wait_for("replication", lambda: steps.replication_running(d))
        d.wait_for("VIPs", lambda: steps.vips_settled(d))
        if lab is not None and install:
            d.wait_for("storage", lambda: standin.storage_ready(d), timeout=90)
        d.say(f"done: {len(d.changes)} change(s)")
        return d.changes
    finally:
        d.close()
