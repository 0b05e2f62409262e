"""The local lab, brought up for real: a 3node lab of systemd-nspawn machines.

These tests run in file order on one lab; they need root.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap.faults import Fault, Journal
from bootstrap.lab.lab import Lab
from bootstrap.lab.machine import lab_cgroup
from fixtures.site import Site

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

NODES = ["node1", "node2", "node3"]


def cli(*args: str, user: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "bootstrap.lab", *args]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=300, check=False, env=env, cwd=Path(__file__).parent.parent
    )


def ssh_port_open(address: str, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = Lab()
    if lab.is_up():
        pytest.fail("a lab is already up on this host; the self-tests need it: python -m bootstrap.lab down")
    lab.up("3node")
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def site(lab: Lab) -> Site:
    return Site.load(lab.paths.inventory)


def address(lab: Lab, node: str) -> str:
    return lab.state().nodes[node].address


def test_every_node_has_its_own_hostname_and_machine_id(lab: Lab, site: Site) -> None:
    ids = {}
    for name in NODES:
        host: Any = site.host(name)  # pytest-testinfra, over SSH with the lab's key
        assert host.check_output("hostname") == name
        machine_id = host.file("/etc/machine-id").content_string.strip()
        assert len(machine_id) == 32
        assert machine_id == (lab.machine(name).merged / "etc/machine-id").read_text().strip()
        assert host.service("ssh").is_running
        ids[name] = machine_id
    assert len(set(ids.values())) == len(NODES)
    keys = {(lab.machine(n).merged / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[1] for n in NODES}
    assert len(keys) == len(NODES)


def test_inventory_is_valid_and_matches_the_topology(lab: Lab, site: Site) -> None:
    inv = site.inventory
    assert inv.topology == "3node" and inv.site == "lab-3node"
    assert [n.name for n in inv.nodes] == NODES
    assert {str(n.address) for n in inv.nodes} == {address(lab, n) for n in NODES}
    assert inv.vips.db is not None and inv.vips.platform != inv.vips.db
    assert inv.expect.kernel == os.uname().release
    assert inv.db.password_file is not None and inv.db.password_file.stat().st_mode & 0o077 == 0
    assert cli("inventory").stdout.strip() == str(lab.paths.inventory)


def test_exec_passes_the_exit_code_through(lab: Lab) -> None:
    result = cli("exec", "node2", "--", "sh", "-c", "hostname; exit 7")
    assert result.returncode == 7
    assert result.stdout.strip() == "node2"
    unknown = cli("exec", "node9", "--", "true")
    assert unknown.returncode == 1
    assert "no node 'node9' in this lab; nodes: node1, node2, node3" in unknown.stderr


def test_status_reports_who_holds_a_vip(lab: Lab) -> None:
    vip = lab.state().vips["platform"]
    assert lab.status().vips["platform"].holders == ()
    assert cli("exec", "node2", "--", "ip", "addr", "add", f"{vip}/32", "dev", "host0").returncode == 0
    try:
        assert lab.status().vips["platform"].holders == ("node2",)
        assert "held by node2" in cli("status").stdout
    finally:
        cli("exec", "node2", "--", "ip", "addr", "del", f"{vip}/32", "dev", "host0")


def test_a_runner_inside_a_nodes_namespace_sees_who_holds_a_vip(lab: Lab) -> None:
    """Run from a node of the site (issue 23's demonstration: the runner in node1's network
    namespace), the lab still reads each machine's own addresses, not the runner's."""
    vip = lab.state().vips["platform"]
    leader = lab.machine("node1").leader()
    assert leader is not None
    script = (
        f"from bootstrap.lab.lab import Lab; import json; print(json.dumps(Lab().vip_holders({{'platform': '{vip}'}})))"
    )
    assert cli("exec", "node2", "--", "ip", "addr", "add", f"{vip}/32", "dev", "host0").returncode == 0
    try:
        argv = ["nsenter", f"--net=/proc/{leader}/ns/net", sys.executable, "-c", script]
        root = Path(__file__).parent.parent
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=root)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"platform": ["node2"]}
    finally:
        cli("exec", "node2", "--", "ip", "addr", "del", f"{vip}/32", "dev", "host0")


def test_kill_makes_the_node_unreachable(lab: Lab) -> None:
    """A power cut: every process gone, SSH closed (how fast is benchmarks/lab_bench.py's figure)."""
    node, addr = "node2", address(lab, "node2")
    assert cli("exec", node, "--", "sh", "-c", "echo survived > /root/marker").returncode == 0
    machine_id = (lab.machine(node).merged / "etc/machine-id").read_text()
    assert cli("kill", node).returncode == 0
    deadline = time.monotonic() + 10  # a liveness bound, not a speed goal
    while ssh_port_open(addr):
        assert time.monotonic() < deadline, "node still answers SSH 10 s after kill"
    assert lab.machine(node).pids() == []
    assert lab.status().node("node2").state == "stopped"

    assert cli("start", node).returncode == 0
    back = cli("exec", node, "--", "cat", "/root/marker", "/etc/machine-id")
    assert back.returncode == 0
    assert back.stdout == "survived\n" + machine_id


def test_stop_is_a_clean_shutdown_and_start_boots_again(lab: Lab) -> None:
    node = "node3"
    cli("exec", node, "--", "sh", "-c", "echo kept > /root/clean")
    assert cli("stop", node).returncode == 0
    assert lab.machine(node).pids() == []
    assert "Reached target" in lab.machine(node).console_log.read_text()
    assert "System Power Off" in lab.machine(node).console_log.read_text() or "shut down" in (
        lab.machine(node).console_log.read_text()
    )
    assert cli("start", node).returncode == 0
    assert cli("exec", node, "--", "cat", "/root/clean").stdout == "kept\n"


def test_reboot_boots_the_node_anew_and_keeps_its_files(lab: Lab) -> None:
    """The node's own reboot: a new boot id (nspawn gives each boot its own), its files kept,
    its enabled units running again by themselves."""
    node = "node2"
    boot_id = "cat /proc/sys/kernel/random/boot_id"
    before = cli("exec", node, "--", "sh", "-c", f"echo kept > /root/rebooted; {boot_id}").stdout
    assert cli("reboot", node).returncode == 0
    after = cli("exec", node, "--", "sh", "-c", f"cat /root/rebooted; {boot_id}; systemctl is-active ssh").stdout
    kept, new_id, ssh = after.split()
    assert kept == "kept" and new_id != before.strip() and ssh == "active"


def test_freeze_hangs_every_process_and_thaw_lets_them_run_on(lab: Lab) -> None:
    node, addr = "node3", address(lab, "node3")
    assert cli("freeze", node).returncode == 0
    try:
        hung = cli("exec", node, "--", "true")
        assert hung.returncode != 0  # sshd accepts nothing: its processes are frozen
        assert lab.machine(node).pids() and "frozen 1" in (lab.machine(node).cgroup / "cgroup.events").read_text()
    finally:
        assert cli("thaw", node).returncode == 0
    deadline = time.monotonic() + 10
    while cli("exec", node, "--", "true").returncode != 0:
        assert time.monotonic() < deadline, "node3 does not answer 10 s after thaw"
    assert ssh_port_open(addr)


def test_partition_cuts_the_node_off_and_heal_restores_it(lab: Lab) -> None:
    node, addr = "node3", address(lab, "node3")
    assert cli("partition", node).returncode == 0
    try:
        assert lab.machine(node).state().value == "partitioned"
        assert not ssh_port_open(addr, timeout=1.0)
        # Its peers lose it too, and it keeps running (processes alive).
        ping = cli("exec", "node1", "--", "ping", "-c", "1", "-W", "1", addr)
        assert ping.returncode != 0
        assert lab.machine(node).pids()
        refused = cli("exec", node, "--", "true")
        assert refused.returncode == 1 and "node3 is partitioned" in refused.stderr
    finally:
        healed = cli("heal")
    assert healed.stdout.strip() == "healed: node3"
    deadline = time.monotonic() + 5
    while not ssh_port_open(addr):
        assert time.monotonic() < deadline, "node3 not reachable 5 s after heal"
    # Peers that failed to resolve it during the cut re-learn its address within a few seconds.
    deadline = time.monotonic() + 10
    while cli("exec", "node1", "--", "ping", "-c", "1", "-W", "1", addr).returncode != 0:
        assert time.monotonic() < deadline, "node1 cannot reach node3 10 s after heal"


def test_wrong_key_is_one_clear_error(lab: Lab, tmp_path: Path) -> None:
    data = yaml.safe_load(lab.paths.inventory.read_text())
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    data["ssh"]["key"] = str(tmp_path / "other")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    site = Site.load(bad)
    with pytest.raises(Exception, match=r"node1 \(10\.\d+\.\d+\.11\): SSH login failed: Authentication failed"):
        site.host("node1")


def long_lived(lab: Lab, node: str) -> set[int]:
    """The machine's processes but SSH's per-connection ones, which come and go with any
    client's login (an earlier test's failed login may still be closing)."""
    found = set()
    for pid in lab.machine(node).pids():
        with contextlib.suppress(OSError):
            if not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sshd:"):
                found.add(pid)
    return found


def test_up_again_changes_nothing(lab: Lab) -> None:
    before = {n: long_lived(lab, n) for n in NODES}
    result = cli("up", "--topology", "3node")
    assert result.returncode == 0, result.stderr
    assert {n: long_lived(lab, n) for n in NODES} == before


def test_another_topology_is_refused_while_this_one_is_up(lab: Lab) -> None:
    result = cli("up", "--topology", "5node")
    assert result.returncode == 1
    assert result.stderr.startswith("error: a 3node lab (")
    assert "take it down first with: python -m bootstrap.lab down" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_not_root_is_refused(lab: Lab) -> None:
    result = cli("up", "--topology", "3node", user="65534")
    assert result.returncode == 1
    assert "error: the lab needs root" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_host_tools_are_named(lab: Lab) -> None:
    result = cli("up", "--topology", "3node", env={**os.environ, "PATH": "/nonexistent"})
    assert result.returncode == 1
    assert "missing host tools: systemd-nspawn" in result.stderr


def test_up_repairs_a_crashed_lab(lab: Lab) -> None:
    # Every machine dies at once (as if the host's processes were killed);
    # mounts, cgroups, the bridge and the state stay behind.
    (lab_cgroup() / "cgroup.kill").write_text("1")
    deadline = time.monotonic() + 5
    while any(lab.machine(n).pids() for n in NODES):
        assert time.monotonic() < deadline
    assert cli("up", "--topology", "3node").returncode == 0
    assert all(lab.machine(n).state().value == "running" for n in NODES)
    assert cli("exec", "node2", "--", "cat", "/root/marker").stdout == "survived\n"


def test_down_after_a_half_finished_down_leaves_nothing(lab: Lab) -> None:
    # A down interrupted after it removed the state file: machines still run.
    lab.paths.state_file.unlink()
    result = cli("down")
    assert result.returncode == 0, result.stderr
    assert lab.leftovers() == []
    live = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
                status = (proc / "status").read_text()
            except OSError:
                continue
            if str(lab.paths.nodes_dir).encode() in cmdline and "State:\tZ" not in status:
                live.append(proc.name)
    assert live == []
    assert cli("status").stderr.startswith("error: no lab is up")
    # And up works again from nothing.
    assert cli("up", "--topology", "3node").returncode == 0
    assert all(ssh_port_open(address(lab, n)) for n in NODES)


def test_down_leaves_nothing(lab: Lab) -> None:
    # A fault journalled by a run killed before it could undo it: its machine goes with the lab, so
    # must the entry, or the next lab's heal "restores" a fault on a machine it never had.
    Journal(lab.paths.fault_journal).add(Fault("partition", "node2"))
    assert cli("down").returncode == 0
    assert lab.leftovers() == []
    assert not Path("/sys/class/net/halab0").exists()
