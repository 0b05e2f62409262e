"""The VM driver's guest disk (issue 26): the lab's root file system plus Debian's kernel, as a
read-only raw ext4 image every VM boots from through a qcow2 overlay of its own, with the
kernel and initramfs beside it for QEMU's direct kernel boot. Built offline from Debian's
packages (``rootfs.build`` with ``config.VM_PACKAGES``) and ``mke2fs -d`` (no loop mount, no
root file system of the host touched), cached under a key of the tree and this recipe.

A guest learns who it is from a seed disk the host writes per VM at each boot (``seed_disk``: a
small ext4 image labelled ha-lab-seed, read-only to the guest): early in its boot
``ha-lab-seed.service`` copies the disk's ``root/`` over / (host name, address, SSH host key,
authorized key, /etc/hosts: what ``Machine.personalize`` writes) and mounts the host's 9p shares
listed in its ``mounts`` file (the lab's tools, the control nodes' shared directory), so the image
itself carries no identity. A disk, not a share, because the archive's other kernel (cloud, which
the kernel mutation boots) has no 9p: a node on it comes up with its identity and without the
shares, and says so on its console. Its NIC is named host0 as nspawn names a container's, so the
deployer, the checks and the mutations see one name on both drivers.
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

RECIPE = 4  # bumped when the files below or the image's making change
IMAGE_SIZE = "6G"  # sparse: what the guests write lands in their overlays
COMPLETE_MARK = "image.json"
BASE, KERNEL, INITRD = "base.raw", "vmlinuz", "initrd.img"
# Kernel flavours in the image: "" is the generic kernel every VM boots, "cloud" the archive's
# other build (config._KERNELS), told apart by Debian's package names (vmlinuz-<abi>-cloud-<arch>).
FLAVOURS = ("", "cloud")
SEED_LABEL = "ha-lab-seed"
SEED_SIZE = "16M"
NO_9P = "ha-lab-seed: this kernel has no 9p; the host's shares are not mounted"

LINK_FILE = "[Match]\nDriver=virtio_net\n\n[Link]\nName=host0\n"
SEED_UNIT = """\
[Unit]
Description=ha-lab: this VM's identity (seed disk) and the host's shares (9p)
DefaultDependencies=no
Requires=dev-disk-by\\x2dlabel-ha\\x2dlab\\x2dseed.device
After=local-fs.target dev-disk-by\\x2dlabel-ha\\x2dlab\\x2dseed.device
Before=sysinit.target systemd-networkd.service ssh.service systemd-hostnamed.service
ConditionVirtualization=vm

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/ha-lab-seed

[Install]
WantedBy=sysinit.target
"""
SEED_SCRIPT = f"""\
#!/bin/sh
# ha-lab: copy this VM's identity from the host's seed disk, mount the shares it lists.
set -eu
seed=/run/ha-lab-seed
mkdir -p "$seed"
mount -o ro LABEL={SEED_LABEL} "$seed"
cp -a "$seed/root/." /
hostname "$(cat /etc/hostname)"
modprobe 9pnet_virtio 2>/dev/null || true
modprobe 9p 2>/dev/null || true
if [ -s "$seed/mounts" ] && ! grep -qw 9p /proc/filesystems; then
    echo "{NO_9P}" > /dev/console
elif [ -f "$seed/mounts" ]; then
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


def _boot_files(tree: Path) -> dict[str, tuple[Path, Path]]:
    """Each flavour's kernel and initramfs in the tree's /boot: {flavour: (vmlinuz, initrd)}."""
    found: dict[str, tuple[Path, Path]] = {}
    for kernel in sorted((tree / "boot").glob("vmlinuz-*")):
        version = kernel.name.removeprefix("vmlinuz-")
        flavour = "cloud" if "-cloud-" in version else ""
        initrd = tree / "boot" / f"initrd.img-{version}"
        if not initrd.is_file():
            raise LabError(f"the VM root file system {tree} has no initramfs for kernel {version}")
        found[flavour] = (kernel, initrd)
    missing = [f or "generic" for f in FLAVOURS if f not in found]
    if missing:
        raise LabError(f"the VM root file system {tree} lacks the {', '.join(missing)} kernel (config.VM_PACKAGES)")
    return found


def boot_files(image: Path, flavour: str = "") -> tuple[Path, Path]:
    """The kernel and initramfs QEMU boots for ``flavour`` (one of FLAVOURS)."""
    if flavour not in FLAVOURS:
        raise LabError(f"no kernel flavour {flavour!r} in the VM image; flavours: generic, cloud")
    suffix = f"-{flavour}" if flavour else ""
    return image / (KERNEL + suffix), image / (INITRD + suffix)


def seed_disk(seed: Path, disk: Path) -> None:
    """Write the directory ``seed`` as the VM's seed disk (ext4 labelled SEED_LABEL, mode 0600:
    it carries the SSH host key). Raises LabError with mke2fs's complaint."""
    disk.unlink(missing_ok=True)
    proc = run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", SEED_LABEL, "-d", str(seed), str(disk), SEED_SIZE],
               check=False, timeout=60)  # fmt: skip
    if proc.returncode != 0:
        raise LabError(f"mke2fs could not write the seed disk {disk}: {(proc.stderr or proc.stdout).strip()[-300:]}")
    disk.chmod(0o600)


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
        kernels = _boot_files(tree)
        for flavour, (kernel, initrd) in kernels.items():
            dest_kernel, dest_initrd = boot_files(tmp, flavour)
            shutil.copy2(kernel, dest_kernel)
            shutil.copy2(initrd, dest_initrd)
        raw = tmp / BASE
        proc = run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "ha-lab-root", "-d", str(tree), str(raw), IMAGE_SIZE],
                   check=False, timeout=900)  # fmt: skip
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise LabError(f"mke2fs could not make the VMs' image: {(proc.stderr or proc.stdout).strip()[-300:]}")
        raw.chmod(0o444)  # the overlays' backing file: never written
        names = {flavour: kernel.name for flavour, (kernel, _) in kernels.items()}
        meta = {"tree": tree.name, "kernels": names, "recipe": RECIPE, "size": IMAGE_SIZE}
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


def kernel_release(image: Path, flavour: str = "") -> str:
    """The release of the guests' kernel of ``flavour`` ("6.1.0-50-amd64"; cloud:
    "6.1.0-50-cloud-amd64"), from the image's record."""
    return str(json.loads((image / COMPLETE_MARK).read_text())["kernels"][flavour]).removeprefix("vmlinuz-")
