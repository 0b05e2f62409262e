"""One lab machine: an overlay on the cached root file system, booted by
systemd-nspawn in a cgroup of its own so that a power cut is one write."""

from __future__ import annotations

import contextlib
import enum
import ipaddress
import os
import shutil
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from bootstrap.lab import config
from bootstrap.lab.hostenv import LabError, run
from bootstrap.poll import WaitTimeout, wait_until
from bootstrap.vips import addresses

NSPAWN_ENV = {"SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
# nspawn names the host side of a node's veth "vb-<machine name>".
VETH_PREFIX = "vb-"
MAX_NAME = 15 - len(VETH_PREFIX)
# --host-bridge: the bridge the product's Host service moves a node's address onto.
HOST_BRIDGE = "br0"
HOST0_NETWORK = "10-ha-lab-host0.network"
BRIDGE_NETDEV = "10-ha-lab-br0.netdev"
BRIDGE_NETWORK = "11-ha-lab-br0.network"


class State(enum.StrEnum):
    RUNNING = "running"
    PARTITIONED = "partitioned"
    STOPPED = "stopped"
    ABSENT = "absent"


def cgroup2_root() -> Path:
    """Where the cgroup v2 hierarchy is mounted (pure v2 or hybrid host)."""
    candidates: list[Path] = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[0] == "cgroup2":
                candidates.append(Path(left.split()[4]))
    for c in candidates:
        if c in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
            return c
    if candidates:
        return candidates[0]
    raise LabError("no cgroup v2 hierarchy is mounted on this host (needed for per-node cgroups)")


def lab_cgroup() -> Path:
    return cgroup2_root() / config.CGROUP_GROUP


def mounted_paths() -> set[Path]:
    result = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mount_point = line.split()[4].replace("\\040", " ")
            result.add(Path(mount_point))
    return result


def rmtree_cgroup(path: Path) -> None:
    """Remove an empty cgroup and its children, deepest first."""
    if not path.is_dir():
        return
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            child.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()


@dataclass
class Machine:
    name: str
    address: ipaddress.IPv4Address
    prefixlen: int
    bridge: str
    rootfs: Path
    home: Path  # per-node directory: upper/, work/, merged/, console.log
    # (host path, path in the machine, read-only): the storage the control nodes
    # share, and lab tools that are not Debian packages.
    binds: tuple[tuple[Path, str, bool], ...] = ()
    # The node's address on a bridge br0 with host0 as its port, as the product's Host service
    # leaves a node (real-sites.md); False: on host0 itself.
    host_bridge: bool = False
    # Readiness (Lab._wait_ready): seconds to boot, to wait for the SSH banner, between polls.
    boot_timeout = 90.0
    banner_timeout = 0.5
    poll_interval = 0.05

    def __post_init__(self) -> None:
        if len(self.name) > MAX_NAME:
            raise LabError(f"node name {self.name!r} is longer than {MAX_NAME} characters")

    # Paths -----------------------------------------------------------------
    @property
    def upper(self) -> Path:
        return self.home / "upper"

    @property
    def work(self) -> Path:
        return self.home / "work"

    @property
    def merged(self) -> Path:
        return self.home / "merged"

    @property
    def console_log(self) -> Path:
        return self.home / "console.log"

    @property
    def cgroup(self) -> Path:
        return lab_cgroup() / self.name

    @property
    def veth(self) -> str:
        return VETH_PREFIX + self.name

    # Observation -----------------------------------------------------------
    def pids(self) -> list[int]:
        """Every process of the machine, nspawn included."""
        if not self.cgroup.is_dir():
            return []
        found: list[int] = []
        for procs in self.cgroup.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                found.extend(int(p) for p in procs.read_text().split())
        return found

    def populated(self) -> bool:
        events = self.cgroup / "cgroup.events"
        try:
            return "populated 1" in events.read_text()
        except OSError:
            return False

    def leader(self) -> int | None:
        """A process inside the machine's network namespace (its init, usually): one whose
        namespace is not the lab's own, which is systemd-nspawn's (its supervisor's), not
        necessarily this process's: a runner may itself run inside a node's namespace (issue
        23: the suite run from a node of the site)."""
        pids = sorted(self.pids())
        host_ns = os.readlink("/proc/self/ns/net")
        for pid in pids:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd-nspawn":
                    host_ns = os.readlink(f"/proc/{pid}/ns/net")
                    break
        for pid in pids:
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/ns/net") != host_ns:
                    return pid
        return None

    def veth_master(self) -> str | None:
        """The bridge the host side of the node's veth is attached to, or None."""
        try:
            master = Path(f"/sys/class/net/{self.veth}/master").resolve()
        except OSError:
            return None
        if not Path(f"/sys/class/net/{self.veth}").exists():
            return None
        return master.name if master.exists() else None

    def boot_failure(self) -> str | None:
        """Why the machine cannot come up, where it says so before a time limit would (a VM's
        console); None: nothing known."""
        return None

    def state(self) -> State:
        if not self.home.exists():
            return State.ABSENT
        if not self.populated():
            return State.STOPPED
        if Path(f"/sys/class/net/{self.veth}").exists() and self.veth_master() != self.bridge:
            return State.PARTITIONED
        return State.RUNNING

    def memory_bytes(self) -> int:
        """Proportional set size of all the machine's processes."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        return total

    def addr_output(self) -> str:
        """``ip -j -4 addr show`` inside the machine, read without SSH ("" when it is not running).
        A read that fails while the machine runs is asked once more, then raises LabError: an
        unread address list is never "holds no VIP"."""
        why = ""
        for _ in range(2):
            pid = self.leader()
            if pid is None:
                return ""  # not running (or it ended while read): it holds nothing
            proc = run(
                ["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "-4", "addr", "show"], check=False, timeout=5
            )
            if proc.returncode == 0:
                return proc.stdout
            why = (proc.stderr or f"exit {proc.returncode}").strip()[-200:]
        if self.leader() is None:
            return ""
        raise LabError(f"{self.name}: its addresses could not be read: {why}")

    def netns_addresses(self) -> set[ipaddress.IPv4Address]:
        """IPv4 addresses configured inside the machine, read without SSH."""
        return {ipaddress.IPv4Address(a) for a in addresses(self.addr_output())}

    # Preparation -----------------------------------------------------------
    def ensure_mounted(self) -> None:
        for d in (self.upper, self.work, self.merged):
            d.mkdir(parents=True, exist_ok=True)
        if self.merged in mounted_paths():
            return
        opts = f"lowerdir={self.rootfs},upperdir={self.upper},workdir={self.work}"
        run(["mount", "-t", "overlay", f"ha-lab-{self.name}", "-o", opts, str(self.merged)])

    def personalize(self, hosts: dict[str, ipaddress.IPv4Address], authorized_key: str) -> str:
        """Give the machine its own identity; return its SSH host public key.

        Identity (machine-id, host key) is made once and kept across restarts;
        addresses and names are rewritten on every start so that they follow
        the lab's data.
        """
        root = self.merged
        (root / "etc/hostname").write_text(self.name + "\n")
        machine_id = root / "etc/machine-id"
        if not machine_id.read_text().strip():
            machine_id.write_text(uuid.uuid4().hex + "\n")
        key = root / "etc/ssh/ssh_host_ed25519_key"
        if not key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{self.name}", "-f", str(key)])
        self.write_network(root / "etc/systemd/network")
        lines = ["127.0.0.1 localhost", f"127.0.1.1 {self.name}"]
        lines += [f"{addr} {name}" for name, addr in hosts.items() if name != self.name]
        (root / "etc/hosts").write_text("\n".join(lines) + "\n")
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        auth = ssh_dir / "authorized_keys"
        existing = auth.read_text().splitlines() if auth.exists() else []
        if authorized_key not in existing:
            auth.write_text("\n".join([*existing, authorized_key]) + "\n")
        auth.chmod(0o600)
        return self.host_key_pub.read_text().split()[1]

    @property
    def host_key_pub(self) -> Path:  # the SSH host public key the lab pins for the machine
        return self.merged / "etc/ssh/ssh_host_ed25519_key.pub"

    def write_network(self, directory: Path) -> None:
        """systemd-networkd's files for the node's address: on host0, or with ``host_bridge``
        on a bridge br0 whose one port is host0 (its MAC taken from host0's, as a bridge
        without its own address does; the files of the other layout removed)."""
        directory.mkdir(parents=True, exist_ok=True)
        address = f"Address={self.address}/{self.prefixlen}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n"
        files = {
            BRIDGE_NETDEV: f"[NetDev]\nName={HOST_BRIDGE}\nKind=bridge\nMACAddress=none\n",
            BRIDGE_NETWORK: f"[Match]\nName={HOST_BRIDGE}\n\n[Network]\n{address}ConfigureWithoutCarrier=yes\n",
            HOST0_NETWORK: f"[Match]\nName=host0\n\n[Network]\nBridge={HOST_BRIDGE}\nLinkLocalAddressing=no\n",
        } if self.host_bridge else {HOST0_NETWORK: f"[Match]\nName=host0\n\n[Network]\n{address}"}  # fmt: skip
        for name in (BRIDGE_NETDEV, BRIDGE_NETWORK, HOST0_NETWORK):
            if name in files:
                (directory / name).write_text(files[name])
            else:
                (directory / name).unlink(missing_ok=True)

    # Life cycle ------------------------------------------------------------
    def boot(self) -> None:
        """Start the machine in its own cgroup; returns once nspawn is launched."""
        if self.populated():
            return
        self.clear_runtime_leftovers()
        self.cgroup.mkdir(parents=True, exist_ok=True)
        argv = [
            "systemd-nspawn",
            "--boot",
            f"--directory={self.merged}",
            f"--machine={self.name}",
            "--register=no",
            "--keep-unit",
            f"--network-bridge={self.bridge}",
            "--console=read-only",
            "--resolv-conf=off",
            "--link-journal=no",
        ]
        for src, dst, ro in self.binds:
            argv.append(f"--bind{'-ro' if ro else ''}={src}:{dst}")
        # The shell moves itself into the node's cgroup before it becomes nspawn,
        # so every process of the machine is born there; setsid -f detaches it
        # from us (init reaps it).
        script = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
        env = {**os.environ, **NSPAWN_ENV}
        with open(self.console_log, "wb") as log:
            subprocess.run(
                ["setsid", "-f", "sh", "-c", script, str(self.cgroup), *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                check=True,
                timeout=10,
            )
        # setsid -f returns before the child has moved into the cgroup.
        try:
            wait_until("nspawn started", lambda: None if self.populated() else "not yet", 10, interval=0.01)
        except WaitTimeout:
            raise LabError(f"{self.name}: systemd-nspawn did not start; see {self.console_log}") from None

    def clear_runtime_leftovers(self) -> None:
        """What a killed nspawn leaves behind and a new one would trip over."""
        shutil.rmtree(f"/run/systemd/nspawn/propagate/{self.name}", ignore_errors=True)
        if self.populated():
            return
        rmtree_cgroup(self.cgroup)
        # The kernel frees a dead machine's network namespace, and its veth with
        # it, asynchronously; wait a little, then remove the veth ourselves.
        veth = Path(f"/sys/class/net/{self.veth}")
        with contextlib.suppress(WaitTimeout):
            wait_until("veth gone", lambda: "still there" if veth.exists() else None, 3, interval=0.02)
        if veth.exists():
            run(["ip", "link", "del", self.veth], check=False)

    def kill(self, timeout: float = 5.0) -> None:
        """Power cut: every process of the machine dies at once."""
        if not self.populated():
            return
        (self.cgroup / "cgroup.kill").write_text("1")
        self._wait_empty(timeout, "kill")

    def shutdown(self, timeout: float = 30.0) -> None:
        """Clean shutdown: nspawn asks the machine's systemd to power off."""
        if not self.populated():
            return
        supervisor = self.cgroup / "supervisor" / "cgroup.procs"
        pids = supervisor.read_text().split() if supervisor.exists() else []
        if not pids:  # nspawn not yet split into supervisor/payload: fall back to kill
            self.kill()
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)
        try:
            self._wait_empty(timeout, "shutdown")
        except LabError:
            self.kill()

    def _wait_empty(self, timeout: float, what: str) -> None:
        try:
            wait_until(what, lambda: "running" if self.populated() else None, timeout, interval=0.02)
        except WaitTimeout:
            raise LabError(f"{self.name}: processes still running {timeout:g} s after {what}") from None
        self.clear_runtime_leftovers()

    def freeze(self, frozen: bool = True) -> None:
        """Freeze every process of the machine (cgroup v2 freezer) or thaw it. Unlike a paused VM
        its network namespace still answers (ARP, ping, TCP handshakes): hung processes."""
        (self.cgroup / "cgroup.freeze").write_text("1" if frozen else "0")
        want = f"frozen {int(frozen)}"
        events = self.cgroup / "cgroup.events"
        wait_until(want, lambda: None if want in events.read_text() else "not yet", 10, interval=0.02)

    def partition(self) -> None:
        """Cut the node off the lab network; it keeps running and keeps its
        addresses, as a node behind a failed switch port does."""
        if not Path(f"/sys/class/net/{self.veth}").exists():
            raise LabError(f"{self.name}: not running, nothing to partition")
        run(["ip", "link", "set", self.veth, "nomaster"])

    def heal(self) -> None:
        if Path(f"/sys/class/net/{self.veth}").exists() and self.veth_master() != self.bridge:
            run(["ip", "link", "set", self.veth, "master", self.bridge])
            run(["ip", "link", "set", self.veth, "up"])

    def unmount(self) -> None:
        if self.merged in mounted_paths():
            proc = run(["umount", str(self.merged)], check=False)
            if proc.returncode != 0:
                run(["umount", "--lazy", str(self.merged)])

    def destroy(self) -> None:
        self.kill()
        self.unmount()
        self.clear_runtime_leftovers()
        rmtree_cgroup(self.cgroup)
        shutil.rmtree(self.home, ignore_errors=True)
