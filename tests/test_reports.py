"""Reports rendered from recorded results: junit.xml, report.html (en and zh, in headless
Chromium too), the terminal summary, the gate's exit codes, and no secret in any file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from fixtures import report
from fixtures.report import html, junit, summary
from fixtures.report.__main__ import main as report_cli
from fixtures.results import Recorder, requirement_record
from suites import catalog as cat
from suites.model import SCHEMA, SCHEMA_VERSION, catalog_sha256
from tests.conftest import loopback_inventory

SECRET = "Pl4nted-S3cret-7f3a9c"  # distinctive: must never reach a report file


def requirement(rid: str) -> dict[str, Any]:
    return requirement_record(cat.load(cat.CATALOG)[rid])


def check(rid: str, node: str | None, outcome: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{rid}[{node or 'site'}]",
        "requirement": rid,
        "node": node,
        "subject": None,
        "outcome": outcome,
        "message": extra.pop("message", ""),
        "evidence": extra.pop("evidence", []),
        "duration_s": 0.1,
        **extra,
    }


def scenario_figures(lost: int) -> dict[str, Any]:
    up, down = "#" * 30, "." * 12
    return {
        "rto_s": {"platform-api": 3.7, "db-write": 4.1 if not lost else None, "storage": 7.5},
        "writes_acked": 120,
        "lost_writes": lost,
        "duplicates": 0,
        "failed_but_present": 1,
        "unknown_applied": 0,
        "vip_moves": {"platform": [[0.0, ["node1"]], [9.8, ["node2"]]], "db": [[0.0, ["db1"]]]},
        "events": [[0.0, "warm-up"], [6.0, "fault: kill node1"], [16.0, "restore"], [26.0, "end"]],
        "timeline": {"platform-api": up + down + up + up, "db-write": up + down + up + up},
        "span_s": 26.0,
        "convergence_s": 6.2,
        "checksums_equal": True,
        "phases_s": {
            "warm-up": 6.0,
            "fault": 0.1,
            "hold": 9.9,
            "restore": 0.4,
            "members healthy": 1.2,
            "stable window": 5.0,
            "post-checks": 2.1,
            "judge": 1.3,
            "recheck": 3.0,
        },
    }


@pytest.fixture
def recorded() -> dict[str, Any]:
    """A run as results.json records it: passes, failures with evidence, an error, a waiver,
    manual items, and two scenarios, one of which lost writes."""
    ids = ["HA-OS-001", "HA-DB-003", "HA-DBHA-001", "HA-KA-001", "HA-VIP-006", "HA-SURV-001", "HA-OS-003"]
    checks = [
        check("HA-OS-001", "node1", "passed"),
        check(
            "HA-OS-001",
            "node2",
            "failed",
            message="SELinux is Enforcing",
            evidence=[{"command": "getenforce", "output": "Enforcing"}],
        ),
        check(
            "HA-DB-003",
            "db1",
            "failed",
            message="max_connections is 151, expected 1000",
            evidence=[{"command": "SHOW VARIABLES LIKE 'max_connections'", "output": "max_connections\t151"}],
        ),
        check("HA-DBHA-001", "db2", "error", message="db2 (10.0.0.22) is unreachable over SSH: timed out"),
        check("HA-KA-001", "node1", "waived", message="keepalived on eth1; waived until 2027-01-01"),
        check("HA-OS-003", "node1", "passed"),
        check("HA-VIP-006", None, "manual", message="manual: The VIP is added to the platform's reserved IPs"),
        check("HA-SURV-001", None, "passed", id="HA-SURV-001[kill-node1]", figures=scenario_figures(0)),
        check(
            "HA-SURV-001",
            None,
            "failed",
            id="HA-SURV-001[kill-node2]",
            figures=scenario_figures(3),
            message="3 acknowledged write(s) lost, e.g. wid [17, 18, 19]",
        ),
    ]
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "suite": {"version": "0.1.0", "commit": None, "catalog_sha256": catalog_sha256(cat.CATALOG)},
        "site": "acme-prod",
        "site_kind": "site",
        "topology": "5node",
        "profile": "document",
        "phase": "postinstall",
        "nodes": [
            {"name": n, "address": f"10.0.0.{i}", "roles": []}
            for i, n in enumerate(["node1", "node2", "node3", "db1", "db2"], 11)
        ],
        "started_at": "2026-11-28T10:00:00Z",
        "finished_at": "2026-11-28T10:05:00Z",
        "requirements": {rid: requirement(rid) for rid in ids},
        "checks": checks,
    }


class Cells(HTMLParser):
    """The matrix as (requirement, column header, cell class) and the page's tags."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headers: list[str] = []
        self.cells: dict[tuple[str, str], str] = {}
        self.texts: dict[tuple[str, int], str] = {}
        self._table: str | None = None
        self._row: str | None = None
        self._col = -1
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table":
            self._table = a.get("id")
        elif tag == "tr" and self._table == "matrix":
            self._row, self._col = a.get("data-requirement"), -1
        elif tag == "th" and self._table == "matrix" and self._row is None:
            self._in_th = True
        elif tag == "td" and self._table == "matrix" and self._row:
            self._col += 1
            if "cell" in (a.get("class") or ""):
                self.cells[(self._row, self.headers[self._col])] = (a.get("class") or "").split()[-1]

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_th = False
        if tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._in_th:
            self.headers.append(data.strip())
        elif self._table == "matrix" and self._row and data.strip():
            self.texts.setdefault((self._row, self._col), data.strip())

    def text_of(self, requirement: str, column: int) -> str:
        """The text of a matrix row's ``column``-th cell (0: the requirement)."""
        return self.texts.get((requirement, column), "")


def parse(page: str) -> Cells:
    p = Cells()
    p.feed(page)
    return p


def test_junit_suite_is_the_site_and_cases_are_requirement_and_node(recorded: dict[str, Any]) -> None:
    root = ET.fromstring(junit.render(recorded))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "acme-prod"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "9",
        "3",
        "1",
        "2",
    )
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert "HA-OS-001[node2]" in cases and "HA-DB-003[db1]" in cases
    assert {c.get("classname") for c in cases.values()} >= {"acme-prod.HA-OS-001", "acme-prod.HA-DB-003"}
    failure = cases["HA-OS-001[node2]"].find("failure")
    assert failure is not None and failure.get("message") == "SELinux is Enforcing"
    assert "$ getenforce\nEnforcing" in (failure.text or "") and "remediation:" in (failure.text or "")
    assert cases["HA-DBHA-001[db2]"].find("error") is not None
    assert cases["HA-KA-001[node1]"].find("skipped").get("type") == "waived"  # type: ignore[union-attr]
    assert cases["HA-VIP-006[site]"].find("skipped").get("type") == "manual"  # type: ignore[union-attr]
    assert list(cases["HA-OS-001[node1]"]) == [c for c in cases["HA-OS-001[node1]"] if c.tag == "properties"]


def test_html_matrix_has_every_outcome_in_its_cell(recorded: dict[str, Any]) -> None:
    page = parse(html.render(recorded, "en", "critical"))
    assert page.headers[:3] == ["Requirement", "Severity", "Source"]
    assert page.headers[3:] == ["node1", "node2", "node3", "db1", "db2", "site"]
    assert page.text_of("HA-DBHA-001", 2) == "DB-HA page" and page.text_of("HA-OS-001", 2) == "HA document"
    assert page.cells[("HA-OS-001", "node1")] == "passed"
    assert page.cells[("HA-OS-001", "node2")] == "failed"
    assert page.cells[("HA-OS-001", "db1")] == "na"
    assert page.cells[("HA-DBHA-001", "db2")] == "error"
    assert page.cells[("HA-KA-001", "node1")] == "waived"
    assert page.cells[("HA-VIP-006", "site")] == "manual"
    # Two scenarios in one site cell: the worst shows.
    assert page.cells[("HA-SURV-001", "site")] == "failed"


def test_html_header_failures_and_survivability(recorded: dict[str, Any]) -> None:
    text = html.render(recorded, "en", "critical")
    page = parse(text)
    assert 'id="verdict" class="verdict-fail"' in text  # HA-OS-001 is critical and fails on node2
    assert "acme-prod" in text and "5node" in text and "postinstall" in text and "document" in text
    # Each failure with its evidence, severity and remediation.
    assert 'id="fail-HA-DB-003[db1]"' in text
    assert "max_connections\t151" in text
    assert requirement("HA-DB-003")["remediation"]["en"] in text
    # Survivability: lost writes flagged, never-back RTO, timelines with fault and VIP moves.
    assert text.count('<svg class="timeline"') == 2
    assert '<td class="failed">3</td>' in text
    assert "never back" in text
    assert any(tag == "rect" and a.get("class") == "down" for tag, a in page.tags)
    assert any(tag == "line" and a.get("class") == "fault" for tag, a in page.tags)
    assert any(tag == "polygon" and a.get("class") == "move" for tag, a in page.tags)
    assert "platform → node2" in text
    assert 'id="layout"' not in text  # no layout recorded: no row
    # Where each scenario's time went: a bar per scenario, a segment per phase, proportional.
    assert text.count('<svg class="phases"') == 2
    segs = [a for tag, a in page.tags if tag == "rect" and a.get("class", "").startswith("ph")]
    assert len(segs) == 18 and "hold 9.9" in text and "29.0 s" in text
    widths = [float(a["width"]) for a in segs[:9]]
    assert abs(sum(widths) - html.PLOT_W) < 1 and widths[2] == max(widths)  # the hold, the longest


def test_a_scenario_without_phases_has_no_bar() -> None:
    assert html.phases_bar({"timeline": {}}) is None
    assert html.phases_bar({"phases_s": {"warm-up": 0.0}}) is None


def test_the_header_names_the_install_layout_and_where_it_came_from(recorded: dict[str, Any]) -> None:
    recorded["layout"] = {
        "line": "k3s",
        "db_ha": "ocboot",
        "sources": {"line": "detected on node1: /etc/systemd/system/k3s.service", "db_ha": "inventory layout.db_ha"},
    }
    text = html.render(recorded, "en", "critical")
    assert 'id="layout">k3s · DB HA ocboot' in text and "detected on node1: /etc/systemd/system/k3s.service" in text
    recorded["layout"]["line"] = None
    assert "no install line detected" in html.render(recorded, "en", "critical")
    assert "未检测到安装方式" in html.render(recorded, "zh", "critical")


def test_a_scenario_that_ended_early_still_renders(recorded: dict[str, Any]) -> None:
    """A scenario that failed before its fault has few figures (no moves, no audit)."""
    recorded["requirements"]["HA-SURV-002"] = requirement("HA-SURV-002")
    recorded["checks"].append(
        check(
            "HA-SURV-002",
            None,
            "failed",
            id="HA-SURV-002[stop-node1]",
            figures={"rto_s": {"db-write": None}},
            message="a healthy site before the fault not reached within 60 s",
        )
    )
    text = html.render(recorded, "en", "critical")
    assert "HA-SURV-002[stop-node1]" in text
    assert "HA-SURV-002[stop-node1] failed: db-write=never" in "\n".join(summary.lines(recorded, "critical"))
    assert ET.fromstring(junit.render(recorded)) is not None


def test_html_is_self_contained(recorded: dict[str, Any]) -> None:
    page = parse(html.render(recorded, "en", "critical"))
    assert not [t for t, _ in page.tags if t in ("script", "link", "img", "iframe", "object")]
    fetching = [a for _, a in page.tags for k in ("src", "href") if a.get(k)]
    assert fetching == []


def test_html_in_chinese(recorded: dict[str, Any]) -> None:
    text = html.render(recorded, "zh", "critical")
    assert 'lang="zh-CN"' in text and "符合性报告" in text
    assert requirement("HA-OS-001")["title"]["zh"] in text
    assert requirement("HA-DB-003")["remediation"]["zh"] in text
    assert parse(text).headers[:2] == ["需求", "严重级别"]


def test_gate_counts_only_failures_at_or_above_its_severity(recorded: dict[str, Any]) -> None:
    critical = report.verdict(recorded, "critical")
    assert not critical.passed
    assert {c["id"] for c in critical.gating} == {"HA-OS-001[node2]", "HA-DBHA-001[db2]", "HA-SURV-001[kill-node2]"}
    # HA-DB-003 (medium) fails, HA-OS-003 (high) passes.
    medium = dict(recorded, checks=[c for c in recorded["checks"] if c["requirement"] in ("HA-DB-003", "HA-OS-003")])
    assert report.verdict(medium, "critical").passed and report.verdict(medium, "high").passed
    assert not report.verdict(medium, "medium").passed and not report.verdict(medium, "low").passed


def test_summary_lists_counts_failing_requirements_and_figures(recorded: dict[str, Any]) -> None:
    lines = summary.lines(recorded, "critical")
    text = "\n".join(lines)
    assert re.search(r"critical\s+2\s+2\s+1\s", text)
    assert "HA-OS-001 [critical]" in text and ": node2" in text
    assert "HA-DBHA-001 [critical]" in text and ": db2" in text
    assert "HA-SURV-001[kill-node2] failed: db-write=never platform-api=3.7 storage=7.5; lost 3" in text
    assert lines[-1] == "gate (critical and above): FAIL, 3 failing check(s)"


def test_a_checks_own_figures_are_no_survivability_row(recorded: dict[str, Any]) -> None:
    """HA-CP-008 carries etcd's tolerance figures; the summary lists scenarios only."""
    recorded["checks"].append(check("HA-CP-008", None, "passed", figures={"etcd": {"voters": 3, "tolerated": 1}}))
    text = "\n".join(summary.lines(recorded, "critical"))
    assert "HA-SURV-001[kill-node1] passed" in text and "HA-CP-008" not in text


def test_cli_renders_recorded_results_again_in_the_other_language(recorded: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(recorded))
    assert report_cli([str(tmp_path / "results.json"), "--lang=zh", "--gate-severity=critical"]) == 1
    assert "符合性报告" in (tmp_path / "report.html").read_text()
    assert ET.parse(tmp_path / "junit.xml").getroot().tag == "testsuites"
    (tmp_path / "bad.json").write_text("{}")
    assert report_cli([str(tmp_path / "bad.json")]) == 2


def test_no_planted_secret_reaches_any_report_file(recorded: dict[str, Any], tmp_path: Path) -> None:
    """A check that leaks the password into its message and evidence: the run's files hold none of it."""
    rec = Recorder()
    for c in recorded["checks"]:
        rec.records[c["id"]] = dict(c)
    rec.records["leak"] = check(
        "HA-DB-003",
        "db2",
        "failed",
        message=f"mysql -p{SECRET} said no",
        evidence=[{"command": f"mysql -uroot -p{SECRET} -e 'SELECT 1'", "output": f"password {SECRET} rejected"}],
    )
    context = {k: recorded[k] for k in ("suite", "site", "site_kind", "topology", "profile", "phase", "nodes")}

    def redact(text: str) -> str:
        return text.replace(SECRET, "<redacted>")

    target = rec.write(tmp_path, context, recorded["requirements"], redact)
    report.render_all(report.load(target), tmp_path, "en", "critical")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in files} == {"results.json", "junit.xml", "report.html"}
    assert "&lt;redacted&gt;" in (tmp_path / "report.html").read_text()
    assert [p for p in files if SECRET.encode() in p.read_bytes()] == []


def test_run_writes_all_reports_prints_summary_and_gates(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the plugin, on a site whose nodes cannot be reached (every check errors):
    the three files, the summary, exit codes per gate, and the inventory's planted password
    in none of the files even though a check's evidence carries it."""
    inv = loopback_inventory(pytester)
    monkeypatch.setenv("ACME_DB_PASSWORD", SECRET)
    pytester.makepyfile(
        leak="""
import os, pytest
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield
    if item.name.startswith("HA-OS-003"):
        for name, value in item.user_properties:
            if name == "result":  # the engine's result, made to carry the secret after the engine redacted
                value["evidence"].append({"command": "mysql -p" + os.environ["ACME_DB_PASSWORD"], "output": "leaked"})
"""
    )
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))
    out = pytester.path / "out"
    base = (
        "-p",
        "fixtures.plugin",
        "-p",
        "leak",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:pytest11.testinfra",
        f"--inventory={inv}",
        str(cat.CATALOG),
        f"--report-dir={out}",
        "--lang=en",
    )
    strict = pytester.runpytest_subprocess(*base, "-m", "high and not destructive", "--gate-severity=high", timeout=180)
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    assert {p.name for p in out.iterdir()} == {"results.json", "junit.xml", "report.html"}
    text = strict.stdout.str()
    assert "Cloudpods HA conformance" in text and "failing requirements:" in text
    assert "gate (high and above): FAIL" in text
    assert [p for p in out.iterdir() if SECRET.encode() in p.read_bytes()] == []
    assert "mysql -p<redacted>" in (out / "results.json").read_text()  # the leak happened, and was caught
    assert ET.parse(out / "junit.xml").getroot().find("testsuite").get("name") == "acme-prod"  # type: ignore[union-attr]
    lenient = pytester.runpytest_subprocess(*base, "-m", "high and not destructive", timeout=180)
    assert lenient.ret == pytest.ExitCode.OK, "high-severity failures do not gate at the default (critical)"
    assert "gate (critical and above): PASS" in lenient.stdout.str()
    bad = pytester.runpytest_subprocess(*base, "--gate-severity=severe", timeout=60)
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "--gate-severity: unknown severity 'severe'" in bad.stderr.str()


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="Debian's chromium is not installed")
def test_report_renders_in_headless_chromium(recorded: dict[str, Any], tmp_path: Path) -> None:
    assert CHROMIUM, "chromium missing: bootstrap/setup-host.sh installs it"
    page = tmp_path / "report.html"
    page.write_text(html.render(recorded, "en", "critical"))
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run([*args, "--dump-dom", page.as_uri()], check=False, capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = parse(dom.stdout)
    assert rendered.cells[("HA-OS-001", "node2")] == "failed"
    assert len({r for r, _ in rendered.cells}) == len(recorded["requirements"])
    assert not re.search(r"CONSOLE|Uncaught|Failed to load resource", dom.stderr), dom.stderr[-2000:]
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*args, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def _fleet_runs(recorded: dict[str, Any], tmp_path: Path) -> list[Path]:
    """Three runs of different topologies and lines, each with its report.html beside it: the
    recorded 5node run (a critical failure), a green 3node k3s run, a 4node kubeadm run whose
    only failure is high."""
    green = json.loads(json.dumps(recorded))
    green.update(site="lab-3node", topology="3node", layout={"line": "k3s", "db_ha": "manual", "sources": {}})
    green["checks"] = [dict(c, outcome="passed") for c in green["checks"] if c["outcome"] != "manual"]
    high = json.loads(json.dumps(recorded))
    high.update(site="branch-office", topology="4node", layout={"line": "kubeadm", "db_ha": "single", "sources": {}})
    high["requirements"]["HA-OS-003"] = requirement("HA-OS-003")
    high["checks"] = [dict(c, outcome="passed") for c in high["checks"]]
    next(c for c in high["checks"] if c["requirement"] == "HA-OS-003")["outcome"] = "failed"
    dirs = []
    for name, doc in (("acme", recorded), ("lab3", green), ("branch", high)):
        d = tmp_path / "runs" / name
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps(doc))
        report.render_all(doc, d, "en", "critical")
        dirs.append(d)
    return dirs


def test_a_fleet_page_merges_runs_worst_first_and_gates_as_one_run(recorded: dict[str, Any], tmp_path: Path) -> None:
    dirs = _fleet_runs(recorded, tmp_path)
    out = tmp_path / "fleet"
    assert report_cli(["fleet", *map(str, dirs), "--out", str(out), "--lang", "en"]) == 1  # acme fails critical
    data = json.loads((out / "fleet.json").read_text())
    assert [r["site"] for r in data["runs"]] == ["acme-prod", "branch-office", "lab-3node"]  # worst first
    assert [r["topology"] for r in data["runs"]] == ["5node", "4node", "3node"]
    assert data["runs"][0]["gating"] == ["HA-OS-001[node2]", "HA-DBHA-001[db2]", "HA-SURV-001[kill-node2]"]
    assert data["requirements"][0]["id"] in ("HA-OS-001", "HA-DBHA-001", "HA-SURV-001")
    assert data["requirements"][0]["failing_runs"] == [data["runs"][0]["label"]]
    page = parse((out / "fleet.html").read_text())
    acme, branch, lab3 = (r["label"] for r in data["runs"])
    assert page.cells[("HA-OS-001", acme)] == "failed"
    assert page.cells[("HA-OS-003", branch)] == "failed"
    assert page.cells[("HA-OS-001", lab3)] == "passed"
    assert page.cells[("HA-VIP-006", lab3)] == "na"  # that run has no check of it
    links = [a.get("href") for tag, a in page.tags if tag == "a"]
    assert "../runs/acme/report.html" in links and all(not str(h).startswith("/") for h in links)
    # Gating as a single run's: without the critical run, the high failure gates only at high.
    assert report_cli(["fleet", str(dirs[1]), str(dirs[2]), "--out", str(out), "--lang", "zh"]) == 0
    assert "没有运行存在" in (out / "fleet.html").read_text()
    assert report_cli(["fleet", str(dirs[1]), str(dirs[2]), "--out", str(out), "--gate-severity", "high"]) == 1


def test_a_fleet_of_bad_input_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text(json.dumps({"schema": "something-else"}))
    assert report_cli(["fleet", str(junk), "--out", str(tmp_path / "f")]) == 2
    assert f"{junk}: not a results.json of this suite (schema 'something-else')" in capsys.readouterr().err
    assert report_cli(["fleet", str(tmp_path / "missing"), "--out", str(tmp_path / "f")]) == 2
    assert "missing: cannot read" in capsys.readouterr().err


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="Debian's chromium is not installed")
def test_the_fleet_page_shows_its_matrix_in_headless_chromium(recorded: dict[str, Any], tmp_path: Path) -> None:
    assert CHROMIUM, "chromium missing: bootstrap/setup-host.sh installs it"
    out = tmp_path / "fleet"
    report_cli(["fleet", *map(str, _fleet_runs(recorded, tmp_path)), "--out", str(out), "--lang", "en"])
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    page = (out / "fleet.html").as_uri()
    dom = subprocess.run([*args, "--dump-dom", page], check=False, capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = parse(dom.stdout)
    labels = [r["label"] for r in json.loads((out / "fleet.json").read_text())["runs"]]
    assert {col for _, col in rendered.cells} == set(labels)  # three runs, three topologies
    assert rendered.cells[("HA-OS-001", labels[0])] == "failed"
    assert len({req for req, _ in rendered.cells}) == len(recorded["requirements"])
    shot = tmp_path / "fleet.png"
    subprocess.run([*args, f"--screenshot={shot}", "--window-size=1400,1000", page], capture_output=True, timeout=120,
                   check=True)  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_what_the_runner_could_not_verify_is_reported_with_a_passing_scenario(recorded: dict[str, Any]) -> None:
    """A scenario that passed with part of its judgement not verifiable from this runner (issue
    23: a runner without CAP_NET_ADMIN, or behind a router) says so in every report, never
    silently."""
    note = (
        "the runner's own neighbour entry for the platform VIP 10.0.0.100 is not verifiable from this runner: "
        "it is not root: it cannot forget its own neighbour entries between scenarios (ip neigh flush); "
        "the nodes' entries were judged"
    )
    passed = next(c for c in recorded["checks"] if c["id"] == "HA-SURV-001[kill-node1]")
    passed["figures"]["not_verifiable_from_runner"] = [note]
    for lang, heading in (("en", "Not verifiable from this runner"), ("zh", "从本运行位置无法验证")):
        text = unescape(html.render(recorded, lang, "critical"))
        assert f"<h3>{heading}</h3>" in text and f"<li>HA-SURV-001[kill-node1]: {note}</li>" in text
    assert f"    {note}" in summary.lines(recorded, "critical")
    del passed["figures"]["not_verifiable_from_runner"]
    assert "Not verifiable from this runner" not in html.render(recorded, "en", "critical")
