"""The VM machine driver (issue 26, bootstrap/lab/vm.py): its pieces without a VM (QEMU's
command line, the guest agent's addresses in ``ip -j`` shape, the lab's plan), and real VMs on
a bridge of their own: one boots and answers over SSH, runs its own kernel under a hypervisor
the guest can see, passes HA-OS-002 and HA-OS-006, and a power cut (QEMU killed) loses a file
the guest wrote but never synced, while a synced one survives; another, booted with the other
kernel and its clock ahead, fails both checks. Skipped, with the reason, where QEMU or root is
missing."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bootstrap import inventory as inv
from bootstrap.lab import __main__ as lab_cli
from bootstrap.lab import config, vm_image
from bootstrap.lab.hostenv import LabError, check_subnet
from bootstrap.lab.lab import Lab
from bootstrap.lab.vm import QEMU, Standalone, VmMachine, choose_accel, ip_json, mac_for, qemu_argv, standalone
from bootstrap.vips import addresses
from suites.context import SiteRuntime
from suites.facts import PROBES
from suites.factsource import RecordedFactSource
from tests.test_facts import LAB, outcome

SUBNET = ipaddress.IPv4Network("10.213.98.0/24")
BRIDGE = "ha-vmt0"


def vm(tmp_path: Path, **kw: object) -> VmMachine:
    return VmMachine(
        name="vmtest",
        address=ipaddress.IPv4Address("10.213.98.10"),
        prefixlen=24,
        bridge=BRIDGE,
        rootfs=Path("/nonexistent"),
        home=tmp_path / "vmtest",
        binds=((tmp_path / "tools", "/opt/ha-lab/bin", True),),
        **{"image": tmp_path / "image", **kw},  # type: ignore[arg-type]
    )


def test_qemus_command_line_carries_the_disk_tap_seed_and_shares_and_no_secret(tmp_path: Path) -> None:
    argv = qemu_argv(vm(tmp_path))
    joined = " ".join(argv)
    assert argv[0] == QEMU and "-accel tcg,tb-size=256" in joined and "-cpu max" in joined
    assert f"file={tmp_path}/vmtest/disk.qcow2,if=virtio,format=qcow2" in joined
    assert "tap,id=n0,ifname=vt-vmtest,script=no,downscript=no" in joined
    assert f"mac={mac_for('10.213.98.10')}" in joined and mac_for("10.213.98.10") == "52:54:0a:d5:62:0a"
    assert f"file={tmp_path}/vmtest/seed.img,if=virtio,format=raw,readonly=on" in joined
    assert joined.index("disk.qcow2") < joined.index("seed.img")  # the root stays /dev/vda
    assert f"-kernel {tmp_path}/image/vmlinuz -initrd {tmp_path}/image/initrd.img" in joined
    assert f"path={tmp_path}/tools,mount_tag=share0,security_model=passthrough,readonly=on" in joined
    assert "root=/dev/vda" in joined and "-rtc base=utc" in joined
    assert "password" not in joined.lower() and "secret" not in joined.lower()
    assert "-accel kvm -cpu host" in " ".join(qemu_argv(vm(tmp_path, accel="kvm")))
    assert "-rtc base=2026-12-03T10:02:00" in " ".join(qemu_argv(vm(tmp_path, rtc_base="2026-12-03T10:02:00")))
    assert f"-kernel {tmp_path}/image/vmlinuz-cloud -initrd {tmp_path}/image/initrd.img-cloud" in " ".join(
        qemu_argv(vm(tmp_path, kernel="cloud"))
    )
    with pytest.raises(LabError, match="no kernel flavour 'rt'"):
        qemu_argv(vm(tmp_path, kernel="rt"))


def test_the_guest_agents_interfaces_read_as_ip_json() -> None:
    """The shape of qemu-guest-agent's guest-network-get-interfaces (QEMU's qga-schema)."""
    agent = [
        {"name": "lo", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8}]},
        {"name": "host0", "hardware-address": "52:54:0a:d5:62:0a", "ip-addresses": [
            {"ip-address-type": "ipv4", "ip-address": "10.213.98.10", "prefix": 24},
            {"ip-address-type": "ipv4", "ip-address": "10.213.98.100", "prefix": 32},
            {"ip-address-type": "ipv6", "ip-address": "fe80::5054:aff:fed5:620a", "prefix": 64}]},
    ]  # fmt: skip
    assert addresses(ip_json(agent))["10.213.98.100"] == ("host0", 32)
    vip = {"family": "inet", "local": "10.213.98.100", "prefixlen": 32}
    assert json.loads(ip_json(agent))[1]["addr_info"][1] == vip


def test_the_plan_and_the_command_line_carry_the_machine_driver() -> None:
    assert Lab.plan("3node", 0, SUBNET, machines="vm").machines == "vm"
    assert Lab.plan("3node", 0, SUBNET).machines == "nspawn"
    with pytest.raises(LabError, match="--machines must be one of nspawn, vm"):
        Lab.plan("3node", 0, SUBNET, machines="xen")
    args = lab_cli.parser().parse_args(["up", "--topology", "3node", "--machines", "vm"])
    assert args.machines == "vm"
    assert not Lab.plan("3node", 0, SUBNET, machines="vm").same_layout(Lab.plan("3node", 0, SUBNET))


# One real VM -------------------------------------------------------------------------------------
def _usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (a bridge, a tap and a cgroup)"
    for tool in (QEMU, "qemu-img", "mke2fs", "debootstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (bash bootstrap/setup-host.sh installs it)"
    return None


def boot_one(tmp_path: Path, **kw: object) -> Iterator[Standalone]:
    """One VM of the image on its own bridge, up and answering SSH (``kw``: VmMachine's fields)."""
    why = _usable()
    if why:
        pytest.skip(why)
    check_subnet(SUBNET)
    image = vm_image.build()
    (tmp_path / "tools").mkdir()
    m = vm(tmp_path, image=image, accel=choose_accel(image, config.paths().cache / "accel.json"), **kw)
    with standalone(m, str(SUBNET[1])) as booted:
        yield booted


@pytest.fixture
def booted(tmp_path: Path) -> Iterator[Standalone]:
    yield from boot_one(tmp_path)


def judged(vm: Standalone, requirement: str) -> str:
    """``requirement`` judged on the VM's own answers to its probes (kernel, date), in node1's
    place of the recorded 5node lab whose inventory expects the image's generic kernel, as the
    lab's inventory of VMs does (bootstrap/lab/files.py)."""
    answers = {fact: vm.ssh(PROBES[fact].command) for fact in ("kernel", "date")}  # date last: read at once
    source = RecordedFactSource.from_dir(LAB, at=time.time() - 0.1)
    for fact, done in answers.items():
        source.outputs["node1"][fact] = (done.returncode, done.stdout)  # type: ignore[index]
    data = yaml.safe_load((LAB / "inventory.yaml").read_text())
    data["expect"] = {"kernel": vm_image.kernel_release(vm.machine.image)}
    rt = SiteRuntime.create(inv.parse(data), None, "postinstall", source=source)
    return outcome(rt, requirement, "node1", None)


@pytest.mark.lab
def test_a_vm_runs_its_own_kernel_and_a_power_cut_loses_what_it_never_synced(booted: Standalone) -> None:
    m = booted.machine
    ask = "uname -r; systemd-detect-virt; cat /etc/hostname; ls /opt/ha-lab/bin >/dev/null && echo share"
    kernel, virt, hostname, share = booted.ssh(ask).stdout.split()
    assert kernel == vm_image.kernel_release(m.image) != os.uname().release
    assert virt in ("kvm", "qemu") and hostname == "vmtest" and share == "share"
    assert "10.213.98.10" in addresses(m.addr_output())  # through the guest agent, not the network
    assert judged(booted, "HA-OS-002") == "passed" and judged(booted, "HA-OS-006") == "passed"
    # A synced file, then one written and not synced; the root's journal committed every 600 s
    # instead of 5 s, so that a slow emulated guest cannot commit it before the cut.
    booted.ssh("mount -o remount,commit=600 / && echo kept > /root/synced && sync && echo lost > /root/unsynced")
    m.kill()
    assert not m.populated()
    m.boot()
    booted.wait()
    after = booted.ssh("cat /root/synced; cat /root/unsynced 2>/dev/null || echo '(missing)'").stdout.split("\n")
    assert after[0] == "kept"
    assert after[1] in ("", "(missing)"), f"the unsynced write survived a power cut: {after[1]!r}"


@pytest.fixture
def mutated(tmp_path: Path) -> Iterator[Standalone]:
    """A VM booted with the image's other kernel (cloud) and its clock 120 s ahead (QEMU's
    -rtc base=), with no time server to reach: both mutations real, no wrapper."""
    ahead = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 120))
    yield from boot_one(tmp_path, kernel="cloud", rtc_base=ahead)


@pytest.mark.lab
def test_the_kernel_and_clock_mutations_are_real_on_a_vm_and_caught(mutated: Standalone) -> None:
    m = mutated.machine
    cloud = vm_image.kernel_release(m.image, "cloud")
    assert mutated.ssh("uname -r").stdout.strip() == cloud != vm_image.kernel_release(m.image)
    kernel = judged(mutated, "HA-OS-002")
    assert kernel == f"failed: kernel is {cloud}, expected {vm_image.kernel_release(m.image)}", kernel
    clock = judged(mutated, "HA-OS-006")
    assert clock.startswith("failed: clock differs from the runner's by"), clock
    assert 100 < float(clock.split(" by ")[1].split(" s")[0]) < 140, clock
    # The cloud kernel has no 9p: the node has its identity (the seed disk) but not the shares.
    assert vm_image.NO_9P in m.console_log.read_text(errors="replace")


def test_a_guest_that_cannot_read_its_seed_says_so_at_once(tmp_path: Path) -> None:
    m = vm(tmp_path)
    m.home.mkdir(parents=True)
    assert m.boot_failure() is None  # no console yet
    m.console_log.write_text("[FAILED] Failed to start ha-lab-seed.service - ha-lab: this VM's identity\n")
    assert m.boot_failure() == "vmtest: the guest could not read its seed disk: no identity, no SSH key"
