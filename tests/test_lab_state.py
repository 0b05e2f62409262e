"""The lab's typed state: one reader and one writer of the state file (no lab needed)."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import pytest

from bootstrap.deploy import DeployError
from bootstrap.inventory import load
from bootstrap.lab import config, files
from bootstrap.lab import state as labstate
from bootstrap.lab.hostenv import LabError
from bootstrap.lab.lab import Lab
from bootstrap.lab.standin.installer import LabInstaller
from bootstrap.topology import Role

SUBNET = ipaddress.IPv4Network("10.213.47.0/24")


@pytest.fixture
def paths(tmp_path: Path) -> config.LabPaths:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "s3-secret").write_text("s3-secret\n")
    return config.LabPaths(home=tmp_path, cache=tmp_path / "cache")


def test_plan_lays_out_the_topology_on_the_subnet() -> None:
    st = labstate.plan("5node", 1, SUBNET, line="kubeadm", db_ha="ocboot")
    assert list(st.nodes) == ["node1", "node2", "node3", "db1", "db2", "compute1"]
    assert st.nodes["db1"].address == "10.213.47.21" and st.nodes["db1"].roles == ("db-ha",)
    assert st.vips == {"platform": "10.213.47.100", "db": "10.213.47.101", "storage": "10.213.47.102"}
    assert st.with_role(Role.COMPUTE) == ["10.213.47.31"]
    assert st.bridge_address == "10.213.47.1" and st.rootfs == ""
    assert st.describe() == "5node lab (kubeadm line, DB HA ocboot, 10.213.47.0/24)"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"line": "rke"}, "--line must be one of k3s, kubeadm, not 'rke'"),
        ({"db_ha": "galera"}, "--db-ha must be manual or ocboot, not 'galera'"),
        ({"compute": 21}, "--compute must be between 0 and 20, not 21"),
        ({"image": "/srv/img.qcow2"}, "--image boots VMs: give it with --machines vm (or without --machines)"),
        ({"image": "/srv/img.qcow2", "machines": "vm", "host_bridge": True}, "--host-bridge shapes the lab's own"),
    ],
)
def test_plan_names_the_option_a_bad_value_came_from(kwargs: dict[str, object], named: str) -> None:
    args: dict[str, object] = {"compute": 0, **kwargs}
    compute = int(args.pop("compute"))  # type: ignore[call-overload]
    with pytest.raises(LabError, match=re.escape(named)):
        labstate.plan("5node", compute, SUBNET, **args)  # type: ignore[arg-type]
    with pytest.raises(LabError, match="4node has a single DB node"):
        labstate.plan("4node", 0, SUBNET, db_ha="ocboot")


def test_saved_state_reads_back_the_same(paths: config.LabPaths) -> None:
    st = labstate.plan("3node", 0, SUBNET).model_copy(update={"rootfs": "/var/cache/ha-lab/rootfs-x"})
    labstate.save(paths, st)
    assert labstate.load(paths) == st
    assert labstate.require(paths) == st
    assert not paths.state_file.with_suffix(".tmp").exists()


@pytest.mark.parametrize(
    "text",
    [
        "",  # a crash mid-write of an older version
        "{not json",
        "{}",
        json.dumps({"topology": "5node", "subnet": "10.213.47.0/24", "nodes": {}}),  # an older shape
    ],
)
def test_a_stale_state_file_is_no_state(paths: config.LabPaths, text: str) -> None:
    paths.state_file.write_text(text)
    assert labstate.load(paths) is None
    with pytest.raises(LabError, match=re.escape(labstate.NOT_UP)):
        labstate.require(paths)


def test_the_same_lab_with_more_compute_nodes_keeps_its_layout() -> None:
    st = labstate.plan("5node", 0, SUBNET)
    assert st.same_layout(labstate.plan("5node", 2, SUBNET))
    assert not st.same_layout(labstate.plan("5node", 0, SUBNET, line="kubeadm"))
    assert not st.same_layout(labstate.plan("3node", 0, SUBNET))
    assert not st.same_layout(labstate.plan("5node", 0, SUBNET, host_bridge=True))
    vms = labstate.plan("5node", 0, SUBNET, machines="vm")
    imaged = labstate.plan("5node", 0, SUBNET, machines="vm", image="/srv/images/debian-12.qcow2")
    other = labstate.plan("5node", 0, SUBNET, machines="vm", image="/srv/images/other.qcow2")
    assert not vms.same_layout(imaged) and not imaged.same_layout(other)
    assert imaged.image == "/srv/images/debian-12.qcow2" and "VMs of debian-12.qcow2" in imaged.describe()


def test_the_installers_stand_in_reads_the_same_state(paths: config.LabPaths) -> None:
    labstate.save(paths, labstate.plan("5node", 0, SUBNET, line="kubeadm", db_ha="ocboot"))
    installer = LabInstaller.from_state(paths)
    assert (installer.storage_vip, installer.line, installer.db_ha) == ("10.213.47.102", "kubeadm", "ocboot")
    assert installer.s3_secret == "s3-secret"


def test_an_image_lab_is_judged_as_a_site_and_left_to_the_users_installer(paths: config.LabPaths) -> None:
    """A lab booting a user's image: its inventory leaves out the lab's S3 stand-in and kernel
    (the release brings its own storage; the document's kernel is expected), its ocboot config
    is written as for the lab's own machines, and the lab's deploy refuses the install stage."""
    paths.db_password_file.write_text("db-secret\n")
    st = labstate.plan("3node", 0, SUBNET, machines="vm", image="/srv/images/debian-12.qcow2")
    files.write_inventory(paths, st)
    site = load(paths.inventory)
    assert site.storage is None and not site.expect.kernel and paths.ocboot_config.exists()
    assert files.node_nic(st) == "lab0"  # the seed's NIC, where ocboot's mariadb_ha keepalived binds
    assert files.node_nic(labstate.plan("5node", 0, SUBNET, host_bridge=True)) == "br0"
    assert files.node_nic(labstate.plan("5node", 0, SUBNET, machines="vm")) == "host0"
    assert [str(n.address) for n in site.nodes] == ["10.213.47.11", "10.213.47.12", "10.213.47.13"]
    labstate.save(paths, st)
    lab = Lab()
    lab.paths = paths
    with pytest.raises(DeployError, match=r"boot your image debian-12.qcow2: install the release with your own"):
        lab.deploy(stage="install")
