"""HA-KA-010..014: what keepalived's own logs say, on the VIPs' nodes: split brains since boot
(both VIPs), keepalived's deaths, and whether each node can still take its VIP over (its
instance's last state not FAULT). The DB VIP's keepalived logs to its unit's journal, the
platform VIP's static pod to its container's log (suites/keepalived_history.py reads both)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bootstrap.inventory import NodeEntry
from suites import history
from suites import keepalived_history as kh
from suites.checks.keepalived import KA_FACTS, Source, source_for
from suites.context import Context, NotVerifiable, Skip
from suites.history import iso
from suites.registry import check

JOURNAL, POD_LOG = "keepalived_history", "keepalived_pod_history"


def _history(ctx: Context, node: NodeEntry, vip: str, fact: str, until: float) -> tuple[Source, Any]:
    """The VIP's instance on ``node`` and every line of its keepalived's log in ``fact`` up to
    ``until`` (epoch seconds): the unit's journal for keepalived.conf's instance, the container
    log for the static pod's. NotVerifiable where the instance is the other kind."""
    src = source_for(ctx, node, vip)
    if src is None:
        ctx.fail(f"no VRRP instance holds the VIP {vip} on {node.name}")
    if src.static_pod is not (fact == POD_LOG):
        kind = "a static pod" if src.static_pod else "keepalived.conf's"
        raise NotVerifiable(f"the VIP {vip}'s keepalived on {node.name} is {kind}: this check reads {fact}")
    lines = ctx.facts_of(node)[fact]
    if lines is None:
        ctx.fail(f"keepalived is not installed on {node.name}")
    return src, [(t, line) for t, line in lines if t <= until]


def _per_log(judge: Callable[[Context, str], None], db_id: str, platform_id: str) -> None:
    """Register ``judge`` twice: on the DB VIP from keepalived's journal (``db_id``), on the
    platform VIP from the static pods' container logs (``platform_id``). Two requirements, so
    that each declares only the log it reads (an unread declared fact could let a check pass)."""
    for rid, fact in ((db_id, JOURNAL), (platform_id, POD_LOG)):

        def run(ctx: Context, fact: str = fact) -> None:
            judge(ctx, fact)

        run.__doc__ = f"{rid}: {judge.__doc__}"
        check(rid, facts=(fact, *KA_FACTS))(run)


def _vip_history(ctx: Context, fact: str) -> None:
    """The VIP's history in its nodes' keepalived logs (``fact``: the unit's journal since boot,
    or the static pod's current container's log with the runtime's time stamps), at most the
    profile's history_days back: no two nodes ever MASTER of its instance at once for longer than
    the clocks may differ (clock_skew_max_s). Figures: MASTER periods (holder changes) and
    keepalived starts per node."""
    name = ctx.subject or ""
    group = ctx.rt.vip_group(name)
    # The history as of when the logs were read (at the run's start: a run's own faults are
    # not the site's history), within the profile's window.
    since, now = history.window(ctx, max((ctx.facts_of(n).runner_after for n in group), default=0.0) or time.time())
    if len(group) < 2:
        raise Skip(f"no keepalived pair holds the {name} VIP in this topology")
    vip = ctx.rt.vip_address(name)
    periods, ev, started = [], [], {}
    for node in group:
        # Every line up to now: a holder MASTER since before the window opened its period there.
        src, lines = _history(ctx, node, vip, fact, now)
        # A static pod's keepalived runs the image's one instance, named by the image: any name.
        instance = "" if src.static_pod else src.instance.name
        periods += kh.master_periods(node.name, lines, instance)
        started[node.name] = kh.starts([(t, line) for t, line in lines if t >= since])
        told = [line for _, line in lines if kh.STATE.search(line) or kh.ZERO.search(line) or kh.START.search(line)]
        ev.append((f"{node.name}: {fact} since boot ({src.instance.name})", "\n".join(told[-60:])))
    periods = [p for p in periods if p.until(now) > since]  # those the window sees
    ctx.figures.update(master_periods=len(periods), keepalived_starts=started)
    # Overlaps within the window only (clipped to it).
    both = [(a, b, max(lo, since), hi) for a, b, lo, hi in kh.overlaps(periods, now, float(ctx.expected("skew")))
            if hi - max(lo, since) > float(ctx.expected("skew"))]  # fmt: skip
    problems = [
        f"{a.node} and {b.node} both held the {name} VIP {vip} for {hi - lo:.0f} s, {iso(lo)} to {iso(hi)} "
        f"({a.node}: {_said(a.opened)} at {iso(a.start)}; {b.node}: {_said(b.opened)} at {iso(b.start)})"
        for a, b, lo, hi in both
    ]
    ctx.require(
        not problems,
        "; ".join(problems) + f" (a split brain: clients reached either node; {len(periods)} MASTER periods "
        f"since {iso(max(since, min((p.start for p in periods), default=now)))})",
        ev,
    )


def _ready_to_take_over(ctx: Context, fact: str) -> None:
    """No node of the VIP's group sits in FAULT: its VRRP instance's last state in its log
    (``fact``) is MASTER or BACKUP. A node in FAULT (a failing track script, its interface down)
    cannot take the VIP over when the holder fails, though every check of the holder passes.
    NotVerifiable where a node's log holds no state line for the instance."""
    name = ctx.subject or ""
    group = ctx.rt.vip_group(name)
    if len(group) < 2:
        raise Skip(f"no keepalived pair holds the {name} VIP in this topology")
    vip = ctx.rt.vip_address(name)
    faults, unknown, ev = [], [], []
    for node in group:
        src, lines = _history(ctx, node, vip, fact, float("inf"))
        last = kh.last_state(lines, "" if src.static_pod else src.instance.name)
        if last is None:
            unknown.append(node.name)
            continue
        at, state, line, before = last
        ev.append((f"{node.name}: the last state of {src.instance.name} in {fact}", "\n".join([*before, line])))
        if state == "FAULT":
            led = [b for b in [*before, line] if "Entering" not in b and ("fail" in b.lower() or " down" in b.lower())]
            why = _said(led[-1]) if led else ""
            faults.append(f"{node.name} in FAULT since {iso(at)}" + (f" ({why})" if why else ""))
    ctx.require(
        not faults,
        f"{'; '.join(faults)}: a node in FAULT cannot take the {name} VIP {vip} over when its holder fails",
        ev,
    )
    if unknown:
        raise NotVerifiable(f"no state line for the {name} VIP's instance in {fact} on {', '.join(unknown)}")


_per_log(_vip_history, "HA-KA-010", "HA-KA-012")
_per_log(_ready_to_take_over, "HA-KA-013", "HA-KA-014")


def _said(line: str) -> str:
    """What keepalived said on a log line, without the journal's or the runtime's stamp."""
    if kh.RFC3339.match(line):
        return line.split(" ", 1)[1]
    return line.split(": ", 1)[-1]


@check("HA-KA-011", facts=("keepalived_history",))
def keepalived_never_died(ctx: Context) -> None:
    """keepalived's journal since boot (at most history_days back) on this node holds no
    unexpected death of keepalived or of one of its children (keepalived_history.CRASH): a VIP
    holder whose keepalived dies drops the VIP until it is restarted, and a child respawning in a
    loop moves it again and again."""
    node = ctx.node
    assert node is not None
    since, now = history.window(ctx, ctx.facts.runner_after or time.time())
    journal = ctx.facts["keepalived_history"]
    if journal is None:
        raise Skip(f"keepalived runs as no systemd unit on {node.name} (a static pod's restarts: HA-K8S-002)")
    lines = [(t, line) for t, line in journal if since <= t <= now]
    died = kh.crashes(lines)
    ctx.figures.update(keepalived_starts=kh.starts(lines), keepalived_deaths=len(died))
    if died:
        last_at, last = died[-1]
        ctx.fail(
            f"keepalived died {len(died)} time(s) on {node.name} since boot, the last at {iso(last_at)}: "
            f"{last.split(': ', 1)[-1]}",
            [(f"{node.name}: keepalived's journal since boot, the deaths", "\n".join(line for _, line in died[-20:]))],
        )
