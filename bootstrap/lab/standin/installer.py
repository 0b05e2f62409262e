"""The lab's stand-in for the product's installer, registered with the deployer as
its ``Installer``: the control plane (etcd + the endpoints server), the platform
VIP's keepalived, the storage address and its S3 server, the admin kubeconfig and the
compute nodes' kubelet files. The lab depends on the deployer; never the reverse.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bootstrap.deploy.steps import MARK, Vrrp, vrrp_script
from bootstrap.lab import config
from bootstrap.lab.standin import deploy as standin
from bootstrap.profiles import platform_auth_pass, platform_router_id
from bootstrap.topology import Role

if TYPE_CHECKING:
    from bootstrap.deploy.core import Deployment
    from bootstrap.inventory import NodeEntry

ADMIN_CONF = "/etc/kubernetes/admin.conf"
CHK_PLATFORM = (
    "#!/bin/bash\n"
    + MARK
    + """\
# The control-plane endpoint of this node answers healthy.
[ "$(curl -sk --max-time 1 https://127.0.0.1:6443/healthz)" = ok ]
"""
)


@dataclass
class LabInstaller:
    """Settings of the lab's platform stand-in and its storage."""

    storage_vip: str
    s3_secret: str
    s3_access_key: str = config.S3_ACCESS_KEY
    shared_mount: str = config.SHARED_MOUNT
    tools_mount: str = config.TOOLS_MOUNT
    s3_port: int = config.S3_PORT
    keepalived_roles: tuple[Role, ...] = (Role.PLATFORM_HA, Role.CONTROL)
    admin_kubeconfig: str = ADMIN_CONF
    secrets: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.secrets = {self.s3_secret}

    @classmethod
    def from_state(cls, paths: config.LabPaths) -> LabInstaller:
        """The lab's installer as the lab that is up describes it (its state file)."""
        state = json.loads(paths.state_file.read_text())
        return cls(storage_vip=state["vips"]["storage"], s3_secret=paths.s3_secret_file.read_text().strip())

    # Installer hooks -----------------------------------------------------------------
    def before_keepalived(self, d: Deployment) -> None:
        standin.etcd(d)
        d.wait_for("etcd quorum", lambda: standin.etcd_healthy(d))
        d.parallel("standin", d.nodes(Role.CONTROL), lambda n: standin.standin(d, n))
        d.parallel("platform health track", d.nodes(Role.PLATFORM_HA), lambda n: self._chk_platform(d, n))

    def _chk_platform(self, d: Deployment, node: NodeEntry) -> None:
        if d.remote(node).put("/etc/keepalived/chk_platform", CHK_PLATFORM, mode=0o755):
            d.changed(node, "keepalived", "wrote /etc/keepalived/chk_platform")

    def keepalived_blocks(self, d: Deployment, node: NodeEntry, nic: str) -> list[str]:
        blocks = []
        if node.has(Role.PLATFORM_HA):
            vip = str(d.inventory.vips.platform)
            first = node.has(Role.FIRST)
            p = d.profile
            blocks += [
                vrrp_script("chk_platform"),
                Vrrp(
                    "VI_PLATFORM",
                    "MASTER" if first else "BACKUP",
                    nic,
                    platform_router_id(vip),
                    p.platform_master_priority if first else p.platform_backup_priority,
                    platform_auth_pass(vip),
                    vip,
                    advert_int=p.advert_int,
                    track="chk_platform",
                ).render(),
            ]
        if node.has(Role.CONTROL):
            blocks.append(standin.storage_instance(d, node, nic))
        return blocks

    def after_keepalived(self, d: Deployment) -> None:
        """admin.conf on the control nodes (made on the First Node, copied as the installer
        does); compute nodes' kubelet.conf pointing at the VIP."""
        first = d.inventory.first_node()
        r = d.remote(first)
        server = f"https://{d.inventory.vips.platform}:6443"
        conf = r.read(ADMIN_CONF)
        if conf is None or f"server: {server}" not in conf:
            ca = r.run("base64 -w0 /etc/ha-standin/tls.crt 2>/dev/null || echo ''").stdout.strip()
            conf = kubeconfig(server, ca, secrets.token_hex(16))
            r.put(ADMIN_CONF, conf, mode=0o600)
            d.changed(first, "control", f"wrote {ADMIN_CONF}")
        for node in d.nodes(Role.CONTROL):
            if node.name != first.name and d.remote(node).put(ADMIN_CONF, conf, mode=0o600):
                d.changed(node, "control", f"copied {ADMIN_CONF} from the First Node")
        for node in d.nodes(Role.COMPUTE):
            # First Node IP: the VIP, not the First Node's address; port 6443.
            kubelet = kubeconfig(server, "", "bootstrap-token").replace("kubernetes-admin", "system:node")
            if d.remote(node).put("/etc/kubernetes/kubelet.conf", kubelet, mode=0o600):
                d.changed(node, "compute", f"joined through {server}")

    def vip_groups(self, d: Deployment) -> list[tuple[str, list[NodeEntry]]]:
        return [(str(d.inventory.vips.platform), d.nodes(Role.PLATFORM_HA))]

    def ready(self, d: Deployment) -> str | None:
        return standin.storage_ready(d)


def kubeconfig(server: str, ca_b64: str, token: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {ca_b64}\n    server: {server}\n  name: kubernetes\n"
        "contexts:\n- context:\n    cluster: kubernetes\n    user: kubernetes-admin\n"
        "  name: kubernetes-admin@kubernetes\ncurrent-context: kubernetes-admin@kubernetes\n"
        "preferences: {}\nusers:\n- name: kubernetes-admin\n  user:\n"
        f"    token: {token}\n"
    )
