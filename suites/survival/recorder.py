"""The flight recorder: when a survivability scenario fails (or always, on request), collect
from every node and from the runner what explains it, from the scenario's start to its end,
and keep it in the report directory (``flight/<scenario>/``), secrets redacted.

Everything here reads: the journal since the scenario began (keepalived's and MariaDB's lines
among them), addresses, neighbour tables, sockets, keepalived's configuration, the control
plane's health, replication state; on the runner its own neighbour table and connections.
Probes are POSIX sh with time limits, so a CentOS 7 node or a hung one costs seconds, not the run.
"""

from __future__ import annotations

import concurrent.futures
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pymysql

from bootstrap import inventory as inv
from bootstrap.topology import Role
from suites.context import CheckError, NodeUnreachable, SiteRuntime
from suites.facts import AS_ROOT, KA_CONF_CHAIN, POD_LOG_COMMAND
from suites.history import iso

# (title, command); ``{since}`` is the scenario's start as seconds since the epoch.
NODE_PROBES: tuple[tuple[str, str], ...] = (
    ("journal since the scenario began", "journalctl --no-pager -o short-iso-precise --since @{since} | tail -n 4000"),
    ("ip addr", "ip addr show"),
    ("ip neigh", "ip neigh show"),
    ("ip route", "ip route show"),
    ("tcp sockets", "ss -tn 2>/dev/null | head -n 200"),
    ("keepalived.conf (and the files it includes)", KA_CONF_CHAIN.replace("{", "{{").replace("}", "}}")),
    ("keepalived state", "systemctl status keepalived --no-pager 2>&1 | head -n 20"),
    # The platform keepalived static pod's own log (its container's, where a runtime answers).
    ("keepalived static pod log", (AS_ROOT + POD_LOG_COMMAND).replace("{", "{{").replace("}", "}}")),
    ("mariadb state", "systemctl status mariadb --no-pager 2>&1 | head -n 20"),
    (
        "control-plane health",
        "curl -sk --max-time 2 https://127.0.0.1:6443/healthz; echo; "
        "curl -s --max-time 2 http://127.0.0.1:2379/health 2>/dev/null; echo",
    ),
)
RUNNER_PROBES: tuple[tuple[str, list[str]], ...] = (
    ("ip neigh (runner)", ["ip", "neigh", "show"]),
    ("tcp sockets (runner)", ["ss", "-tn"]),
)


def record(rt: SiteRuntime, scenario: str, since: float, out_dir: Path, why: str = "") -> list[Path]:
    """Collect the recorder's files for one scenario under ``out_dir/flight/<scenario>/``;
    return their paths. Never raises for a node that cannot be asked: its file says why."""
    target = out_dir / "flight" / scenario
    target.mkdir(parents=True, exist_ok=True)
    stamp = int(since) - 5
    written: list[Path] = []

    def node_file(node: inv.NodeEntry) -> Path:
        parts = [f"# {node.name} ({node.address}), scenario {scenario}, since {iso(stamp)}"]
        for title, command in NODE_PROBES:
            cmd = command.format(since=stamp)
            try:
                res = rt.run(node, f"timeout -k 1 20 sh -c {shlex.quote(cmd)} 2>&1", timeout=30)
                body = res.stdout
            except (NodeUnreachable, CheckError) as exc:
                body = f"(not collected: {exc})"
            parts.append(f"\n## {title}\n$ {cmd}\n{body.rstrip()}")
        path = target / f"{node.name}.txt"
        path.write_text(rt.redact("\n".join(parts)) + "\n")
        return path

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(rt.inventory.nodes)) as pool:
        written += list(pool.map(node_file, rt.inventory.nodes))
    written.append(_runner_file(rt, target, scenario, why))
    db = _db_file(rt, target)
    if db is not None:
        written.append(db)
    return written


def _runner_file(rt: SiteRuntime, target: Path, scenario: str, why: str) -> Path:
    parts = [
        f"# runner, scenario {scenario}, at {iso(time.time())}",
        f"\n## why recorded\n{why or '(on request)'}",
    ]
    for title, argv in RUNNER_PROBES:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            out = f"(not collected: {exc})"
        parts.append(f"\n## {title}\n$ {' '.join(argv)}\n{out.rstrip()}")
    holders = rt.vip_holders_now()
    parts.append("\n## VIP holders\n" + "\n".join(f"{vip}: {', '.join(h) or 'nobody'}" for vip, h in holders.items()))
    path = target / "runner.txt"
    path.write_text(rt.redact("\n".join(parts)) + "\n")
    return path


def _db_file(rt: SiteRuntime, target: Path) -> Path | None:
    nodes = [n for n in rt.inventory.nodes if n.has(Role.DB) or n.has(Role.DB_HA)]
    if not nodes:
        return None
    parts = ["# replication state of the DB nodes"]
    for node in nodes:
        parts.append(f"\n## {node.name} ({node.address})")
        try:
            conn = rt.connect_db(str(node.address), timeout=3)
            try:
                with conn.cursor(pymysql.cursors.DictCursor) as cur:
                    for sql in ("SHOW SLAVE STATUS", "SHOW MASTER STATUS", "SELECT @@gtid_current_pos AS gtid"):
                        try:
                            cur.execute(sql)
                            row: Any = cur.fetchone() or {}
                        except pymysql.MySQLError as exc:
                            row = {"error": str(exc)}
                        parts.append(f"$ {sql}\n" + "\n".join(f"  {k}: {v}" for k, v in row.items()))
            finally:
                conn.close()
        except (pymysql.MySQLError, CheckError) as exc:
            parts.append(f"(not collected: {exc})")
    path = target / "db.txt"
    path.write_text(rt.redact("\n".join(parts)) + "\n")
    return path
