"""A cloud-init NoCloud seed for a user's own cloud image (issue 26's release gate).

A cloud image (Debian's genericcloud, Rocky's GenericCloud, Ubuntu's cloudimg: the images the
release pipeline would install Cloudpods on) takes its identity from cloud-init; the NoCloud
datasource reads it from a disk labelled ``cidata`` holding ``user-data``, ``meta-data`` and
``network-config`` (docs.cloud-init.io, datasources/nocloud). The seed written here gives the
machine the lab's name, a static address on the lab's bridge (matched by the MAC the VM driver
derives from it: ``vm.mac_for``; no gateway and no name server: the lab has no uplink), and the
lab's SSH public key for root, so the suite and the user's installer log in as they do on the
lab's own machines. No password login is enabled. Where the VM driver gives it one, the seed also
carries the machine's SSH host key pair (cloud-init's ``ssh_keys``), so that the lab pins the host
key before the first login as it does for its own machines: that private key is the lab
machine's identity, kept by the lab on this host like a container's, never a user's secret; the
ISO is readable by root only.

The ISO is written by ``cloud-localds`` (Debian's cloud-image-utils, cloud-init's own
tool), read back by ``isoinfo`` (genisoimage, which cloud-localds uses to write it).
"""

from __future__ import annotations

import ipaddress
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from bootstrap.lab.hostenv import LabError, require_tools, run

FILES = ("user-data", "meta-data", "network-config")
NIC = "lab0"  # the name the seed gives the VM's NIC (matched by its MAC)


@dataclass(frozen=True)
class Seed:
    """One machine's identity. ``address``: its address with the lab's prefix (10.213.47.11/24);
    ``mac``: the MAC its NIC has (the network configuration matches it); ``authorized_key``: one
    OpenSSH public key line."""

    hostname: str
    address: ipaddress.IPv4Interface
    mac: str
    authorized_key: str
    host_key: tuple[str, str] | None = None  # the machine's ed25519 host key: (private, public)

    def __post_init__(self) -> None:
        if not self.authorized_key.startswith(("ssh-", "ecdsa-", "sk-")) or "\n" in self.authorized_key.strip():
            raise LabError(f"{self.hostname}: the seed's SSH key is not one OpenSSH public key line")


def user_data(seed: Seed) -> str:
    """#cloud-config: the hostname, root's authorized key (``disable_root: false``), no password
    login, no package upgrade at boot (the lab has no mirror to reach)."""
    config: dict[str, object] = {
        "hostname": seed.hostname,
        "preserve_hostname": False,
        "disable_root": False,
        "ssh_authorized_keys": [seed.authorized_key.strip()],
        "ssh_pwauth": False,
        "package_update": False,
        "package_upgrade": False,
    }
    if seed.host_key is not None:
        config["ssh_keys"] = {"ed25519_private": seed.host_key[0], "ed25519_public": seed.host_key[1].strip()}
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


def meta_data(seed: Seed) -> str:
    """The instance id (a new one per seed contents: cloud-init runs its per-instance modules
    again when it changes) and the local hostname."""
    return yaml.safe_dump({"instance-id": f"ha-lab-{seed.hostname}-{seed.address.ip}", "local-hostname": seed.hostname})


def network_config(seed: Seed) -> str:
    """Network configuration version 2: the NIC with ``mac``, a static address, no route."""
    nic = {"match": {"macaddress": seed.mac.lower()}, "set-name": NIC, "addresses": [str(seed.address)],
           "dhcp4": False, "dhcp6": False}  # fmt: skip
    return yaml.safe_dump({"version": 2, "ethernets": {NIC: nic}}, sort_keys=False)


def write(seed: Seed, path: Path) -> Path:
    """The ``cidata`` ISO at ``path`` (replaced). Raises LabError naming a missing tool or the
    tool's failure."""
    require_tools(["cloud-localds"])
    # Written inside a private directory beside ``path`` (mode 0700) and made root-only there
    # before it is renamed into place: a seed with a host key is never readable by others.
    with tempfile.TemporaryDirectory(prefix=".ha-lab-seed-", dir=path.parent) as tmp:
        files = {}
        for name, text in zip(FILES, (user_data(seed), meta_data(seed), network_config(seed)), strict=True):
            files[name] = Path(tmp) / name
            files[name].write_text(text)
        iso = Path(tmp) / "cidata.iso"
        run(["cloud-localds", f"--network-config={files['network-config']}", str(iso),
             str(files["user-data"]), str(files["meta-data"])], timeout=60)  # fmt: skip
        iso.chmod(0o600)
        iso.replace(path)
    return path


def read(path: Path) -> dict[str, str]:
    """What a seed ISO holds, file by file ({name: text}), as the NoCloud datasource finds it:
    the volume label and the files at its root (Rock Ridge names, as cloud-localds writes them).
    Raises LabError when the label is not ``cidata`` or a file is missing."""
    require_tools(["isoinfo"])
    label = next((line.split(":", 1)[1].strip() for line in run(["isoinfo", "-d", "-i", str(path)]).stdout.splitlines()
                  if line.startswith("Volume id:")), "")  # fmt: skip
    if label.lower() != "cidata":
        raise LabError(f"{path}: volume label {label!r}, not cidata: cloud-init's NoCloud would not read it")
    found = {}
    for name in FILES:
        found[name] = run(["isoinfo", "-R", "-i", str(path), "-x", f"/{name}"]).stdout
        if not found[name]:
            raise LabError(f"{path}: no {name} on the seed")
    return found
