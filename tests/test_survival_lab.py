"""Survivability on the lab: a scenario of every kind runs on 3node and reports its figures (the
main job, ``pytest --topology=5node``, runs every scenario of its topology), the detection of lost
writes is real, and an interrupted run is restored."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bootstrap.deploy import deploy
from bootstrap.faults import Fault
from bootstrap.inventory import load
from bootstrap.lab.driver import LabFaults
from bootstrap.lab.lab import Lab
from bootstrap.maintenance import Deviation, Log, silent
from suites.findings import HUNG_DATABASE
from suites.survival.plan import FROZEN_DB, Scenario, generate
from suites.survival.scenarios import Runner
from suites.survival.workload import TABLE, connect
from tests.test_survival_analysis import one_of_each_kind

pytestmark = [pytest.mark.lab, pytest.mark.destructive]
ROOT = Path(__file__).resolve().parent.parent
BOUNDS = {"rto_bound_s": 15.0, "storage_rto_bound_s": 60.0}


@pytest.fixture(scope="module")
def lab3() -> Iterator[Lab]:
    lab = Lab()
    if lab.is_up():
        pytest.fail("a lab is already up on this host; the self-tests need it: python -m bootstrap.lab down")
    lab.up("3node")
    deploy(load(lab.paths.inventory), installer=lab.installer(), log=io.StringIO())
    yield lab
    lab.down()


def healthy(lab: Lab) -> None:
    """Everything running, nothing cut off, no fault left in the journal, VIPs settled."""
    status = lab.status()
    assert [n.state for n in status.nodes] == ["running"] * len(status.nodes)
    assert LabFaults().journal.load() == []
    deadline = time.monotonic() + 60
    while True:
        holders = lab.status().vips
        if all(len(v.holders) == 1 for v in holders.values()):
            break
        assert time.monotonic() < deadline, holders
        time.sleep(0.5)
    for node in ("node1", "node2"):
        out = lab.ssh(node, "mysql -E -e 'SHOW SLAVE STATUS' | grep -c ': Yes'").stdout.strip()
        deadline = time.monotonic() + 30
        while out != "2" and time.monotonic() < deadline:
            time.sleep(0.5)
            out = lab.ssh(node, "mysql -E -e 'SHOW SLAVE STATUS' | grep -c ': Yes'").stdout.strip()
        assert out == "2", f"replication on {node}"


def test_a_scenario_of_each_kind_on_3node_runs_and_reports_figures(lab3: Lab, tmp_path: Path) -> None:
    chosen = one_of_each_kind(generate(load(lab3.paths.inventory)))
    planned = {f"{sc.requirement}[{sc.name}]" for sc in chosen}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--inventory={lab3.paths.inventory}",
            "-m",
            "destructive",
            f"--report-dir={tmp_path}",
            "-q",
            *(f"suites/catalog.yaml::{cid}" for cid in sorted(planned)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    doc = json.loads((tmp_path / "results.json").read_text())
    checks = {c["id"]: c for c in doc["checks"]}
    kinds = {"kill", "stop", "partition", "reboot", "maintenance", "service", "rebuild", "site"}
    assert {sc.kind for sc in chosen} == kinds and len(planned) == 10, planned
    assert set(checks) == planned, proc.stdout[-2000:]
    for cid, c in checks.items():
        f = c.get("figures", {})
        assert set(f["rto_s"]) >= {"platform-api", "web", "keystone", "db-write", "db-read"}, cid
        assert f["writes_acked"] > 10, cid
        assert "lost_writes" in f and "vip_moves" in f and "timeline" in f, cid
        if c["outcome"] == "failed":  # a real failure must carry its evidence
            assert c["message"] and c["evidence"], cid
    # The power cut of the VIP holder moved both VIPs and took a few seconds, not zero.
    kill = checks["HA-SURV-001[kill-node1]"]["figures"]
    assert kill["rto_s"]["platform-api"] > 1.0
    assert len(kill["vip_moves"]["db"]) >= 2
    healthy(lab3)


class LosingFaults(LabFaults):
    """Lab faults that also destroy acknowledged rows while the node is down."""

    def undo(self, fault: Fault, log: Log = silent) -> list[Deviation]:
        inv = load(Lab().paths.inventory)
        conn = connect(str(inv.vips.db), inv.db.port, inv.db.user, inv.db.password())
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM {TABLE} ORDER BY wid LIMIT 3")  # the first three writes
        conn.close()
        return super().undo(fault, log)


def test_lost_writes_are_detected(lab3: Lab) -> None:
    inv = load(lab3.paths.inventory)
    outcome = Runner(inv, LosingFaults(), BOUNDS).run(Scenario("kill", ("node2",)))
    assert outcome.figures["lost_writes"] == 3
    lost = [p for p in outcome.problems if p.startswith("3 acknowledged write(s) lost, e.g. wid [")]
    assert lost, outcome.problems
    first, second, third = (int(w) for w in lost[0].split("[", 1)[1].rstrip("]").split(", "))
    assert second == first + 1 and third == first + 2  # the workload's first three numbers
    healthy(lab3)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["sigint", "sigterm", "sigkill"])
def test_an_interrupted_run_is_restored_by_heal(lab3: Lab, tmp_path: Path, how: signal.Signals) -> None:
    journal = LabFaults().journal
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--inventory={lab3.paths.inventory}",
            "-k",
            "HA-SURV-003 and node2",
            f"--report-dir={tmp_path}",
            "-q",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120

        def until(cond: Any, why: str) -> None:
            """Poll cond every 0.1 s while the run lives, up to the deadline."""
            while not cond():
                assert proc.poll() is None, f"the run ended before {why}"
                assert time.monotonic() < deadline, f"timed out before {why}"
                time.sleep(0.1)

        until(journal.load, "a fault was journalled")
        # The fault is journalled before it is injected: wait for the partition itself.
        until(lambda: lab3.machine("node2").state().value == "partitioned", "node2 was partitioned")
        proc.send_signal(how)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    if how is signal.SIGKILL:  # no finalizer ran: the journal remembers the fault
        assert journal.load() == [Fault("partition", "node2")]
    else:  # Ctrl-C, or a CI job cancelled: the run restored what it broke before it ended
        assert journal.load() == []
        assert proc.returncode == pytest.ExitCode.INTERRUPTED
    heal = subprocess.run(
        [sys.executable, "-m", "bootstrap.lab", "heal"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert heal.returncode == 0, heal.stderr
    healthy(lab3)


def suite(lab: Lab, report: Path, *args: str) -> dict[str, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--inventory={lab.paths.inventory}",
         f"--report-dir={report}", "-q", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    results = report / "results.json"
    assert results.exists(), proc.stdout[-3000:] + proc.stderr[-2000:]
    return {c["id"]: c for c in json.loads(results.read_text())["checks"]}


def test_a_hanging_fact_errors_only_the_checks_that_read_it(lab3: Lab, tmp_path: Path) -> None:
    """sudo hangs on the First Node (LDAP, say): HA-UPG-001 there is an error naming the fact;
    the node's other checks pass and the node is not reported unreachable."""
    hang = "printf '#!/bin/sh\\nexec sleep 120\\n' > /usr/local/sbin/sudo && chmod 755 /usr/local/sbin/sudo"
    assert lab3.ssh("node1", hang).returncode == 0
    try:
        checks = suite(lab3, tmp_path, "-m", "not destructive", "-k", "HA-UPG-001 or HA-OS")
    finally:
        assert lab3.ssh("node1", "rm -f /usr/local/sbin/sudo").returncode == 0
    upg = checks["HA-UPG-001[node1]"]
    assert upg["outcome"] == "error", upg
    assert "node1: fact 'yunion'" in upg["message"] and "did not answer within 10 s" in upg["message"]
    others = {cid: c for cid, c in checks.items() if cid.endswith("[node1]") and cid != "HA-UPG-001[node1]"}
    assert others and all(c["outcome"] == "passed" for c in others.values()), others
    assert not [c for c in checks.values() if "unreachable" in c["message"]]


def test_a_failure_waived_before_the_faults_does_not_fail_a_scenario(lab3: Lab, tmp_path: Path) -> None:
    """A low-stakes failure the site lives with (waived), present before the first fault: the
    scenario is judged against that baseline and passes."""
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n  - requirement: HA-UPG-001\n    node: node1\n"
        "    justification: upgrades are done as root on this site, ticket 42\n    expires: 2099-12-31\n"
    )
    assert lab3.ssh("node1", "mv /etc/sudoers.d/yunion /root/yunion.sudoers").returncode == 0
    try:
        checks = suite(lab3, tmp_path, f"--waivers={waivers}", "-k", "HA-UPG-001 or stop-node2")
    finally:
        assert lab3.ssh("node1", "mv /root/yunion.sudoers /etc/sudoers.d/yunion").returncode == 0
    assert checks["HA-UPG-001[node1]"]["outcome"] == "waived"
    scenario = checks["HA-SURV-002[stop-node2]"]
    assert scenario["outcome"] == "passed", scenario["message"]
    healthy(lab3)


def test_a_hung_database_keeps_its_vip_under_the_documented_health_check(lab3: Lab) -> None:
    """The DB-HA page's chk_mysql is a TCP probe: MariaDB frozen on the DB VIP's holder still
    completes handshakes, the VIP stays, and the database is down for the whole freeze; the
    outcome names the finding, and the database answers again once thawed."""
    inv = load(lab3.paths.inventory)
    outcome = Runner(inv, LabFaults(), BOUNDS).run(Scenario("service", service=FROZEN_DB, vip="db"))
    assert set(outcome.findings.values()) == {HUNG_DATABASE}, outcome.problems
    assert outcome.unexplained == [], outcome.unexplained
    assert outcome.figures["rto_s"]["db-write"] >= BOUNDS["rto_bound_s"]
    assert [held for _, held in outcome.figures["vip_moves"]["db"]] == [["node1"]]  # never moved
    assert outcome.figures["lost_writes"] == 0
    healthy(lab3)
