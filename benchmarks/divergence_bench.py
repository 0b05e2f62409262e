"""Cost of HA-DBHA-007's read-only data comparison on a database of a given size: prints
figures, asserts nothing.

    .venv/bin/python benchmarks/divergence_bench.py [--rows 2000000]

On a deployed 5node lab (brought up and deployed unless one is up), a schema ``bench_divergence``
with one InnoDB table of ``--rows`` rows (about 150 bytes each, rows like a platform's) is written
through db1 with its binary log on, so db2 gets it by replication; then the check's comparison
runs as the suite runs it (suites/checks/divergence.py) and the seconds, the tables' size and the
DB nodes' load average are printed. The schema is dropped at the end (through replication).
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import pymysql

from bootstrap.inventory import load
from bootstrap.lab.lab import Lab
from bootstrap.topology import Role
from suites.checks.divergence import _round, _tables

SCHEMA = "bench_divergence"


def connect(host: str, password: str) -> pymysql.connections.Connection:  # type: ignore[type-arg]
    return pymysql.connect(host=host, user="root", password=password, autocommit=True,
                           connect_timeout=5, read_timeout=900, write_timeout=900)  # fmt: skip


def load_avg(lab: Lab, node: str) -> str:
    return lab.ssh(node, "cut -d' ' -f1-3 /proc/loadavg", timeout=10).stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    args = ap.parse_args()
    lab = Lab()
    started = not lab.is_up()
    if started:
        lab.up("5node")
        lab.deploy(log=io.StringIO())
    site = load(lab.paths.inventory)
    if site.topology != "5node":
        print("a lab of another topology is up; take it down first", file=sys.stderr)
        return 1
    db1, db2 = site.nodes_with(Role.DB_HA)[:2]
    password = site.db.password()
    a, b = connect(str(db1.address), password), connect(str(db2.address), password)
    try:
        t0 = time.monotonic()
        with a.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
            cur.execute(f"CREATE DATABASE {SCHEMA}")
            cur.execute(f"CREATE TABLE {SCHEMA}.guests (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                        "name VARCHAR(64), status VARCHAR(16), host_id CHAR(36), created_at DATETIME, "
                        "extra VARCHAR(64))")  # fmt: skip
            cur.execute(f"INSERT INTO {SCHEMA}.guests (name, status, host_id, created_at, extra) "
                        "VALUES ('vm-0', 'running', UUID(), NOW(), REPEAT('x', 40))")  # fmt: skip
            rows = 1
            while rows < args.rows:
                cur.execute(f"INSERT INTO {SCHEMA}.guests (name, status, host_id, created_at, extra) "
                            f"SELECT CONCAT('vm-', id + {rows}), status, UUID(), NOW(), extra FROM {SCHEMA}.guests "
                            f"LIMIT {min(rows, args.rows - rows)}")  # fmt: skip
                rows += min(rows, args.rows - rows)
            cur.execute("SELECT @@GLOBAL.gtid_binlog_pos")
            pos = cur.fetchone()[0]
        with b.cursor() as cur:
            cur.execute("SELECT MASTER_GTID_WAIT(%s, 900)", (pos,))
        print(f"{rows} rows written through db1 and replicated to db2 in {time.monotonic() - t0:.1f} s")
        chosen, over = _tables(a)
        size = sum(s for _, s in chosen) / 2**20
        print(f"tables compared: {len(chosen)} ({size:.0f} MiB data and index), over the budget: {len(over)}")
        before = {n.name: load_avg(lab, n.name) for n in (db1, db2)}
        t0 = time.monotonic()
        diverged, moving, behind = _round(a, b, [t for t, _ in chosen])
        took = time.monotonic() - t0
        after = {n.name: load_avg(lab, n.name) for n in (db1, db2)}
        print(f"one comparison round: {took:.1f} s ({size / took if took else 0:.0f} MiB/s per node); "
              f"diverged {diverged}, written meanwhile {moving}, behind {behind}")  # fmt: skip
        for name, load_before in before.items():
            print(f"  {name} load average before {load_before}, after {after[name]}")
    finally:
        with a.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
        a.close()
        b.close()
        if started:
            lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
