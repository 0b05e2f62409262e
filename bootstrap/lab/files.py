"""The files the lab writes for its users: SSH config and pinned host keys, the site inventory,
and the lab described as ocboot's config.yml."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import yaml

from bootstrap import inventory as inv
from bootstrap.lab import cloud_seed, config, vm_image
from bootstrap.lab.machine import HOST_BRIDGE
from bootstrap.lab.state import LabState
from bootstrap.topology import Role


def write_ssh_files(paths: config.LabPaths, st: LabState, host_keys: dict[str, str]) -> None:
    """``known_hosts`` pinning each node's ed25519 host key, and an ssh_config naming the nodes."""
    known = [f"{name},{st.nodes[name].address} ssh-ed25519 {key}" for name, key in sorted(host_keys.items())]
    paths.known_hosts.write_text("\n".join(known) + "\n")
    blocks = [f"Host {name}\n  HostName {node.address}\n" for name, node in st.nodes.items()]
    blocks.append(
        "Host *\n"
        "  User root\n"
        f"  IdentityFile {paths.ssh_key}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {paths.known_hosts}\n"
        "  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n"
        "  ConnectTimeout 5\n"
        "  ServerAliveInterval 2\n"
        "  ServerAliveCountMax 3\n"
        "  LogLevel ERROR\n"
    )
    paths.ssh_config.write_text("\n".join(blocks))


def write_inventory(paths: config.LabPaths, st: LabState) -> None:
    """The lab as a site inventory (``bootstrap/inventory.py``), and as ocboot's config.yml. Where
    the VMs boot a user's image, without the lab's S3 stand-in and the lab's kernel: the release
    installed there has its own storage and the document's kernel is expected."""
    nodes = [{"name": n, "address": d.address, "roles": list(d.roles)} for n, d in st.nodes.items()]
    data = {
        "version": inv.SCHEMA_VERSION,
        "site": f"lab-{st.topology}",
        "topology": st.topology,
        "profile": "document",
        "ssh": {"user": "root", "key": str(paths.ssh_key), "known_hosts": str(paths.known_hosts)},
        "nodes": nodes,
        "vips": {name: addr for name, addr in st.vips.items() if name != "storage"},  # storage: the lab's
        "db": {"user": "root", "password_file": str(paths.db_password_file)},
    }
    if not st.image:  # a user's image (the release by the user's installer): its own storage, the document's kernel
        data |= {
            "storage": {
                "endpoint": f"http://{st.vips['storage']}:{config.S3_PORT}",
                "access_key": config.S3_ACCESS_KEY,
                "secret_key_file": str(paths.s3_secret_file),
                # The lab's S3 (SeaweedFS) has no admin API: MinIO's is the stand-in's, on the First
                # Node (bootstrap/lab/standin/admin_api.py).
                "admin_endpoint": f"http://{st.with_role(Role.FIRST)[0]}:{config.MINIO_ADMIN_PORT}",
            },
            # The kernel the nodes run: the host's in containers, the guest image's in VMs.
            "expect": {
                "kernel": vm_image.kernel_release(Path(st.rootfs)) if st.machines == "vm" else platform.release()
            },
        }
    inv.dump(inv.parse(data, "lab inventory"), paths.inventory)
    write_ocboot_config(paths, st)


def node_nic(st: LabState) -> str:
    """The interface holding each node's address: the seed's NIC on a cloud image's VMs, br0 with
    ``host_bridge``, else host0 (nspawn's name, which the lab's VMs rename theirs to)."""
    return cloud_seed.NIC if st.image else HOST_BRIDGE if st.host_bridge else "host0"


def write_ocboot_config(paths: config.LabPaths, st: LabState) -> None:
    """The lab as ocboot's config.yml describes an install (the file a field engineer keeps):
    the primary master, the master nodes, worker nodes, and the database as it was made:
    ``mariadb_ha_nodes`` where the installer's DB HA runs (``--db-ha=ocboot``), ``mariadb_node``
    for 4node's standalone DB, else (the DB-HA page's manual variant, the document's way)
    only ``db_host``. Holds the lab's DB password, as ocboot's file does: mode 0600."""
    password = paths.db_password_file.read_text().strip()
    platform_vip = st.vips["platform"]
    db_host = st.vips.get("db") or st.with_role(Role.DB)[0]
    primary = {
        "hostname": st.with_role(Role.FIRST)[0],
        "user": "root",
        "db_host": db_host,
        "db_user": "root",
        "db_password": password,
        "db_port": "3306",
        "controlplane_host": platform_vip,
        "controlplane_port": "6443",
        "high_availability": True,
        "enable_minio": True,
    }
    others = [a for a in st.with_role(Role.CONTROL) if a != primary["hostname"]]
    group = {"controlplane_host": platform_vip, "high_availability": True, "as_controller": True}
    data: dict[str, Any] = {
        "primary_master_node": primary,
        "master_nodes": {**group, "hosts": [{"hostname": a, "user": "root"} for a in others]},
    }
    if st.with_role(Role.COMPUTE):
        data["worker_nodes"] = {
            "controlplane_host": platform_vip,
            "hosts": [{"hostname": a, "user": "root"} for a in st.with_role(Role.COMPUTE)],
        }
    if st.db_ha == "ocboot":
        data["mariadb_ha_nodes"] = {
            "db_vip": st.vips["db"],
            "db_user": "root",
            "db_password": password,
            "db_port": 3306,
            "db_nic": node_nic(st),
            "hosts": [{"hostname": a, "user": "root"} for a in st.with_role(Role.DB_HA)],
        }
    elif st.with_role(Role.DB):
        data["mariadb_node"] = {"hostname": db_host, "user": "root", "db_user": "root", "db_password": password}
    text = "# The lab as ocboot's config.yml would describe it (python -m bootstrap.lab inventory --ocboot).\n"
    if st.topology == "3node":
        text += (
            "# 3node: the document installs node 3 without HA; this file (one high_availability for every\n"
            "# master, as ocboot has it) makes node 3 a platform keepalived member, which the lab's is not.\n"
        )
    text += yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
    fd = os.open(paths.ocboot_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
