"""Does a read-only run disturb what it measures? Prints figures, asserts nothing.

    .venv/bin/python benchmarks/footprint_bench.py [--runs 10] [--workers auto|N]

On a deployed 5node lab with one compute node (brought up unless one is up), the read-only
suite (``-m "not destructive"``) runs ``--runs`` times with ``-n WORKERS``; meanwhile every VIP's
holders are sampled every 0.2 s from inside the machines (no traffic), and after each run the
keepalived journal of every node is read for that run's window. One line per run: seconds,
outcome line, VIP holder changes, chk_mysql time-outs and FAULT entries (the finding
docs/findings/suite-start-up-moves-the-db-vip.md). ``--workers 2`` gives the figures from
before ``-n auto`` was capped (fixtures/footprint.py).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import threading
import time
from pathlib import Path

from bootstrap.inventory import load
from bootstrap.lab.lab import Lab

ROOT = Path(__file__).resolve().parent.parent


def sample_holders(lab: Lab, vips: dict[str, str], stop: threading.Event, moves: list[str]) -> None:
    last: dict[str, list[str]] | None = None
    while not stop.is_set():
        now = lab.vip_holders(vips)
        if last is not None and now != last:
            moves.append(f"{time.strftime('%H:%M:%S')} {now}")
        last = now
        stop.wait(0.2)


def keepalived_lines(lab: Lab, nodes: list[str], since: float) -> dict[str, int]:
    counts = {"timed_out": 0, "FAULT": 0}
    for node in nodes:
        out = lab.ssh(node, f"journalctl -u keepalived --since=@{int(since)} -o cat --no-pager", timeout=30).stdout
        counts["timed_out"] += out.count("timed_out")
        counts["FAULT"] += out.count("Entering FAULT STATE")
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--workers", default="auto", help="pytest-xdist's -n (default auto)")
    args = ap.parse_args()
    lab = Lab()
    started = not lab.is_up()
    if started:
        lab.up("5node", 1)
        lab.deploy(log=io.StringIO())
    elif load(lab.paths.inventory).topology != "5node":
        print("a lab of another topology is up; take it down first", file=sys.stderr)
        return 1
    st = lab.state()
    vips = {k: v for k, v in st.vips.items()}
    nodes = list(st.nodes)
    totals = {"moves": 0, "timed_out": 0, "FAULT": 0}
    try:
        print(f"{'run':>3} {'seconds':>7} {'moves':>5} {'timed_out':>9} {'FAULT':>5}  outcome")
        for i in range(1, args.runs + 1):
            time.sleep(5)  # the lab settles between runs
            stop, moves = threading.Event(), []
            sampler = threading.Thread(target=sample_holders, args=(lab, vips, stop, moves), daemon=True)
            since = time.time() - 1
            sampler.start()
            t0 = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", f"--inventory={lab.paths.inventory}", "-m", "not destructive",
                 "-n", args.workers, "-q", "-p", "no:cacheprovider", f"--report-dir=/tmp/ha-footprint-{i}"],
                cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
            )  # fmt: skip
            elapsed = time.monotonic() - t0
            time.sleep(2)
            stop.set()
            sampler.join()
            ka = keepalived_lines(lab, nodes, since)
            last = (proc.stdout.strip().splitlines() or ["?"])[-1]
            print(f"{i:>3} {elapsed:7.1f} {len(moves):>5} {ka['timed_out']:>9} {ka['FAULT']:>5}  {last}")
            for m in moves:
                print(f"      VIP holders changed: {m}")
            totals["moves"] += len(moves)
            totals["timed_out"] += ka["timed_out"]
            totals["FAULT"] += ka["FAULT"]
    finally:
        if started:
            lab.down()
    print(f"-n {args.workers}, {args.runs} runs: {totals['moves']} VIP holder changes, "
          f"{totals['timed_out']} chk_mysql time-outs, {totals['FAULT']} FAULT entries")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
