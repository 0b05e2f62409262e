"""Benchmark of the read-only conformance run: prints figures, asserts nothing.

    .venv/bin/python benchmarks/suite_bench.py

Brings up and deploys a 5node lab (unless one is up), then times the read-only
run (``-m "not destructive"``) with ``-n auto``: through the suite's own transport (one
persistent paramiko connection per node per process, facts batched in one round trip), once
untimed to warm Python's bytecode cache as a user's repeated runs find it, then three times;
and through testinfra's plain ``ssh://`` backend (a new connection per command, one command per
question) twice: under the suite's engine (every node asked at once, checks judged three at a
time; benchmarks/ssh_baseline.py), and as a plain testinfra suite runs (each check in its turn, a
node asked when its first check needs it; benchmarks/ssh_baseline_plain.py). Both are printed:
which of them the goal means (issue 28: <= 6 s and >= 8x faster) is the issue's question.

Python's bytecode cache is on for the runs (PYTHONDONTWRITEBYTECODE removed from their
environment): a shell that sets it makes every run compile the suite again (0.3-0.4 s here).
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bootstrap.inventory import load
from bootstrap.lab.lab import Lab

ROOT = Path(__file__).resolve().parent.parent


def timed_run(inventory: Path, baseline: str | None) -> tuple[float, str]:
    """Seconds of wall time and pytest's last line; ``baseline``: the plugin that replaces the
    suite's transport (benchmarks.ssh_baseline or benchmarks.ssh_baseline_plain), or None."""
    argv = [
        sys.executable,
        "-m",
        "pytest",
        *(["-p", baseline] if baseline else []),
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
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
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
        timed_run(lab.paths.inventory, baseline=None)  # warm-up, not counted
        runs = [timed_run(lab.paths.inventory, baseline=None) for _ in range(3)]
        shared, shared_line = timed_run(lab.paths.inventory, baseline="benchmarks.ssh_baseline")
        plain, plain_line = timed_run(lab.paths.inventory, baseline="benchmarks.ssh_baseline_plain")
    finally:
        if started:
            lab.down()
    ours = statistics.median(t for t, _ in runs)
    walls = ", ".join(f"{t:.1f}" for t, _ in runs)
    print(f"5node read-only run, -n auto, persistent paramiko + batched facts: {ours:.1f} s median of {walls}")
    print(f"   ({runs[-1][1]})")
    print(
        f"testinfra ssh://, the suite's engine (all nodes at once, 3 checks at a time): {shared:.1f} s   "
        f"({shared_line})  speed-up {shared / ours:.1f}x"
    )
    print(
        f"testinfra ssh://, a plain testinfra suite (each check in its turn):          {plain:.1f} s   "
        f"({plain_line})  speed-up {plain / ours:.1f}x"
    )
    print("goals (issue 28): <= 6 s, >= 8x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
