"""Soak of the main job: prints figures, asserts nothing.

    .venv/bin/python benchmarks/soak.py --topology 5node --runs 10 [--args "-k partition"]
        ["--args=--waivers=waivers/document-configuration.yaml"]

Runs the main job (``pytest --topology=T``: a fresh lab brought up, deployed, checked,
broken scenario by scenario, taken down) N times in a row, then prints per scenario its
pass count and the spread (min / median / max, seconds) of each service's outage, and the
wall time and outcome of each run: green, green with named findings waived, red by named
findings only, or UNEXPLAINED (a failure no named finding accounts for). The reports of failed runs are kept under
``reports/soak-<UTC time>/run-<i>/`` (flight recorder included); those of green runs are removed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bootstrap.lab.lab import Lab

ROOT = Path(__file__).resolve().parent.parent


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.1f}/{statistics.median(values):.1f}/{max(values):.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topology", default="5node", choices=["3node", "4node", "5node"])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--args", default="", help="Extra pytest arguments for each run (quoted)")
    args = ap.parse_args()
    if Lab().is_up():
        print("a lab is up; the soak needs the host's lab slot: python -m bootstrap.lab down", file=sys.stderr)
        return 1
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = ROOT / "reports" / f"soak-{args.topology}-{stamp}"
    passes: dict[str, int] = defaultdict(int)
    seen: dict[str, int] = defaultdict(int)
    outages: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    never: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    runs: list[tuple[int, float, int, list[str]]] = []
    unexplained_runs = 0
    findings: dict[str, int] = defaultdict(int)
    waived: dict[str, int] = defaultdict(int)
    for i in range(1, args.runs + 1):
        report = base / f"run-{i}"
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--topology={args.topology}",
                f"--report-dir={report}", "-q", "--gate-severity=low", *shlex.split(args.args)]  # fmt: skip
        start = time.monotonic()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=3600, check=False)
        wall = time.monotonic() - start
        failed: list[str] = []
        unexplained: list[str] = []
        run_waived: list[str] = []
        results = report / "results.json"
        if results.exists():
            doc: dict[str, Any] = json.loads(results.read_text())
            for c in doc["checks"]:
                if c["outcome"] == "waived":
                    named = (c.get("figures") or {}).get("findings") or ["(whole requirement)"]
                    run_waived.append(f"{c['id']} ({', '.join(named)})")
                    for name in named:
                        waived[name] += 1
                if c["outcome"] in ("failed", "error"):
                    figures = c.get("figures") or {}
                    named = figures.get("findings") or []
                    explained = c["outcome"] == "failed" and named and figures.get("unexplained_problems") == 0
                    failed.append(f"{c['id']} ({', '.join(named)})" if explained else c["id"])
                    if explained:
                        for name in named:
                            findings[name] += 1
                    else:
                        unexplained.append(c["id"])
                if not c.get("figures"):
                    continue
                seen[c["id"]] += 1
                passes[c["id"]] += c["outcome"] == "passed"
                for service, rto in (c["figures"].get("rto_s") or {}).items():
                    if rto is None:
                        never[c["id"]][service] += 1
                    else:
                        outages[c["id"]][service].append(float(rto))
        else:
            failed.append(f"(no results.json; exit {proc.returncode}: {proc.stdout[-300:]})")
            unexplained.append("no results")
        if proc.returncode not in (0, 1) and not unexplained:
            unexplained.append(f"exit {proc.returncode}")
        unexplained_runs += bool(unexplained)
        runs.append((i, wall, proc.returncode, failed))
        verdict = "UNEXPLAINED" if unexplained else ("green" if not failed else "named findings only")
        listed = ", ".join(failed) or "none"
        also = f"; waived: {', '.join(run_waived)}" if run_waived else ""
        print(f"run {i}: exit {proc.returncode}, {wall:.0f} s, {verdict}; failing: {listed}{also}", flush=True)
        if proc.returncode == 0 and not failed and not run_waived:
            shutil.rmtree(report, ignore_errors=True)
    print(f"\n{args.topology}, {args.runs} run(s); outage per service min/median/max s ('never' = did not return)")
    services = sorted({s for per in outages.values() for s in per} | {s for per in never.values() for s in per})
    print(f"{'scenario':44} {'passed':>7}  " + "  ".join(f"{s:>15}" for s in services))
    for sc in sorted(seen):
        cells = []
        for s in services:
            text = spread(outages[sc][s])
            if never[sc][s]:
                text += f" never x{never[sc][s]}"
            cells.append(f"{text:>15}")
        print(f"{sc:44} {passes[sc]:>3}/{seen[sc]:<3}  " + "  ".join(cells))
    green = sum(1 for _, _, rc, failed in runs if rc == 0 and not failed)
    walls = [w for _, w, _, _ in runs]
    print(f"\ngreen runs: {green}/{len(runs)}; runs with an unexplained failure: {unexplained_runs}/{len(runs)}; "
          f"wall time per run min/median/max s: {spread(walls)}")  # fmt: skip
    if findings:
        print("named findings (scenario failures): " + ", ".join(f"{k} x{v}" for k, v in sorted(findings.items())))
    if waived:
        print("waived failures (scenario items): " + ", ".join(f"{k} x{v}" for k, v in sorted(waived.items())))
    if green < len(runs):
        print(f"reports of failed runs kept under {base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
