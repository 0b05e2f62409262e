"""What keepalived's own log says about its track scripts (read-only, from the journal).

keepalived (1.3 and 2.x) logs each track script's change of verdict as
``VRRP_Script(<name>) succeeded`` or ``VRRP_Script(<name>) failed (exited with status N)``
and says when it disables one (``Disabling track script <name> since not found``, or for
script security). Only the lines since keepalived's last start count.

>>> log = "Starting Keepalived v2.2.7\\nVRRP_Script(check_mariadb) failed (exited with status 2)\\n"
>>> script_verdicts(log)
{'check_mariadb': (False, 'exited with status 2')}
"""

from __future__ import annotations

import re

VERDICT = re.compile(r"VRRP_Script\((?P<name>[^)]+)\) (?P<verdict>succeeded|failed)(?: \((?P<why>[^)]*)\))?")
DISABLED = re.compile(r"[Dd]isabling track script (?P<name>\S+)(?P<why>.*)")
# keepalived's script security: "Unsafe permissions found for script '/etc/keepalived/x' - disabling."
UNSAFE = re.compile(r"Unsafe permissions found for script '(?P<path>[^']+)'")
START = re.compile(r"Starting (Keepalived|VRRP child process)")


def since_last_start(log: str) -> list[str]:
    """The log's lines after keepalived's last start (all of them when no start is shown)."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if START.search(line) and "VRRP child" not in line]
    return lines[starts[-1] :] if starts else lines


def script_verdicts(log: str) -> dict[str, tuple[bool, str]]:
    """{track script: (healthy, why)} as keepalived last said, since its last start."""
    found: dict[str, tuple[bool, str]] = {}
    for line in since_last_start(log):
        m = VERDICT.search(line)
        if m:
            found[m["name"]] = (m["verdict"] == "succeeded", m["why"] or "")
            continue
        m = DISABLED.search(line)
        if m:
            found[m["name"]] = (False, "disabled by keepalived" + (f": {m['why'].strip()}" if m["why"].strip() else ""))
    return found


def unsafe_script_paths(log: str) -> list[str]:
    """Script paths keepalived refused to run for their permissions, since its last start."""
    return [m["path"] for line in since_last_start(log) if (m := UNSAFE.search(line))]


def failing_scripts(logs: dict[str, str]) -> dict[str, list[str]]:
    """{"<script> (<why>)": [nodes]} for the track scripts keepalived last reported failing."""
    failing: dict[str, list[str]] = {}
    for node, log in logs.items():
        for name, (ok, why) in script_verdicts(log).items():
            if not ok:
                failing.setdefault(f"{name} ({why})" if why else name, []).append(node)
    return failing


def waiting_netcat(probe_output: str) -> str | None:
    """The name of a netcat that, at stdin's end, keeps the connection open until the server
    closes it (OpenBSD's, the traditional one), from the ``netcat`` probe; None for nmap's ncat
    (CentOS 7's closes at once, 7.x half-closes, and a server then closes) or no nc at all.

    >>> waiting_netcat("/usr/bin/nc.openbsd\\nOpenBSD netcat (Debian patchlevel 1.219-1)")
    'OpenBSD netcat'
    >>> waiting_netcat("/usr/bin/ncat\\nNcat 7.93 ( https://nmap.org/ncat )") is None
    True
    """
    if "OpenBSD netcat" in probe_output or "nc.openbsd" in probe_output:
        return "OpenBSD netcat"
    if "nc.traditional" in probe_output or "[v1.10" in probe_output:
        return "the traditional netcat"
    return None
