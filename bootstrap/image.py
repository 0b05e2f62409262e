"""The suite as one offline OCI image for the First Node of a site: built here without pulling
any base image from a registry (a minimal Debian 12 root file system from Debian's packages by
mmdebstrap, the suite's Python dependencies as wheels from this machine, assembled into an OCI
image by umoci and saved as a docker-archive by skopeo), and the command that runs it on a node
for the container runtime found there.

    python -m bootstrap.image build [--out dist]     # as root; prints the archive, its size and build time
    python -m bootstrap.image runner [--arch A]     # the wrapper script the image prints (--print-runner)
    python -m bootstrap.image job --node NAME       # the suite as a Kubernetes Job on that node

The archive (``cloudpods-ha-conformance-<version>-<arch>.tar``, a docker-archive whose layer
is gzip-compressed) is what ``docker load``, ``podman load``, ``k3s ctr images import`` and
``buildah pull docker-archive:`` accept. The image runs ``python3 -m pytest`` from the suite's
source with host networking; its reports go to /reports (mount a directory there), the user's
~/.ssh is read at /root/.ssh and ocboot's config.yml at /site/config.yml (both read-only).
Exit status: 0 built, 2 a missing tool or bad input (one message).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

import yaml

from bootstrap import debian

ROOT = Path(__file__).resolve().parent.parent
NAME = "cloudpods-ha-conformance"
PREFIX = "/opt/ha-conformance"  # src/ the suite's tracked files, lib/ its dependencies
# What a site run needs from the project (git archive of these; no tests, docs or benchmarks).
SOURCES = ("conftest.py", "pyproject.toml", "bootstrap", "fixtures", "suites", "waivers", "README.md")
# Debian packages of the image: the interpreter, and the runner-side tools the suite calls
# (ip: the runner's neighbour table; ionice: util-linux, essential).
PACKAGES = ("python3", "iproute2", "ca-certificates")
TOOLS = {"mmdebstrap": "mmdebstrap", "umoci": "umoci", "skopeo": "skopeo", "git": "git"}
ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}
# Size of what a site run never reads inside the image.
EXCLUDE = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*", "/usr/share/lintian/*")
ENTRYPOINT = f"""#!/bin/sh
# {NAME}: the suite as pytest, its reports in /reports; --print-runner writes the
# command that runs this image on a node (docker, podman or k3s's containerd), --print-job NODE
# the suite as a Kubernetes Job on that node.
set -e
cd {PREFIX}/src
if [ "$1" = --print-runner ]; then shift; exec python3 -m bootstrap.image runner "$@"; fi
if [ "$1" = --print-job ]; then shift; exec python3 -m bootstrap.image job --node "$@"; fi
exec python3 -m pytest -p no:cacheprovider "$@"
"""


class ImageError(RuntimeError):
    """A build that cannot go on: one message naming what is missing or what failed."""


def version() -> str:
    for line in (ROOT / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise ImageError("pyproject.toml names no version")


def tag(arch: str) -> str:
    return f"{NAME}:{version()}-{arch}"


def _run(argv: list[str], what: str, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ImageError(f"{what} did not finish within {timeout:g} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise ImageError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done


def check_host(arch: str) -> None:
    """Raise ImageError unless this host can build ``arch`` (root, the tools, its own arch)."""
    if os.geteuid() != 0:
        raise ImageError("run the image build as root (mmdebstrap builds the root file system as root)")
    here = ARCHES.get(platform.machine())
    if arch != here:
        raise ImageError(
            f"this host ({platform.machine()}) builds {here} only: a {arch} image's interpreter and wheels "
            "must come from a host of that architecture (the build runs nothing under emulation)"
        )
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise ImageError(f"missing tools; install them with: apt-get install {' '.join(sorted(set(missing)))}")


def _sources(dest: Path) -> str:
    """The committed tree's site-run files into ``dest``; return the commit."""
    commit = _run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], "git rev-parse", 30).stdout.strip()
    tar = dest.with_suffix(".tar")
    _run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(tar), "HEAD", *SOURCES], "git archive", 120)
    dest.mkdir(parents=True)
    _run(["tar", "-x", "-f", str(tar), "-C", str(dest)], "tar -x", 120)
    (dest / ".commit").write_text(commit + "\n")
    os.symlink("/reports", dest / "reports")
    return commit


def _dependencies(dest: Path, work: Path) -> None:
    """The suite's runtime dependencies (pyproject's, not the lab's or dev's) installed into
    ``dest`` by this host's pip from wheels: the same CPython 3.11 and glibc 2.36 as the image's."""
    reqs = work / "requirements.txt"
    with (ROOT / "pyproject.toml").open("rb") as f:
        reqs.write_text("\n".join(tomllib.load(f)["project"]["dependencies"]) + "\n")
    _run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--only-binary=:all:",
          "--no-compile", "--target", str(dest), "-r", str(reqs)], "pip install of the dependencies", 900)  # fmt: skip


def _rootfs(rootfs: Path, arch: str, src: Path, lib: Path) -> None:
    """Debian 12 (essential packages and PACKAGES) into ``rootfs``, the suite added."""
    hooks = [
        f'--customize-hook=mkdir -p "$1{PREFIX}"',
        f"--customize-hook=copy-in {src} {PREFIX}",
        f"--customize-hook=copy-in {lib} {PREFIX}",
        f"--customize-hook=upload {src.parent / 'entrypoint'} /usr/local/bin/ha-conformance",
        '--customize-hook=chmod 755 "$1/usr/local/bin/ha-conformance"',
        '--customize-hook=rm -rf "$1/var/cache/apt" "$1/var/lib/apt/lists" "$1/var/log"/*',
    ]
    argv = ["mmdebstrap", "--mode=root", "--variant=essential", f"--architectures={arch}",
            f"--include={','.join(PACKAGES)}", *(f"--dpkgopt=path-exclude={p}" for p in EXCLUDE),
            "--dpkgopt=path-include=/usr/share/doc/*/copyright", *hooks,
            debian.SUITE, str(rootfs), debian.apt_mirror()]  # fmt: skip
    _run(argv, "mmdebstrap", 1800)


def _oci_new(layout: Path, bundle: Path) -> str:
    """An empty OCI image at ``layout`` unpacked into ``bundle`` (its rootfs/ empty, for
    mmdebstrap); return the image reference."""
    ref = f"{layout}:{NAME}"
    _run(["umoci", "init", "--layout", str(layout)], "umoci init", 60)
    _run(["umoci", "new", "--image", ref], "umoci new", 60)
    _run(["umoci", "unpack", "--image", ref, str(bundle)], "umoci unpack", 120)
    return ref


def _oci_save(ref: str, bundle: Path, arch: str, commit: str, archive: Path) -> None:
    """The bundle's root file system as the image's one layer, its configuration, saved as a
    gzip-compressed docker-archive."""
    _run(["umoci", "repack", "--image", ref, str(bundle)], "umoci repack", 1200)
    _run(["umoci", "config", "--image", ref, f"--architecture={arch}", "--os=linux",
          "--config.entrypoint=/usr/local/bin/ha-conformance", f"--config.workingdir={PREFIX}/src",
          f"--config.env=PYTHONPATH={PREFIX}/lib", "--config.env=PYTHONDONTWRITEBYTECODE=1",
          "--config.env=LANG=C.UTF-8", f"--config.label=org.opencontainers.image.revision={commit}",
          f"--config.label=org.opencontainers.image.version={version()}"], "umoci config", 120)  # fmt: skip
    plain = archive.with_name(archive.name + ".plain")
    plain.unlink(missing_ok=True)
    _run(["skopeo", "copy", "--quiet", f"oci:{ref}", f"docker-archive:{plain}:{tag(arch)}"], "skopeo copy", 1200)
    try:
        compress_layers(plain, archive)
    finally:
        plain.unlink(missing_ok=True)


def compress_layers(plain: Path, out: Path) -> None:
    """A docker-archive with its layers gzip-compressed in place (their names, and the config's
    diff_ids of the uncompressed content, unchanged): what ``docker load``, ``podman load``,
    ``ctr images import`` and ``buildah pull docker-archive:`` all read (they detect a compressed
    layer by its magic bytes), while a gzip around the whole archive is not (podman 4.3 refuses it)."""
    with tarfile.open(plain) as src:
        manifest = json.load(src.extractfile("manifest.json"))  # type: ignore[arg-type]
        layers = {layer for image in manifest for layer in image["Layers"]}
        tmp = out.with_name(out.name + ".tmp")
        with tarfile.open(tmp, "w") as dst, tempfile.TemporaryDirectory(prefix="ha-layer-") as work:
            for member in src.getmembers():
                data = src.extractfile(member) if member.isfile() else None
                if data is not None and member.name in layers:
                    packed = Path(work) / "layer.gz"
                    with gzip.GzipFile(packed, "wb", compresslevel=9, mtime=0) as gz:
                        shutil.copyfileobj(data, gz, 1 << 20)
                    member.size = packed.stat().st_size
                    with packed.open("rb") as f:
                        dst.addfile(member, f)
                    packed.unlink()
                else:
                    dst.addfile(member, data)
    tmp.replace(out)


def build(out: Path, arch: str | None = None) -> tuple[Path, float]:
    """Build the image for ``arch`` (default: this host's) into ``out``; return (archive, seconds).

    Raises ImageError: not root, a tool missing, another architecture, a failed step."""
    arch = arch or ARCHES.get(platform.machine(), platform.machine())
    check_host(arch)
    start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"{NAME}-{version()}-{arch}.tar"
    with tempfile.TemporaryDirectory(prefix="ha-image-") as tmp:
        work = Path(tmp)
        commit = _sources(work / "src")
        _dependencies(work / "lib", work)
        (work / "entrypoint").write_text(ENTRYPOINT)
        bundle = work / "bundle"
        ref = _oci_new(work / "oci", bundle)
        _rootfs(bundle / "rootfs", arch, work / "src", work / "lib")
        _oci_save(ref, bundle, arch, commit, archive)
    return archive, time.monotonic() - start


# The command that runs the image on a node: printed by the image itself (--print-runner), so a
# field engineer needs nothing but the archive and the node's container runtime. Host paths given
# as --OPTION=FILE are mounted read-only under /site and the option rewritten; the paths in
# $HA_MOUNTS (files an inventory names: its password_file, its SSH key) read-only at the same path;
# the reports land in $HA_REPORTS (default ./ha-reports); exit status is the suite's (the gate).
RUNNER = r"""#!/bin/sh
# Runs IMAGE on this node with host networking: the suite's pytest options as arguments, e.g.
#   sh ha-run.sh --ocboot-config=/opt/ocboot/config.yml -m "not destructive"
# Runtime: $HA_RUNTIME (k3s, docker or podman), else the first of these found.
# $HA_RUN_OPTIONS go to the runtime's run, e.g. --cap-add NET_ADMIN (k3s: --cap-add CAP_NET_ADMIN).
set -eu
IMAGE=IMAGE_TAG
REPORTS=${HA_REPORTS:-$PWD/ha-reports}
SSH_DIR=${HA_SSH_DIR:-$HOME/.ssh}
mkdir -p "$REPORTS"
mounts=""
for p in ${HA_MOUNTS:-}; do
    [ -e "$p" ] || { echo "error: HA_MOUNTS: no file or directory $p" >&2; exit 2; }
    mounts="$mounts $p:$p"
done
n=0
for a in "$@"; do
    shift
    case "$a" in
    --inventory|--ocboot-config|--ssh-key|--waivers|--catalog)
        echo "error: write $a=FILE (one argument), so that the file can be mounted" >&2; exit 2 ;;
    --inventory=*|--ocboot-config=*|--ssh-key=*|--waivers=*|--catalog=*)
        opt=${a%%=*}; path=${a#*=}
        [ -f "$path" ] || { echo "error: $opt: no file $path" >&2; exit 2; }
        case "$path" in *" "*) echo "error: $opt: a path without spaces, please: $path" >&2; exit 2 ;; esac
        n=$((n + 1)); base=$(basename "$path"); abs=$(cd "$(dirname "$path")" && pwd)/$base
        mounts="$mounts $abs:/site/$n/$base"
        set -- "$@" "$opt=/site/$n/$base" ;;
    *) set -- "$@" "$a" ;;
    esac
done
rt=${HA_RUNTIME:-}
if [ -z "$rt" ]; then
    for c in k3s docker podman; do command -v "$c" >/dev/null 2>&1 && { rt=$c; break; }; done
fi
case "$rt" in
k3s)
    set -- --mount "type=bind,src=$SSH_DIR,dst=/root/.ssh,options=rbind:ro" \
        --mount "type=bind,src=$REPORTS,dst=/reports,options=rbind:rw" \
        $(for m in $mounts; do
            printf -- '--mount type=bind,src=%s,dst=%s,options=rbind:ro ' "${m%%:*}" "${m#*:}"; done) \
        "docker.io/library/$IMAGE" "ha-conformance-$$" /usr/local/bin/ha-conformance "$@"
    exec k3s ctr run --rm --net-host ${HA_RUN_OPTIONS:-} "$@" ;;
docker|podman)
    set -- -v "$SSH_DIR:/root/.ssh:ro" -v "$REPORTS:/reports:rw" \
        $(for m in $mounts; do printf -- '-v %s:ro ' "$m"; done) "docker.io/library/$IMAGE" "$@"
    exec "$rt" run --rm --network host ${HA_RUN_OPTIONS:-} "$@" ;;
*)
    echo "error: no container runtime found (k3s, docker or podman); set HA_RUNTIME" >&2; exit 2 ;;
esac
"""


def runner_script(arch: str | None = None) -> str:
    """The wrapper script for this image (``RUNNER`` with its tag)."""
    return RUNNER.replace("IMAGE_TAG", tag(arch or ARCHES.get(platform.machine(), platform.machine())))


def job_manifest(node: str, arch: str | None = None, args: list[str] | None = None) -> str:
    """The suite as a Kubernetes Job (kube-bench's job.yaml form) on the site's node ``node``
    (where the archive was loaded: the image is never pulled), host networking, the SSH key and
    ocboot's config.yml from the Secrets ``ha-conformance-ssh`` (key ``id_rsa``) and
    ``ha-conformance-site`` (key ``config.yml``), the reports kept on the node in
    /var/lib/ha-conformance/reports. ``args`` default to the read-only run from config.yml."""
    args = args or ["--ocboot-config=/site/config.yml", "--ssh-key=/root/.ssh/id_rsa", "-m", "not destructive"]
    container = {
        "name": "ha-conformance",
        "image": f"docker.io/library/{tag(arch or ARCHES.get(platform.machine(), platform.machine()))}",
        "imagePullPolicy": "Never",
        "args": args,
        "volumeMounts": [
            {"name": "ssh", "mountPath": "/root/.ssh", "readOnly": True},
            {"name": "site", "mountPath": "/site", "readOnly": True},
            {"name": "reports", "mountPath": "/reports"},
        ],
    }
    pod = {
        "nodeName": node,
        "hostNetwork": True,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "restartPolicy": "Never",
        "tolerations": [{"operator": "Exists"}],
        "containers": [container],
        "volumes": [
            {"name": "ssh", "secret": {"secretName": "ha-conformance-ssh", "defaultMode": 0o400}},
            {"name": "site", "secret": {"secretName": "ha-conformance-site", "defaultMode": 0o400}},
            {"name": "reports", "hostPath": {"path": "/var/lib/ha-conformance/reports", "type": "DirectoryOrCreate"}},
        ],
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "ha-conformance", "namespace": "kube-system", "labels": {"app": NAME}},
        "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 86400, "template": {"spec": pod}},
    }
    return yaml.safe_dump(job, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bootstrap.image", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the offline image archive (as root)")
    b.add_argument("--out", type=Path, default=ROOT / "dist", help="where the archive goes (default dist/)")
    b.add_argument("--arch", choices=sorted(set(ARCHES.values())), help="default: this host's")
    r = sub.add_parser("runner", help="print the script that runs the image on a node (the image's --print-runner)")
    r.add_argument("--arch", choices=sorted(set(ARCHES.values())), help="default: this host's")
    j = sub.add_parser("job", help="print the suite as a Kubernetes Job on a node of the site")
    j.add_argument(
        "--node", required=True, help="the Kubernetes node name of the First Node (where the image is loaded)"
    )
    j.add_argument("--arch", choices=sorted(set(ARCHES.values())), help="default: this host's")
    args = p.parse_args(argv)
    if args.command == "job":
        sys.stdout.write(job_manifest(args.node, args.arch))
        return 0
    if args.command == "runner":
        sys.stdout.write(runner_script(args.arch))
        return 0
    try:
        archive, seconds = build(args.out, args.arch)
    except (ImageError, debian.NoMirror) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = archive.stat().st_size / 2**20
    print(f"{archive}: {size:.1f} MiB, built in {seconds:.0f} s; load it with: docker load -i {archive.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
