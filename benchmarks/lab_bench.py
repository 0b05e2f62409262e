"""Benchmark of the local lab: prints figures, asserts nothing.

    .venv/bin/python benchmarks/lab_bench.py [--cold] [--rounds 3]

Figures: cold build of the root file system (with --cold, into a scratch
cache), warm ``up`` of 5node, ``kill`` -> unreachable, ``start`` -> SSH back,
a restart of one node (kill + start + SSH), and memory per node.
Goals on a 2-core machine: warm up <= 10 s, restart <= 3 s, <= 150 MiB per node.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from bootstrap.lab import rootfs
from bootstrap.lab.lab import Lab


def port_open(addr: str, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((addr, 22), timeout=timeout):
            return True
    except OSError:
        return False


def ssh_ok(lab: Lab, node: str) -> bool:
    return lab.ssh(node, "true", timeout=5).returncode == 0


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold", action="store_true", help="Also time a cold build of the root file system (~2 min)")
    ap.add_argument("--rounds", type=int, default=3, help="Repetitions of each timing (median printed)")
    args = ap.parse_args()

    lab = Lab()
    if lab.is_up():
        print("a lab is up; the benchmark needs the host's lab slot: python -m bootstrap.lab down", file=sys.stderr)
        return 1

    print(f"host: {os.cpu_count()} CPUs, kernel {os.uname().release}")
    if args.cold:
        with tempfile.TemporaryDirectory(dir="/var/tmp") as scratch:
            os.environ["HA_LAB_CACHE"] = scratch
            cold = timed(lambda: rootfs.build(log=open(os.devnull, "w")))  # noqa: SIM115
            size = subprocess.run(["du", "-sm", scratch], capture_output=True, text=True, check=False).stdout.split()[0]
            del os.environ["HA_LAB_CACHE"]
        print(f"cold build of the root file system: {cold:.1f} s ({size} MB)")
    else:
        print("cold build of the root file system: not measured (use --cold)")
    rootfs.build()  # warm cache for what follows

    ups, kills, starts, restarts = [], [], [], []
    mem: list[float] = []
    for _ in range(args.rounds):
        lab.down()
        ups.append(timed(lambda: lab.up("5node")))
        st = lab.state()
        node, addr = "node2", st.nodes["node2"].address

        mem = [lab.machine(n).memory_bytes() / 2**20 for n in st.nodes]

        t0 = time.monotonic()
        lab.kill(node)
        while port_open(addr, timeout=0.02):
            pass
        kills.append(time.monotonic() - t0)

        t0 = time.monotonic()
        lab.start(node)
        while not ssh_ok(lab, node):
            time.sleep(0.02)
        starts.append(time.monotonic() - t0)

        t0 = time.monotonic()
        lab.kill(node)
        lab.start(node)
        while not ssh_ok(lab, node):
            time.sleep(0.02)
        restarts.append(time.monotonic() - t0)
    lab.down()

    med = statistics.median
    print(f"warm up of 5node (5 machines to SSH + systemd running): {med(ups):.2f} s   (goal <= 10 s)")
    print(f"kill -> SSH port unreachable: {med(kills) * 1000:.0f} ms")
    print(f"start -> SSH answers: {med(starts):.2f} s")
    print(f"restart of one node (kill + start + SSH): {med(restarts):.2f} s   (goal <= 3 s)")
    print(
        f"memory per node (PSS, idle, services off): mean {statistics.mean(mem):.1f} MiB, "
        f"max {max(mem):.1f} MiB   (goal <= 150 MiB)"
    )
    print(f"rounds: {args.rounds}; figures are medians")
    return 0


if __name__ == "__main__":
    sys.exit(main())
