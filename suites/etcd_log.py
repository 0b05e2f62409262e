"""What etcd's log says about its leader (issue 25, the site's own history): each election a
member saw ("raft.node: <member> elected leader <leader> at term <N>", logged by every member for
every election, in etcd 3.3/3.4's text and 3.5's JSON alike; "lost leader <id> at term <N>" marks
a term too, also one that elected nobody), and the storms of them.

etcd's own monitoring mixin (etcd-io/etcd, contrib/mixin: the etcdHighNumberOfLeaderChanges
alert) calls 4 or more leader changes within 15 minutes a problem: a member that loses its leader
that often is starved of disk or network, and every change stalls writes to the cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from suites import keepalived_history

ELECTED = re.compile(r"(?P<what>elected|lost) leader (?P<leader>[0-9a-f]+) at term (?P<term>\d+)")
# etcd-io/etcd contrib/mixin: etcdHighNumberOfLeaderChanges (increase over 15 m >= 4).
STORM_WINDOW_S = 15 * 60
STORM_CHANGES = 4


@dataclass(frozen=True)
class Election:
    at: float
    leader: str
    term: int
    line: str


def elections(lines: list[tuple[float, str]]) -> list[Election]:
    """The elections in the members' logs, one per term (every member logs each; a term may
    show only as a lost leader where it elected nobody). ``leader`` is "" for such a term."""
    seen: dict[int, Election] = {}
    for at, line in lines:
        m = ELECTED.search(line)
        if not m:
            continue
        term = int(m["term"])
        leader = m["leader"] if m["what"] == "elected" else ""
        if term not in seen or (leader and not seen[term].leader):
            seen[term] = Election(min(at, seen[term].at) if term in seen else at, leader, term, line)
    return sorted(seen.values(), key=lambda e: e.at)


def storms(found: list[Election], window: float = STORM_WINDOW_S, count: int = STORM_CHANGES) -> list[list[Election]]:
    """Runs of at least ``count`` elections within ``window`` seconds (each run as long as the
    elections keep coming that densely), in time order."""
    runs: list[list[Election]] = []
    start = 0
    for end in range(len(found)):
        while found[end].at - found[start].at > window:
            start += 1
        if end - start + 1 >= count:
            chunk = found[start : end + 1]
            if runs and runs[-1][-1].at >= chunk[0].at:
                runs[-1] = sorted({e.term: e for e in runs[-1] + chunk}.values(), key=lambda e: e.at)
            else:
                runs.append(chunk)
    return runs


def timed(text: str) -> list[tuple[float, str]]:
    """The fact's output ("from <source>" then lines with the journal's short-iso stamp or the
    runtime's RFC 3339 one) -> (epoch s, line). Raises ValueError without the "from" line."""
    head, _, body = text.partition("\n")
    if not head.startswith("from "):
        raise ValueError("no 'from' line")
    return sorted(keepalived_history.timed_lines(body) + keepalived_history.stamped_lines(body))
