"""What MariaDB's error log says happened to replication (issue 25, the site's own history): each
time a replication thread stopped on an error, with the error that stopped it. A check of
SHOW SLAVE STATUS at one moment misses a stop that someone "fixed" by skipping the event
(yunionio/cloudpods#18380: replication stopping silently; the vendor's answer rebuilds the node).

The log is the file my.cnf's ``log-error`` names (the HA document and ocboot:
/var/log/mariadb/mariadb.log), else the unit's journal (Debian's packages log to it). Its lines
carry MariaDB's own stamp in the node's local time: 10.x "2021-09-17  3:54:23 82 [ERROR] ...",
5.5 "210917  3:54:23 [ERROR] ..."; the journal adds its own short-iso stamp in front.

A stop on an error is what MariaDB writes when it gives a thread up: the SQL thread's "Error
running query, slave SQL thread aborted" (MariaDB 5.5 to 11), the I/O thread's "Got fatal error
N from master" (e.g. 1236, the binary log it needs is gone) or "Fatal error". A peer that is down
is not one: the I/O thread logs "error reconnecting to master" and retries (what every DB node's
failure the topology promises to survive leaves on its peer). A clean STOP SLAVE logs "Slave SQL
thread exiting" with no error before it, and is not one either.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from suites import keepalived_history

# MariaDB's own stamp at the start of a line (local time): 10.x and 5.5 forms.
_STAMP = re.compile(r"^(?P<date>\d{4}-\d\d-\d\d|\d{6})\s+(?P<time>\d{1,2}:\d\d:\d\d)\s")
STOPPED = re.compile(
    r"(?:slave|replica) SQL thread aborted|Got fatal error \d+ from (?:master|primary)|"
    r"(?:Slave|Replica) I/O: Fatal error",
    re.IGNORECASE,
)
# The error that stopped the thread, logged just before the stop.
CAUSE = re.compile(r"\[ERROR\] (?:Master '[^']*': )?(?:Slave|Replica) (?:SQL|I/O)(?: thread)?:", re.IGNORECASE)


def local_stamp(line: str, zone: str) -> float | None:
    """MariaDB's stamp at the start of ``line`` in the node's zone ("+0800") -> epoch seconds;
    None when the line carries none."""
    m = _STAMP.match(line)
    if not m:
        return None
    day = m["date"] if "-" in m["date"] else f"20{m['date'][:2]}-{m['date'][2:4]}-{m['date'][4:]}"
    return dt.datetime.strptime(f"{day} {m['time']} {zone}", "%Y-%m-%d %H:%M:%S %z").timestamp()


def timed(text: str) -> list[tuple[float, str]]:
    """The fact's output ("zone +0800", "from <file|journal>", then the lines) -> (epoch s, line):
    the journal's short-iso stamp where there is one, else MariaDB's own in the zone given.
    Raises ValueError without the zone line."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("zone "):
        raise ValueError("no 'zone' line")
    zone = lines[0].split()[1]
    found = []
    for line in lines[1:]:
        journal = keepalived_history.timed_lines(line)
        at = journal[0][0] if journal else local_stamp(line, zone)
        if at is not None:
            found.append((at, line))
    return found


@dataclass(frozen=True)
class Stop:
    """One replication thread given up on an error: when, MariaDB's line, the error before it."""

    at: float
    line: str
    cause: str


def stops(lines: list[tuple[float, str]]) -> list[Stop]:
    """The replication stops on an error in ``lines`` (time order), each with the last error
    line logged before it (its cause; "" when none was)."""
    found, cause = [], ""
    for at, line in lines:
        if STOPPED.search(line):
            found.append(Stop(at, line, cause))
            cause = ""
        elif CAUSE.search(line):
            cause = line
    return found
