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

import concurrent.futures
import contextlib
import importlib
import json
import posixpath
import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap import db_rebuild
from bootstrap import inventory as inv
from bootstrap.poll import WaitTimeout, wait_until
from bootstrap.remote import Pool, RemoteError
from bootstrap.sitekind import SiteKind
from bootstrap.vips import ADDR_COMMAND, holders

FROZEN = "frozen:"  # a service fault that freezes a unit's processes (a hung server) instead of stopping it
STATIC_POD = "static-pod:"  # a service fault's target that is a static pod: "static-pod:<manifest path>"
FIND_PATHS = 'for f in {paths}; do if [ -e "$f" ]; then echo "$f"; fi; done'


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
    kind: str  # kill | cut | stop | reboot | freeze | partition | service | replication
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


class Driver(ABC):
    """Machines behind one interface, as Molecule's ``driver/base.py``: the lab's machines, which
    the suite creates and destroys (``managed``), or a site's given hosts (delegated: faults over
    SSH, refused without the site's confirmation). Checks and scenarios see only this interface;
    another driver (VMs, say) is added by registering it in ``DRIVERS``, touching neither.

    Every fault goes through ``inject`` (journalled before it happens) and ``undo`` (removed from
    the journal once undone), so whatever a run broke can be restored, also after it was killed."""

    name: str = ""
    managed: bool = False
    journal: Journal

    def create(self, topology: str, compute: int = 0, **layout: Any) -> None:
        """Bring up machines for ``topology`` with ``compute`` compute nodes, laid out as the
        install would (``layout``: the driver's options, e.g. line, db_ha); managed drivers only."""
        raise FaultError(f"the {self.name} driver's machines are given, not created")

    def machines(self) -> dict[str, str] | None:
        """What the machines are, for results.json (``driver``, ``accel``, ``note``); None: the
        site's own."""
        return None

    def destroy(self) -> None:
        """Remove every machine this driver created (managed drivers only)."""
        raise FaultError(f"the {self.name} driver's machines are given, not destroyed")

    def is_up(self) -> bool:
        """Whether the driver's machines are up (a delegated driver's are the site's: assumed)."""
        return True

    def converge(self, log: Any, stage: str = "install") -> None:
        """Install the topology on the machines (managed drivers: the document's steps and the
        installer's stand-in, as Molecule's converge). Raises FaultError where it cannot."""
        raise FaultError(f"the {self.name} driver's machines are installed already; nothing is deployed there")

    def owns(self, path: Path) -> bool:
        """Whether ``path`` (an inventory or ocboot's config) describes this driver's own machines:
        the one place a run's kind of site is decided."""
        return False

    def inventory_path(self) -> Path:
        """The inventory of the machines a managed driver created."""
        raise FaultError(f"the {self.name} driver has no inventory of its own")

    def login(self) -> tuple[Path | None, Path | None]:
        """(private key, known_hosts) for this driver's machines, where it owns them."""
        return None, None

    @abstractmethod
    def power_cut(self, node: str) -> None:
        """Every process of the node ends at once (no clean shutdown)."""

    @abstractmethod
    def stop(self, node: str) -> None:
        """A clean shutdown of the node."""

    @abstractmethod
    def start(self, node: str) -> None:
        """The node back after power_cut or stop (on a site: wait for its return)."""

    def power_on(self, node: str) -> None:
        """The power back after ``power_cut``, not waiting for the boot (a site's: its return)."""
        self.start(node)

    @abstractmethod
    def reboot(self, node: str) -> None:
        """The node reboots itself (``systemctl reboot``); returns once it answers again. Raises
        FaultError when it does not come back."""

    def freeze(self, node: str, frozen: bool = True) -> None:
        """Freeze the whole machine or let it run on (a hung host). Raises FaultError where the
        driver cannot (a site: that needs its hypervisor)."""
        raise FaultError(f"the {self.name} driver cannot freeze {node}: that needs the machine's hypervisor")

    @abstractmethod
    def partition(self, node: str) -> None:
        """Cut the node off the network (it keeps running)."""

    @abstractmethod
    def heal(self, node: str) -> None:
        """Undo ``partition``."""

    @abstractmethod
    def run(self, node: str, command: str, timeout: float = 30, stdin: str | None = None) -> str:
        """A command's standard output on the node (``stdin``: what it reads, e.g. a dump).
        Raises FaultError when the node does not answer or the command fails (never an empty
        answer in place of a failure)."""

    @abstractmethod
    def vip_holders(self, vips: dict[str, str]) -> dict[str, list[str]]:
        """{VIP name: nodes holding it} for ``vips`` ({name: address})."""

    @abstractmethod
    def reachable(self, node: str) -> bool:
        """Whether the node is up and answers a command."""

    def service_restorable(self, node: str) -> bool:
        """Whether a service fault on the node can be undone now (a lab machine that is down
        takes its services down with it and back with it)."""
        return True

    def inject(self, fault: Fault) -> None:
        self.journal.add(fault)
        self._apply(fault)

    def inject_together(self, faults: list[Fault]) -> None:
        """Several faults at one moment (a whole site's power cut): all journalled first, then
        applied concurrently, so the last node goes down with the first, not seconds after."""
        for fault in faults:
            self.journal.add(fault)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(faults))) as pool:
            list(pool.map(self._apply, faults))

    def _apply(self, fault: Fault) -> None:
        if fault.kind in ("kill", "cut"):  # cut: a power cut undone by power_on
            self.power_cut(fault.node)
        elif fault.kind == "stop":
            self.stop(fault.node)
        elif fault.kind == "partition":
            self.partition(fault.node)
        elif fault.kind == "reboot":
            self.reboot(fault.node)
        elif fault.kind == "freeze":
            self.freeze(fault.node)
        elif fault.kind == "replication":  # node: the replica; service: the master it replicates from
            self._rebuild_step(db_rebuild.break_replication, fault.node, fault.service or "")
        elif fault.kind == "service":
            self.run(fault.node, service_commands(fault.service or "")[0], timeout=60)
        else:
            raise FaultError(f"unknown fault kind {fault.kind!r}")

    def undo(self, fault: Fault) -> None:
        if fault.kind in ("kill", "stop", "reboot"):  # a reboot that failed midway: the node started
            self.start(fault.node)
        elif fault.kind == "cut":
            self.power_on(fault.node)
        elif fault.kind == "freeze":
            self.freeze(fault.node, frozen=False)
        elif fault.kind == "replication":  # the vendor's repair, as written
            self._rebuild_step(db_rebuild.vendor_rebuild, fault.node, fault.service or "")
        elif fault.kind == "partition":
            self.heal(fault.node)
        elif fault.kind == "service" and self.service_restorable(fault.node):
            self.run(fault.node, service_commands(fault.service or "")[1], timeout=120)
        self.journal.remove(fault)

    def _rebuild_step(self, step: Callable[[Any, str, str], None], replica: str, master: str) -> None:
        try:
            step(self.run, replica, master)
        except db_rebuild.RebuildError as exc:
            raise FaultError(f"{replica}: {exc}") from None

    def existing(self, node: str, paths: tuple[str, ...]) -> list[str]:
        """Which of ``paths`` exist on the node (read-only)."""
        return self.run(node, FIND_PATHS.format(paths=" ".join(map(shlex.quote, paths)))).split()


Faults = Driver  # the name the scenarios knew it by


def restore_journal(faults: Faults) -> list[str]:
    """Undo every fault the journal holds (newest first); return what was restored."""
    restored = []
    for fault in reversed(faults.journal.load()):
        faults.undo(fault)
        restored.append(fault.describe())
    return restored


PARTITION_CHAIN = "HA_PARTITION"


class SiteDriver(Driver):
    """A site's given hosts over SSH (delegated); refused unless the caller confirmed the site.
    Its faults are the equivalents that come back by themselves: a power cut is an immediate
    reboot without sync (sysrq ``b``), a clean shutdown ``systemctl reboot``, a partition
    iptables rules with a self-removing timer."""

    name = "site"
    managed = False

    def __init__(
        self,
        inventory: inv.Inventory,
        journal_dir: Path,
        confirmed_site: str | None,
        runner_ip: str,
        pool: Pool | None = None,
    ) -> None:
        """``pool``: the run's connections (shared with the checks); a pool of its own if None."""
        if confirmed_site != inventory.site:
            raise FaultError(
                f"destructive steps on site {inventory.site!r} need --destructive and --confirm-site={inventory.site}"
            )
        self.inventory = inventory
        self.runner_ip = runner_ip
        self.journal = Journal(journal_dir / f"faults-{inventory.site}.json")
        self.pool = pool if pool is not None else Pool(inventory)

    def _last_words(self, node: str, command: str, timeout: float) -> None:
        """A command that takes the node (and its connection) down; the connection is dropped."""
        with contextlib.suppress(RemoteError):  # the connection dies with the node
            self.pool.run(node, command, timeout=timeout)
        self.pool.forget(node)

    def power_cut(self, node: str) -> None:
        self._last_words(node, "echo 1 > /proc/sys/kernel/sysrq; echo b > /proc/sysrq-trigger", 5)

    def stop(self, node: str) -> None:
        self._last_words(node, "systemctl reboot", 10)

    def reboot(self, node: str) -> None:
        self.stop(node)  # a site's clean shutdown is already its reboot
        self.start(node)

    def start(self, node: str) -> None:
        try:
            wait_until(f"{node} back after its reboot", lambda: None if self.reachable(node) else "no SSH login yet",
                       timeout=600, interval=5)  # fmt: skip
        except WaitTimeout as exc:
            raise FaultError(str(exc)) from None

    def partition(self, node: str) -> None:
        # Drop everything but SSH from the runner; the rules remove themselves after 10 minutes
        # should the runner die before it heals the node.
        c = PARTITION_CHAIN
        rules = (
            f"iptables -N {c} 2>/dev/null; iptables -F {c}; "
            f"iptables -A {c} -s {self.runner_ip} -p tcp --dport 22 -j RETURN; "
            f"iptables -A {c} -d {self.runner_ip} -p tcp --sport 22 -j RETURN; "
            f"iptables -A {c} -i lo -j RETURN; iptables -A {c} -o lo -j RETURN; iptables -A {c} -j DROP; "
            f"iptables -I INPUT -j {c}; iptables -I OUTPUT -j {c}; "
            f"nohup sh -c 'sleep 600; {self._heal_rules()}' >/dev/null 2>&1 &"
        )
        self.run(node, rules)

    def heal(self, node: str) -> None:
        # Each rule removed where present (a timer may have removed them already).
        c = PARTITION_CHAIN
        self.run(
            node,
            f"for t in INPUT OUTPUT; do if iptables -C $t -j {c} 2>/dev/null; then iptables -D $t -j {c}; fi; done; "
            f"if iptables -L {c} >/dev/null 2>&1; then iptables -F {c}; iptables -X {c}; fi",
        )

    def _heal_rules(self) -> str:
        c = PARTITION_CHAIN
        return f"iptables -D INPUT -j {c}; iptables -D OUTPUT -j {c}; iptables -F {c}; iptables -X {c}"

    def run(self, node: str, command: str, timeout: float = 30, stdin: str | None = None) -> str:
        try:
            res = self.pool.run(node, command, timeout=timeout, stdin=stdin)
        except RemoteError as exc:
            raise FaultError(f"{node}: {exc}") from None
        if not res.ok:
            raise FaultError(f"{node}: {command}: exited {res.rc}: {(res.stderr or res.stdout).strip()[-300:]}")
        return res.stdout

    def vip_holders(self, vips: dict[str, str]) -> dict[str, list[str]]:
        per_node = {}
        for node in self.inventory.nodes:
            with contextlib.suppress(RemoteError):
                per_node[node.name] = self.pool.run(node.name, ADDR_COMMAND, timeout=5).stdout
        return holders(per_node, vips)

    def reachable(self, node: str) -> bool:
        self.pool.forget(node)  # a fresh login: the node may have rebooted since
        try:
            return self.pool.run(node, "true", timeout=5).ok
        except RemoteError:
            return False


SiteFaults = SiteDriver  # the name the self-tests knew it by
# Drivers by the site's kind, imported on first use (testinfra's registry of backends): product
# code never imports the lab; the lab registers its own driver here by name.
DRIVERS: dict[SiteKind, str] = {SiteKind.LAB: "bootstrap.lab.driver:LabDriver"}


def managed(kind: SiteKind) -> Driver:
    """The driver of the machines this host owns for ``kind`` (the lab's), imported on first use."""
    module, _, cls = DRIVERS[kind].partition(":")
    driver: Driver = getattr(importlib.import_module(module), cls)()
    return driver


def for_run(kind: SiteKind, inventory: inv.Inventory, **site: Any) -> Driver:
    """The driver for this run's kind of site: the lab's machines, else a site's given hosts
    (which need its confirmation)."""
    if kind in DRIVERS:
        return managed(kind)
    return SiteDriver(inventory, **site)
