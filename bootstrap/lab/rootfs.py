"""The cached root file system every lab machine boots from.

Built once with debootstrap, then fixed so that machines made from it do not
share an identity; kept under a name derived from what it contains, so a change
to the package list or the fixes builds a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from filelock import FileLock

from bootstrap.lab import config
from bootstrap.lab.hostenv import LabError, apt_mirror, require_root, require_tools, run

COMPLETE_MARK = ".ha-lab-rootfs.json"

SSHD_DROPIN = """\
# ha-lab: one host key per machine, generated when the machine is made
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
"""


def manifest(packages: tuple[str, ...] = config.PACKAGES) -> dict[str, object]:
    return {
        "suite": config.SUITE,
        "packages": sorted(packages),
        "recipe": config.RECIPE_VERSION,
        "disabled": list(config.DISABLED_SERVICES),
        "masked": list(config.MASKED_UNITS),
        "arch": os.uname().machine,
    }


def cache_key(packages: tuple[str, ...] = config.PACKAGES) -> str:
    blob = json.dumps(manifest(packages), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def rootfs_path(packages: tuple[str, ...] = config.PACKAGES) -> Path:
    """The tree for ``packages``: the containers' list, or the VMs' (config.VM_PACKAGES adds a
    kernel), each cached under its own key."""
    return config.paths().cache / f"rootfs-{cache_key(packages)}"


def is_built(path: Path | None = None) -> bool:
    return ((path or rootfs_path()) / COMPLETE_MARK).is_file()


def _chroot(root: Path, *argv: str) -> None:
    run(["chroot", str(root), *argv], timeout=120)


def _fix_identity(root: Path) -> None:
    """Strip what must differ per machine and what slows a container's boot."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    dbus_id = root / "var/lib/dbus/machine-id"
    dbus_id.unlink(missing_ok=True)
    dbus_id.parent.mkdir(parents=True, exist_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    (root / "etc/ssh/sshd_config.d/ha-lab.conf").write_text(SSHD_DROPIN)
    _chroot(root, "systemctl", "enable", "systemd-networkd.service")
    _chroot(root, "systemctl", "disable", *config.DISABLED_SERVICES)
    _chroot(root, "systemctl", "mask", *config.MASKED_UNITS)
    # No network outside the lab: no resolver, no package sources to reach.
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text("# ha-lab: no DNS; names are in /etc/hosts\n")
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)


def build(force: bool = False, log=sys.stderr, packages: tuple[str, ...] = config.PACKAGES) -> Path:  # type: ignore[no-untyped-def]
    """Build the cached root file system of ``packages`` if missing; return its path."""
    require_root()
    require_tools(["debootstrap", "chroot"])
    target = rootfs_path(packages)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / ".build.lock"), timeout=1800):
        if is_built(target) and not force:
            return target
        mirror = apt_mirror()
        tmp = target.parent / f"{target.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        if target.exists():
            shutil.rmtree(target)
        print(f"ha-lab: building the machines' root file system in {target} (about 2 min, once)", file=log)
        start = time.monotonic()
        argv = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(packages)}",
            config.SUITE,
            str(tmp),
            mirror,
        ]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=1500, check=False)
        except subprocess.TimeoutExpired:
            shutil.rmtree(tmp, ignore_errors=True)
            raise LabError("debootstrap did not finish within 25 min") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
            shutil.rmtree(tmp, ignore_errors=True)
            raise LabError(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
        _fix_identity(tmp)
        (tmp / COMPLETE_MARK).write_text(json.dumps(manifest(packages), indent=2))
        tmp.rename(target)
        print(f"ha-lab: root file system ready in {time.monotonic() - start:.0f} s", file=log)
        return target


def prune(keep: set[Path]) -> list[Path]:
    """Remove cached trees of older recipes that no lab uses (``keep``: the running lab's);
    the current ones (the containers' and the VMs') stay."""
    removed: list[Path] = []
    cache = config.paths().cache
    if not cache.is_dir():
        return removed
    current = (rootfs_path(), rootfs_path(config.VM_PACKAGES))
    for entry in cache.glob("rootfs-*"):
        if entry.is_dir() and entry not in keep and entry not in current:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
