"""The offline image, proved against the lab: prints figures and differences, asserts nothing.

    .venv/bin/python benchmarks/image_bench.py [--skip-build] [--runtimes podman,docker,k3s,buildah]
    # as root, a 5node lab up and deployed

Builds the image from the committed tree (``python -m bootstrap.image build``: build time,
archive size), then for each container runtime (Debian's packages): loads the archive the way a
field engineer would (``podman load``, ``docker load``, ``k3s ctr images import``, ``buildah pull
docker-archive:``), has the image print its own wrapper script (``--print-runner``), and runs the
read-only suite through that wrapper against the deployed lab twice, from the lab's site
inventory and from its ocboot config.yml; then the same two runs from the venv. Prints each load's
and run's wall time and exit status (the gate), and every check whose outcome differs between the
image and the venv (none is the goal).

docker and k3s's containerd are not running on this machine: the benchmark starts a private
``containerd`` and ``dockerd`` (sockets, state and data under a temporary directory; no bridge,
no iptables rules, no forwarding) and stops them by their PIDs at the end. ``k3s ctr`` is
containerd's own ``ctr`` on that containerd in k3s's namespace (k8s.io), through a two-line
stand-in named ``k3s`` on PATH, so the wrapper's k3s branch runs as written. buildah shares
podman's image store: after ``buildah pull`` the image podman runs is the one buildah pulled.

This machine's podman needs ``--runtime runc`` (crun refuses its hybrid cgroups) and ulimits below
the sandbox's hard limits; they go in HA_RUN_OPTIONS, which the wrapper passes on, and are printed.
Not in the self-tests: the build alone takes 2-3 minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from bootstrap import image
from bootstrap.lab import config

ROOT = Path(__file__).resolve().parent.parent
RUN_OPTIONS = "--runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096"
READ_ONLY = ["-m", "not destructive", "-p", "no:cacheprovider"]
# Each runtime and the commands it needs (Debian's packages: podman, buildah, docker.io, containerd).
RUNTIMES = {"podman": ["podman"], "buildah": ["buildah", "podman"], "docker": ["docker", "dockerd", "containerd"],
            "k3s": ["ctr", "containerd"]}  # fmt: skip
PACKAGES = {"dockerd": "docker.io", "docker": "docker.io", "ctr": "containerd"}  # command -> Debian package


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


K3S_STANDIN = """#!/bin/sh
# k3s's ctr, stood in for by containerd's ctr on the benchmark's private containerd (namespace k8s.io).
[ "$1" = ctr ] || { echo "k3s stand-in: only ctr" >&2; exit 2; }
shift
exec ctr -a SOCKET -n k8s.io "$@"
"""


def wait_socket(path: Path, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start (see its log under {path.parent})")
        time.sleep(0.2)


@contextlib.contextmanager
def daemons(work: Path, wanted: set[str]) -> Iterator[dict[str, str]]:
    """A private containerd (and dockerd on it) under ``work``; yields the environment that
    points docker and the k3s stand-in at them; stops them by PID on the way out."""
    env = dict(os.environ)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if wanted & {"docker", "k3s"}:
            root = work / "containerd"
            root.mkdir()
            sock = root / "containerd.sock"
            (root / "config.toml").write_text(
                f'version = 2\nroot = "{root}/root"\nstate = "{root}/state"\n'
                'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                f'[grpc]\n  address = "{sock}"\n'
            )
            log = (root / "log").open("wb")
            procs.append(
                subprocess.Popen(["containerd", "--config", str(root / "config.toml")], stdout=log, stderr=log)
            )
            wait_socket(sock, procs[-1], "containerd")
            bin_dir = work / "bin"
            bin_dir.mkdir()
            (bin_dir / "k3s").write_text(K3S_STANDIN.replace("SOCKET", str(sock)))
            (bin_dir / "k3s").chmod(0o755)
            env["PATH"] = f"{bin_dir}:{env['PATH']}"
            if "docker" in wanted:
                d = work / "dockerd"
                d.mkdir()
                log = (d / "log").open("wb")
                argv = ["dockerd", "--data-root", str(d / "data"), "--exec-root", str(d / "exec"),
                        "-H", f"unix://{d}/docker.sock", "--pidfile", str(d / "dockerd.pid"),
                        "--containerd", str(sock), "--bridge=none", "--iptables=false",
                        "--ip6tables=false", "--ip-forward=false", "--ip-masq=false"]  # fmt: skip
                procs.append(subprocess.Popen(argv, stdout=log, stderr=log))
                wait_socket(d / "docker.sock", procs[-1], "dockerd")
                env["DOCKER_HOST"] = f"unix://{d}/docker.sock"
        yield env
    finally:
        for proc in reversed(procs):  # dockerd first: it unmounts its layers on the way out
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        # What dockerd leaves mounted (its netns handle under exec-root), deepest first.
        with open("/proc/self/mounts", encoding="utf-8") as f:
            left = [line.split()[1] for line in f if line.split()[1].startswith(f"{work}/")]
        for mount in sorted(left, key=len, reverse=True):
            subprocess.run(["umount", mount], capture_output=True, timeout=30, check=False)


def load(runtime: str, archive: Path, ref: str, env: dict[str, str]) -> tuple[list[str], list[str]]:
    """(the load command, the command prefix that runs the image) for ``runtime``."""
    podman = ["podman", *RUN_OPTIONS.split()[:2], "run", "--rm", *RUN_OPTIONS.split()[2:], "--network", "none", ref]
    if runtime == "podman":
        return ["podman", "load", "-i", str(archive)], podman
    if runtime == "buildah":  # buildah's store is podman's: podman runs what buildah pulled
        return ["buildah", "pull", "-q", f"docker-archive:{archive}"], podman
    if runtime == "docker":
        return ["docker", "load", "-i", str(archive)], ["docker", "run", "--rm", "--network", "none", ref]
    # ctr run takes the image, a container name, then the command (no entrypoint of its own)
    ctr_run = ["k3s", "ctr", "run", "--rm", ref, f"ha-print-{os.getpid()}", "/usr/local/bin/ha-conformance"]
    return ["k3s", "ctr", "images", "import", str(archive)], ctr_run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--skip-build", action="store_true", help="use the archive already in dist/")
    p.add_argument("--runtimes", default=",".join(RUNTIMES), help=f"comma-separated, of {', '.join(RUNTIMES)}")
    args = p.parse_args()
    runtimes = [r for r in args.runtimes.split(",") if r]
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown:
        print(f"error: --runtimes: unknown {', '.join(unknown)} (known: {', '.join(RUNTIMES)})", file=sys.stderr)
        return 2
    missing = sorted({t for r in runtimes for t in RUNTIMES[r] if shutil.which(t) is None})
    if missing:
        print(
            f"error: not installed: {', '.join(missing)} (Debian: apt-get install {' '.join(missing)})", file=sys.stderr
        )
        return 2
    paths = config.paths()
    if not paths.inventory.exists():
        print("error: no lab is up; run python -m bootstrap.lab up --topology 5node && ... deploy", file=sys.stderr)
        return 2
    arch = image.ARCHES[os.uname().machine]
    archive = ROOT / "dist" / f"{image.NAME}-{image.version()}-{arch}.tar"
    if not args.skip_build:
        archive, seconds = image.build(ROOT / "dist", arch)
        print(f"build: {seconds:.0f} s; archive {archive.name}: {archive.stat().st_size / 2**20:.1f} MiB")
    ref = f"docker.io/library/{image.tag(arch)}"
    site = yaml.safe_load(paths.inventory.read_text())
    key = site["ssh"]["key"]
    # The files the lab's inventory names (SSH key, known_hosts, DB password), at their own paths.
    named = {str(Path(key).parent), str(Path(site["db"]["password_file"]).parent)}
    forms = {
        "inventory": [f"--inventory={paths.inventory}"],
        "ocboot-config": [f"--ocboot-config={paths.ocboot_config}", f"--ssh-key={key}"],
    }
    print(f"podman options on this machine: {RUN_OPTIONS}")
    with tempfile.TemporaryDirectory(prefix="ha-image-bench-") as tmp:
        work = Path(tmp)
        venv: dict[str, dict[str, str]] = {}
        for form, argv in forms.items():
            secs, rc, last = timed([sys.executable, "-m", "pytest", *argv, *READ_ONLY,
                                    f"--report-dir={work / f'venv-{form}'}"])  # fmt: skip
            print(f"venv, --{form}: {secs:.1f} s, exit {rc}: {last}")
            venv[form] = outcomes(work / f"venv-{form}")
        with daemons(work, set(runtimes)) as env:
            for runtime in runtimes:
                loader, runner = load(runtime, archive, ref, env)
                if runtime in ("podman", "buildah"):  # the one store: drop what the other loaded
                    subprocess.run(["podman", "rmi", "-f", ref], capture_output=True, timeout=120, check=False)
                secs, rc, last = timed(loader, env)
                print(f"{runtime}: {' '.join(loader[:3])}: {secs:.1f} s, exit {rc}: {last}")
                if rc != 0:
                    continue
                printed = subprocess.run([*runner, "--print-runner"], capture_output=True, text=True, timeout=120,
                                         check=False, env=env)  # fmt: skip
                if printed.returncode != 0:
                    print(f"  {runtime}: --print-runner failed, exit {printed.returncode}: {printed.stderr.strip()}")
                    continue
                script = printed.stdout
                (work / f"ha-run-{runtime}.sh").write_text(script)
                for form, argv in forms.items():
                    run_env = {**env, "HA_RUNTIME": "podman" if runtime == "buildah" else runtime,
                               "HA_RUN_OPTIONS": RUN_OPTIONS if runtime in ("podman", "buildah") else "",
                               "HA_REPORTS": str(work / f"{runtime}-{form}"), "HA_SSH_DIR": str(Path(key).parent),
                               "HA_MOUNTS": " ".join(sorted(named))}  # fmt: skip
                    secs, rc, last = timed(["sh", str(work / f"ha-run-{runtime}.sh"), *argv, *READ_ONLY], run_env)
                    a, b = outcomes(work / f"{runtime}-{form}"), venv[form]
                    differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                    print(f"  {runtime}, --{form}: {secs:.1f} s, exit {rc}: {last}")
                    print(f"    {len(a)} checks in the image's run, {len(b)} in the venv's; differing: {len(differ)}")
                    for k in differ:
                        print(f"      {k}: image {a.get(k)}, venv {b.get(k)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
