"""The lab's state: what ``up`` planned and made, and what ``status`` reports.

One reader of the state file (``load``) and one writer (``save``); the lab, the installer's
stand-in and the mutation harness all see the same typed ``LabState``. A state file that is
missing, unreadable or of another shape is no state: ``up`` and ``down`` then repair the host
from what they find on it.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from bootstrap.lab import config
from bootstrap.lab.hostenv import LabError
from bootstrap.layout import DEFAULT_LINE, HA_DB_VARIANTS, LINES
from bootstrap.topology import NodeSlot, Role, compute_slots, get_topology

MACHINE_DRIVERS = ("nspawn", "vm")
NOT_UP = "no lab is up; start one with: python -m bootstrap.lab up --topology 5node"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NodePlan(_Frozen):
    address: str
    roles: tuple[str, ...]


class LabState(_Frozen):
    """The lab as planned: topology, install line, DB-HA variant, addresses (IPv4 strings)."""

    topology: str
    line: str
    db_ha: str
    host_bridge: bool
    compute: int
    subnet: str
    bridge: str
    bridge_address: str
    nodes: dict[str, NodePlan]
    vips: dict[str, str]  # VIP name -> address; "storage" is the lab's own S3 VIP
    rootfs: str = ""  # the cached root file system the machines run, or the VMs' image (set by up)
    machines: str = "nspawn"  # the machine driver: nspawn containers, or QEMU VMs (issue 26)
    accel: str = ""  # the VMs' accelerator ("kvm", "tcg"; set by up)
    image: str = ""  # a user's cloud image the VMs boot by firmware (``up --image``; absolute path)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    def with_role(self, role: Role) -> list[str]:
        """Addresses of the nodes that have ``role``, in plan order."""
        return [n.address for n in self.nodes.values() if role.value in n.roles]

    def same_layout(self, other: LabState) -> bool:
        """Whether ``other`` is this lab with at most another number of compute nodes."""
        keys = ("topology", "subnet", "line", "db_ha", "host_bridge", "machines", "image")
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    def describe(self) -> str:
        """``5node lab (k3s line, DB HA ocboot, 10.213.47.0/24)``: for errors."""
        shown = f"{self.line} line, "
        shown += f"DB HA {self.db_ha}, " if self.db_ha != "manual" else ""
        shown += "addresses on br0, " if self.host_bridge else ""
        shown += (f"VMs of {Path(self.image).name}, " if self.image else "VMs, ") if self.machines == "vm" else ""
        return f"{self.topology} lab ({shown}{self.subnet})"


def plan(
    topology: str,
    compute: int,
    subnet: ipaddress.IPv4Network,
    *,
    line: str = DEFAULT_LINE,
    db_ha: str = "manual",
    host_bridge: bool = False,
    machines: str = "nspawn",
    image: str = "",
) -> LabState:
    """The lab for ``topology`` with ``compute`` compute nodes on ``subnet``; with ``image`` (a
    cloud image's path) VMs that boot it by firmware. Raises LabError naming the option
    (``--line``, ``--db-ha``, ``--compute``, ``--machines``, ``--image``) a bad value came from."""
    topo = get_topology(topology)
    if line not in LINES:
        raise LabError(f"--line must be one of {', '.join(sorted(LINES))}, not {line!r}")
    if db_ha not in HA_DB_VARIANTS:
        raise LabError(f"--db-ha must be manual or ocboot, not {db_ha!r}")
    if db_ha == "ocboot" and not any(Role.DB_HA in s.roles for s in topo.slots):
        raise LabError(f"--db-ha=ocboot needs DB-HA nodes; {topology} has a single DB node")
    if machines not in MACHINE_DRIVERS:
        raise LabError(f"--machines must be one of {', '.join(MACHINE_DRIVERS)}, not {machines!r}")
    if image and machines != "vm":
        raise LabError(f"--image boots VMs: give it with --machines vm (or without --machines), not {machines!r}")
    if image and host_bridge:
        raise LabError("--host-bridge shapes the lab's own machines; with --image the installer sets the network up")
    if compute < 0 or compute > 20:
        raise LabError(f"--compute must be between 0 and 20, not {compute}")
    hosts = list(subnet.hosts())
    slots: list[NodeSlot] = [*topo.slots, *compute_slots(compute)]
    nodes = {}
    for i, slot in enumerate(slots):
        host = config.SLOT_HOSTS.get(slot.name, config.COMPUTE_FIRST_HOST + i - len(topo.slots))
        roles = tuple(r.value for r in sorted(slot.roles, key=list(Role).index))
        nodes[slot.name] = NodePlan(address=str(hosts[host - 1]), roles=roles)
    vips = {v.name: str(hosts[config.VIP_HOSTS[v.name] - 1]) for v in topo.vips}
    vips["storage"] = str(hosts[config.VIP_HOSTS["storage"] - 1])
    return LabState(
        topology=topology,
        line=line,
        db_ha=db_ha,
        host_bridge=host_bridge,
        compute=compute,
        subnet=str(subnet),
        bridge=config.BRIDGE,
        bridge_address=str(hosts[config.GATEWAY_HOST - 1]),
        nodes=nodes,
        vips=vips,
        machines=machines,
        image=str(Path(image).resolve()) if image else "",
    )


def load(paths: config.LabPaths) -> LabState | None:
    """The state of the lab that is up, or None (no state file, or one that is unreadable or
    of another shape: stale state, which ``up`` and ``down`` repair)."""
    try:
        return LabState.model_validate(json.loads(paths.state_file.read_text()))
    except (OSError, ValueError, ValidationError):
        return None


def require(paths: config.LabPaths) -> LabState:
    """The state of the lab that is up; LabError when no lab is up."""
    st = load(paths)
    if st is None:
        raise LabError(NOT_UP)
    return st


def save(paths: config.LabPaths, state: LabState) -> None:
    """Write the state file atomically (a reader sees the old or the new state, never half)."""
    tmp = paths.state_file.with_suffix(".tmp")
    tmp.write_text(state.model_dump_json(indent=2))
    tmp.replace(paths.state_file)


class NodeStatus(_Frozen):
    name: str
    address: str
    roles: tuple[str, ...]
    state: str  # bootstrap.lab.machine.State's value: running, stopped, partitioned, ...
    memory_mib: float


class VipStatus(_Frozen):
    address: str
    holders: tuple[str, ...]  # node names that have the address on an interface


class LabStatus(_Frozen):
    """What ``python -m bootstrap.lab status`` shows (``--json``: this model's JSON)."""

    topology: str
    line: str
    db_ha: str
    host_bridge: bool
    subnet: str
    bridge: str
    inventory: str
    machines: str = "nspawn"
    accel: str = ""
    image: str = ""
    nodes: tuple[NodeStatus, ...]
    vips: dict[str, VipStatus]

    def node(self, name: str) -> NodeStatus:
        return next(n for n in self.nodes if n.name == name)

    def with_role(self, role: str) -> list[str]:
        return [n.name for n in self.nodes if role in n.roles]
