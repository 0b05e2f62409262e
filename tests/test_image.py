"""The offline image's parts that run without building it (benchmarks/image_bench.py builds it,
loads it into podman and runs it against the lab): the wrapper script it prints, the layer
compression that lets every runtime load one archive, and the build's refusals."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from bootstrap import image
from suites.model import git_commit

FAKE_RUNTIME = '#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n'


def wrapper(tmp_path: Path, runtime: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """The printed wrapper run with a fake ``runtime`` on the PATH that echoes its arguments."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / runtime
    fake.write_text(FAKE_RUNTIME)
    fake.chmod(0o755)
    script = tmp_path / "ha-run.sh"
    script.write_text(image.runner_script("amd64"))
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "HA_RUNTIME": runtime, "HOME": str(tmp_path),
           **extra}  # fmt: skip
    return subprocess.run(["sh", str(script), *args], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=30, check=False)  # fmt: skip


def test_the_wrapper_mounts_each_named_file_and_passes_the_rest(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("x: 1\n")
    done = wrapper(tmp_path, "docker", "--ocboot-config=config.yml", "-m", "not destructive", "-n", "2")
    assert done.returncode == 0, done.stderr
    argv = [line[1:-1] for line in done.stdout.splitlines()]
    assert argv[:4] == ["run", "--rm", "--network", "host"]
    assert f"{tmp_path}/.ssh:/root/.ssh:ro" in argv and f"{tmp_path}/ha-reports:/reports:rw" in argv
    assert f"{tmp_path}/config.yml:/site/1/config.yml:ro" in argv
    at = argv.index("docker.io/library/" + image.tag("amd64"))
    assert argv[at + 1 :] == ["--ocboot-config=/site/1/config.yml", "-m", "not destructive", "-n", "2"]
    assert (tmp_path / "ha-reports").is_dir()


def test_files_an_inventory_names_are_mounted_at_their_own_paths(tmp_path: Path) -> None:
    """An inventory's db.password_file and ssh.key are read inside the container at the paths it
    names: HA_MOUNTS mounts them there, read-only; a missing one is refused."""
    (tmp_path / "secrets").mkdir()
    done = wrapper(tmp_path, "podman", "-m", "not destructive", HA_MOUNTS=f"{tmp_path}/secrets")
    assert done.returncode == 0, done.stderr
    assert f"[{tmp_path}/secrets:{tmp_path}/secrets:ro]" in done.stdout.splitlines()
    done = wrapper(tmp_path, "podman", HA_MOUNTS=f"{tmp_path}/nothing")
    assert done.returncode == 2 and f"error: HA_MOUNTS: no file or directory {tmp_path}/nothing" in done.stderr


def test_the_wrapper_runs_under_k3s_containerd_with_the_same_mounts(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text("x: 1\n")
    done = wrapper(tmp_path, "k3s", "--inventory=site.yaml", "-m", "not destructive",
                   HA_RUN_OPTIONS="--cap-add CAP_NET_ADMIN")  # fmt: skip
    assert done.returncode == 0, done.stderr
    argv = [line[1:-1] for line in done.stdout.splitlines()]
    assert argv[:6] == ["ctr", "run", "--rm", "--net-host", "--cap-add", "CAP_NET_ADMIN"]
    assert f"type=bind,src={tmp_path}/site.yaml,dst=/site/1/site.yaml,options=rbind:ro" in argv
    at = argv.index("docker.io/library/" + image.tag("amd64"))
    assert argv[at + 1].startswith("ha-conformance-") and argv[at + 2] == "/usr/local/bin/ha-conformance"
    assert argv[at + 3 :] == ["--inventory=/site/1/site.yaml", "-m", "not destructive"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--inventory", "site.yaml"], "error: write --inventory=FILE (one argument)"),
        (["--ocboot-config=/nonexistent/config.yml"], "error: --ocboot-config: no file /nonexistent/config.yml"),
    ],
)
def test_the_wrapper_refuses_what_it_cannot_mount(tmp_path: Path, args: list[str], message: str) -> None:
    done = wrapper(tmp_path, "podman", *args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == message + (", so that the file can be mounted" if "one argument" in message else "")


def test_no_runtime_is_one_clear_error(tmp_path: Path) -> None:
    script = tmp_path / "ha-run.sh"
    script.write_text(image.runner_script("amd64"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HA_RUNTIME": "none"}
    done = subprocess.run(["sh", str(script)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=30,
                          check=False)  # fmt: skip
    assert done.returncode == 2 and "no container runtime found (k3s, docker or podman)" in done.stderr


def test_layers_are_compressed_in_place_and_the_rest_kept(tmp_path: Path) -> None:
    """A docker-archive as skopeo writes it: manifest.json naming one layer.tar; after
    compress_layers the layer is gzip (same name, same content once decompressed), the rest
    byte-identical."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        info = tarfile.TarInfo("etc/hostname")
        info.size = 5
        t.addfile(info, io.BytesIO(b"node\n"))
    files = {
        "manifest.json": json.dumps([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["abc/layer.tar"]}]).encode(),
        "c.json": b'{"rootfs": {"diff_ids": []}}',
        "abc/layer.tar": layer.getvalue(),
    }
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    out = tmp_path / "out.tar"
    image.compress_layers(plain, out)
    with tarfile.open(out) as t:
        got = {m.name: t.extractfile(m).read() for m in t.getmembers()}  # type: ignore[union-attr]
    assert set(got) == set(files)
    assert got["abc/layer.tar"][:2] == b"\x1f\x8b" and gzip.decompress(got["abc/layer.tar"]) == files["abc/layer.tar"]
    assert got["manifest.json"] == files["manifest.json"] and got["c.json"] == files["c.json"]


def test_a_build_for_another_architecture_is_refused_saying_why() -> None:
    other = "arm64" if image.ARCHES.get(os.uname().machine) == "amd64" else "amd64"
    if os.geteuid() != 0:
        pytest.skip("the refusal of a non-root build comes first")
    with pytest.raises(image.ImageError, match=f"builds .* only: a {other} image's interpreter and wheels"):
        image.check_host(other)


def test_every_source_the_image_carries_is_tracked() -> None:
    tracked = subprocess.run(["git", "-C", str(image.ROOT), "ls-files", *image.SOURCES], capture_output=True,
                             text=True, timeout=30, check=True).stdout.split()  # fmt: skip
    assert {p.split("/")[0] for p in tracked} == set(image.SOURCES)


def test_the_image_names_its_commit_without_a_checkout(tmp_path: Path) -> None:
    (tmp_path / ".commit").write_text("0123456789abcdef0123456789abcdef01234567\n")
    assert git_commit(tmp_path) == "0123456789abcdef0123456789abcdef01234567"
    (tmp_path / ".commit").write_text("garbage\n")
    assert git_commit(tmp_path) is None


def test_the_job_runs_read_only_on_the_named_node_from_secrets() -> None:
    """The Kubernetes Job form (kube-bench's job.yaml): on the node where the archive was
    loaded (never pulled), host networking, key and config.yml from Secrets, reports on the node."""
    job = yaml.safe_load(image.job_manifest("master-1", "amd64"))
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert job["kind"] == "Job" and job["spec"]["backoffLimit"] == 0
    assert pod["nodeName"] == "master-1" and pod["hostNetwork"] is True and pod["restartPolicy"] == "Never"
    assert container["image"] == f"docker.io/library/{image.tag('amd64')}" and container["imagePullPolicy"] == "Never"
    assert container["args"] == ["--ocboot-config=/site/config.yml", "--ssh-key=/root/.ssh/id_rsa", "-m",
                                 "not destructive"]  # fmt: skip
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
    assert mounts == {"/root/.ssh": True, "/site": True, "/reports": False}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["ssh"]["secret"]["secretName"] == "ha-conformance-ssh"
    assert volumes["site"]["secret"]["secretName"] == "ha-conformance-site"
    assert volumes["reports"]["hostPath"]["path"] == "/var/lib/ha-conformance/reports"
