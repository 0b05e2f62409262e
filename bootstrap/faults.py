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
import importlib
import json
import posixpath
import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap import db_rebuild, maintenance
from bootstrap import inventory as inv
from bootstrap.sitekind import SiteKind

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
    kind: str  # kill | cut | stop | reboot | freeze | partition | service | replication | maintenance
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
    kube_units: tuple[str, ...] = maintenance.KUBE_UNITS  # a node's units the vendor's "kubelet docker" means

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

    def inject(self, fault: Fault, log: maintenance.Log = maintenance.silent) -> list[maintenance.Deviation]:
        """Journal the fault, then apply it; ``log`` is told a procedure's steps. Returns where a
        procedure's step fell short of what its page says (maintenance; else [])."""
        self.journal.add(fault)
        return self._apply(fault, log)

    def inject_together(self, faults: list[Fault]) -> None:
        """Several faults at one moment (a whole site's power cut): all journalled first, then
        applied concurrently, so the last node goes down with the first, not seconds after."""
        for fault in faults:
            self.journal.add(fault)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(faults))) as pool:
            list(pool.map(self._apply, faults))

    def _apply(self, fault: Fault, log: maintenance.Log = maintenance.silent) -> list[maintenance.Deviation]:
        if fault.kind == "maintenance":  # service: the control node that runs kubectl, if any
            return self._procedure(maintenance.take_out, fault.node, fault.service, log)
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
        return []

    def undo(self, fault: Fault, log: maintenance.Log = maintenance.silent) -> list[maintenance.Deviation]:
        """Undo the fault and drop it from the journal; returns what ``inject`` does."""
        found = []
        if fault.kind == "maintenance":
            found = self._procedure(maintenance.bring_back, fault.node, log)
        elif fault.kind in ("kill", "stop", "reboot"):  # a reboot that failed midway: the node started
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
        return found

    def _procedure(self, step: Callable[..., list[maintenance.Deviation]], *args: Any) -> list[maintenance.Deviation]:
        try:
            return step(self, *args)
        except ValueError as exc:
            raise FaultError(str(exc)) from None

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


# Drivers by the site's kind, imported on first use (testinfra's registry of backends): product
# code never imports the lab; the lab registers its own driver here by name.
DRIVERS: dict[SiteKind, str] = {SiteKind.LAB: "bootstrap.lab.driver:LabDriver"}
SITE_DRIVER = "bootstrap.site_driver:SiteDriver"  # a site's given hosts over SSH


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
    module, _, cls = SITE_DRIVER.partition(":")
    driver: Driver = getattr(importlib.import_module(module), cls)(inventory, **site)
    return driver
