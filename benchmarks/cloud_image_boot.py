"""A cloud image booted by firmware with a cloud-init seed, as the release gate boots a user's
own image: prints figures, asserts nothing.

    .venv/bin/python benchmarks/cloud_image_boot.py [--image FILE.qcow2] [--power-cut]

Without ``--image`` it builds the firmware-bootable Debian image (bootstrap/lab/cloud_image.py;
debootstrap once, then the disk) and boots that. One VM (bootstrap/lab/cloud_vm.py) on a bridge
of its own: OVMF, a qcow2 overlay on the image, the ``cidata`` seed. Printed: the image's build
time, the accelerator, seconds until root logs in over SSH with the pinned host key, what the
guest says of itself (UEFI, hypervisor, kernel, host name and address from the seed,
cloud-init's status, the root file system), QEMU's memory; with ``--power-cut``, QEMU killed
(after a ``sync`` in the guest unless ``--no-sync``) and the VM started again, seconds until it
answers. Slow under emulation; needs root, QEMU and ovmf (setup-host.sh).
"""

from __future__ import annotations

import argparse
import ipaddress
import tempfile
import time
from pathlib import Path

from bootstrap.lab import cloud_image, config, vm_image
from bootstrap.lab.cloud_vm import CloudVm
from bootstrap.lab.hostenv import LabError, benchmark_main, check_subnet
from bootstrap.lab.vm import Standalone, choose_accel, standalone

SUBNET = ipaddress.IPv4Network("10.213.96.0/24")
ADDRESS = SUBNET[10]
# What the guest says of itself, one line per question.
ASK = {
    "firmware": "test -d /sys/firmware/efi && echo UEFI || echo BIOS",
    "virt": "systemd-detect-virt",
    "kernel": "uname -r",
    "SELinux": "getenforce 2>/dev/null || echo 'no SELinux tools'",
    "hostname": "hostname",
    "address": "ip -o -4 addr show | awk '$2 != \"lo\" {print $2, $4}'",
    "cloud-init problems": "grep -hE -A14 'WARNING|ERROR' /var/log/cloud-init.log | grep -vE '^  File|^    ' "
    "| cut -c1-200 | tail -n 8",
    "root": "findmnt -no SOURCE,FSTYPE /",
    "host key": "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $2}'",
}


def settled(vm: Standalone, timeout: float = 600) -> str:
    """cloud-init's last word once its stages have all run (``cloud-init status --wait``). sshd
    answers before that and is restarted by cloud-init's set-passwords module in its config
    stage: a command in that window is refused, so the wait is asked again until it answers."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        got = vm.ssh("cloud-init status --wait", timeout=timeout)
        if got.returncode != 255:  # 255: ssh itself failed (refused while sshd restarts)
            return got.stdout.strip().splitlines()[-1] if got.stdout.strip() else f"exit {got.returncode}"
        vm.wait(timeout)
    raise LabError(f"cloud-init did not finish within {timeout:g} s")


def rss_mib(m: CloudVm) -> float:
    """QEMU's resident memory in MiB (the processes of the VM's cgroup)."""
    total = 0
    for pid in (m.cgroup / "cgroup.procs").read_text().split():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", type=Path, help="a cloud image (qcow2 or raw); default: build the Debian one")
    ap.add_argument("--power-cut", action="store_true", help="also kill QEMU and time the restart")
    ap.add_argument(
        "--no-sync",
        action="store_true",
        help="cut the power without a sync first: what cloud-init "
        "wrote at first boot may be lost (cloud-init#5305: empty host keys, sshd fails)",
    )
    ap.add_argument("--selinux", action="store_true", help="the Debian image with SELinux enforcing, as RHEL ships")
    args = ap.parse_args()
    check_subnet(SUBNET)
    start = time.monotonic()
    image = args.image or cloud_image.build(selinux=args.selinux)
    built = time.monotonic() - start
    accel = choose_accel(vm_image.build(), config.paths().cache / "accel.json")
    print(f"# {time.strftime('%Y-%m-%d')}, image {image} ({image.stat().st_size / 2**20:.0f} MiB on disk), "
          f"ready in {built:.0f} s, accelerator {accel}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ha-cloud-vm-") as tmp:
        m = CloudVm(name="cloudvm", address=ADDRESS, prefixlen=24, bridge="ha-vmc0", rootfs=Path("/nonexistent"),
                    home=Path(tmp) / "cloudvm", binds=(), user_image=image, accel=accel)  # fmt: skip
        booted = time.monotonic()
        with standalone(m, str(SUBNET[1])) as vm:
            print(f"ssh as root after {time.monotonic() - booted:.0f} s (firmware, kernel, cloud-init's network)")
            print(f"  cloud-init: {settled(vm)}, done after {time.monotonic() - booted:.0f} s")
            for name, command in ASK.items():
                got = vm.ssh(command, timeout=60)
                print(f"  {name}: {got.stdout.strip() or f'(exit {got.returncode}) {got.stderr.strip()[-300:]}'}")
            print(f"  qemu rss: {rss_mib(m):.0f} MiB")
            if args.power_cut:
                if not args.no_sync:
                    vm.ssh("sync")  # what cloud-init wrote at first boot made durable, as the lab's readiness does
                m.kill()
                m.boot()
                print(f"power cut{'' if args.no_sync else ' after sync'}, then ssh again after {vm.wait():.0f} s")
    return 0


if __name__ == "__main__":
    benchmark_main(main)
