"""Benchmark of the read-only conformance run: prints figures, asserts nothing.

    .venv/bin/python benchmarks/suite_bench.py

Brings up and deploys a 5node lab (unless one is up), then times the read-only
run (``-m "not destructive"``) with ``-n auto`` twice: through the suite's own transport (one
persistent paramiko connection per node per worker, facts batched in one round
trip) and through testinfra's plain ``ssh://`` backend (a new connection per
command, one command per question; benchmarks/ssh_baseline.py). Goal: <= 10 s and >= 5x faster.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

from bootstrap.inventory import load
from bootstrap.lab.lab import Lab

ROOT = Path(__file__).resolve().parent.parent


def timed_run(inventory: Path, baseline: bool) -> tuple[float, str]:
    argv = [
        sys.executable,
        "-m",
        "pytest",
        *(["-p", "benchmarks.ssh_baseline"] if baseline else []),
        f"--inventory={inventory}",
        "-m",
        "not destructive",
        "-n",
        "auto",
        "-q",
        "-p",
        "no:cacheprovider",
        "--report-dir=/tmp/ha-suite-bench",
    ]
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    elapsed = time.monotonic() - start
    return elapsed, (proc.stdout.strip().splitlines() or ["?"])[-1]


def main() -> int:
    lab = Lab()
    started = not lab.is_up()
    if started:
        lab.up("5node")
        lab.deploy(log=io.StringIO())
    elif load(lab.paths.inventory).topology != "5node":
        print("a lab of another topology is up; take it down first", file=sys.stderr)
        return 1
    try:
        ours, ours_line = timed_run(lab.paths.inventory, baseline=False)
        plain, plain_line = timed_run(lab.paths.inventory, baseline=True)
    finally:
        if started:
            lab.down()
    print(f"5node read-only run, -n auto, persistent paramiko + batched facts: {ours:.1f} s   ({ours_line})")
    print(f"5node read-only run, -n auto, testinfra plain ssh:// backend:      {plain:.1f} s   ({plain_line})")
    print(f"speed-up: {plain / ours:.1f}x   (goals: <= 10 s, >= 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
