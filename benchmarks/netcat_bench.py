"""The DB-HA page's chk_mysql against the lab's real MariaDB: prints figures, asserts nothing.

    .venv/bin/python benchmarks/netcat_bench.py [--runs 5]

Needs a deployed lab with DB HA (3node or 5node, ``python -m bootstrap.lab up`` and deploy, or
``pytest --keep-lab``). On the DB node that does not hold the DB VIP, it times the page's probe
``echo | nc 127.0.0.1 PORT`` with each nc the lab has (nmap's ncat 7.x as Debian's ``nc``, and
the lab's CentOS 7 stand-in ``ncat --send-only``): against the running MariaDB, then with
MariaDB frozen (SIGSTOP to its main PID, the lab's own process), each under a 15 s limit as
``timeout 15`` gives it. MariaDB is thawed (SIGCONT) in a ``finally``, also on Ctrl-C. One line
per nc and state: exit statuses seen, seconds min/median/max.

With ``--backlog``, it then freezes MariaDB again and runs the CentOS 7 probe once a second (as
keepalived would run chk_mysql) until a probe fails or --backlog-limit probes have passed: how
long a hung MariaDB keeps passing the page's health check there (each probe's connection waits in
MariaDB's accept queue, ``back_log``, until the queue is full).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from bootstrap.inventory import load
from bootstrap.lab.lab import Lab
from bootstrap.topology import Role
from bootstrap.vips import ADDR_COMMAND, holders

LIMIT_S = 15
NCS = {
    "ncat 7.x (Debian's nc)": "/usr/bin/ncat",
    "ncat --send-only (the lab's CentOS 7 nc)": "/usr/local/bin/nc",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="probes per nc and state (default 5)")
    ap.add_argument("--backlog", action="store_true", help="also measure how long the frozen MariaDB passes")
    ap.add_argument("--backlog-limit", type=int, default=600, help="probes at most (default 600)")
    args = ap.parse_args()
    lab = Lab()
    if not lab.is_up():
        print("no lab is up: python -m bootstrap.lab up --topology 5node, then deploy", file=sys.stderr)
        return 1
    inventory = load(lab.paths.inventory)
    db_nodes = inventory.nodes_with(Role.DB_HA)
    if not db_nodes or inventory.vips.db is None:
        print(f"the lab's topology ({inventory.topology}) has no DB HA", file=sys.stderr)
        return 1
    addrs = {n.name: lab.ssh(n.name, ADDR_COMMAND, timeout=10).stdout for n in db_nodes}
    held = holders(addrs, {"db": str(inventory.vips.db)})["db"]
    node = next((n for n in db_nodes if n.name not in held), db_nodes[-1])
    port = inventory.db.port
    pid = lab.ssh(node.name, "systemctl show -p MainPID --value mariadb", timeout=10).stdout.strip()
    if not pid.isdigit() or pid == "0":
        print(f"{node.name}: MariaDB is not running", file=sys.stderr)
        return 1
    print(f"{node.name} (not the DB VIP holder), MariaDB pid {pid}, {args.runs} probes each, limit {LIMIT_S} s")
    print(f"{'nc':42} {'MariaDB':8} {'exit':>10} {'seconds min/median/max':>24}")

    def probe(nc: str) -> tuple[int, float]:
        command = f"s=$(date +%s%N); echo | timeout {LIMIT_S} {nc} 127.0.0.1 {port} >/dev/null 2>&1; "
        command += 'r=$?; echo "$r $(( ($(date +%s%N) - s) / 1000000 ))"'
        out = lab.ssh(node.name, command, timeout=LIMIT_S + 15).stdout.split()
        return int(out[0]), int(out[1]) / 1000

    def measure(state: str) -> None:
        for label, nc in NCS.items():
            seen = [probe(nc) for _ in range(args.runs)]
            codes = ",".join(sorted({str(c) for c, _ in seen}))
            secs = [s for _, s in seen]
            spread = f"{min(secs):.2f}/{statistics.median(secs):.2f}/{max(secs):.2f}"
            print(f"{label:42} {state:8} {codes:>10} {spread:>24}", flush=True)

    measure("running")
    try:
        lab.ssh(node.name, f"kill -STOP {pid}", timeout=10)
        time.sleep(1)
        measure("frozen")
    finally:
        lab.ssh(node.name, f"kill -CONT {pid}", timeout=10)
    if args.backlog:
        backlog = lab.ssh(node.name, "mysql -N -e 'SELECT @@back_log'", timeout=10).stdout.strip()
        time.sleep(5)  # the thawed server drains its queue
        passed, start, code, took = 0, time.monotonic(), 0, 0.0
        try:
            lab.ssh(node.name, f"kill -STOP {pid}", timeout=10)
            while passed < args.backlog_limit:
                code, took = probe(NCS["ncat --send-only (the lab's CentOS 7 nc)"])
                if code != 0:
                    break
                passed += 1
                time.sleep(max(0.0, 1.0 - took))
        finally:
            lab.ssh(node.name, f"kill -CONT {pid}", timeout=10)
        end = f"then one failed (exit {code}, {took:.1f} s)" if passed < args.backlog_limit else "none failed"
        took_all = time.monotonic() - start
        print(f"frozen MariaDB (back_log {backlog}): {passed} probes passed over {took_all:.0f} s, {end}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
