"""The VM driver's guest disk (issue 26): the lab's root file system plus Debian's kernel, as a
read-only raw ext4 image every VM boots from through a qcow2 overlay of its own, with the
kernel and initramfs beside it for QEMU's direct kernel boot. Built offline from Debian's
packages (``rootfs.build`` with ``config.VM_PACKAGES``) and ``mke2fs -d`` (no loop mount, no
root file system of the host touched), cached under a key of the tree and this recipe.

A guest learns who it is from a 9p share the host prepares per VM (``seed``): early in its boot
``ha-lab-seed.service`` copies the share's ``root/`` over / (host name, address, SSH host key,
authorized key, /etc/hosts: what ``Machine.personalize`` writes) and mounts the shares listed in
its ``mounts`` file (the lab's tools, the control nodes' shared directory), so the image itself
carries no identity. Its NIC is named host0 as nspawn names a container's, so the deployer, the
checks and the mutations see one name on both drivers.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

from filelock import FileLock

from bootstrap.lab import config, rootfs
from bootstrap.lab.hostenv import LabError, require_root, require_tools, run

RECIPE = 3  # bumped when the files below or the image's making change
IMAGE_SIZE = "6G"  # sparse: what the guests write lands in their overlays
COMPLETE_MARK = "image.json"
BASE, KERNEL, INITRD = "base.raw", "vmlinuz", "initrd.img"

LINK_FILE = "[Match]\nDriver=virtio_net\n\n[Link]\nName=host0\n"
SEED_UNIT = """\
[Unit]
Description=ha-lab: this VM's identity and the host's shares (9p tag "seed")
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target systemd-networkd.service ssh.service systemd-hostnamed.service
ConditionVirtualization=vm

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/ha-lab-seed

[Install]
WantedBy=sysinit.target
"""
SEED_SCRIPT = """\
#!/bin/sh
# ha-lab: copy this VM's identity from the host's seed share, mount the shares it lists.
set -eu
modprobe 9pnet_virtio 2>/dev/null || true
seed=/run/ha-lab-seed
mkdir -p "$seed"
mount -t 9p -o trans=virtio,version=9p2000.L,ro seed "$seed"
cp -a "$seed/root/." /
hostname "$(cat /etc/hostname)"
if [ -f "$seed/mounts" ]; then
    while read -r tag path mode; do
        mkdir -p "$path"
        mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144,$mode" "$tag" "$path"
    done < "$seed/mounts"
fi
umount "$seed"
"""


def image_dir() -> Path:
    tree = rootfs.rootfs_path(config.VM_PACKAGES)
    key = hashlib.sha256(json.dumps([tree.name, RECIPE, IMAGE_SIZE]).encode()).hexdigest()[:12]
    return config.paths().cache / f"vm-{key}"


def is_built(path: Path | None = None) -> bool:
    return ((path or image_dir()) / COMPLETE_MARK).is_file()


def _guest_files(tree: Path) -> None:
    """The VM-only files of the tree: the NIC's name, the seed unit (enabled), a console."""
    net = tree / "etc/systemd/network"
    net.mkdir(parents=True, exist_ok=True)
    (net / "10-ha-lab-host0.link").write_text(LINK_FILE)
    (tree / "etc/systemd/system/ha-lab-seed.service").write_text(SEED_UNIT)
    script = tree / "usr/local/sbin/ha-lab-seed"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(SEED_SCRIPT)
    script.chmod(0o755)
    wants = tree / "etc/systemd/system/sysinit.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "ha-lab-seed.service"
    link.unlink(missing_ok=True)
    link.symlink_to("/etc/systemd/system/ha-lab-seed.service")
    (tree / "etc/fstab").write_text("# ha-lab: the root is the kernel command line's; shares mount from the seed\n")


def _boot_files(tree: Path) -> tuple[Path, Path]:
    kernels = sorted((tree / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise LabError(f"the VM root file system {tree} has no kernel in /boot (config.VM_PACKAGES)")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    initrd = tree / "boot" / f"initrd.img-{version}"
    if not initrd.is_file():
        raise LabError(f"the VM root file system {tree} has no initramfs for kernel {version}")
    return kernels[-1], initrd


def build(log=sys.stderr) -> Path:  # type: ignore[no-untyped-def]
    """The guest image directory (base.raw, vmlinuz, initrd.img), built once. Raises LabError
    naming the step and tool that failed."""
    require_root()
    require_tools(["mke2fs", "qemu-img"])
    target = image_dir()
    if is_built(target):
        return target
    tree = rootfs.build(log=log, packages=config.VM_PACKAGES)
    with FileLock(str(target.parent / ".build-vm.lock"), timeout=1800):
        if is_built(target):
            return target
        start = time.monotonic()
        print(f"ha-lab: building the VMs' disk image in {target} (about 1 min, once)", file=log)
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _guest_files(tree)
        kernel, initrd = _boot_files(tree)
        shutil.copy2(kernel, tmp / KERNEL)
        shutil.copy2(initrd, tmp / INITRD)
        raw = tmp / BASE
        proc = run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "ha-lab-root", "-d", str(tree), str(raw), IMAGE_SIZE],
                   check=False, timeout=900)  # fmt: skip
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise LabError(f"mke2fs could not make the VMs' image: {(proc.stderr or proc.stdout).strip()[-300:]}")
        raw.chmod(0o444)  # the overlays' backing file: never written
        meta = {"tree": tree.name, "kernel": kernel.name, "recipe": RECIPE, "size": IMAGE_SIZE}
        (tmp / COMPLETE_MARK).write_text(json.dumps(meta, indent=2))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        print(f"ha-lab: VM disk image ready in {time.monotonic() - start:.0f} s", file=log)
        return target


def prune(keep: set[Path]) -> list[Path]:
    """Remove VM images of older trees or recipes that no lab uses (``keep``: the running lab's)."""
    removed = []
    for entry in config.paths().cache.glob("vm-*"):
        if entry.is_dir() and entry not in keep and entry != image_dir():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def kernel_release(image: Path) -> str:
    """The guests' kernel release ("6.1.0-50-amd64"), from the image's record."""
    return str(json.loads((image / COMPLETE_MARK).read_text())["kernel"]).removeprefix("vmlinuz-")
