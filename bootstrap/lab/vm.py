"""A lab machine as a QEMU virtual machine (issue 26): its own kernel, clock and page cache.

The VM runs in the node's cgroup like an nspawn machine (``Machine``), so a power cut is the
same one write of ``cgroup.kill`` (QEMU dies: what the guest had not written to its disk, its
page cache, is lost), and what the lab counts and removes per node stays one code path. The
differences, as physics has them: a clean stop is ACPI power-down (QMP ``system_powerdown``);
a frozen machine is the VM paused (QMP ``stop``/``cont``); a partition is the VM's tap taken off
the bridge; its addresses are read through the QEMU guest agent, which needs no network (a
partitioned VM still holds its VIPs). Identity comes from a per-VM seed disk
(bootstrap/lab/vm_image.py), written from what the same ``personalize`` writes for a container.
``kernel`` picks the image's kernel flavour (the kernel mutation boots a node with "cloud").

Accelerator: hardware KVM where a guest kernel really boots under it within ``KVM_TRIAL_S``
(``choose_accel``), else emulation (TCG: timings are not comparable with hardware's).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap.lab import vm_image
from bootstrap.lab.hostenv import LabError, require_tools, run
from bootstrap.lab.machine import Machine
from bootstrap.poll import WaitTimeout, wait_until

TAP_PREFIX = "vt-"
KVM_TRIAL_S = 20.0
QEMU = "qemu-system-x86_64" if os.uname().machine == "x86_64" else "qemu-system-aarch64"
# mitigations=off: the guest's Spectre/Meltdown work on every system call, emulated, costs more
# than anything the lab's guests do; none runs code it does not trust.
# systemd.show_status=error: a unit that fails at boot (the seed disk unread) says so on the console.
CMDLINE = "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.show_status=error mitigations=off"
SEED_FAILED = ("Failed to start ha-lab-seed.service", "Dependency failed for ha-lab-seed.service")
TCG_TB_MIB = 256  # the translation cache per VM (QEMU's default takes up to 1 GiB of RSS)


def mac_for(address: str) -> str:
    """A locally administered MAC derived from the node's IPv4 address (stable per node)."""
    return "52:54:" + ":".join(f"{int(b):02x}" for b in address.split("."))


def qemu_argv(m: VmMachine) -> list[str]:
    """QEMU's command line for the machine (no secret on it: keys travel on the seed disk)."""
    kernel, initrd = vm_image.boot_files(m.image, m.kernel)
    argv = [
        *machine_argv(m),
        "-kernel", str(kernel), "-initrd", str(initrd), "-append", CMDLINE,
        "-drive", f"file={m.disk},if=virtio,format=qcow2",  # first: the root, /dev/vda
        "-drive", f"file={m.seed_disk},if=virtio,format=raw,readonly=on",
        *devices_argv(m),
    ]  # fmt: skip
    for i, (src, _dst, ro) in enumerate(m.binds):
        share = f"local,path={src},mount_tag=share{i},security_model=passthrough"
        argv += ["-virtfs", share + (",readonly=on" if ro else "")]
    return argv


def machine_argv(m: VmMachine) -> list[str]:
    """The machine itself: q35, the accelerator, CPUs and memory (what every VM kind shares)."""
    smp = "1" if m.accel == "tcg" else "2"
    cpu = "max" if m.accel == "tcg" else "host"
    accel = f"tcg,tb-size={TCG_TB_MIB}" if m.accel == "tcg" else m.accel
    return [QEMU, "-name", m.name, "-nodefaults", "-no-user-config", "-display", "none",
            "-machine", "q35", "-accel", accel, "-cpu", cpu, "-smp", smp, "-m", str(m.memory_mib)]  # fmt: skip


def devices_argv(m: VmMachine) -> list[str]:
    """The NIC on the machine's tap (its MAC from its address), the guest agent's channel, QMP,
    the serial console to a file and the clock's base (what every VM kind shares)."""
    return [
        "-netdev", f"tap,id=n0,ifname={m.veth},script=no,downscript=no",
        "-device", f"virtio-net-pci,netdev=n0,mac={mac_for(str(m.address))}",
        "-chardev", f"socket,id=qga,path={m.qga_socket},server=on,wait=off",
        "-device", "virtio-serial-pci", "-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
        "-qmp", f"unix:{m.qmp_socket},server=on,wait=off",
        "-serial", f"file:{m.console_log}",
        "-rtc", f"base={m.rtc_base}",
    ]  # fmt: skip


def _rpc(path: Path, commands: list[dict[str, Any]], timeout: float = 5.0, greeting: bool = False) -> Any:
    """Send JSON commands over a QEMU unix socket (QMP: ``greeting``; the guest agent: none);
    return the last command's ``return``. Raises LabError on no answer or an error answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
            reader = s.makefile("r", encoding="utf-8")
            if greeting:
                reader.readline()
            answer: Any = None
            for cmd in commands:
                s.sendall(json.dumps(cmd).encode() + b"\n")
                while True:
                    line = reader.readline()
                    if not line:
                        raise LabError(f"{path.name}: connection closed")
                    answer = json.loads(line)
                    if "event" not in answer:
                        break
                if "error" in answer:
                    raise LabError(f"{path.name}: {cmd['execute']}: {answer['error'].get('desc', answer['error'])}")
        except (OSError, ValueError) as exc:
            raise LabError(f"{path.name}: no answer: {exc}") from None
    return answer.get("return") if isinstance(answer, dict) else None


def ip_json(interfaces: list[dict[str, Any]]) -> str:
    """The guest agent's ``guest-network-get-interfaces`` as ``ip -j -4 addr show`` prints it
    (the fields bootstrap/vips.py reads)."""
    out = []
    for i in interfaces:
        info = [{"family": "inet", "local": a["ip-address"], "prefixlen": a.get("prefix", 32)}
                for a in i.get("ip-addresses", []) if a.get("ip-address-type") == "ipv4"]  # fmt: skip
        out.append({"ifname": i.get("name", "?"), "addr_info": info})
    return json.dumps(out)


@dataclass
class VmMachine(Machine):
    image: Path = Path("/nonexistent")  # vm_image.build()'s directory
    accel: str = "tcg"
    memory_mib: int = 1280
    rtc_base: str = "utc"  # QEMU's -rtc base=: "utc" or a date the guest's clock starts from
    kernel: str = ""  # the image's kernel flavour (vm_image.FLAVOURS): "" generic, "cloud"
    # Readiness as an emulated guest bears it: five reach their login prompts in about 3 min
    # here, and an sshd polled every 50 ms refuses connections (MaxStartups).
    boot_timeout = 900.0
    banner_timeout = 2.0
    poll_interval = 1.0

    @property
    def veth(self) -> str:  # the tap on the bridge plays the veth's part
        return TAP_PREFIX + self.name

    @property
    def seed(self) -> Path:
        return self.home / "seed"

    @property
    def merged(self) -> Path:  # what personalize() writes: the seed's tree, copied over / at boot
        return self.seed / "root"

    @property
    def seed_disk(self) -> Path:  # the seed directory as a disk, written at each boot
        return self.home / "seed.img"

    @property
    def disk(self) -> Path:
        return self.home / "disk.qcow2"

    @property
    def qmp_socket(self) -> Path:
        return self.home / "qmp.sock"

    @property
    def qga_socket(self) -> Path:
        return self.home / "qga.sock"

    def ensure_mounted(self) -> None:
        """The VM's overlay disk on the shared image, and its seed directory's skeleton."""
        require_tools([QEMU, "qemu-img"])
        (self.merged / "etc/ssh").mkdir(parents=True, exist_ok=True)
        (self.merged / "etc/machine-id").touch()
        mounts = "".join(f"share{i} {dst} {'ro' if ro else 'rw'}\n" for i, (_src, dst, ro) in enumerate(self.binds))
        (self.seed / "mounts").write_text(mounts)
        if not self.disk.exists():
            base = self.image / vm_image.BASE
            run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(self.disk)])

    def personalize(self, hosts: dict[str, Any], authorized_key: str) -> str:
        key = super().personalize(hosts, authorized_key)
        (self.merged / "etc/machine-id").unlink(missing_ok=True)  # the guest's systemd makes its own
        return key

    def _tap(self) -> None:
        if not Path(f"/sys/class/net/{self.veth}").exists():
            run(["ip", "tuntap", "add", "dev", self.veth, "mode", "tap"])
        run(["ip", "link", "set", self.veth, "master", self.bridge])
        run(["ip", "link", "set", self.veth, "up"])

    def write_seed(self) -> None:
        """The seed disk the guest reads its identity from, written at each boot."""
        vm_image.seed_disk(self.seed, self.seed_disk)

    def argv(self) -> list[str]:
        return qemu_argv(self)

    def boot(self) -> None:
        """Start QEMU in the node's cgroup, its tap on the bridge; returns once QEMU runs."""
        if self.populated():
            return
        self.clear_runtime_leftovers()
        self.write_seed()
        self.cgroup.mkdir(parents=True, exist_ok=True)
        self._tap()
        script = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
        with open(self.home / "qemu.log", "wb") as log:
            subprocess.run(["setsid", "-f", "sh", "-c", script, str(self.cgroup), *self.argv()],
                           stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True, timeout=10)  # fmt: skip
        try:
            wait_until("QEMU started", lambda: None if self.qmp_socket.exists() else "not yet", 10, interval=0.05)
        except WaitTimeout:
            why = (self.home / "qemu.log").read_text(errors="replace").strip()[-300:]
            raise LabError(f"{self.name}: QEMU did not start: {why or 'no output'}") from None

    def shutdown(self, timeout: float = 120.0) -> None:
        """ACPI power-down, as a power button pressed; a guest that does not stop in time is cut."""
        if not self.populated():
            return
        try:
            _rpc(self.qmp_socket, [{"execute": "qmp_capabilities"}, {"execute": "system_powerdown"}], greeting=True)
            self._wait_empty(timeout, "shutdown")
        except LabError:
            self.kill()

    def freeze(self, frozen: bool = True) -> None:
        """Freeze the VM (its clock, its network stack and all) or let it run on: QMP
        ``stop``/``cont``."""
        command = {"execute": "stop" if frozen else "cont"}
        _rpc(self.qmp_socket, [{"execute": "qmp_capabilities"}, command], greeting=True)

    def addr_output(self) -> str:
        """The guest's addresses through its agent ("" when the VM is not running)."""
        if not self.populated():
            return ""
        sync = {"execute": "guest-sync", "arguments": {"id": int(time.time()) % 100000}}
        try:
            return ip_json(_rpc(self.qga_socket, [sync, {"execute": "guest-network-get-interfaces"}]) or [])
        except LabError as exc:
            if not self.populated():
                return ""
            raise LabError(f"{self.name}: its addresses could not be read through the guest agent: {exc}") from None

    def leader(self) -> int | None:
        return None  # no process of the host is inside the guest

    def boot_failure(self) -> str | None:
        """Why the guest cannot come up, read off its console (its seed disk unread: no
        address, no key), or None."""
        with contextlib.suppress(OSError):
            console = self.console_log.read_text(errors="replace")
            if any(line in console for line in SEED_FAILED):
                return f"{self.name}: the guest could not read its seed disk: no identity, no SSH key"
        return None

    def clear_runtime_leftovers(self) -> None:
        if self.populated():
            return
        super().clear_runtime_leftovers()
        if Path(f"/sys/class/net/{self.veth}").exists():
            run(["ip", "link", "del", self.veth], check=False)
        for sock in (self.qmp_socket, self.qga_socket):
            sock.unlink(missing_ok=True)


def choose_accel(image: Path, cache: Path) -> str:
    """ "kvm" when a guest kernel boots under hardware KVM within KVM_TRIAL_S, else "tcg"; the
    answer cached per host kernel, QEMU and guest kernel. ``HA_LAB_ACCEL`` forces one."""
    return cached_accel(cache, lambda: vm_image.kernel_release(image), lambda: _kvm_boots(image))


def cached_accel(cache: Path, guest: Callable[[], str], kvm_runs: Callable[[], bool]) -> str:
    """The accelerator ``HA_LAB_ACCEL`` forces, else "tcg" without /dev/kvm, else the answer
    cached in ``cache`` for this host kernel, QEMU and ``guest()`` (what the trial boots), else
    the trial's: "kvm" when ``kvm_runs()``."""
    forced = os.environ.get("HA_LAB_ACCEL", "")
    if forced in ("kvm", "tcg"):
        return forced
    if not os.path.exists("/dev/kvm"):
        return "tcg"
    version = run([QEMU, "--version"]).stdout.splitlines()[0]
    key = f"{os.uname().release}|{version}|{guest()}"
    with contextlib.suppress(OSError, ValueError):
        known = json.loads(cache.read_text())
        if known.get("key") == key:
            return str(known["accel"])
    accel = "kvm" if kvm_runs() else "tcg"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "accel": accel}) + "\n")
    return accel


def _kvm_boots(image: Path) -> bool:
    """Boot the guest kernel under KVM with no root: it must reach its panic (the proof it ran)."""
    with tempfile.TemporaryDirectory() as tmp:
        console = Path(tmp) / "console"
        argv = [QEMU, "-nodefaults", "-display", "none", "-no-reboot", "-machine", "q35,accel=kvm", "-cpu", "host",
                "-m", "256", "-kernel", str(image / vm_image.KERNEL), "-append", "console=ttyS0 panic=-1",
                "-serial", f"file:{console}"]  # fmt: skip
        try:
            subprocess.run(argv, capture_output=True, timeout=KVM_TRIAL_S, check=False)
        except subprocess.TimeoutExpired:
            return False
        return "Kernel panic" in console.read_text(errors="replace") if console.exists() else False


@dataclass
class Standalone:
    """One VM on a bridge of its own (self-tests, benchmarks): ``ssh`` runs a command on it as
    root with its host key pinned; ``wait`` returns the seconds until it answers."""

    machine: VmMachine
    key: Path
    known_hosts: Path

    def ssh(self, command: str, timeout: float = 60, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """The command's result (stdin: what it reads, e.g. SQL with a password: never argv)."""
        argv = ["ssh", "-i", str(self.key), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                f"root@{self.machine.address}", command]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, input=stdin)

    def wait(self, timeout: float = 600) -> float:
        """Seconds until the VM answers ``true`` over SSH, polled every 2 s (an emulated sshd
        refuses an impatient poller: MaxStartups). Raises LabError with the console's tail."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if not self.machine.populated():
                raise LabError(f"QEMU exited: {(self.machine.home / 'qemu.log').read_text(errors='replace')[-500:]}")
            failed = self.machine.boot_failure()
            if failed:
                raise LabError(failed)
            with contextlib.suppress(subprocess.TimeoutExpired):
                if self.ssh("true", timeout=20).returncode == 0:
                    return time.monotonic() - start
            time.sleep(2)
        tail = self.machine.console_log.read_text(errors="replace")[-800:]
        raise LabError(f"{self.machine.name}: no SSH within {timeout:g} s; console: {tail}")


@contextlib.contextmanager
def standalone(machine: VmMachine, subnet_gateway: str) -> Iterator[Standalone]:
    """Boot ``machine`` on its own bridge (``machine.bridge``, created here with
    ``subnet_gateway``/prefix as the host's address: no uplink, no forwarding) and yield it once
    it answers SSH; destroy the VM and the bridge after, also on failure or Ctrl-C."""
    home = machine.home
    home.mkdir(parents=True, exist_ok=True)
    key = home / "id_ed25519"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    run(["ip", "link", "add", machine.bridge, "type", "bridge"])
    try:
        run(["ip", "addr", "add", f"{subnet_gateway}/{machine.prefixlen}", "dev", machine.bridge])
        run(["ip", "link", "set", machine.bridge, "up"])
        machine.ensure_mounted()
        host_key = machine.personalize({}, key.with_suffix(".pub").read_text().strip())
        known = home / "known_hosts"
        known.write_text(f"{machine.address} ssh-ed25519 {host_key}\n")
        machine.boot()
        vm = Standalone(machine, key, known)
        vm.wait()
        yield vm
    finally:
        machine.destroy()
        run(["ip", "link", "del", machine.bridge], check=False)
