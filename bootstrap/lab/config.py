"""Settings of the local lab: where it keeps things and what its machines carry.

Every value can be overridden by an environment variable so that a user (or a
self-test) can run the lab elsewhere without editing code.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from bootstrap import debian

# What every lab machine carries (issue 2 and what later steps deploy). Changing
# this list changes the cache key, so the root file system is rebuilt.
PACKAGES: tuple[str, ...] = (
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "keepalived",
    "ncat",  # the DB-HA page's nc (bootstrap/deploy/keepalived.py netcat)
    "mariadb-server",
    "etcd-server",
    "python3",
    "iproute2",
    "iputils-ping",
    "procps",
    "curl",
    "cron",
    "sudo",
    "openssl",
    "iptables",
    "ca-certificates",
)
# The VM driver's guests (issue 26) boot their own kernel: Debian's, with its initramfs, udev to
# name the NIC (host0, as nspawn names it), the QEMU guest agent to read addresses without the
# network (a partitioned VM still holds its VIPs), and chrony: a VM keeps its own clock, so the
# deployer runs the distribution's time service there (bootstrap/deploy/steps.py), and the lab
# has no mirror to fetch it from.
# Two kernels: the generic one every VM boots, and the archive's other flavour (cloud), which the
# kernel mutation boots a node with (bootstrap/lab/vm_image.py FLAVOURS). The cloud kernel has no
# 9p, so identity comes on a seed disk, and the host's shares are not mounted on such a node.
_KERNELS = {
    "x86_64": ("linux-image-amd64", "linux-image-cloud-amd64"),
    "aarch64": ("linux-image-arm64", "linux-image-cloud-arm64"),
}
VM_PACKAGES: tuple[str, ...] = (
    *PACKAGES,
    *_KERNELS.get(os.uname().machine, ()),
    "initramfs-tools",
    "udev",
    "kmod",
    "qemu-guest-agent",
    "chrony",
)
SUITE = debian.SUITE
# Bumped whenever the one-time fixes applied to the cached tree change.
RECIPE_VERSION = 1

# Services installed but left off: the deployer turns them on where the topology wants them.
DISABLED_SERVICES: tuple[str, ...] = ("mariadb", "etcd", "keepalived", "e2scrub_reap")
MASKED_UNITS: tuple[str, ...] = (
    "systemd-networkd-wait-online.service",  # cost 13 s per boot, nothing waits for it here
    "console-getty.service",  # nobody logs in on the console
)

SHARED_MOUNT = "/srv/ha-shared"
TOOLS_MOUNT = "/opt/ha-lab/bin"
S3_PORT = 8333
MINIO_ADMIN_PORT = 9000  # the stand-in for MinIO's admin API (MinIO's own port)
S3_ACCESS_KEY = "ha-lab"

DEFAULT_SUBNET = "10.213.47.0/24"
BRIDGE = "halab0"
CGROUP_GROUP = "ha-lab"

# Host part of each address in the lab /24.
GATEWAY_HOST = 1  # the bridge: the host's own address on the lab network
SLOT_HOSTS = {"node1": 11, "node2": 12, "node3": 13, "db1": 21, "db2": 22}
COMPUTE_FIRST_HOST = 31
VIP_HOSTS = {"platform": 100, "db": 101, "storage": 102}


@dataclass(frozen=True)
class LabPaths:
    home: Path
    cache: Path

    @property
    def state_file(self) -> Path:
        return self.home / "state.json"

    @property
    def fault_journal(self) -> Path:
        """The faults in force on the lab's machines (bootstrap.faults.Journal); ``down`` removes
        it with the machines, so a later lab does not inherit their faults."""
        return self.home / "faults.json"

    @property
    def lock_file(self) -> Path:
        return self.home / ".lock"

    @property
    def nodes_dir(self) -> Path:
        return self.home / "nodes"

    @property
    def ssh_dir(self) -> Path:
        return self.home / "ssh"

    @property
    def ssh_key(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.ssh_dir / "config"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @property
    def db_password_file(self) -> Path:
        return self.secrets_dir / "db-password"

    @property
    def s3_secret_file(self) -> Path:
        return self.secrets_dir / "s3-secret"

    @property
    def inventory(self) -> Path:
        return self.home / "inventory.yaml"

    @property
    def ocboot_config(self) -> Path:
        """The lab described as ocboot's config.yml (holds the DB password: mode 0600)."""
        return self.home / "ocboot-config.yml"

    @property
    def shared_dir(self) -> Path:
        """Storage every control node mounts (the NAS that MinIO's data lives on)."""
        return self.home / "shared"

    @property
    def tools_dir(self) -> Path:
        return self.home / "tools"


def paths() -> LabPaths:
    return LabPaths(
        home=Path(os.environ.get("HA_LAB_HOME", "/var/lib/ha-lab")),
        cache=Path(os.environ.get("HA_LAB_CACHE", "/var/cache/ha-lab")),
    )


def default_subnet() -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(os.environ.get("HA_LAB_SUBNET", DEFAULT_SUBNET))
