"""The lab's machines behind the suite's driver interface (bootstrap/faults.py ``Driver``):
managed machines this host creates and destroys, faults by cgroup and veth (lab only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bootstrap.deploy import DeployError
from bootstrap.faults import Driver, FaultError, Journal
from bootstrap.inventory import InventoryError
from bootstrap.lab import state as labstate
from bootstrap.lab.hostenv import LabError
from bootstrap.lab.lab import Lab
from bootstrap.lab.machine import State
from bootstrap.maintenance import KUBE_UNITS


class LabDriver(Driver):
    """The local lab's machines (nspawn containers or VMs): a power cut writes the node cgroup's
    ``cgroup.kill``, a clean stop is nspawn's shutdown (a VM's ACPI power-down), a reboot the
    node's own, a freeze the cgroup freezer (a VM paused), a partition detaches the node's link."""

    name = "lab"
    managed = True
    # What "kubelet docker" means on a lab node: the kubelet's stand-in (the platform keepalived's
    # static pod), the control plane's (k3s or ha-standin) and etcd (in k3s, or a kubeadm static pod).
    kube_units = (*KUBE_UNITS, "ha-static-pods", "ha-standin", "etcd")

    def __init__(self) -> None:
        self.lab = Lab()
        self.journal = Journal(self.lab.paths.fault_journal)

    def create(self, topology: str, compute: int = 0, **layout: Any) -> None:
        """The lab's machines for ``topology`` (``layout``: line, db_ha, host_bridge). Raises
        FaultError naming what the host lacks."""
        try:
            self.lab.up(topology, compute, **layout)
        except LabError as exc:
            raise FaultError(f"local lab: {exc}") from None

    def destroy(self) -> None:
        self.lab.down()

    def machines(self) -> dict[str, str]:
        """The lab's machine driver and accelerator (results.json's ``machines``)."""
        st = labstate.load(self.lab.paths)
        if st is None or st.machines != "vm":
            return {"driver": "nspawn", "note": "containers: the host's kernel, clock and page cache"}
        note = "emulated (TCG): timings are not comparable with hardware's" if st.accel == "tcg" else "hardware KVM"
        image = {"image": Path(st.image).name} if st.image else {}
        return {"driver": "vm", "accel": st.accel, "note": note, **image}

    def is_up(self) -> bool:
        return self.lab.is_up()

    def converge(self, log: Any, stage: str = "install") -> None:
        try:
            self.lab.deploy(log=log, stage=stage)
        except (DeployError, InventoryError) as exc:
            raise FaultError(str(exc)) from None

    def owns(self, path: Path) -> bool:
        return self.lab.owns_inventory(path) or self.lab.owns_ocboot_config(path)

    def inventory_path(self) -> Path:
        return self.lab.paths.inventory

    def login(self) -> tuple[Path | None, Path | None]:
        return self.lab.paths.ssh_key, self.lab.paths.known_hosts

    def power_cut(self, node: str) -> None:
        self.lab.kill(node)

    def stop(self, node: str) -> None:
        self.lab.stop(node)

    def start(self, node: str) -> None:
        if self.lab.machine(node).state() is State.STOPPED:
            self.lab.start(node)

    def power_on(self, node: str) -> None:
        if self.lab.machine(node).state() is State.STOPPED:
            self.lab.start(node, wait=False)

    def reboot(self, node: str) -> None:
        try:
            self.lab.reboot(node)
        except LabError as exc:
            raise FaultError(str(exc)) from None

    def freeze(self, node: str, frozen: bool = True) -> None:
        self.lab.freeze(node, frozen)

    def partition(self, node: str) -> None:
        self.lab.partition(node)

    def heal(self, node: str) -> None:
        self.lab.heal(node)

    def service_restorable(self, node: str) -> bool:
        return self.lab.machine(node).state() is State.RUNNING

    def run(self, node: str, command: str, timeout: float = 30, stdin: str | None = None) -> str:
        res = self.lab.ssh(node, command, timeout=timeout, stdin=stdin)
        if res.returncode != 0:
            raise FaultError(f"{node}: {command}: exited {res.returncode}: {res.stderr.strip()[-300:]}")
        return res.stdout

    def vip_holders(self, vips: dict[str, str]) -> dict[str, list[str]]:
        try:
            return self.lab.vip_holders(vips)
        except LabError as exc:  # an address list that could not be read: never "nobody holds it"
            raise FaultError(str(exc)) from None

    def reachable(self, node: str) -> bool:
        return self.lab.machine(node).state() is State.RUNNING and self.lab.ssh(node, "true", timeout=5).returncode == 0


LabFaults = LabDriver  # the name the self-tests knew it by
