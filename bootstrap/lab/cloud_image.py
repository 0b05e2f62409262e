"""A firmware-bootable Debian cloud image (issue 26's release gate): a disk shaped like the cloud
images a release pipeline installs Cloudpods on (a GPT disk, an EFI system partition, a root file
system with cloud-init inside, nothing about the lab in it), built offline from Debian's packages
so that the VM driver's path for a user's own image can be shown here without downloading one.

Layout: GPT (written by sfdisk on a plain file); partition 1 the EFI system partition (FAT, made
by mkfs.vfat on a file and filled by mtools) holding ``EFI/BOOT/BOOTX64.EFI``, a unified kernel
image: systemd's EFI stub with Debian's kernel, its initramfs and the command line added as PE
sections by objcopy (the layout systemd-stub(7) describes); partition 2 the root file system
(ext4 labelled ``cloudimg-rootfs``, as Ubuntu's cloud images label theirs, made by ``mke2fs -d``).
No loop device, no mount, nothing of the host touched. UEFI firmware (OVMF) boots it: the
removable-media path needs no boot entry. There is no BIOS boot path.

cloud-init is told to read only NoCloud (a ``cidata`` disk, ``bootstrap/lab/cloud_seed.py``) and
to render the network for systemd-networkd, which the lab's root file system runs.

``selinux=True`` builds the image as a RHEL-like vendor ships it, SELinux enforcing (Debian's
reference policy, ``selinux-policy-default``; the kernel told ``security=selinux``; every file
labelled at build time by ``setfiles``, carried into ext4 by ``mke2fs -d``): the document's
"关闭 selinux" step then meets a kernel that enforces, which a container cannot show.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

from filelock import FileLock

from bootstrap.lab import config, rootfs
from bootstrap.lab.hostenv import LabError, require_root, require_tools, run

RECIPE = 2  # bumped when the image's making changes
# python3-cffi-backend named: debootstrap's resolver does not follow the virtual package
# python3-cryptography (a cloud-init dependency) needs, and leaves it unconfigured. locales:
# cloud-init's locale module needs update-locale and a generated locale.
PACKAGES: tuple[str, ...] = (
    *config.VM_PACKAGES,
    "cloud-init",
    "cloud-guest-utils",
    "python3-cffi-backend",
    "locales",
)
# Debian's reference policy and its tools; auditd keeps the denials (audit.log) to read them.
SELINUX_PACKAGES: tuple[str, ...] = ("selinux-basics", "selinux-policy-default", "auditd")
SELINUX_CONFIG = "SELINUX=enforcing\nSELINUXTYPE=default\n"
# Debian 12's reference policy, enforcing, denies what cloud-init's first boot needs (seen in the
# guest's audit log, 2026-12-04): its systemd generator a directory in /run (systemd_generator_t
# on var_run_t: cloud-init then disables itself), mount(8) the seed ISO on its temporary directory
# (mount_t mounton initrc_runtime_t: DataSourceNone, no host keys of the seed), growpart's sfdisk
# its temporary files (fsadm_t). These domains of the first boot are made permissive (CIL
# ``typepermissive``); the kernel enforces the policy everywhere else (getenforce: Enforcing).
PERMISSIVE_DOMAINS = (
    "systemd_generator_t", "systemd_tmpfiles_t", "udev_t", "init_t", "initrc_t", "mount_t", "fsadm_t",
)  # fmt: skip
FILE_CONTEXTS = "/etc/selinux/default/contexts/files/file_contexts"
ROOT_LABEL = "cloudimg-rootfs"
CMDLINE = f"root=LABEL={ROOT_LABEL} rw console=ttyS0 mitigations=off"
SELINUX_CMDLINE = " security=selinux selinux=1"  # Debian's kernel starts AppArmor unless told
STUB = Path("/usr/lib/systemd/boot/efi/linuxx64.efi.stub")  # systemd-boot-efi
ESP_MIB, ROOT_MIB, ALIGN_MIB = 128, 4096, 1
IMAGE = "debian-cloud.qcow2"
COMPLETE_MARK = "image.json"
TOOLS = ["mke2fs", "mkfs.vfat", "mmd", "mcopy", "objcopy", "sfdisk", "qemu-img"]
# Only NoCloud: no waiting on the metadata services of clouds the lab is not.
CLOUD_CFG = "datasource_list: [NoCloud, None]\nsystem_info:\n  network:\n    renderers: [networkd]\n"
MIB = 1 << 20


def packages(selinux: bool = False) -> tuple[str, ...]:
    return (*PACKAGES, *SELINUX_PACKAGES) if selinux else PACKAGES


def image_dir(selinux: bool = False) -> Path:
    """Where the image is cached: a key of its packages and this recipe (``cloud-image-<key>``,
    ``cloud-image-selinux-<key>``)."""
    tree = rootfs.rootfs_path(packages(selinux))
    extra = [SELINUX_CMDLINE, SELINUX_CONFIG, *PERMISSIVE_DOMAINS] if selinux else []
    parts = [tree.name, RECIPE, CMDLINE, CLOUD_CFG, *extra]
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]
    return config.paths().cache / f"cloud-image-{'selinux-' if selinux else ''}{key}"


def build(log=sys.stderr, selinux: bool = False) -> Path:  # type: ignore[no-untyped-def]
    """The image's path (``qcow2``), built if missing (debootstrap once, then about a minute);
    ``selinux``: the variant that enforces SELinux. Raises LabError naming a missing tool or the
    step that failed."""
    require_root()
    require_tools(TOOLS)
    if not STUB.exists():
        raise LabError(f"{STUB} is missing: install systemd-boot-efi (its EFI stub makes the image's kernel bootable)")
    target = image_dir(selinux)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / ".cloud-image.lock"), timeout=1800):
        if (target / COMPLETE_MARK).exists():
            return target / IMAGE
        tree = rootfs.build(log=log, packages=packages(selinux))
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        with tempfile.TemporaryDirectory(prefix="ha-cloud-image-", dir=target) as tmp:
            work = Path(tmp)
            root = _root_partition(tree, work, selinux)
            esp = _esp(tree, work, CMDLINE + (SELINUX_CMDLINE if selinux else ""))
            raw = _disk(esp, root, work)
            run(["qemu-img", "convert", "-q", "-c", "-f", "raw", "-O", "qcow2", str(raw), str(target / IMAGE)],
                timeout=900)  # fmt: skip
        (target / COMPLETE_MARK).write_text(json.dumps({"recipe": RECIPE, "packages": packages(selinux)}, indent=2))
        for stale in stale_images(target):
            shutil.rmtree(stale, ignore_errors=True)
        print(f"ha-lab: cloud image ready: {target / IMAGE}", file=log)
        return target / IMAGE


def stale_images(target: Path) -> list[Path]:
    """The images of ``target``'s variant (plain or SELinux) an earlier recipe left beside it."""
    variant = re.compile(re.escape(target.name[:-12]) + "[0-9a-f]{12}$")
    return sorted(p for p in target.parent.glob("cloud-image-*") if p != target and variant.match(p.name))


def _root_partition(tree: Path, work: Path, selinux: bool = False) -> Path:
    """The root file system as an ext4 image, with the guest's own settings laid over a copy's
    worth of files (the cached tree is not changed): fstab, cloud-init's datasource and renderer;
    with ``selinux`` SELinux enforcing in its config and every file labelled."""
    overlay = work / "overlay"
    (overlay / "etc/cloud/cloud.cfg.d").mkdir(parents=True)
    (overlay / "etc/cloud/cloud.cfg.d/90-ha-lab.cfg").write_text(CLOUD_CFG)
    (overlay / "etc/fstab").write_text(f"LABEL={ROOT_LABEL} / ext4 defaults 0 1\n")
    (overlay / "etc/hostname").write_text("localhost\n")  # cloud-init sets the seed's
    merged = work / "tree"
    run(["cp", "-a", "--reflink=auto", str(tree), str(merged)], timeout=900)
    run(["cp", "-a", f"{overlay}/.", str(merged)])
    (merged / "etc/machine-id").write_text("")  # made at first boot
    # cloud-init's locale module sets LANG=en_US.UTF-8 with update-locale, which refuses a locale
    # not generated (exit 255): generated here, as a vendor's image ships it.
    (merged / "etc/locale.gen").write_text("en_US.UTF-8 UTF-8\n")
    run(["chroot", str(merged), "locale-gen"], timeout=300)
    for key in (merged / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # cloud-init makes the host keys per instance
    if selinux:
        (merged / "etc/selinux/config").write_text(SELINUX_CONFIG)
        # setfiles labels through /proc/self/fd: a proc mounted in a mount namespace of its own,
        # gone with the process (nothing of the host mounted), and excluded from the labelling.
        cil = "".join(f"(typepermissive {domain})\n" for domain in PERMISSIVE_DOMAINS)
        (merged / "root/ha-lab-permissive.cil").write_text(cil)
        label = (
            'mount -t proc proc "$0/proc" && chroot "$0" semodule -i /root/ha-lab-permissive.cil && '
            f'exec chroot "$0" setfiles -F -e /proc {FILE_CONTEXTS} /'
        )
        proc = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", label, str(merged)],
                   check=False, timeout=900)  # fmt: skip
        if proc.returncode != 0:
            raise LabError(f"the image could not be labelled: {(proc.stderr or proc.stdout).strip()[-300:]}")
        (merged / "root/ha-lab-permissive.cil").unlink()
    (merged / rootfs.COMPLETE_MARK).unlink(missing_ok=True)
    image = work / "root.img"
    proc = run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", ROOT_LABEL, "-d", str(merged), str(image), f"{ROOT_MIB}M"],
               check=False, timeout=900)  # fmt: skip
    if proc.returncode != 0:
        raise LabError(f"mke2fs could not make the root partition: {(proc.stderr or proc.stdout).strip()[-300:]}")
    shutil.rmtree(merged)
    return image


def _kernel(tree: Path) -> tuple[Path, Path]:
    """The generic kernel and its initramfs in the tree (not the cloud flavour)."""
    kernels = sorted(k for k in (tree / "boot").glob("vmlinuz-*") if "-cloud-" not in k.name)
    if not kernels:
        raise LabError(f"{tree}/boot holds no generic kernel")
    initrd = tree / "boot" / kernels[-1].name.replace("vmlinuz-", "initrd.img-")
    if not initrd.exists():
        raise LabError(f"{initrd} is missing")
    return kernels[-1], initrd


def uki(tree: Path, work: Path, command_line: str = CMDLINE) -> Path:
    """The unified kernel image: the EFI stub with .osrel, .cmdline, .linux and .initrd sections
    at the addresses systemd-stub's documentation uses (each above the previous one's end)."""
    kernel, initrd = _kernel(tree)
    cmdline = work / "cmdline"
    cmdline.write_text(command_line)
    osrel = tree / "usr/lib/os-release"
    linux_at = 0x2000000
    initrd_at = linux_at + ((kernel.stat().st_size + MIB) // MIB + 1) * MIB
    out = work / "BOOTX64.EFI"
    run(["objcopy",
         "--add-section", f".osrel={osrel}", "--change-section-vma", ".osrel=0x20000",
         "--add-section", f".cmdline={cmdline}", "--change-section-vma", ".cmdline=0x30000",
         "--add-section", f".linux={kernel}", "--change-section-vma", f".linux={linux_at:#x}",
         "--add-section", f".initrd={initrd}", "--change-section-vma", f".initrd={initrd_at:#x}",
         str(STUB), str(out)], timeout=120)  # fmt: skip
    return out


def _esp(tree: Path, work: Path, command_line: str) -> Path:
    """The EFI system partition: FAT, the UKI at the removable-media path."""
    esp = work / "esp.img"
    run(["mkfs.vfat", "-C", "-n", "ESP", str(esp), str(ESP_MIB * 1024)])
    run(["mmd", "-i", str(esp), "::/EFI", "::/EFI/BOOT"])
    run(["mcopy", "-i", str(esp), str(uki(tree, work, command_line)), "::/EFI/BOOT/BOOTX64.EFI"])
    return esp


def _disk(esp: Path, root: Path, work: Path) -> Path:
    """A GPT disk holding the two partitions (sfdisk on a plain file), each written at its offset."""
    raw = work / "disk.raw"
    esp_mib, root_mib = esp.stat().st_size // MIB, root.stat().st_size // MIB
    total = ALIGN_MIB + esp_mib + root_mib + 1  # the backup GPT at the end
    with raw.open("wb") as f:
        f.truncate(total * MIB)
    layout = (
        "label: gpt\n"
        f"start={ALIGN_MIB}MiB, size={esp_mib}MiB, type=uefi, name=ESP\n"
        f"start={ALIGN_MIB + esp_mib}MiB, size={root_mib}MiB, type=linux, name=root\n"
    )
    run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(raw)], input=layout)
    for part, at in ((esp, ALIGN_MIB), (root, ALIGN_MIB + esp_mib)):
        run(["dd", f"if={part}", f"of={raw}", "bs=1M", f"seek={at}", "conv=notrunc,sparse", "status=none"],
            timeout=900)  # fmt: skip
    return raw
