"""Capture every probe's raw output on a node of the running lab into tests/data/facts/<case>/,
as root or as a given user (a user without sudo shows what a field engineer's restricted SSH
user sees): the parsers' test data (tests/test_facts.py).

    python -m tests.capture_facts node1 lab-5node-k3s/node1
    python -m tests.capture_facts db1 lab-5node-k3s-nosudo-db1 --user probe
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from suites.facts import PROBES, batch_script, parse_batch

DATA = Path(__file__).parent / "data" / "facts"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.capture_facts", description=__doc__.split("\n\n")[0])
    p.add_argument("node", help="A node of the running lab")
    p.add_argument("case", help="Where under tests/data/facts/ the outputs go")
    p.add_argument("--user", help="Run the batch as this user (su) instead of root")
    args = p.parse_args(argv)
    script = batch_script(PROBES.values(), "cap")
    cmd = ["sh", "-c", script] if args.user is None else ["su", args.user, "-s", "/bin/sh", "-c", "cd; " + script]
    done = subprocess.run([sys.executable, "-m", "bootstrap.lab", "exec", args.node, "--", *cmd],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    facts = parse_batch(done.stdout, "cap", PROBES.values())
    target = DATA / args.case
    target.mkdir(parents=True, exist_ok=True)
    for name, fact in facts.items():
        (target / f"{name}.txt").write_text(f"rc={fact.rc}\n{fact.output}\n")
        print(f"{name:24} rc={fact.rc} {'ok' if fact.ok else 'UNREADABLE ' + fact.why()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
