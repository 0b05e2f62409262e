"""What keepalived's journal since boot says happened to a VIP (issue 25, the site's own
history): when each node held it (its VRRP instance's MASTER periods), whether two nodes ever held
it at once (a split brain a check at one moment cannot see), how often the holder changed and how
often keepalived started.

Lines as ``journalctl -o short-iso`` prints them (seconds, with the zone: systemd 219 on CentOS 7
has no finer format), keepalived 1.3's ``VRRP_Instance(VI_1) Entering MASTER STATE`` and 2.x's
``(VI_1) Entering MASTER STATE``. A MASTER period ends when its instance enters BACKUP or FAULT,
sends priority 0 (a clean stop), or keepalived stops or starts again.

>>> lines = timed_lines("2026-12-02T21:20:03+0000 db2 Keepalived_vrrp[368]: (VI_DB) Entering MASTER STATE")
>>> [(round(t), line.split(": ", 1)[1]) for t, line in lines]
[(1796246403, '(VI_DB) Entering MASTER STATE')]
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}) ")
STATE = re.compile(r"(?:VRRP_Instance)?\((?P<instance>[^)]+)\) Entering (?P<state>MASTER|BACKUP|FAULT) STATE")
ZERO = re.compile(r"\((?P<instance>[^)]+)\) sent 0 priority")
STOP_OR_START = re.compile(r"Stopping Keepalived|Stopped Keepalived|Starting Keepalived v|Keepalived_vrrp exited")
START = re.compile(r"Starting Keepalived v")


RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d) ")


def stamped_lines(text: str) -> list[tuple[float, str]]:
    """(epoch seconds, line) for each line a container runtime's ``logs --timestamps`` stamped
    (RFC 3339 with nanoseconds: crictl "2026-12-02T21:14:35.123456789+08:00", docker "...Z")."""
    found = []
    for line in text.splitlines():
        m = RFC3339.match(line)
        if m:
            zone = "+00:00" if m.group(3) == "Z" else m.group(3)
            at = dt.datetime.fromisoformat(m.group(1) + zone).timestamp() + float("0." + (m.group(2) or "0"))
            found.append((at, line))
    return found


def timed_lines(text: str) -> list[tuple[float, str]]:
    """(epoch seconds, line) for each line with a short-iso time stamp; journalctl's own notes
    ("-- No entries --", "-- Boot ... --") and continuation lines are left out."""
    found = []
    for line in text.splitlines():
        m = STAMP.match(line)
        if m:
            found.append((dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S%z").timestamp(), line))
    return found


@dataclass(frozen=True)
class Period:
    """One node's MASTER period for the instance: [start, end) in epoch seconds, end None while
    it still holds it; the lines that opened and closed it."""

    node: str
    start: float
    end: float | None
    opened: str
    closed: str

    def until(self, now: float) -> float:
        return self.end if self.end is not None else now


def master_periods(node: str, lines: list[tuple[float, str]], instance: str) -> list[Period]:
    """The node's MASTER periods for the VRRP ``instance`` ("" for any: a static pod's keepalived
    runs the image's one instance, whose name the manifest does not give), in time order."""
    periods: list[Period] = []
    start: tuple[float, str] | None = None
    for at, line in lines:
        m = STATE.search(line)
        if m and instance in ("", m["instance"]):
            if m["state"] == "MASTER":
                start = start or (at, line)
                continue
            ends = True
        else:
            zero = ZERO.search(line)
            ends = bool(zero and instance in ("", zero["instance"])) or STOP_OR_START.search(line) is not None
        if ends and start is not None:
            periods.append(Period(node, start[0], at, start[1], line))
            start = None
    if start is not None:
        periods.append(Period(node, start[0], None, start[1], ""))
    return periods


def overlaps(periods: list[Period], now: float, tolerance: float) -> list[tuple[Period, Period, float, float]]:
    """Pairs of periods of different nodes that overlap by more than ``tolerance`` seconds (the
    nodes' clocks may differ by that much): (first, second, from, to)."""
    found = []
    ordered = sorted(periods, key=lambda p: p.start)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.node == a.node:
                continue
            lo, hi = max(a.start, b.start), min(a.until(now), b.until(now))
            if hi - lo > tolerance:
                found.append((a, b, lo, hi))
    return found


def starts(lines: list[tuple[float, str]]) -> int:
    """How many times keepalived started in these lines."""
    return sum(1 for _, line in lines if START.search(line))


# keepalived dying, as keepalived's parent and systemd log it: a child (VRRP, checker, BFD) killed
# by a signal ("Keepalived_vrrp exited due to segmentation fault (SIGSEGV)."; 1.x: "VRRP child
# process(3147) died: Respawning"), a child that gave up ("exited with permanent error"), or the
# unit's main process killed or failing (systemd 219: "main process exited, code=killed,
# status=11/SEGV"; later: "Main process exited, code=dumped, status=11/SEGV"). A clean stop
# (systemctl stop, a reboot) logs none of them.
CRASH = re.compile(
    r"Keepalived_\w+ exited due to|Keepalived_\w+ exited with permanent error|child process\(\d+\) died"
    r"|keepalived\.service: [Mm]ain process exited, code=(?:killed|dumped|exited, status=[1-9])"
)


def crashes(lines: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """The lines in which keepalived (or one of its children) died unexpectedly (CRASH)."""
    return [(at, line) for at, line in lines if CRASH.search(line)]


SCRIPT = re.compile(r"VRRP_Script\((?P<script>[^)]+)\) (?P<verdict>succeeded|failed)")


def last_state(lines: list[tuple[float, str]], instance: str) -> tuple[float, str, str, list[str]] | None:
    """The instance's last state in its log (``instance`` "" for any): (when, MASTER|BACKUP|FAULT,
    the line, the three lines logged before it: what led there); None where the log holds no
    state line for it (keepalived stopped after it also counts as none). An instance that logged
    no state since keepalived started while one of its track scripts' last verdict is "failed" is
    in FAULT: keepalived 2.2.7 whose track script fails from the start logs no "Entering FAULT
    STATE" (seen on the lab, with one script and with ocboot's two), and an instance whose script
    only lowers its priority (weight) still logs its BACKUP or MASTER state."""
    found = None
    verdicts: dict[str, tuple[float, str, list[str], bool]] = {}  # script -> its last verdict
    for i, (at, line) in enumerate(lines):
        m = STATE.search(line)
        script = SCRIPT.search(line)
        if m and instance in ("", m["instance"]):
            found = (at, m["state"], line, [text for _, text in lines[max(0, i - 3) : i]])
        elif START.search(line) or (found and STOP_OR_START.search(line)):
            found, verdicts = None, {}
        elif script:
            verdicts[script["script"]] = (at, line, [text for _, text in lines[max(0, i - 3) : i]],
                                          script["verdict"] == "failed")  # fmt: skip
    failing = sorted(v for v in verdicts.values() if v[3])
    if found is None and failing:
        at, line, before, _ = failing[-1]
        return at, "FAULT", line, before
    return found
