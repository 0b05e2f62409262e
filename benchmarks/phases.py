"""Where the destructive run's time went (issue 28): prints figures, asserts nothing.

    .venv/bin/python benchmarks/phases.py reports/<run>/results.json

From a run's results.json (the main job's, the soak's, survival_bench's): per scenario its wall
time (``duration_s``), its slowest service's outage (the largest ``rto_s``; a service that never
came back counts as the wall time), and its phases (``phases_s``); then the sums over scenarios,
their ratio (issue 28's goal: wall <= 2.0 x slowest outages) and the seconds per phase over the
whole run, largest first.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from suites.survival.phases import PHASES


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="a run's results.json")
    args = ap.parse_args()
    try:
        doc = json.loads(args.results.read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.results}: {exc}", file=sys.stderr)
        return 2
    rows = [c for c in doc.get("checks", []) if c["requirement"].startswith("HA-SURV-") and c.get("figures")]
    if not rows:
        print(f"{args.results}: no scenario with figures", file=sys.stderr)
        return 1
    totals: dict[str, float] = defaultdict(float)
    wall_sum = outage_sum = 0.0
    short = {p: p.split()[0][:7] for p in PHASES}
    print(f"{'scenario':52} {'wall':>6} {'outage':>6} " + " ".join(f"{short[p]:>7}" for p in PHASES))
    for c in rows:
        f = c["figures"]
        wall = float(c.get("duration_s") or 0.0)
        outage = max((wall if v is None else float(v) for v in (f.get("rto_s") or {}).values()), default=0.0)
        phases = f.get("phases_s") or {}
        for p, s in phases.items():
            totals[p] += float(s)
        wall_sum, outage_sum = wall_sum + wall, outage_sum + outage
        cells = " ".join(f"{phases.get(p, '-'):>7}" for p in PHASES)
        print(f"{c['id'][:52]:52} {wall:6.1f} {outage:6.1f} {cells}")
    ratio = wall_sum / outage_sum if outage_sum else float("inf")
    print(f"{len(rows)} scenarios: wall {wall_sum:.0f} s, slowest outages {outage_sum:.0f} s, ", end="")
    print(f"ratio {ratio:.2f} (goal <= 2.0)")
    for p, s in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {p:16} {s:7.1f} s  {100 * s / wall_sum if wall_sum else 0:5.1f} % of the scenarios' wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
