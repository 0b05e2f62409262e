"""The site model without the lab (no root): site kind, the deployer's refusals, facts as
declared probes, expected-value names, the VIP reader, baseline verdicts, import graph."""

from __future__ import annotations

import ast
import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import inventory as inv
from bootstrap.deploy import DeployError, deploy
from bootstrap.lab import __main__ as lab_cli
from bootstrap.lab.lab import Lab
from bootstrap.remote import Result
from bootstrap.sitekind import SiteKind, destruction_refused
from bootstrap.vips import holders
from suites import catalog as cat
from suites.engine import coverage_problems
from suites.facts import PROBES, Probe, batch_script, parse_batch
from suites.factsource import RecordedFactSource, SshFactSource
from suites.registry import REGISTRY, check
from suites.survival.recheck import broken_by_scenario
from tests.conftest import VALID_INVENTORY

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bootstrap", "fixtures", "suites")


# Site kind ----------------------------------------------------------------------------------
def test_only_the_labs_own_inventory_file_is_the_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "lab"
    home.mkdir()
    (home / "state.json").write_text("{}")
    (home / "inventory.yaml").write_text(yaml.safe_dump(VALID_INVENTORY))
    monkeypatch.setenv("HA_LAB_HOME", str(home))
    lab = Lab()
    assert lab.owns_inventory(home / "inventory.yaml")
    copy_path = tmp_path / "acme.yaml"  # byte for byte the lab's, under another name: a site
    copy_path.write_text((home / "inventory.yaml").read_text())
    assert not lab.owns_inventory(copy_path)
    (home / "state.json").unlink()  # no lab up: its old file is nobody's lab
    assert not lab.owns_inventory(home / "inventory.yaml")


def test_destruction_needs_confirmation_of_the_sites_own_name() -> None:
    assert destruction_refused(SiteKind.LAB, "lab-3node", False, None) is None
    assert destruction_refused(SiteKind.SITE, "acme", True, "acme") is None
    for destructive, confirm in ((False, "acme"), (True, None), (True, "lab-5node")):
        assert destruction_refused(SiteKind.SITE, "acme", destructive, confirm) is not None


# The deployer on a site ------------------------------------------------------------------------
def test_deployer_refuses_a_site_without_confirmation_before_connecting() -> None:
    data: dict[str, Any] = copy.deepcopy(VALID_INVENTORY)
    data["nodes"] = [{**n, "address": f"127.0.0.{20 + i}"} for i, n in enumerate(data["nodes"])]
    site = inv.parse(data)
    with pytest.raises(DeployError, match=r"--confirm-site=acme-prod"):
        deploy(site)
    with pytest.raises(DeployError, match=r"--confirm-site=acme-prod"):
        deploy(site, confirm_site="lab-5node")


def test_the_deployer_imports_nothing_from_the_lab() -> None:
    graph = import_graph()
    deploy_modules = [m for m in graph if m == "bootstrap.deploy" or m.startswith("bootstrap.deploy.")]
    assert deploy_modules
    for module in deploy_modules:
        assert not [i for i in reachable(graph, module) if i.startswith("bootstrap.lab")], module


def test_the_package_import_graph_has_no_cycles() -> None:
    graph = import_graph()
    cycles = [m for m in graph if m in reachable(graph, m)]
    assert not cycles, f"modules on an import cycle: {sorted(cycles)}"


def import_graph() -> dict[str, set[str]]:
    """Every module of the packages -> the package modules it imports at run time (lazily too;
    imports for type checking only are not imports at run time)."""
    modules = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        tree = ast.parse(path.read_text())
        typing_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
            for n in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += graph.get(m, ())
    return seen


# Facts as declared probes ------------------------------------------------------------------------
def run_batch(probes: list[Probe]) -> str:
    """The batch as a node runs it, here with the host's /bin/sh (dash: POSIX only)."""
    return subprocess.run(
        ["/bin/sh", "-c", batch_script(probes, "t")], capture_output=True, text=True, timeout=30, check=False
    ).stdout


def test_a_hanging_probe_fails_alone_with_its_time_limit() -> None:
    probes = [Probe("first", "echo one"), Probe("hangs", "sleep 30", timeout=1), Probe("last", "printf 'a\\nb'")]
    facts = parse_batch(run_batch(probes), "t", probes)
    assert facts["first"].ok and facts["first"].output == "one"
    assert not facts["hangs"].ok and facts["hangs"].why() == "did not answer within 1 s"
    assert facts["last"].ok and facts["last"].output == "a\nb"


def test_a_probe_keeps_its_exit_status_and_output() -> None:
    probes = [Probe("fails", "echo no such file >&2; exit 3")]
    fact = parse_batch(run_batch(probes), "t", probes)["fails"]
    assert fact.rc == 3 and fact.why() == "exited 3: no such file"


def test_a_probe_missing_from_the_output_has_no_result() -> None:
    probes = [Probe("a", "true"), Probe("b", "true")]
    facts = parse_batch("@@ha-fact-t@@ begin a\nx\n\n@@ha-fact-t@@ end a 0\n@@ha-fact-t@@ begin b\npart", "t", probes)
    assert facts["a"].ok and facts["b"].rc is None and "no result" in facts["b"].why()


def test_every_catalog_probe_runs_under_posix_sh() -> None:
    probes = list(PROBES.values())
    facts = parse_batch(run_batch(probes), "t", probes)
    assert set(facts) == set(PROBES)
    assert all(f.rc is not None for f in facts.values()), {n: f.why() for n, f in facts.items()}


def test_an_unknown_fact_name_is_a_coverage_problem() -> None:
    registry: dict[str, Any] = {}

    def misspelt(ctx: Any) -> None:
        pass

    check("HA-OS-003", facts=("hostnmae",))(misspelt)
    registry = {"HA-OS-003": [REGISTRY["HA-OS-003"].pop()]}
    problems = coverage_problems({k: v for k, v in cat.load().items() if k == "HA-OS-003"}, registry)
    assert any("unknown fact(s) hostnmae" in p for p in problems), problems


def test_a_misspelt_expected_value_name_stops_the_catalog(tmp_path: Path) -> None:
    entries = yaml.safe_load(cat.CATALOG.read_text())
    entry = next(e for e in entries if e["id"] == "HA-DB-002")
    entry["expect"] = {"expire_logs_days": "expire_log_days"}
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(entries, allow_unicode=True))
    with pytest.raises(cat.CatalogError, match=r"HA-DB-002: expect.expire_logs_days: 'expire_log_days' names no"):
        cat.load(path)


# VIP holders ------------------------------------------------------------------------------------
def test_vip_holders_are_read_on_any_interface_in_both_output_forms() -> None:
    json_form = '[{"ifname": "br0", "addr_info": [{"family": "inet", "local": "10.0.0.100", "prefixlen": 32}]}]'
    line_form = (
        "2: eth0    inet 10.0.0.12/24 brd 10.0.0.255 scope global eth0\n2: eth0    inet 10.0.0.100/32 scope global"
    )
    found = holders({"n1": json_form, "n2": line_form, "n3": ""}, {"platform": "10.0.0.100", "db": "10.0.0.101"})
    assert found == {"platform": ["n1", "n2"], "db": []}


# Baseline verdicts --------------------------------------------------------------------------------
def test_a_scenario_answers_only_for_what_it_broke() -> None:
    baseline = {"A[n1]": ("waived", "old"), "B[n1]": ("failed", "old"), "C[site]": ("passed", "")}
    after = {"A[n1]": ("waived", "old"), "B[n1]": ("error", "worse"), "C[site]": ("failed", "new")}
    assert broken_by_scenario(baseline, after) == ["C[site]: new"]


def test_the_lab_cli_offers_deploy() -> None:
    args = lab_cli.parser().parse_args(["deploy", "--stage", "prepare"])
    assert args.cmd == "deploy" and args.stage == "prepare"


def test_a_probe_with_roles_is_asked_only_on_nodes_with_one_of_them() -> None:
    """kube_objects is the cluster's one answer (First Node); a DB node is not asked, and the
    fact says so rather than reading as absent."""
    db = inv.NodeEntry(name="db1", address="10.0.0.21", roles=["db-ha"])
    first = inv.NodeEntry(name="node1", address="10.0.0.11", roles=["first", "control", "platform-ha"])
    asked: dict[str, str] = {}

    def run(node: inv.NodeEntry, script: str, timeout: float) -> Result:
        asked[node.name] = script
        return Result(0, "", "")

    for node in (db, first):
        SshFactSource(run).facts(node)
    assert "begin kube_objects" not in asked["db1"] and "begin kube_objects" in asked["node1"]
    assert "begin keepalived_history" in asked["db1"] and "begin hostname" in asked["db1"]
    fact = RecordedFactSource({"db1": {"kube_objects": (0, "{}")}}).facts(db).values["kube_objects"]
    assert not fact.ok and fact.why() == "not asked on this node (asked only on nodes with role first)"
