"""The HA document's three topologies, as data: the one place that defines them.

Each topology names its node slots with their roles, its VIPs with the roles of
the nodes that may hold them, and the failures the document promises it
survives (or says are fatal), expressed over roles so that they apply to a site
inventory whose nodes carry other names.

>>> TOPOLOGIES["5node"].slot_names()
['node1', 'node2', 'node3', 'db1', 'db2']
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """What a node does in an HA install (see the document's tables)."""

    FIRST = "first"  # the First Node: runs the installer, has SSH to the others
    CONTROL = "control"  # k8s Controlplane + Cloudpods Controller
    PLATFORM_HA = "platform-ha"  # keepalived member for the platform VIP
    DB = "db"  # standalone MariaDB (4node)
    DB_HA = "db-ha"  # MariaDB master-master + keepalived for the DB VIP
    COMPUTE = "compute"  # K8s Node + Host, joined through the platform VIP


@dataclass(frozen=True)
class NodeSlot:
    name: str
    roles: frozenset[Role]


@dataclass(frozen=True)
class VipSpec:
    """A VIP and the role whose nodes run keepalived for it."""

    name: str
    holder_role: Role
    purpose: str


@dataclass(frozen=True)
class FailureBudget:
    """Up to ``count`` nodes of ``role`` may fail at once (combined with the
    other budgets of the same promise)."""

    role: Role
    count: int


@dataclass(frozen=True)
class Topology:
    name: str
    summary: str
    slots: tuple[NodeSlot, ...]
    vips: tuple[VipSpec, ...]
    # Each entry is one promise: any combination within all its budgets survives.
    survives: tuple[tuple[FailureBudget, ...], ...]
    # Failures the document says bring the platform down.
    fatal: tuple[tuple[FailureBudget, ...], ...] = field(default=())
    section: str = ""
    # Roles a real install may give more nodes than the document's slots: (role, most nodes).
    more_allowed: tuple[tuple[Role, int], ...] = ()

    def slot_names(self) -> list[str]:
        return [s.name for s in self.slots]

    def allowed_counts(self, role: Role) -> range:
        """How many nodes of a site may carry ``role`` (the slots' count, up to ``more_allowed``)."""
        want = self.role_counts().get(role, 0)
        return range(want, max([want, *(n for r, n in self.more_allowed if r is role)]) + 1)

    def role_counts(self) -> dict[Role, int]:
        counts: dict[Role, int] = {}
        for slot in self.slots:
            for role in slot.roles:
                counts[role] = counts.get(role, 0) + 1
        return counts


def _slot(name: str, *roles: Role) -> NodeSlot:
    return NodeSlot(name, frozenset(roles))


_R = Role
PLATFORM_VIP = VipSpec("platform", Role.PLATFORM_HA, "平台 VIP / platform VIP (k8s API :6443, web console)")
DB_VIP = VipSpec("db", Role.DB_HA, "数据库 VIP / database VIP (MariaDB :3306)")

TOPOLOGIES: dict[str, Topology] = {
    "3node": Topology(
        name="3node",
        summary="DB HA and platform HA on nodes 1-2; node 3 control plane without HA",
        section="高可用部署方案介绍 / 3节点版",
        slots=(
            _slot("node1", _R.FIRST, _R.CONTROL, _R.PLATFORM_HA, _R.DB_HA),
            _slot("node2", _R.CONTROL, _R.PLATFORM_HA, _R.DB_HA),
            _slot("node3", _R.CONTROL),
        ),
        vips=(PLATFORM_VIP, DB_VIP),
        # "只能保证部署高可用的2个节点中的其中一个宕机而不影响平台的使用"
        survives=((FailureBudget(_R.PLATFORM_HA, 1),),),
        # ocboot with high_availability runs the platform keepalived static pod on every master,
        # node 3 included (its published example: DB HA on the two master nodes).
        more_allowed=((_R.PLATFORM_HA, 3),),
    ),
    "4node": Topology(
        name="4node",
        summary="3 control nodes behind the platform VIP, 1 standalone MariaDB node",
        section="高可用部署方案介绍 / 4节点版",
        slots=(
            _slot("node1", _R.FIRST, _R.CONTROL, _R.PLATFORM_HA),
            _slot("node2", _R.CONTROL, _R.PLATFORM_HA),
            _slot("node3", _R.CONTROL, _R.PLATFORM_HA),
            _slot("db1", _R.DB),
        ),
        vips=(PLATFORM_VIP,),
        # "3个节点任意节点宕机，而不影响平台的正常使用。但是如果数据库节点宕机，则平台也不可用。"
        survives=((FailureBudget(_R.CONTROL, 1),),),
        fatal=((FailureBudget(_R.DB, 1),),),
    ),
    "5node": Topology(
        name="5node",
        summary="3 control nodes + 2 DB-HA nodes, platform VIP and DB VIP",
        section="高可用部署方案介绍 / 5节点版",
        slots=(
            _slot("node1", _R.FIRST, _R.CONTROL, _R.PLATFORM_HA),
            _slot("node2", _R.CONTROL, _R.PLATFORM_HA),
            _slot("node3", _R.CONTROL, _R.PLATFORM_HA),
            _slot("db1", _R.DB_HA),
            _slot("db2", _R.DB_HA),
        ),
        vips=(PLATFORM_VIP, DB_VIP),
        # "任意一个节点可以宕机，以及部署数据库的两个节点中的任意一个节点宕机"
        survives=((FailureBudget(_R.CONTROL, 1), FailureBudget(_R.DB_HA, 1)),),
    ),
}

COMPUTE_PREFIX = "compute"


class UnknownTopology(ValueError):
    pass


def get_topology(name: str) -> Topology:
    try:
        return TOPOLOGIES[name]
    except KeyError:
        known = ", ".join(sorted(TOPOLOGIES))
        raise UnknownTopology(f"unknown topology {name!r}; choose one of: {known}") from None


def compute_slots(count: int) -> list[NodeSlot]:
    return [_slot(f"{COMPUTE_PREFIX}{i}", Role.COMPUTE) for i in range(1, count + 1)]


def failure_sets(
    promises: Iterable[Sequence[FailureBudget]], nodes_by_role: dict[Role, list[str]]
) -> list[frozenset[str]]:
    """Every non-empty set of node names that a list of promises covers.

    >>> p = [(FailureBudget(Role.CONTROL, 1), FailureBudget(Role.DB_HA, 1))]
    >>> sets = failure_sets(p, {Role.CONTROL: ["a", "b"], Role.DB_HA: ["x"]})
    >>> sorted(sorted(s) for s in sets)
    [['a'], ['a', 'x'], ['b'], ['b', 'x'], ['x']]
    """
    result: set[frozenset[str]] = set()
    for promise in promises:
        choices: list[list[tuple[str, ...]]] = []
        for budget in promise:
            names = nodes_by_role.get(budget.role, [])
            options = [combo for k in range(budget.count + 1) for combo in itertools.combinations(names, k)]
            choices.append(options)
        for pick in itertools.product(*choices):
            chosen = frozenset(name for combo in pick for name in combo)
            if chosen:
                result.add(chosen)
    return sorted(result, key=lambda s: (len(s), sorted(s)))
