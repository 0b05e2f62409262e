"""The lab's machines behind the suite's driver interface (bootstrap/faults.py ``Driver``):
managed machines this host creates and destroys, faults by cgroup and veth (lab only)."""

from __future__ import annotations

from bootstrap.faults import Driver, FaultError, Journal
from bootstrap.lab.lab import Lab
from bootstrap.lab.machine import State


class LabDriver(Driver):
    """The local lab's nspawn machines: a power cut writes the node cgroup's ``cgroup.kill``, a
    clean stop is nspawn's shutdown, a partition detaches the node's veth."""

    name = "lab"
    managed = True

    def __init__(self) -> None:
        self.lab = Lab()
        self.journal = Journal(self.lab.paths.home / "faults.json")

    def create(self, topology: str, compute: int = 0) -> None:
        self.lab.up(topology, compute)

    def destroy(self) -> None:
        self.lab.down()

    def power_cut(self, node: str) -> None:
        self.lab.kill(node)

    def stop(self, node: str) -> None:
        self.lab.stop(node)

    def start(self, node: str) -> None:
        if self.lab.machine(node).state() is State.STOPPED:
            self.lab.start(node)

    def partition(self, node: str) -> None:
        self.lab.partition(node)

    def heal(self, node: str) -> None:
        self.lab.heal(node)

    def service_restorable(self, node: str) -> bool:
        return self.lab.machine(node).state() is State.RUNNING

    def run(self, node: str, command: str, timeout: float = 30) -> str:
        res = self.lab.ssh(node, command, timeout=timeout)
        if res.returncode != 0:
            raise FaultError(f"{node}: {command}: exited {res.returncode}: {res.stderr.strip()[-300:]}")
        return res.stdout

    def vip_holders(self, vips: dict[str, str]) -> dict[str, list[str]]:
        return self.lab.vip_holders(vips)

    def reachable(self, node: str) -> bool:
        return self.lab.machine(node).state() is State.RUNNING and self.lab.ssh(node, "true", timeout=5).returncode == 0


LabFaults = LabDriver  # the name the self-tests knew it by
