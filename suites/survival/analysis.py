"""Checkers over a workload history: outages and RTO per service, lost and
duplicated writes, VIP moves. Pure functions, tested on recorded histories.

>>> from suites.survival.workload import Op
>>> ops = [Op("web", t / 10, t / 10 + 0.01, not 10 <= t < 30) for t in range(60)]
>>> [(round(a, 2), round(b, 2)) for a, b in outages(ops)]
[(0.91, 3.0)]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from suites.survival.workload import History, Op

STABLE_OPS = 5  # a recovery counts once this many operations in a row succeed


def outages(ops: list[Op]) -> list[tuple[float, float]]:
    """Windows of unavailability: from the end of the last success before a failure
    to the start of the first success that begins a stable run."""
    result: list[tuple[float, float]] = []
    last_ok_end: float | None = None
    down_since: float | None = None
    i = 0
    ops = sorted(ops, key=lambda o: o.start)
    while i < len(ops):
        op = ops[i]
        if op.ok:
            if down_since is not None:
                run = ops[i : i + STABLE_OPS]
                if (len(run) == STABLE_OPS and all(o.ok for o in run)) or (
                    i + len(run) == len(ops) and all(o.ok for o in run)
                ):
                    result.append((down_since, op.start))
                    down_since = None
            if down_since is None:
                last_ok_end = op.end
        elif down_since is None:
            down_since = last_ok_end if last_ok_end is not None else op.start
        i += 1
    if down_since is not None:
        result.append((down_since, float("inf")))
    return result


@dataclass
class WriteAudit:
    acked: int
    lost: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    failed_but_present: list[int] = field(default_factory=list)
    unknown_present: int = 0
    stray: list[int] = field(default_factory=list)  # rows this writer never wrote (an earlier one's)


def audit_writes(ops: list[Op], present: list[int]) -> WriteAudit:
    """Compare the writer's history with the rows found after recovery."""
    counts = Counter(present)
    acked = [o.value for o in ops if o.ok and o.value is not None]
    audit = WriteAudit(acked=len(acked))
    audit.lost = sorted(w for w in acked if counts[w] == 0)
    audit.duplicates = sorted(w for w, n in counts.items() if n > 1)
    audit.failed_but_present = sorted(o.value for o in ops if o.ok is False and o.value is not None and counts[o.value])
    audit.unknown_present = sum(1 for o in ops if o.ok is None and o.value is not None and counts[o.value])
    written = {o.value for o in ops if o.value is not None}
    audit.stray = sorted(w for w in counts if w not in written)
    return audit


def vip_moves(history: History) -> dict[str, list[tuple[float, tuple[str, ...]]]]:
    """For each VIP, the times its holders changed (and the first observation)."""
    moves: dict[str, list[tuple[float, tuple[str, ...]]]] = {}
    for at, held in history.vip_samples:
        for vip, holders in held.items():
            seq = moves.setdefault(vip, [])
            if not seq or seq[-1][1] != holders:
                seq.append((at, holders))
    return moves


def timeline(history: History, width: int = 100) -> dict[str, str]:
    """A text picture per service: '#' up, '.' down, ' ' no operation, per time slot."""
    end = max((o.end for o in history.ops), default=0.0)
    if end <= 0:
        return {}
    slot = end / width
    pictures = {}
    for service, ops in history.by_service().items():
        cells = [" "] * width
        for op in ops:
            k = min(width - 1, int(op.start / slot))
            if op.ok:
                cells[k] = "#" if cells[k] != "." else "."
            else:
                cells[k] = "."
        pictures[service] = "".join(cells)
    return pictures
