"""The read-only suite on each layout the lab installs: prints figures, asserts nothing.

    .venv/bin/python benchmarks/layouts_bench.py [--flavors k3s-5node,ocboot-5node]

For each flavor (install line x topology, or a DB-HA variant) the lab is brought up with one
compute node, deployed, checked read-only (``-m "not destructive"``) and taken down; one line
per flavor: passed, failed, errors, the failing checks, seconds. The reports are kept under
``reports/layouts-<UTC time>/<flavor>/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

from bootstrap.lab.lab import Lab

ROOT = Path(__file__).resolve().parent.parent
FLAVORS: dict[str, list[str]] = {
    "k3s-3node": ["--topology=3node", "--line=k3s"],
    "k3s-4node": ["--topology=4node", "--line=k3s"],
    "k3s-5node": ["--topology=5node", "--line=k3s"],
    "kubeadm-5node": ["--topology=5node", "--line=kubeadm"],
    "manual-5node": ["--topology=5node", "--line=k3s", "--db-ha=manual"],
    "ocboot-5node": ["--topology=5node", "--line=k3s", "--db-ha=ocboot"],
    "bridge-5node": ["--topology=5node", "--line=k3s", "--host-bridge"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flavors", default=",".join(FLAVORS), help="Comma-separated, from: " + ", ".join(FLAVORS))
    args = ap.parse_args()
    chosen = [f.strip() for f in args.flavors.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FLAVORS]
    if unknown:
        print(f"unknown flavor(s): {', '.join(unknown)}; choose from {', '.join(FLAVORS)}", file=sys.stderr)
        return 2
    if Lab().is_up():
        print("a lab is up; the benchmark needs the host's lab slot: python -m bootstrap.lab down", file=sys.stderr)
        return 1
    base = ROOT / "reports" / f"layouts-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}"
    print(f"{'flavor':15} {'passed':>6} {'failed':>6} {'errors':>6} {'seconds':>8}  failing")
    for flavor in chosen:
        report = base / flavor
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *FLAVORS[flavor], "--compute=1",
                "-n", "2", "-m", "not destructive", f"--report-dir={report}", "-q"]  # fmt: skip
        start = time.monotonic()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
        wall = time.monotonic() - start
        results = report / "results.json"
        if not results.exists():
            print(f"{flavor:15} {'-':>6} {'-':>6} {'-':>6} {wall:8.0f}  no results (exit {proc.returncode})")
            continue
        checks = json.loads(results.read_text())["checks"]
        count = {o: sum(1 for c in checks if c["outcome"] == o) for o in ("passed", "failed", "error")}
        failing = [c["id"] for c in checks if c["outcome"] in ("failed", "error")]
        print(
            f"{flavor:15} {count['passed']:>6} {count['failed']:>6} {count['error']:>6} {wall:8.0f}  "
            + (", ".join(failing) or "-"),
            flush=True,
        )
    print(f"reports: {base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
