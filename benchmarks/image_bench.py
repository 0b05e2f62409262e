"""The offline image, proved against the lab: prints figures and differences, asserts nothing.

    .venv/bin/python benchmarks/image_bench.py [--skip-build]     # as root, a 5node lab up and deployed

Builds the image from the committed tree (``python -m bootstrap.image build``: build time,
archive size), loads it into podman (Debian's), has the image print its own wrapper script
(``--print-runner``), and runs the read-only suite through that wrapper against the deployed lab
twice, from the lab's site inventory and from its ocboot config.yml; then the same two runs from
the venv. Prints each run's wall time and exit status (the gate), and every check whose outcome
differs between the image and the venv (none is the goal).

This machine's podman needs ``--runtime runc`` (crun refuses its hybrid cgroups) and ulimits below
the sandbox's hard limits; they go in HA_RUN_OPTIONS, which the wrapper passes on, and are printed.
Not in the self-tests: the build alone takes 2-3 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bootstrap import image
from bootstrap.lab import config

ROOT = Path(__file__).resolve().parent.parent
RUN_OPTIONS = "--runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096"
READ_ONLY = ["-m", "not destructive", "-p", "no:cacheprovider"]


def outcomes(report_dir: Path) -> dict[str, str]:
    found = sorted(report_dir.rglob("results.json"))
    if not found:
        return {}
    doc = json.loads(found[-1].read_text())
    return {c["id"]: c["outcome"] for c in doc["checks"]}


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False, env=env, cwd=ROOT)
    return time.monotonic() - start, done.returncode, (done.stdout + done.stderr).strip().splitlines()[-1:][0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--skip-build", action="store_true", help="use the archive already in dist/")
    args = p.parse_args()
    paths = config.paths()
    if not paths.inventory.exists():
        print("error: no lab is up; run python -m bootstrap.lab up --topology 5node && ... deploy", file=sys.stderr)
        return 2
    arch = image.ARCHES[os.uname().machine]
    archive = ROOT / "dist" / f"{image.NAME}-{image.version()}-{arch}.tar"
    if not args.skip_build:
        archive, seconds = image.build(ROOT / "dist", arch)
        print(f"build: {seconds:.0f} s; archive {archive.name}: {archive.stat().st_size / 2**20:.1f} MiB")
    load_s, rc, last = timed(["podman", "load", "-i", str(archive)])
    print(f"podman load: {load_s:.1f} s, exit {rc}: {last}")
    ref = f"docker.io/library/{image.tag(arch)}"
    script = subprocess.run(["podman", *RUN_OPTIONS.split()[:2], "run", "--rm", *RUN_OPTIONS.split()[2:],
                             "--network", "none", ref, "--print-runner"], capture_output=True, text=True,
                            timeout=120, check=True).stdout  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ha-image-bench-") as tmp:
        work = Path(tmp)
        (work / "ha-run.sh").write_text(script)
        site = yaml.safe_load(paths.inventory.read_text())
        key = site["ssh"]["key"]
        # The files the lab's inventory names (SSH key, known_hosts, DB password), at their own paths.
        named = {str(Path(key).parent), str(Path(site["db"]["password_file"]).parent)}
        forms = {
            "inventory": ([f"--inventory={paths.inventory}"], [f"--inventory={paths.inventory}"]),
            "ocboot-config": ([f"--ocboot-config={paths.ocboot_config}", f"--ssh-key={key}"],
                              [f"--ocboot-config={paths.ocboot_config}", f"--ssh-key={key}"]),
        }  # fmt: skip
        print(f"podman options on this machine: {RUN_OPTIONS}")
        for form, (in_image, in_venv) in forms.items():
            env = {**os.environ, "HA_RUNTIME": "podman", "HA_RUN_OPTIONS": RUN_OPTIONS,
                   "HA_REPORTS": str(work / f"image-{form}"), "HA_SSH_DIR": str(Path(key).parent),
                   "HA_MOUNTS": " ".join(sorted(named))}  # fmt: skip
            secs, rc, last = timed(["sh", str(work / "ha-run.sh"), *in_image, *READ_ONLY], env)
            print(f"image, --{form}: {secs:.1f} s, exit {rc}: {last}")
            vsecs, vrc, vlast = timed([sys.executable, "-m", "pytest", *in_venv, *READ_ONLY,
                                       f"--report-dir={work / f'venv-{form}'}"])  # fmt: skip
            print(f"venv,  --{form}: {vsecs:.1f} s, exit {vrc}: {vlast}")
            a, b = outcomes(work / f"image-{form}"), outcomes(work / f"venv-{form}")
            differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            print(f"  {len(a)} checks in the image's run, {len(b)} in the venv's; outcomes differing: {len(differ)}")
            for k in differ:
                print(f"    {k}: image {a.get(k)}, venv {b.get(k)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
