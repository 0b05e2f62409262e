"""A VM booting a user's own cloud image by firmware (issue 26's release gate): the kind of
machine a release pipeline installs Cloudpods on, as a vendor ships it (a qcow2 or raw disk
with its own boot loader and cloud-init), on the lab's bridge.

Unlike the lab's own VMs (``vm.VmMachine``: the lab's image, direct kernel boot, identity on a
seed disk the image's unit reads, the host's shares over 9p), this one boots what the image
holds through UEFI firmware (OVMF, with a variable store of its own) and learns who it is from a
cloud-init NoCloud seed (``cloud_seed``): host name, address, root's authorized key and the host
key the lab pins. The user's image is never written: the VM writes a qcow2 overlay on it. What
is the same: the cgroup, the tap on the bridge, QMP, the serial console, the faults (a power cut
kills QEMU, a clean stop is ACPI power-down), and the guest agent's channel (used where the image
runs the agent).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap.lab import cloud_seed
from bootstrap.lab.hostenv import LabError, require_tools, run
from bootstrap.lab.vm import KVM_TRIAL_S, QEMU, VmMachine, _rpc, cached_accel, devices_argv, mac_for, machine_argv
from bootstrap.remote import Result

# Debian's ovmf package: the firmware's code (read-only) and the template of its variable store.
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
IMAGE_FORMATS = ("qcow2", "raw")
CLOUD_INIT_FAILED = ("Failed to start cloud-init.service", "Failed to start cloud-init-local.service")
FIRMWARE_BOOTED = "BdsDxe:"  # OVMF's boot manager on the serial console: the firmware ran


def image_format(path: Path) -> str:
    """The disk image's format as QEMU reads it ("qcow2" or "raw"). Raises LabError naming the
    file when it is missing, unreadable or of another format."""
    if not path.is_file():
        raise LabError(f"--image {path}: no such file")
    proc = run(["qemu-img", "info", "--output=json", str(path)], check=False, timeout=30)
    if proc.returncode != 0:
        raise LabError(f"--image {path}: qemu-img cannot read it: {(proc.stderr or proc.stdout).strip()[-200:]}")
    fmt = str(json.loads(proc.stdout).get("format", ""))
    if fmt not in IMAGE_FORMATS:
        raise LabError(f"--image {path}: a {fmt or 'unknown'} image; give a qcow2 or raw disk image")
    return fmt


def choose_firmware_accel(cache: Path) -> str:
    """ "kvm" when OVMF reaches its boot manager under hardware KVM within KVM_TRIAL_S, else
    "tcg"; cached per host kernel, QEMU and firmware (``HA_LAB_ACCEL`` forces one). A user's image
    has no kernel the lab can boot on its own, so the firmware is the trial: weaker than the lab
    image's kernel trial (a paravirtual KVM may run firmware and crawl in a kernel)."""
    firmware = f"firmware {OVMF_CODE.stat().st_size} {OVMF_CODE.stat().st_mtime_ns}"
    return cached_accel(cache, lambda: firmware, _firmware_runs_under_kvm)


def _firmware_runs_under_kvm() -> bool:
    """OVMF booted under KVM with no disk: its boot manager on the serial console is the proof."""
    with tempfile.TemporaryDirectory() as tmp:
        console, variables = Path(tmp) / "console", Path(tmp) / "vars.fd"
        shutil.copyfile(OVMF_VARS, variables)
        argv = [QEMU, "-nodefaults", "-display", "none", "-no-reboot", "-machine", "q35", "-accel", "kvm",
                "-cpu", "host", "-m", "256", "-serial", f"file:{console}",
                "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,unit=1,file={variables}"]  # fmt: skip
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(argv, capture_output=True, timeout=KVM_TRIAL_S, check=False)
        return console.exists() and FIRMWARE_BOOTED in console.read_text(errors="replace")


@dataclass
class CloudVm(VmMachine):
    """``user_image``: the cloud image every such VM boots through its own overlay;
    ``remote_run(command, timeout_s)``: a command on the guest over the lab's SSH transport
    (``Lab.ssh``: pinned host key, time limit, 255 when unreachable), for readiness and for the
    addresses where the image runs no guest agent."""

    user_image: Path = Path("/nonexistent")
    remote_run: Callable[[str, float], Result] | None = None

    @property
    def seed_iso(self) -> Path:
        return self.home / "cidata.iso"

    @property
    def efi_vars(self) -> Path:
        return self.home / "efivars.fd"

    @property
    def host_key(self) -> Path:
        return self.home / "ssh_host_ed25519_key"

    @property
    def host_key_pub(self) -> Path:
        return self.host_key.with_suffix(".pub")

    @property
    def agent_file(self) -> Path:  # "answers" or "absent": the guest agent, as settle() found it
        return self.home / "guest-agent"

    def ensure_mounted(self) -> None:
        """The overlay on the user's image and the firmware's variable store, made once."""
        require_tools([QEMU, "qemu-img", "cloud-localds"])
        for firmware in (OVMF_CODE, OVMF_VARS):
            if not firmware.exists():
                raise LabError(f"{firmware} is missing: install ovmf (the UEFI firmware the image boots by)")
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.disk.exists():
            fmt = image_format(self.user_image)
            backing = str(self.user_image.resolve())
            run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", fmt, "-b", backing, str(self.disk)])
        if not self.efi_vars.exists():
            shutil.copyfile(OVMF_VARS, self.efi_vars)

    def personalize(self, hosts: dict[str, Any], authorized_key: str) -> str:
        """The cloud-init seed (written again at each start, so it follows the lab's data); the
        host key made once and kept. Returns the host public key (the part after the type)."""
        if not self.host_key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{self.name}", "-f", str(self.host_key)])
        public = self.host_key_pub.read_text()
        seed = cloud_seed.Seed(
            hostname=self.name,
            address=ipaddress.IPv4Interface(f"{self.address}/{self.prefixlen}"),
            mac=mac_for(str(self.address)),
            authorized_key=authorized_key,
            host_key=(self.host_key.read_text(), public),
        )
        cloud_seed.write(seed, self.seed_iso)
        return public.split()[1]

    def write_seed(self) -> None:
        if not self.seed_iso.exists():
            raise LabError(f"{self.name}: no cloud-init seed: personalize it before it boots")

    def argv(self) -> list[str]:
        """Firmware, not a kernel: OVMF's code read-only and its own variable store; the overlay
        first, the ``cidata`` seed second (read-only); no host shares."""
        return [
            *machine_argv(self),
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={self.efi_vars}",
            "-drive", f"file={self.disk},if=virtio,format=qcow2",
            "-drive", f"file={self.seed_iso},if=virtio,format=raw,readonly=on",
            *devices_argv(self),
        ]  # fmt: skip

    def boot_failure(self) -> str | None:
        """Why the guest cannot come up, read off its console (cloud-init failed), or None."""
        try:
            console = self.console_log.read_text(errors="replace")
        except OSError:
            return None
        failed = next((line for line in CLOUD_INIT_FAILED if line in console), None)
        return f"{self.name}: cloud-init failed at boot ({failed}): no address, no key" if failed else None

    def _remote(self, command: str, timeout: float) -> Result:
        if self.remote_run is None:
            raise LabError(f"{self.name}: no SSH transport to the guest (CloudVm.remote_run)")
        return self.remote_run(command, timeout)

    def settle(self, deadline: float) -> None:
        """Ready as a release gate needs it, once systemd is: cloud-init's stages all done (its
        set-passwords module restarts sshd meanwhile: refused commands are retried), then ``sync``
        (a power cut soon after first boot otherwise leaves empty host keys cloud-init never
        writes again: canonical/cloud-init#5305), then whether the guest agent answers. "done" and
        newer cloud-init's "degraded done" (finished, with recoverable errors) are ready. Raises
        LabError with cloud-init's status when it ends in error or not by ``deadline``."""
        last = "no answer"
        while time.monotonic() < deadline:
            got = self._remote("cloud-init status --wait --long", max(1.0, deadline - time.monotonic()))
            last = (got.stdout or got.stderr).strip()[-400:]
            if got.returncode != 255:  # 255: the connection, not cloud-init
                break
            time.sleep(self.poll_interval)
        if not any(f"\nstatus: {done}" in "\n" + last for done in ("done", "degraded done")):
            raise LabError(f"{self.name}: cloud-init did not finish cleanly: {last}")
        if self._remote("sync", 60.0).returncode != 0:
            raise LabError(f"{self.name}: sync after cloud-init failed")
        try:
            _rpc(self.qga_socket, [{"execute": "guest-ping"}], timeout=3.0)
            self.agent_file.write_text("answers\n")
        except LabError:
            self.agent_file.write_text("absent\n")

    def addr_output(self) -> str:
        """The guest's addresses: through its agent where it answered at readiness, else over
        SSH (``ip -j -4 addr show``). Raises LabError when neither can read them (an agentless
        VM partitioned or frozen: never taken for one holding nothing)."""
        agent = self.agent_file.read_text().strip() if self.agent_file.exists() else ""
        if agent == "answers" or not self.populated():
            return super().addr_output()
        got = self._remote("ip -j -4 addr show", 8.0)
        if got.returncode != 0:
            why = got.stderr.strip()[-200:] or f"exit {got.returncode}"
            raise LabError(f"{self.name}: its addresses could not be read (no guest agent in the image; SSH: {why})")
        return got.stdout
