"""Benchmark of the survivability suite: prints figures, asserts nothing.

    .venv/bin/python benchmarks/survival_bench.py [--topology 5node]

Brings up and deploys the topology, runs every destructive scenario once
(``pytest -m destructive``), and prints each scenario's RTO per service beside
the VRRP bound for its settings (3 x advert_int plus the skew keepalived adds,
(256 - priority) / 256 x advert_int), lost writes and convergence time, then the
wall time of the whole destructive suite. Goal for 5node: <= 3 min.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

from bootstrap.deploy import deploy
from bootstrap.inventory import load
from bootstrap.lab.lab import Lab
from bootstrap.profiles import get_profile

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topology", default="5node", choices=["3node", "4node", "5node"])
    args = ap.parse_args()
    lab = Lab()
    if lab.is_up():
        print("a lab is up; the benchmark needs the host's lab slot: python -m bootstrap.lab down", file=sys.stderr)
        return 1
    lab.up(args.topology)
    try:
        inventory = load(lab.paths.inventory)
        deploy(inventory, installer=lab.installer(), log=io.StringIO())
        profile = get_profile(inventory.profile)
        backup = min(profile.platform_backup_priority, *profile.db_priorities)
        vrrp_bound = 3 * profile.advert_int + (256 - backup) / 256 * profile.advert_int
        # Kept: report.html shows each scenario's timeline and why it failed.
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        report = ROOT / "reports" / f"survival-bench-{args.topology}-{stamp}"
        start = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                f"--inventory={lab.paths.inventory}",
                "-m",
                "destructive",
                f"--report-dir={report}",
                "-q",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=7200,
            check=False,
        )
        wall = time.monotonic() - start
        doc = json.loads((Path(report) / "results.json").read_text())
    finally:
        lab.down()
    print(f"{args.topology}: VRRP bound for advert_int {profile.advert_int} s: {vrrp_bound:.2f} s")
    services = ["platform-api", "web", "keystone", "db-write", "db-read", "storage"]
    print(f"{'scenario':45} {'outcome':8} " + " ".join(f"{s:>12}" for s in services) + "   lost  conv_s")
    for c in doc["checks"]:
        f = c.get("figures", {})
        rto = f.get("rto_s", {})
        cells = " ".join(f"{'-' if rto.get(s) is None else rto[s]:>12}" for s in services)
        print(f"{c['id']:45} {c['outcome']:8} {cells}   {f.get('lost_writes', '-'):>4}  {f.get('convergence_s', '-')}")
    print(
        f"wall time of the {args.topology} destructive suite: {wall:.0f} s ({len(doc['checks'])} scenarios)"
        + ("   (goal <= 180 s)" if args.topology == "5node" else "")
    )
    for c in doc["checks"]:
        if c["outcome"] != "passed":
            print(f"{c['id']}: {c['message'][:400]}")
    print(f"reports (results.json, report.html with the timelines): {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
