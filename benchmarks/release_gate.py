"""The release gate's pipeline (docs/ci/release-gate.yml) run here, with the Debian cloud image
(bootstrap/lab/cloud_image.py) standing in for a vendor's and the lab's deployer standing in for
the product's installer: up (VMs booting the image by firmware; ready once cloud-init is done and
synced), install (the lab's deployer, stage ``prepare``: the document's steps; its installer
stand-in needs the lab's own machines), check (pytest with the lab's ocboot config.yml, read-only),
destroy (``down``, also after a failure or Ctrl-C), then what the host still holds.

Prints seconds per step, the accelerator, each VM's memory, what the guests say of themselves,
and the checks' outcomes. Minutes under emulation; not part of CI. Run as root:
``.venv/bin/python benchmarks/release_gate.py [--topology 3node] [--image FILE]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bootstrap.lab import cloud_image
from bootstrap.lab.hostenv import benchmark_main
from bootstrap.lab.lab import Lab
from bootstrap.topology import Role

LAB = [sys.executable, "-m", "bootstrap.lab"]


def step(name: str, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run one step of the pipeline; its result (printed with its seconds and last lines)."""
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    took = time.monotonic() - start
    tail = "\n    ".join((proc.stdout + proc.stderr).strip().splitlines()[-4:])
    print(f"{name}: exit {proc.returncode} after {took:.0f} s\n    {tail}", flush=True)
    return proc


def check(name: str, report: Path, *select: str) -> None:
    """The suite against the VMs through the lab's config.yml (lab-owned: the lab's own file),
    read-only; ``select``: more pytest options (e.g. ``-k HA-OS-001``). Prints the outcomes, and
    each SELinux check's (HA-OS-001) with its message."""
    lab = Lab()
    config = lab.paths.ocboot_config
    st = lab.state()
    db_nodes = ",".join(st.with_role(Role.DB_HA) or st.with_role(Role.DB))  # the DB VIP may hold nobody
    step(f"{name} (pytest --ocboot-config, read-only)",
         [sys.executable, "-m", "pytest", f"--ocboot-config={config}", f"--db-nodes={db_nodes}",
          "-m", "not destructive", "-n", "auto", "-p", "no:cacheprovider", f"--report-dir={report}", "-q", *select],
         timeout=1800)  # fmt: skip
    results = json.loads((report / "results.json").read_text())
    outcomes = collections.Counter(c["outcome"] for c in results["checks"])
    print(f"    machines: {results.get('machines')}; site kind {results.get('site_kind')}")
    print("    outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    for c in results["checks"]:
        if c["id"].startswith("HA-OS-001"):
            print(f"    {c['id']}: {c['outcome']} {c.get('message') or ''}".rstrip())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topology", default="3node", choices=("3node", "4node", "5node"))
    ap.add_argument("--image", type=Path, help="a cloud image (qcow2 or raw); default: build the Debian one")
    ap.add_argument("--selinux", action="store_true", help="the Debian image with SELinux enforcing, as RHEL ships")
    args = ap.parse_args()
    image = args.image or cloud_image.build(selinux=args.selinux)
    try:
        proc = step("up --image", [*LAB, "up", "--topology", args.topology, "--image", str(image)], 3600)
        if proc.returncode != 0:
            return 1
        for node in Lab().state().nodes:
            step(f"  {node}", [*LAB, "exec", node, "--", "sh", "-c",
                               "echo $(uname -r) $(systemd-detect-virt) $(cloud-init status) SELinux "
                               "$(getenforce 2>/dev/null || echo absent)"], 60)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="release-gate-") as tmp:
            check("SELinux before the install", Path(tmp) / "before", "-k", "HA-OS-001")
            step("install (the lab's deployer, stage prepare)", [*LAB, "deploy", "--stage", "prepare"], 3600)
            check("check", Path(tmp) / "after")
        first = next(iter(Lab().state().nodes))
        step(f"reboot {first} (the document's last SELinux step)", [*LAB, "reboot", first], 1800)
        step(f"  {first} after it", [*LAB, "exec", first, "--", "sh", "-c",
                                     "echo SELinux $(getenforce 2>/dev/null || echo absent)"], 60)  # fmt: skip
    finally:
        step("destroy (down)", [*LAB, "down"], 600)
        print(f"left on the host: {Lab().leftovers() or 'nothing'}")
    return 0


if __name__ == "__main__":
    benchmark_main(main)
