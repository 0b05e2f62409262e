"""HA-CP-008, HA-CP-010: the control plane's etcd quorum as every member sees it.

Each control node's own etcd is asked (127.0.0.1:2379, through the node's own client certificate:
suites/facts/shell.py) for its member list, its health, its status (cluster id, leader) and the
cluster's alarms. A member that answers healthy for a cluster of its own (k3s and kubeadm reports
of split clusters after a rejoin), a member added but never started, or an alarm (NOSPACE) leaves
fewer failures tolerated than the member count says; the figure is computed from the voting
members that are started and whose own etcd answers healthy.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from bootstrap.inventory import NodeEntry
from bootstrap.topology import Role
from suites import etcd_log, history
from suites.context import Context, NotVerifiable
from suites.facts.values import EtcdReply
from suites.registry import check


def _host_of(url: str) -> str:
    return re.sub(r"^\w+://\[?([^\]/]+?)\]?(:\d+)?/?$", r"\1", url)


@dataclass
class View:
    """One control node's etcd as it answers: member list, own health, status, alarms."""

    node: str
    members: EtcdReply
    health: EtcdReply
    status: EtcdReply
    alarms: EtcdReply

    def member_ids(self) -> frozenset[str] | None:
        listed = self.members.members()
        return None if listed is None else frozenset(str(m.get("ID")) for m in listed)

    def evidence(self) -> tuple[str, str]:
        parts = [(r.body or r.why)[-1500:] for r in (self.members, self.health, self.status, self.alarms)]
        return (f"etcd on {self.node} ({self.members.endpoint}): members, health, status, alarms", "\n".join(parts))


def _views(ctx: Context, control: list[NodeEntry]) -> list[View]:
    names = ("etcd_members", "etcd_health", "etcd_status", "etcd_alarms")
    return [View(n.name, *(ctx.facts_of(n)[f] for f in names)) for n in control]


def _disagreements(views: list[View]) -> list[str]:
    """Where the members that answered do not see one cluster: cluster ids, member sets, leaders."""
    answered = [v for v in views if v.member_ids() is not None]
    problems = []
    for what, key in (
        ("cluster", lambda v: v.members.header("cluster_id")),
        ("members", lambda v: ",".join(sorted(v.member_ids() or ()))),
        ("leader", lambda v: v.status.leader()),
    ):
        groups: dict[Any, list[str]] = {}
        for v in answered:
            groups.setdefault(key(v), []).append(v.node)
        if len(groups) > 1:
            seen = "; ".join(f"{', '.join(nodes)}: {_short(value, what)}" for value, nodes in groups.items())
            problems.append(f"the members do not agree on the {what} ({seen})")
    return problems


def _short(value: Any, what: str) -> str:
    if value in (None, ""):
        return "none"
    return f"{len(str(value).split(','))} member(s) {value}" if what == "members" else str(value)


def _membership(members: list[dict[str, Any]], control: list[NodeEntry]) -> tuple[list[str], dict[str, str]]:
    """Problems with the member list against the control nodes; {member id: control node}."""
    by_address = {str(n.address): n.name for n in control}
    problems, node_of = [], {}
    for m in members:
        peers = [_host_of(u) for u in m.get("peerURLs", [])]
        node = next((by_address[p] for p in peers if p in by_address), None)
        label = m.get("name") or f"ID {m.get('ID')}"
        if node is None:
            problems.append(f"member {label} ({', '.join(m.get('peerURLs', []))}) is no control node")
        else:
            node_of[str(m.get("ID"))] = node
        if not m.get("name") or not m.get("clientURLs"):
            problems.append(f"member {label} ({', '.join(m.get('peerURLs', []))}) has never started")
        if m.get("isLearner"):
            problems.append(f"member {label} is a learner, not a voting member")
    missing = [n.name for n in control if n.name not in node_of.values()]
    if missing:
        problems.append(f"control node(s) {', '.join(missing)} are no etcd member")
    return problems, node_of


def _serves(member: dict[str, Any], reference: View, views: list[View], node_of: dict[str, str],
            healthy: set[str]) -> bool:  # fmt: skip
    """Started, and its node's etcd healthy as this very member of the reference's cluster (a
    node whose etcd answers healthy for a cluster of its own serves the reference's none)."""
    view = next((v for v in views if v.node == node_of.get(str(member.get("ID")))), None)
    return (
        bool(member.get("name") and member.get("clientURLs"))
        and view is not None
        and view.node in healthy
        and view.members.header("cluster_id") == reference.members.header("cluster_id")
        and view.members.header("member_id") == str(member.get("ID"))
    )


@check("HA-CP-008", facts=("etcd_members", "etcd_health", "etcd_status", "etcd_alarms"))
def etcd_quorum_membership(ctx: Context) -> None:
    """etcd's members are exactly the control nodes, by peer address; every member that answers
    sees the same cluster, members and leader; each is a started voting member whose own etcd
    answers healthy; no alarm is raised. Tolerated failures = started healthy voters - quorum."""
    control = ctx.inventory.nodes_with(Role.CONTROL)
    views = _views(ctx, control)
    ev = [v.evidence() for v in views]
    reference = next((v for v in views if v.members.members() is not None), None)
    if reference is None:
        ctx.fail("no control node's etcd answered with its member list on 127.0.0.1:2379", ev)
    members = reference.members.members() or []
    problems = _disagreements(views)
    found, node_of = _membership(members, control)
    problems += found
    healthy_nodes = {v.node for v in views if v.health.healthy() is True}
    unhealthy = [v.node for v in views if v.node not in healthy_nodes]
    if unhealthy:
        problems.append(f"etcd on {', '.join(unhealthy)} does not answer healthy")
    unread = [f"{v.node}: {(v.alarms.body or v.alarms.why)[:160]}" for v in views if v.alarms.alarms() is None]
    if unread and all(v.alarms.alarms() is None for v in views):
        raise NotVerifiable("no control node's etcd gave its alarm list (" + "; ".join(unread) + ")")
    alarms = sorted({a for v in views for a in (v.alarms.alarms() or [])})
    if alarms:
        named = [f"{alarm} on {node_of.get(mid, 'member ' + mid)}" for mid, alarm in alarms]
        problems.append(f"the cluster has alarm(s) raised: {', '.join(named)}")
    voters = [m for m in members if not m.get("isLearner")]
    quorum = len(voters) // 2 + 1
    fit = [m for m in voters if _serves(m, reference, views, node_of, healthy_nodes)]
    tolerated = max(0, len(fit) - quorum) if not alarms else 0  # an alarmed cluster takes no writes
    ctx.figures["etcd"] = {"voters": len(voters), "quorum": quorum, "started_healthy": len(fit), "tolerated": tolerated}
    ctx.require(
        not problems,
        f"etcd as {reference.node} lists it ({len(voters)} voting members, quorum {quorum}, "
        f"{len(fit)} started and healthy: tolerating {tolerated} failure(s)): " + "; ".join(problems),
        ev,
    )


@check("HA-CP-010", facts=("etcd_history",))
def etcd_leader_stable(ctx: Context) -> None:
    """etcd's elections in the control nodes' etcd logs since boot (at most history_days back),
    one per term across the members: no storm of 4 or more within 15 minutes (etcd's own
    etcdHighNumberOfLeaderChanges alert; suites/etcd_log.py). Figures: elections seen."""
    control = ctx.inventory.nodes_with(Role.CONTROL)
    since, now = history.window(ctx, max((ctx.facts_of(n).runner_after for n in control), default=0.0) or time.time())
    lines: list[tuple[float, str]] = []
    for node in control:
        got = ctx.facts_of(node)["etcd_history"]
        if got is None:
            raise NotVerifiable(f"no etcd log on {node.name} (no etcd or k3s unit, no etcd container)")
        lines += [(t, f"{node.name}: {line}") for t, line in got if since <= t <= now]
    found = etcd_log.elections(sorted(lines))
    ctx.figures.update(etcd_elections=len(found))
    runs = etcd_log.storms(found)
    if runs:
        worst = max(runs, key=len)
        ctx.fail(
            f"etcd elected a leader {len(worst)} times within {(worst[-1].at - worst[0].at) / 60:.0f} min, "
            f"{history.iso(worst[0].at)} to {history.iso(worst[-1].at)} (terms {worst[0].term} to {worst[-1].term}; "
            f"{len(runs)} such storm(s) since boot): a leader changing that often stalls the cluster's writes",
            [("etcd's elections in the control nodes' logs, one per term", "\n".join(e.line for e in worst))],
        )
