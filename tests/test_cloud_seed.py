"""The cloud-init NoCloud seed for a user's own cloud image (bootstrap/lab/cloud_seed.py): written
by cloud-localds, read back as cloud-init's NoCloud datasource finds it (a volume labelled
cidata, its three files at the root), and nothing but one public key accepted."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest
import yaml

from bootstrap.lab import cloud_seed
from bootstrap.lab.hostenv import LabError
from bootstrap.lab.vm import mac_for

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq8mB3c3kL0lCq4Bq3mXgRzY3hYJ1u3YQm6b0Xq2rVd ha-lab"


def seed(key: str = KEY) -> cloud_seed.Seed:
    return cloud_seed.Seed("node1", ipaddress.IPv4Interface("10.213.47.11/24"), mac_for("10.213.47.11"), key)


def test_the_seed_reads_back_as_nocloud_finds_it(tmp_path: Path) -> None:
    iso = cloud_seed.write(seed(), tmp_path / "seed.iso")
    found = cloud_seed.read(iso)
    assert found["user-data"].startswith("#cloud-config\n")  # cloud-init ignores user-data without it
    user = yaml.safe_load(found["user-data"])
    assert user["hostname"] == "node1" and user["ssh_authorized_keys"] == [KEY]
    assert user["disable_root"] is False and user["ssh_pwauth"] is False  # root by key only
    meta = yaml.safe_load(found["meta-data"])
    assert meta == {"instance-id": "ha-lab-node1-10.213.47.11", "local-hostname": "node1"}
    net = yaml.safe_load(found["network-config"])
    nic = net["ethernets"]["lab0"]
    assert net["version"] == 2 and nic["match"] == {"macaddress": "52:54:0a:d5:2f:0b"}
    assert nic["addresses"] == ["10.213.47.11/24"] and "gateway4" not in nic and "routes" not in nic  # no uplink
    blkid = subprocess.run(["blkid", "-o", "export", str(iso)], capture_output=True, text=True, check=True).stdout
    assert "LABEL=cidata" in blkid and "TYPE=iso9660" in blkid
    # Written again, replaced (not appended to).
    assert cloud_seed.read(cloud_seed.write(seed(), iso)) == found


def test_a_disk_without_the_cidata_label_is_refused(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    for name in cloud_seed.FILES:
        (tmp_path / "files" / name).write_text("x\n")
    other = tmp_path / "other.iso"
    subprocess.run(["genisoimage", "-quiet", "-V", "config-2", "-r", "-J", "-o", str(other), str(tmp_path / "files")],
                   check=True)  # fmt: skip
    with pytest.raises(LabError, match="volume label 'config-2', not cidata"):
        cloud_seed.read(other)


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", "not one OpenSSH public key line"),
        (f"{KEY}\n{KEY}", "not one OpenSSH public key line"),
        ("", "not one OpenSSH public key line"),
    ],
)
def test_only_one_public_key_line_goes_on_the_seed(key: str, why: str) -> None:
    with pytest.raises(LabError, match=why):
        seed(key)
