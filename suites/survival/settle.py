"""When a site that was faulted has settled, from evidence rather than a fixed span (issue 28).

After a fault is undone the runner waits until every promised service answers and the returned
control-plane members are healthy; then the site must have *stayed* settled. The fixed rule is a
span (``STABLE_WINDOW`` seconds with no VIP move and no failed operation, plus ``PREEMPT_GRACE``
when the First Node returned). The span exists for one reason: a VIP that may still move. A
VRRP instance preempts a holder only if it outranks it (higher priority; on equal priority the
higher primary address wins the MASTER-MASTER tie, RFC 5798 section 6.4.3, which keepalived
implements in its MASTER state's receive path), so a VIP held by the highest-ranked member of
its group (from the site's own keepalived configuration) has no move pending. There the span
proves nothing more than ``STABLE_SAMPLES`` consecutive identical samples do (each VIP on one
node), and the window ends on them; a VIP held by a member that some other member outranks
and would preempt it (a take-back pending, or one that does not come: a failing track script)
keeps the fixed span, so no verdict is loosened. A member whose instance is ``nopreempt`` and
starts as BACKUP never takes a VIP back, and is not waited for. Track-script weights are not modelled: a
weighted script that fails on the holder after recovery shows as a failing service or a move
within the samples either way.

>>> ranks = {"platform": {"n1": (100, 1, True), "n2": (90, 2, True), "n3": (90, 3, True)}}
>>> pending_moves({"platform": ("n2",)}, ranks)
['platform']
>>> pending_moves({"platform": ("n1",)}, ranks)
[]
>>> samples = [(0.0, {"platform": ("n2",)}), (1.0, {"platform": ("n1",)}), (1.3, {"platform": ("n1",)}),
...            (1.6, {"platform": ("n1",)}), (1.9, {"platform": ("n1",)})]
>>> stable_since(samples, after=0.5, count=3, min_span=0.5)
1.0
>>> stable_since(samples, after=1.5, count=3, min_span=0.5) is None
True
"""

from __future__ import annotations

from collections.abc import Sequence

from suites.survival.plan import PREEMPT_GRACE, STABLE_WINDOW
from suites.survival.workload import History

# The evidence that ends the window: this many consecutive VIP samples (one every ~0.1-0.3 s,
# as fast as the driver reads the holders) alike, each VIP on one node, spanning at least
# MIN_STABLE_S seconds, with no operation of a promised service failing since the first of them.
STABLE_SAMPLES = 3
MIN_STABLE_S = 1.0

# (VRRP priority, primary IPv4 address as an integer, whether the instance preempts: False for
# ``nopreempt`` on an instance that starts as BACKUP; keepalived clears it on an initial MASTER)
Rank = tuple[int, int, bool]
Sample = tuple[float, dict[str, tuple[str, ...]]]  # (seconds into the history, {VIP: holders})


def pending_moves(holders: dict[str, tuple[str, ...]], ranks: dict[str, dict[str, Rank]] | None) -> list[str]:
    """VIPs that may still move: held by no single node, or by one that another member of the
    VIP's group outranks and would preempt, or whose group's ranks are unknown (``ranks`` None: the configuration
    could not be read). Shape: ``holders`` {VIP name: nodes holding it}, ``ranks`` {VIP name:
    {node: Rank}}; returns VIP names, sorted."""

    def settled(held: tuple[str, ...], group: dict[str, Rank]) -> bool:
        if len(held) != 1 or held[0] not in group:
            return False
        mine = group[held[0]][:2]
        return not any(preempts and (prio, addr) > mine for prio, addr, preempts in group.values())

    return [vip for vip, held in sorted(holders.items()) if not settled(held, (ranks or {}).get(vip) or {})]


def stable_since(samples: Sequence[Sample], after: float, count: int = STABLE_SAMPLES,
                 min_span: float = MIN_STABLE_S) -> float | None:  # fmt: skip
    """Seconds at which the trailing run of identical samples taken after ``after`` began, if
    it holds at least ``count`` samples spanning ``min_span`` seconds and each VIP in it has
    exactly one holder; else None."""
    recent = [(at, held) for at, held in samples if at > after]
    if not recent:
        return None
    last = recent[-1][1]
    if any(len(h) != 1 for h in last.values()):
        return None
    run = 0
    for at, held in reversed(recent):
        if held != last:
            break
        run += 1
        start = at
    if run < count or recent[-1][0] - start < min_span:
        return None
    return start


def waiting(history: History, members_ok_at: float, restore_at: float, ranks: dict[str, dict[str, Rank]] | None,
            first_returned: bool) -> str | None:  # fmt: skip
    """What the stable window still waits for (None: the site stayed settled; the caller then
    asks for convergence): by evidence where no VIP may still move, else the fixed span.
    ``members_ok_at``/``restore_at``: seconds into ``history`` when the returned members were
    healthy again and when the faults were undone; ``first_returned``: the First Node returned."""
    samples = list(history.vip_samples)
    if samples and not pending_moves(samples[-1][1], ranks):
        # The window restarts after every failed operation: it holds only alike samples taken
        # since the later of the members' recovery and the last failure.
        failed = [(o.start, o.service) for o in history.ops if o.ok is not True and o.start > members_ok_at]
        last = max(failed, default=(members_ok_at, ""))
        if stable_since(samples, last[0]) is not None:
            return None
        if last[1]:
            return f"{last[1]} failed {history.now() - last[0]:.1f} s ago"
        return f"VIP holders not yet alike in {STABLE_SAMPLES} samples over {MIN_STABLE_S:g} s"
    grace = PREEMPT_GRACE if first_returned else 0.0
    if history.now() - members_ok_at < STABLE_WINDOW + grace:
        return f"returned members healthy for less than {STABLE_WINDOW + grace:g} s"
    since = history.now() - STABLE_WINDOW
    recent = [tuple(sorted(held.items())) for at, held in samples if at > since]
    if history.now() - restore_at < STABLE_WINDOW or len(set(recent)) > 1:
        return f"VIP holders not yet stable for {STABLE_WINDOW:g} s"
    failing = sorted({o.service for o in history.ops if o.start > since and o.ok is not True})
    return f"{', '.join(failing)} failed in the last {STABLE_WINDOW:g} s" if failing else None
