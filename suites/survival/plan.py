"""The scenarios of a topology, generated from its data: for every failure set the document
promises to survive, a power cut, a clean shutdown and a network partition of its nodes, and
for each node it survives alone, a reboot; a service failure on each VIP holder; for failures
the document calls fatal, the outage and the recovery; and beyond the document, the whole
site's power cut with its power returning in three orders, the vendor's DB rebuild, and the
vendor's rolling maintenance of each node the topology survives losing alone. ``Outcome`` is what a scenario's
run found."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import urllib3

from bootstrap import inventory as inv
from bootstrap.topology import TOPOLOGIES, Role, failure_sets

KIND_REQUIREMENT = {
    "kill": "HA-SURV-001",
    "stop": "HA-SURV-002",
    "partition": "HA-SURV-003",
    "service": "HA-SURV-004",
    "fatal": "HA-SURV-005",
    "reboot": "HA-SURV-006",
    "site": "HA-SURV-007",
    "rebuild": "HA-SURV-008",
    "maintenance": "HA-SURV-009",
}
# The whole site's power cut, and the orders its power returns in (nodes started one by one,
# none waiting for the one before to boot).
SITE_ORDERS = ("in-order", "shuffled", "db-last")
DB_SERVICES = ("db-write", "db-read", "keystone")
FROZEN_DB = "mariadb-frozen"  # the service scenario that hangs MariaDB on the DB VIP's holder
STABLE_WINDOW = 5.0  # after a fault is undone, the site must stay converged this long
# A returning First Node (the platform VIP's MASTER, priority 100) leaves FAULT as BACKUP and
# takes its VIP back only when its master-down timer expires (3 x advert_int + skew, 3.6 s)
# after its health track's rise: the stable window starts after that, not before it.
PREEMPT_GRACE = 6.0
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # lab and site certificates are self-signed


@dataclass(frozen=True)
class Scenario:
    kind: str  # kill | stop | partition | service | fatal | reboot | site | rebuild | maintenance
    # The failure set (service: resolved to the VIP holder at run time; site: every node, in
    # the order its power returns).
    nodes: tuple[str, ...] = ()
    service: str | None = None  # service scenarios: mariadb (DB VIP) or keepalived (platform VIP)
    vip: str | None = None
    order: str = ""  # site: one of SITE_ORDERS

    @property
    def requirement(self) -> str:
        return KIND_REQUIREMENT[self.kind]

    @property
    def name(self) -> str:
        if self.kind == "service":
            return f"{self.service}-on-{self.vip}-vip-holder"
        if self.kind == "site":
            return f"site-power-cut-{self.order}"
        if self.kind == "rebuild":
            return "db-replica-rebuilt-by-vendor-procedure"
        return f"{self.kind}-{'+'.join(self.nodes)}"


def generate(inventory: inv.Inventory) -> list[Scenario]:
    topo = TOPOLOGIES[inventory.topology]
    by_role = inventory.nodes_by_role()
    result = []
    for nodes in failure_sets(topo.survives, by_role):
        ordered = tuple(n.name for n in inventory.nodes if n.name in nodes)
        result += [Scenario(kind, ordered) for kind in ("kill", "stop", "partition")]
        if len(ordered) == 1:  # its own reboot (back by itself), and the vendor's maintenance of it
            result += [Scenario("reboot", ordered), Scenario("maintenance", ordered)]
    if by_role.get(Role.DB_HA):
        result.append(Scenario("service", service="mariadb", vip="db"))
        # A hung database (field failure): frozen, not stopped; the kernel still accepts TCP.
        result.append(Scenario("service", service=FROZEN_DB, vip="db"))
        # Replication broken on the DB VIP's non-holder, repaired by the vendor's procedure.
        result.append(Scenario("rebuild", vip="db"))
    result.append(Scenario("service", service="keepalived", vip="platform"))
    for nodes in failure_sets(topo.fatal, by_role):
        result.append(Scenario("fatal", tuple(n.name for n in inventory.nodes if n.name in nodes)))
    result += [Scenario("site", order, order=name) for name, order in site_orders(inventory).items()]
    return result


def site_orders(inventory: inv.Inventory) -> dict[str, tuple[str, ...]]:
    """The orders a whole site's power returns in: the inventory's, a shuffled one (fixed per
    site name, so a rerun repeats it, and never the inventory's own), and the DB nodes last."""
    names = tuple(n.name for n in inventory.nodes)
    shuffled = list(names)
    random.Random(inventory.site).shuffle(shuffled)
    if tuple(shuffled) == names:
        shuffled = shuffled[1:] + shuffled[:1]
    db = {n.name for n in (*inventory.nodes_with(Role.DB), *inventory.nodes_with(Role.DB_HA))}
    db_last = tuple(n for n in names if n not in db) + tuple(n for n in names if n in db)
    return {"in-order": names, "shuffled": tuple(shuffled), "db-last": db_last}


@dataclass
class Outcome:
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    timeline: dict[str, str] = field(default_factory=dict)
    findings: dict[str, str] = field(default_factory=dict)  # problem text -> named finding it is
    unverified: list[str] = field(default_factory=list)  # parts not verifiable from this runner, and why

    def deviated(self, found: list[Any]) -> None:
        """A procedure's steps that fell short of its page (bootstrap/maintenance.py
        ``Deviation``): each a problem, the named finding's where one names it."""
        for d in found:
            self.explain([d.text], d.finding) if d.finding else self.problems.append(d.text)

    def explain(self, problems: list[str], finding: str) -> None:
        """Add ``problems`` as instances of the named, root-caused ``finding``."""
        self.problems += problems
        self.findings.update(dict.fromkeys(problems, finding))

    @property
    def unexplained(self) -> list[str]:
        """Problems that no named finding accounts for."""
        return [p for p in self.problems if p not in self.findings]
