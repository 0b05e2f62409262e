"""What the deployer leaves to the product's installer, as one extension point.

The HA document's own steps (OS preparation, MariaDB, DB HA, SSH trust, kubectl on
the other control nodes, the upgrade user) are the deployer's. The platform itself
(control plane, the platform VIP's keepalived, kubeconfigs and kubelet files, the
compute join) is written by the product's installer (ocboot) on a real site, and by
the lab's stand-in in the local lab, which registers itself here by passing an
``Installer`` to ``deploy``. The deployer never imports the lab.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Protocol

from bootstrap.topology import Role

if TYPE_CHECKING:
    from bootstrap.deploy.core import Deployment
    from bootstrap.inventory import NodeEntry


class VipGroup(NamedTuple):
    """A VIP the deployment places: its address, the nodes whose VRRP instances may hold it, and
    the node that ends up holding it once every instance is healthy (the highest priority that
    preempts: a settled site has it there), or None where whoever holds it keeps it (nopreempt)."""

    address: str
    nodes: list[NodeEntry]
    preferred: str | None


class Installer(Protocol):
    """The installer's part of a deployment; each hook is idempotent and counts its changes."""

    #: Values to redact from every message (passwords and keys the installer handles).
    secrets: set[str]
    #: Roles of the nodes whose keepalived carries the installer's VRRP instances.
    keepalived_roles: tuple[Role, ...]
    #: The admin kubeconfig the installer leaves on control nodes (what kubectl is given).
    admin_kubeconfig: str

    @property
    def owns_db_keepalived(self) -> bool:
        """Whether the installer, not the deployer, writes the DB VIP's keepalived (ocboot's
        ``mariadb_ha_nodes``)."""
        ...

    def before_keepalived(self, d: Deployment) -> None:
        """The control plane and platform services (after the databases, before keepalived)."""

    def keepalived_blocks(self, d: Deployment, node: NodeEntry, nic: str) -> list[str]:
        """keepalived.conf text (vrrp_script and vrrp_instance blocks) for ``node``."""
        ...

    def db_keepalived(self, d: Deployment, node: NodeEntry, nic: str) -> tuple[str, dict[str, str]] | None:
        """When the installer owns the DB VIP's keepalived (ocboot's ``mariadb_ha_nodes``):
        the DB-HA node's keepalived.conf head and the files its scripts need ({path: text});
        None when the DB-HA page's configuration (the deployer's) applies."""
        ...

    def after_keepalived(self, d: Deployment) -> None:
        """Kubeconfigs, kubelet files, compute nodes joined through the platform VIP."""

    def vip_groups(self, d: Deployment) -> list[VipGroup]:
        """Each VIP the installer places."""
        ...

    def ready(self, d: Deployment) -> str | None:
        """None once the installer's services answer, else why not yet."""
        ...
