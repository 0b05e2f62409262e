"""The conformance plugin as users run it (pytester), without the lab: options,
collection and ids, markers, the coverage gate, waiver files, unreachable nodes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from suites.catalog import CATALOG
from suites.model import RunResult, catalog_sha256
from tests.conftest import loopback_inventory

PLUGINS = ("-p", "fixtures.plugin", "-p", "no:cacheprovider", "-p", "no:pytest11.testinfra")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*PLUGINS, *args, timeout=180)


def test_ids_name_requirement_and_node(pytester: pytest.Pytester) -> None:
    inv = loopback_inventory(pytester)
    result = run(pytester, f"--inventory={inv}", str(CATALOG), "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    assert "catalog.yaml::HA-DB-003[dba]" in out
    assert "catalog.yaml::HA-DBHA-001[dbb]" in out
    assert "catalog.yaml::HA-VIP-001[vip-platform]" in out
    assert "catalog.yaml::HA-CP-002[site]" in out
    assert "HA-SSH-001[cp1]" not in out  # the First Node checks the others, not itself
    assert "HA-VIP-005" not in out  # preinstall only


def test_markers_select_by_area_severity_and_phase(pytester: pytest.Pytester) -> None:
    inv = loopback_inventory(pytester)
    result = run(pytester, f"--inventory={inv}", str(CATALOG), "--collect-only", "-q", "-m", "dbha and critical")
    ids = [line.split("::")[1] for line in result.stdout.lines if "::" in line]
    checks = [i for i in ids if not i.startswith("ROOT-")]  # root causes stay in every selection
    assert checks and all(i.startswith(("HA-DBHA-001", "HA-DBHA-005", "HA-DBHA-006", "HA-DBHA-007")) for i in checks)
    assert "ROOT-DB[site]" in ids and "ROOT-SSH[dba]" in ids
    pre = run(pytester, f"--inventory={inv}", str(CATALOG), "--collect-only", "-q", "--phase=preinstall")
    assert "HA-VIP-005[vip-platform]" in pre.stdout.str()
    assert "HA-CP-002[site]" not in pre.stdout.str()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--profile=vendor", "--profile: unknown profile 'vendor'; choose one of: document, ocboot"),
        ("--phase=during", "--phase: unknown phase 'during'; choose one of: preinstall, postinstall"),
        ("--topology=7node", "--topology: unknown topology '7node'"),
    ],
)
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, option: str, message: str) -> None:
    result = run(pytester, option, str(CATALOG))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_coverage_gate_names_unknown_and_unchecked_requirements(pytester: pytest.Pytester) -> None:
    inv = loopback_inventory(pytester)
    catalog = yaml.safe_load(CATALOG.read_text())
    extra = copy.deepcopy(catalog[0])
    extra["id"] = "HA-OS-099"
    (pytester.path / "catalog.yaml").write_text(yaml.safe_dump([*catalog, extra], allow_unicode=True))
    pytester.makeconftest(
        """
        from suites.registry import check

        @check("HA-OS-098")
        def stray(ctx):
            pass
        """
    )
    result = run(pytester, f"--inventory={inv}", "--catalog=catalog.yaml", "catalog.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "requirement coverage gate:" in err
    assert "HA-OS-099: catalogued, but no check verifies it" in err
    assert "HA-OS-098: named by conftest.stray, but not in the catalog" in err


@pytest.mark.parametrize(
    ("waiver", "message"),
    [
        (
            {"requirement": "HA-OS-002", "expires": "2030-01-01"},
            "waivers[0].justification: Field required",
        ),
        (
            {"requirement": "HA-OS-002", "justification": "ok", "expires": "2030-01-01"},
            "waivers[0].justification: a waiver needs a justification of at least 10 characters",
        ),
        (
            {"requirement": "HA-OS-777", "justification": "approved by the customer", "expires": "2030-01-01"},
            "waivers[0].requirement: unknown requirement HA-OS-777",
        ),
        (
            {"requirement": "HA-OS-002", "justification": "approved by the customer", "expires": "soon"},
            "waivers[0].expires: Input should be a valid date",
        ),
        (
            {
                "requirement": "HA-SURV-003",
                "finding": "stale-arp",
                "justification": "approved by the customer",
                "expires": "2030-01-01",
            },
            "waivers[0].finding: unknown finding 'stale-arp'; known: binlog-lost-in-power-cut, db-equal-priorities, "
            "hung-database-undetected, local-volume-strands-workload, stale-vip-announcement",
        ),
    ],
)
def test_bad_waiver_files_name_the_field(pytester: pytest.Pytester, waiver: dict[str, str], message: str) -> None:
    (pytester.path / "waivers.yaml").write_text(yaml.safe_dump({"waivers": [waiver]}))
    result = run(pytester, "--waivers=waivers.yaml", str(CATALOG))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_unreachable_nodes_fail_each_check_with_one_line(pytester: pytest.Pytester, tmp_path: Path) -> None:
    inv = loopback_inventory(pytester)
    result = run(pytester, f"--inventory={inv}", str(CATALOG), "-m", "os", f"--report-dir={tmp_path}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "Traceback" not in out
    result.stdout.fnmatch_lines(
        [
            "*HA-OS-001[[]dba]*",
            "blocked by ROOT-SSH[[]dba]: dba (127.0.0.13) is unreachable over SSH: 127.0.0.13:1: Connection refused",
        ]
    )
    doc = json.loads((tmp_path / "results.json").read_text())
    # One root item per node, failed once with the reason; every check on the node blocked by it.
    roots = {c["id"]: c for c in doc["checks"] if c["requirement"] == "ROOT-SSH"}
    assert sorted(roots) == [f"ROOT-SSH[{n}]" for n in sorted(["cp1", "cp2", "cp3", "dba", "dbb"])]
    assert all(c["outcome"] == "failed" and "unreachable over SSH" in c["message"] for c in roots.values())
    node_checks = [c for c in doc["checks"] if c["node"] and c["requirement"].startswith("HA-")]
    assert node_checks and all(c["outcome"] == "error" for c in node_checks)
    assert all(c["blocked_by"] == f"ROOT-SSH[{c['node']}]" for c in node_checks)
    assert all("unreachable over SSH" in c["message"] for c in node_checks)
    summary = result.stdout.str().split("Cloudpods HA conformance", 1)[1]
    assert summary.index("root causes") < summary.index("passed")  # the summary leads with them
    assert doc["schema"] == "cloudpods-ha-conformance/results" and doc["version"] == 2
    parsed = RunResult.model_validate(doc)  # the exported schema's models (docs/results.schema.json)
    assert parsed.suite.catalog_sha256 == catalog_sha256(CATALOG) and parsed.suite.version
    assert parsed.suite.commit is None or len(parsed.suite.commit) == 40
    assert doc["site"] == "acme-prod" and doc["phase"] == "postinstall"


def test_a_vip_the_runner_cannot_reach_is_one_root_cause(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """The platform VIP gives the runner no answer at all (TCP timeouts, simulated: no traffic
    leaves this machine): ROOT-VIP[platform] fails once; every check through it is blocked by it."""
    inv = loopback_inventory(pytester)
    pytester.makepyfile(
        novip="""
from suites import runtime as context
real = context.tcp_reachable
def pytest_configure(config):
    context.tcp_reachable = lambda a, p, t: f"{a}:{p}: timed out" if a == "127.0.0.100" else real(a, p, t)
"""
    )
    result = run(
        pytester,
        "-p",
        "novip",
        f"--inventory={inv}",
        str(CATALOG),
        "-m",
        "(cp or web or vip) and not destructive",
        f"--report-dir={tmp_path}",
    )
    assert "Traceback" not in result.stdout.str()
    doc = json.loads((tmp_path / "results.json").read_text())
    by_id = {c["id"]: c for c in doc["checks"]}
    root = by_id["ROOT-VIP[platform]"]
    assert root["outcome"] == "failed" and "the runner gets no answer from the platform VIP" in root["message"]
    assert by_id["ROOT-VIP[db]"]["outcome"] == "passed"  # refused is an answer
    for cid in ("HA-CP-002[site]", "HA-WEB-001[site]", "HA-WEB-002[site]", "HA-VIP-003[vip-platform]"):
        assert by_id[cid]["outcome"] == "error" and by_id[cid]["blocked_by"] == "ROOT-VIP[platform]", by_id[cid]
    assert by_id["HA-VIP-003[vip-db]"].get("blocked_by") != "ROOT-VIP[platform]"


WINDOW_PROBE = """
import pytest
from fixtures import items

@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    print("VIP-WINDOW", session.config.stash[items.VIP_WINDOW_KEY])
"""


@pytest.mark.parametrize(
    ("selection", "opens"),
    [(("-k", "HA-VIP-004"), True), (("-m", "destructive"), False), (("-k", "HA-OS-001"), False), ((), True)],
)
def test_only_a_run_judging_the_vip_window_opens_it(
    pytester: pytest.Pytester, selection: tuple[str, ...], opens: bool
) -> None:
    """Each worker opens the VIP window at its first item only where the run's items (after
    deselection) include the check that reads it: a destructive-only run samples nothing."""
    inv = loopback_inventory(pytester)
    pytester.makepyfile(window_probe=WINDOW_PROBE)
    result = run(
        pytester, "-p", "window_probe", f"--inventory={inv}", str(CATALOG), "--collect-only", "-q", "-s", *selection
    )
    assert f"VIP-WINDOW {opens}" in result.stdout.str(), result.stdout.str()[-1500:]


AHEAD_PROBE = """
import threading
from fixtures import items

real = items.CheckItem.judge
def judge(self, rt):
    with open("judged.txt", "a") as f:
        f.write(f"{self.name} {threading.current_thread().name}\\n")
    return real(self, rt)
items.CheckItem.judge = judge
"""


def _judged(pytester: pytest.Pytester, tmp_path: Path, name: str, *args: str) -> tuple[dict[str, str], dict[str, str]]:
    """Run with ``args``: {item: thread that judged it}, {item id: outcome + message}."""
    inv = loopback_inventory(pytester)
    pytester.makepyfile(ahead_probe=AHEAD_PROBE)
    (pytester.path / "judged.txt").unlink(missing_ok=True)
    report = tmp_path / name
    run(pytester, "-p", "ahead_probe", f"--inventory={inv}", str(CATALOG), f"--report-dir={report}", *args)
    lines = (pytester.path / "judged.txt").read_text().split("\n")
    threads = dict(line.split(" ", 1) for line in lines if line)
    doc = json.loads((report / "results.json").read_text())
    return threads, {c["id"]: f"{c['outcome']} {c['message']}" for c in doc["checks"]}


def test_a_serial_read_only_run_judges_its_checks_ahead(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Without xdist workers and without destructive items, the checks are judged three at a
    time ahead of their turn, with the verdicts one by one would give; a worker, or a run with a
    destructive scenario (which must have the site alone), judges each in its turn."""
    ahead, ahead_results = _judged(pytester, tmp_path, "serial", "-m", "os or ssh")
    assert len(ahead) > 10 and all(t.startswith("judge") for t in ahead.values()), ahead
    assert len(set(ahead.values())) > 1  # more than one at a time
    worker, worker_results = _judged(pytester, tmp_path, "worker", "-m", "os or ssh", "-n", "1")
    assert set(worker.values()) == {"MainThread"}
    assert worker_results == ahead_results
    mixed, _ = _judged(pytester, tmp_path, "mixed", "-m", "os or ssh or destructive")
    assert set(mixed.values()) == {"MainThread"}
