"""A VM booting a user's own cloud image by firmware (bootstrap/lab/cloud_vm.py) and the
firmware-bootable Debian image to show it with (bootstrap/lab/cloud_image.py), without a VM:
QEMU's command line (OVMF, the overlay, the cidata seed, no kernel of the lab's), the seed
carrying the host key the lab pins, the image format read from the file, and the GPT disk
assembled from its partitions on a plain file. The boot itself is measured by
benchmarks/cloud_image_boot.py (minutes under emulation here)."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap.lab import cloud_image, cloud_seed
from bootstrap.lab import cloud_vm as cloud_vm_module
from bootstrap.lab.cloud_vm import OVMF_CODE, CloudVm, choose_firmware_accel, image_format
from bootstrap.lab.hostenv import LabError
from bootstrap.remote import Result

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq8mB3c3kL0lCq4Bq3mXgRzY3hYJ1u3YQm6b0Xq2rVd ha-lab"


def cloud_vm(tmp_path: Path, image: Path) -> CloudVm:
    return CloudVm(name="cvm", address=ipaddress.IPv4Address("10.213.98.11"), prefixlen=24, bridge="ha-vmt0",
                   rootfs=Path("/nonexistent"), home=tmp_path / "cvm", binds=(), user_image=image)  # fmt: skip


def test_it_boots_the_image_by_firmware_with_its_seed_and_no_lab_kernel(tmp_path: Path) -> None:
    m = cloud_vm(tmp_path, tmp_path / "user.qcow2")
    joined = " ".join(m.argv())
    assert f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}" in joined
    assert f"if=pflash,format=raw,unit=1,file={tmp_path}/cvm/efivars.fd" in joined  # its own variable store
    assert joined.index("disk.qcow2") < joined.index("cidata.iso")  # the image's disk first
    assert f"file={tmp_path}/cvm/cidata.iso,if=virtio,format=raw,readonly=on" in joined
    assert "-kernel" not in joined and "-virtfs" not in joined and "-append" not in joined
    assert "tap,id=n0,ifname=vt-cvm" in joined and "mac=52:54:0a:d5:62:0b" in joined


def test_the_seed_carries_the_host_key_the_lab_pins_readable_by_root_only(tmp_path: Path) -> None:
    m = cloud_vm(tmp_path, tmp_path / "user.qcow2")
    m.home.mkdir(parents=True)
    public = m.personalize({}, KEY)
    assert m.host_key.with_suffix(".pub").read_text().split()[1] == public
    user = yaml.safe_load(cloud_seed.read(m.seed_iso)["user-data"])
    assert user["ssh_keys"]["ed25519_public"].split()[1] == public
    assert user["ssh_keys"]["ed25519_private"] == m.host_key.read_text()
    assert user["ssh_authorized_keys"] == [KEY] and m.seed_iso.stat().st_mode & 0o077 == 0
    assert m.personalize({}, KEY) == public  # made once, kept across starts


def test_the_image_format_is_read_from_the_file(tmp_path: Path) -> None:
    qcow = tmp_path / "user.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow), "16M"], check=True)
    assert image_format(qcow) == "qcow2"
    with pytest.raises(LabError, match=r"--image .*missing.qcow2: no such file"):
        image_format(tmp_path / "missing.qcow2")
    vdi = tmp_path / "user.vdi"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vdi", str(vdi), "16M"], check=True)
    with pytest.raises(LabError, match="a vdi image; give a qcow2 or raw disk image"):
        image_format(vdi)


def test_the_disk_is_a_gpt_with_the_esp_first_and_each_partition_at_its_offset(tmp_path: Path) -> None:
    esp, root = tmp_path / "esp.img", tmp_path / "root.img"
    esp.write_bytes(b"E" * (2 << 20))
    root.write_bytes(b"R" * (3 << 20))
    raw = cloud_image._disk(esp, root, tmp_path)
    table = json.loads(subprocess.run(["sfdisk", "--json", str(raw)], capture_output=True, text=True,
                                      check=True).stdout)["partitiontable"]  # fmt: skip
    assert table["label"] == "gpt"
    (p1, p2) = table["partitions"]
    assert p1["type"] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"  # the EFI system partition
    assert p2["type"] == "0FC63DAF-8483-4772-8E79-3D69D8477DE4"  # Linux file system
    sector = table.get("sectorsize", 512)
    with raw.open("rb") as f:
        for part, want in ((p1, b"E"), (p2, b"R")):
            f.seek(part["start"] * sector)
            assert f.read(4096) == want * 4096
            f.seek((part["start"] + part["size"]) * sector - 1)
            assert f.read(1) == want


def scripted_ssh(answers: list[tuple[int, str]], seen: list[str]) -> Callable[[str, float], Result]:
    def ssh(command: str, timeout: float) -> Result:
        seen.append(command)
        rc, out = answers.pop(0) if command.startswith("cloud-init") else (0, "")
        return Result(rc, out, "")

    return ssh


def test_ready_means_cloud_init_done_then_synced_retrying_while_sshd_restarts(tmp_path: Path) -> None:
    m = cloud_vm(tmp_path, tmp_path / "user.qcow2")
    m.home.mkdir(parents=True)
    m.poll_interval = 0.0
    seen: list[str] = []
    m.remote_run = scripted_ssh([(255, ""), (0, "status: done\nextended_status: done")], seen)
    m.settle(time.monotonic() + 30)
    assert seen == ["cloud-init status --wait --long"] * 2 + ["sync"]
    m.remote_run = scripted_ssh([(2, "status: degraded done\nrecoverable_errors: ...")], seen)
    m.settle(time.monotonic() + 30)
    assert seen[-1] == "sync"  # newer cloud-init: done, with warnings the seed's identity survived
    assert m.agent_file.read_text() == "absent\n"  # no QEMU here: no agent answered


@pytest.mark.parametrize(
    "answer",
    [
        (1, "status: error\nerrors:\n\t('ssh', KeyError('ed25519_private'))"),
        (0, "status: disabled"),
        (255, "Connection refused"),
    ],
)
def test_cloud_init_ending_badly_or_not_at_all_is_named(tmp_path: Path, answer: tuple[int, str]) -> None:
    m = cloud_vm(tmp_path, tmp_path / "user.qcow2")
    m.home.mkdir(parents=True)
    m.poll_interval = 0.01
    seen: list[str] = []
    with pytest.raises(LabError, match=r"(?s)cvm: cloud-init did not finish cleanly: .*" + re.escape(answer[1][-12:])):
        m.remote_run = scripted_ssh([answer] * 200, seen)
        m.settle(time.monotonic() + 0.5)
    assert "sync" not in seen


def test_without_a_guest_agent_addresses_are_read_over_ssh_and_never_taken_for_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = cloud_vm(tmp_path, tmp_path / "user.qcow2")
    m.home.mkdir(parents=True)
    m.agent_file.write_text("absent\n")
    monkeypatch.setattr(CloudVm, "populated", lambda self: True)
    with pytest.raises(LabError, match=r"cvm: no SSH transport to the guest"):
        m.addr_output()
    asked: list[tuple[str, float]] = []
    out = '[{"ifname":"eth0","addr_info":[{"family":"inet","local":"10.213.98.11","prefixlen":24}]}]'

    def over_ssh(command: str, timeout: float) -> Result:
        asked.append((command, timeout))
        return Result(0, out, "")

    m.remote_run = over_ssh
    assert m.addr_output() == out
    assert asked == [("ip -j -4 addr show", 8.0)]  # over the lab's transport, with a time limit
    m.remote_run = lambda command, timeout: Result(255, "", "No route to host")
    with pytest.raises(LabError, match=r"cvm: its addresses could not be read \(no guest agent .*No route to host"):
        m.addr_output()  # a partitioned agentless VM: an error, never "holds no VIP"


def test_the_firmware_trial_picks_kvm_only_when_ovmf_ran_under_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HA_LAB_ACCEL", raising=False)
    if not Path("/dev/kvm").exists() or not OVMF_CODE.exists():
        pytest.skip("no /dev/kvm or no OVMF here: the trial is not reached")
    real_run = subprocess.run
    for console, want in (("BdsDxe: loading Boot0001", "kvm"), ("failed to set MSR 0x10a", "tcg")):

        def fake_qemu(argv: list[str], text: str = console, **kw: Any) -> Any:
            if "kvm" not in argv:
                return real_run(argv, **kw)
            Path(next(a for a in argv if a.startswith("file:"))[5:]).write_text(text)
            return subprocess.CompletedProcess(argv, 1, "", "")

        monkeypatch.setattr(cloud_vm_module.subprocess, "run", fake_qemu)
        cache = tmp_path / f"accel-{want}.json"
        assert choose_firmware_accel(cache) == want
        assert json.loads(cache.read_text())["accel"] == want
    monkeypatch.setenv("HA_LAB_ACCEL", "tcg")
    assert choose_firmware_accel(tmp_path / "forced.json") == "tcg"


def test_the_selinux_image_is_its_own_variant_cached_and_pruned_apart(tmp_path: Path) -> None:
    plain, selinux = cloud_image.image_dir(), cloud_image.image_dir(selinux=True)
    assert plain.name.startswith("cloud-image-") and selinux.name.startswith("cloud-image-selinux-")
    assert set(cloud_image.SELINUX_PACKAGES) <= set(cloud_image.packages(True)) - set(cloud_image.packages())
    for name in ("cloud-image-0123456789ab", "cloud-image-selinux-0123456789ab", "cloud-image-selinux-fedcba987654",
                 "cloud-image-aaaaaaaaaaaa", "cloud-image.lock"):  # fmt: skip
        (tmp_path / name).mkdir()
    assert [p.name for p in cloud_image.stale_images(tmp_path / "cloud-image-selinux-0123456789ab")] == [
        "cloud-image-selinux-fedcba987654"
    ]
    assert [p.name for p in cloud_image.stale_images(tmp_path / "cloud-image-0123456789ab")] == [
        "cloud-image-aaaaaaaaaaaa"
    ]
