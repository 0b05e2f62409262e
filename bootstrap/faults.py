"""Fault injection through one interface, for the lab and for real sites.

Every fault is written to a journal before it is injected and removed when it
is undone, so whatever a run broke can be restored later, even after the run
was killed: ``python -m bootstrap.lab heal`` (lab) or ``restore_journal``.

Real sites (over SSH) have no power switch here, so their faults are the
equivalents that come back by themselves: a power cut is an immediate reboot
without sync (sysrq ``b``), a clean shutdown is ``systemctl reboot``, a
partition is iptables rules with a self-removing timer, a service failure is
``systemctl stop`` (a static pod's: its manifest moved aside, so the kubelet stops the
pod, and moved back to undo it).
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bootstrap import inventory as inv
from bootstrap.poll import WaitTimeout, wait_until
from bootstrap.remote import Remote, RemoteError
from bootstrap.sitekind import SiteKind
from bootstrap.vips import ADDR_COMMAND, holders

KINDS = ("kill", "stop", "partition", "service")
FROZEN = "frozen:"  # a service fault that freezes a unit's processes (a hung server) instead of stopping it
STATIC_POD = "static-pod:"  # a service fault's target that is a static pod: "static-pod:<manifest path>"
FIND_MANIFEST = 'for f in {paths}; do [ -e "$f" ] && echo "$f"; done; true'


def service_commands(service: str) -> tuple[str, str]:
    """(stop, start) shell commands for a service fault's target: a systemd unit, a static
    pod (``static-pod:<manifest>``: the manifest moved to a dot-file beside it, which a
    kubelet ignores, so the pod stops; moved back, the pod starts again), or a frozen unit
    (``frozen:<unit>``: every process of the unit stopped with SIGSTOP, as a hung server is,
    and continued with SIGCONT; the kernel still completes TCP handshakes on its sockets)."""
    if service.startswith(FROZEN):
        unit = shlex.quote(service[len(FROZEN) :])
        return f"systemctl kill --signal=SIGSTOP {unit}", f"systemctl kill --signal=SIGCONT {unit}"
    if service.startswith(STATIC_POD):
        path = service[len(STATIC_POD) :]
        paused = posixpath.join(posixpath.dirname(path), "." + posixpath.basename(path) + ".ha-conformance-paused")
        p, q = shlex.quote(path), shlex.quote(paused)
        return f"mv {p} {q}", f"if [ -e {q} ] && [ ! -e {p} ]; then mv {q} {p}; fi"
    return f"systemctl stop {shlex.quote(service)}", f"systemctl start {shlex.quote(service)}"


class FaultError(RuntimeError):
    pass


@dataclass(frozen=True)
class Fault:
    kind: str  # kill | stop | partition | service
    node: str
    service: str | None = None

    def describe(self) -> str:
        return f"{self.kind} {self.node}" + (f" ({self.service})" if self.service else "")


class Journal:
    """Faults in force, on disk (JSON list), so a later process can undo them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[Fault]:
        try:
            return [Fault(**f) for f in json.loads(self.path.read_text())]
        except FileNotFoundError:
            return []
        except (ValueError, TypeError):
            return []

    def _save(self, faults: list[Fault]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([f.__dict__ for f in faults]))
        tmp.replace(self.path)

    def add(self, fault: Fault) -> None:
        faults = self.load()
        if fault not in faults:
            self._save([*faults, fault])

    def remove(self, fault: Fault) -> None:
        self._save([f for f in self.load() if f != fault])


class Faults(Protocol):
    journal: Journal

    def inject(self, fault: Fault) -> None: ...
    def undo(self, fault: Fault) -> None: ...
    def vip_holders(self, vips: dict[str, str]) -> dict[str, list[str]]: ...
    def reachable(self, node: str) -> bool: ...
    def existing(self, node: str, paths: tuple[str, ...]) -> list[str]: ...
    def shell(self, node: str, command: str) -> str: ...


def restore_journal(faults: Faults) -> list[str]:
    """Undo every fault the journal holds (newest first); return what was restored."""
    restored = []
    for fault in reversed(faults.journal.load()):
        faults.undo(fault)
        restored.append(fault.describe())
    return restored


class LabFaults:
    """Faults on the local lab's machines."""

    def __init__(self) -> None:
        from bootstrap.lab.lab import Lab

        self.lab = Lab()
        self.journal = Journal(self.lab.paths.home / "faults.json")

    def inject(self, fault: Fault) -> None:
        self.journal.add(fault)
        if fault.kind == "kill":
            self.lab.kill(fault.node)
        elif fault.kind == "stop":
            self.lab.stop(fault.node)
        elif fault.kind == "partition":
            self.lab.partition(fault.node)
        elif fault.kind == "service":
            self._ssh(fault.node, service_commands(fault.service or "")[0])
        else:
            raise FaultError(f"unknown fault kind {fault.kind!r}")

    def undo(self, fault: Fault) -> None:
        from bootstrap.lab.machine import State

        machine = self.lab.machine(fault.node)
        if fault.kind in ("kill", "stop"):
            if machine.state() is State.STOPPED:
                self.lab.start(fault.node)
        elif fault.kind == "partition":
            self.lab.heal(fault.node)
        elif fault.kind == "service" and machine.state() is State.RUNNING:
            self._ssh(fault.node, service_commands(fault.service or "")[1])
        self.journal.remove(fault)

    def _ssh(self, node: str, command: str) -> None:
        res = self.lab.ssh(node, command, timeout=60)
        if res.returncode != 0:
            raise FaultError(f"{node}: {command}: {res.stderr.strip()}")

    def vip_holders(self, vips: dict[str, str]) -> dict[str, list[str]]:
        return self.lab.vip_holders(vips)

    def existing(self, node: str, paths: tuple[str, ...]) -> list[str]:
        """Which of ``paths`` exist on the node (read-only)."""
        return self.shell(node, FIND_MANIFEST.format(paths=" ".join(map(shlex.quote, paths)))).split()

    def shell(self, node: str, command: str) -> str:
        """A command's output on the node ("" when the node does not answer within 30 s)."""
        res = self.lab.ssh(node, command, timeout=30)
        return res.stdout if res.returncode == 0 else ""

    def reachable(self, node: str) -> bool:
        from bootstrap.lab.machine import State

        return self.lab.machine(node).state() is State.RUNNING and self.lab.ssh(node, "true", timeout=5).returncode == 0


PARTITION_CHAIN = "HA_PARTITION"


class SiteFaults:
    """Faults on a real site over SSH; refused unless the caller confirmed the site."""

    def __init__(self, inventory: inv.Inventory, journal_dir: Path, confirmed_site: str | None, runner_ip: str) -> None:
        if confirmed_site != inventory.site:
            raise FaultError(
                f"destructive steps on site {inventory.site!r} need --destructive and --confirm-site={inventory.site}"
            )
        self.inventory = inventory
        self.runner_ip = runner_ip
        self.journal = Journal(journal_dir / f"faults-{inventory.site}.json")
        self._remotes: dict[str, Remote] = {}

    def remote(self, node: str) -> Remote:
        if node not in self._remotes:
            self._remotes[node] = Remote.for_node(self.inventory, node)
        return self._remotes[node]

    def inject(self, fault: Fault) -> None:
        self.journal.add(fault)
        r = self.remote(fault.node)
        if fault.kind == "kill":
            # Power cut that comes back: immediate reboot, no sync, no clean shutdown.
            with contextlib.suppress(RemoteError):
                r.run("echo 1 > /proc/sys/kernel/sysrq; echo b > /proc/sysrq-trigger", timeout=5)
            r.close()
        elif fault.kind == "stop":
            with contextlib.suppress(RemoteError):
                r.run("systemctl reboot", timeout=10)
            r.close()
        elif fault.kind == "partition":
            # Drop everything but SSH from the runner; the rules remove themselves after
            # 10 minutes should the runner die before it heals the node.
            rules = (
                f"iptables -N {PARTITION_CHAIN} 2>/dev/null; iptables -F {PARTITION_CHAIN}; "
                f"iptables -A {PARTITION_CHAIN} -s {self.runner_ip} -p tcp --dport 22 -j RETURN; "
                f"iptables -A {PARTITION_CHAIN} -d {self.runner_ip} -p tcp --sport 22 -j RETURN; "
                f"iptables -A {PARTITION_CHAIN} -i lo -j RETURN; iptables -A {PARTITION_CHAIN} -o lo -j RETURN; "
                f"iptables -A {PARTITION_CHAIN} -j DROP; "
                f"iptables -I INPUT -j {PARTITION_CHAIN}; iptables -I OUTPUT -j {PARTITION_CHAIN}; "
                f"nohup sh -c 'sleep 600; {self._heal_rules()}' >/dev/null 2>&1 &"
            )
            r.run(rules, timeout=30)
        elif fault.kind == "service":
            r.run(service_commands(fault.service or "")[0], timeout=60)
        else:
            raise FaultError(f"unknown fault kind {fault.kind!r}")

    def _heal_rules(self) -> str:
        return (
            f"iptables -D INPUT -j {PARTITION_CHAIN}; iptables -D OUTPUT -j {PARTITION_CHAIN}; "
            f"iptables -F {PARTITION_CHAIN}; iptables -X {PARTITION_CHAIN}"
        )

    def undo(self, fault: Fault) -> None:
        r = self.remote(fault.node)
        if fault.kind in ("kill", "stop"):
            try:
                wait_until(
                    f"{fault.node} back after its reboot",
                    lambda: None if self.reachable(fault.node) else "no SSH login yet",
                    timeout=600,
                    interval=5,
                )
            except WaitTimeout as exc:
                raise FaultError(str(exc)) from None
        elif fault.kind == "partition":
            r.run(self._heal_rules() + " 2>/dev/null; true", timeout=30)
        elif fault.kind == "service":
            r.run(service_commands(fault.service or "")[1], timeout=120)
        self.journal.remove(fault)

    def existing(self, node: str, paths: tuple[str, ...]) -> list[str]:
        """Which of ``paths`` exist on the node (read-only)."""
        return self.shell(node, FIND_MANIFEST.format(paths=" ".join(map(shlex.quote, paths)))).split()

    def shell(self, node: str, command: str) -> str:
        """A command's output on the node ("" when the node does not answer within 30 s)."""
        try:
            res = self.remote(node).run(command, timeout=30, check=False)
        except RemoteError:
            return ""
        return res.stdout if res.ok else ""

    def vip_holders(self, vips: dict[str, str]) -> dict[str, list[str]]:
        per_node = {}
        for node in self.inventory.nodes:
            with contextlib.suppress(RemoteError):
                per_node[node.name] = self.remote(node.name).run(ADDR_COMMAND, timeout=5, check=False).stdout
        return holders(per_node, vips)

    def reachable(self, node: str) -> bool:
        try:
            self.remote(node).close()
            return self.remote(node).run("true", timeout=5, check=False).ok
        except RemoteError:
            return False


def for_run(kind: SiteKind, inventory: inv.Inventory, **site: Any) -> Faults:
    """The lab's faults for the lab, else a real site's (which need its confirmation)."""
    if kind is SiteKind.LAB:
        return LabFaults()
    return SiteFaults(inventory, **site)


def runner_address_towards(address: str) -> str:
    """The runner's own source address for traffic to a node."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((address, 9))  # UDP connect sends nothing
        return str(s.getsockname()[0])
