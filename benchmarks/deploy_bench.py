"""Benchmark of the deployer in the local lab: prints figures, asserts nothing.

    .venv/bin/python benchmarks/deploy_bench.py [--topology 5node ...]

For each topology: a fresh lab, the first deploy (all steps) and the second
(idempotence check, zero changes). Goal: first deploy of 5node <= 60 s.
"""

from __future__ import annotations

import argparse
import io
import sys
import time

from bootstrap import inventory as inv
from bootstrap.deploy import deploy
from bootstrap.lab.lab import Lab


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topology", action="append", choices=["3node", "4node", "5node"])
    args = ap.parse_args()
    lab = Lab()
    if lab.is_up():
        print("a lab is up; the benchmark needs the host's lab slot: python -m bootstrap.lab down", file=sys.stderr)
        return 1
    for topology in args.topology or ["3node", "4node", "5node"]:
        lab.down()
        t0 = time.monotonic()
        lab.up(topology)
        up = time.monotonic() - t0
        inventory = inv.load(lab.paths.inventory)
        extras = lab.installer()
        t0 = time.monotonic()
        changes = deploy(inventory, installer=extras, log=io.StringIO())
        first = time.monotonic() - t0
        t0 = time.monotonic()
        again = deploy(inventory, installer=extras, log=io.StringIO())
        second = time.monotonic() - t0
        mem = [lab.machine(n.name).memory_bytes() / 2**20 for n in inventory.nodes]
        print(
            f"{topology}: up {up:.1f} s, deploy {first:.1f} s ({len(changes)} changes), "
            f"second deploy {second:.1f} s ({len(again)} changes), "
            f"memory per node {min(mem):.0f}-{max(mem):.0f} MiB PSS"
            + ("   (goal for 5node: deploy <= 60 s)" if topology == "5node" else "")
        )
    lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
