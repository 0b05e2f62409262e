"""Drift between two runs (issue 25): python -m fixtures.report diff OLD NEW names what changed,
new failures first, and exits 1 on a regression at the gate's severity."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from fixtures.report import diff
from fixtures.report.__main__ import main as report_cli
from tests.test_reports import check, recorded, requirement

__all__ = ["recorded"]  # the fixture, shared with the report tests


def later(doc: dict[str, Any], **outcomes: str) -> dict[str, Any]:
    """A copy of ``doc`` as a later run: the named checks (id -> outcome) changed, "absent" dropped."""
    new = json.loads(json.dumps(doc))
    new["started_at"] = "2026-12-02T09:00:00Z"
    for c in new["checks"]:
        if c["id"] in outcomes:
            c["outcome"] = outcomes[c["id"]]
            c["message"] = f"now {outcomes[c['id']]}"
    new["checks"] = [c for c in new["checks"] if c["outcome"] != "absent"]
    return new


def write(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "results.json").write_text(json.dumps(doc))
    return d


def test_every_kind_of_change_is_named_new_failures_first(recorded: dict[str, Any]) -> None:
    new = later(
        recorded,
        **{
            "HA-OS-001[node1]": "failed",  # critical regression
            "HA-OS-003[node1]": "error",  # a regression too: it could not be judged
            "HA-DB-003[db1]": "passed",  # fixed
            "HA-DBHA-001[db2]": "failed",  # error -> failed: still failing
            "HA-KA-001[node1]": "failed",  # its waiver has gone
            "HA-SURV-001[kill-node1]": "not_verifiable",
            "HA-VIP-006[site]": "absent",  # no longer collected
        },
    )
    new["requirements"]["HA-OS-002"] = requirement("HA-OS-002")
    new["checks"].append(check("HA-OS-002", "node1", "passed"))
    found = diff.changes(recorded, new)
    got = [(c.check, c.before, c.after, c.kind) for c in found]
    assert got == [
        ("HA-OS-001[node1]", "passed", "failed", "regression"),
        ("HA-KA-001[node1]", "waived", "failed", "regression"),
        ("HA-OS-003[node1]", "passed", "error", "regression"),
        ("HA-DBHA-001[db2]", "error", "failed", "still_failing"),
        ("HA-SURV-001[kill-node1]", "passed", "not_verifiable", "unverifiable"),
        ("HA-VIP-006[site]", "manual", "absent", "gone"),
        ("HA-OS-002[node1]", "absent", "passed", "new"),
        ("HA-DB-003[db1]", "failed", "passed", "fixed"),
    ]
    severities = {c.check: c.severity for c in found}
    assert [c.check for c in diff.regressions(found, "critical")] == [
        c for c in ("HA-OS-001[node1]", "HA-KA-001[node1]", "HA-OS-003[node1]") if severities[c] == "critical"
    ]
    assert len(diff.regressions(found, "low")) == 3


def test_the_same_run_twice_has_no_change(recorded: dict[str, Any]) -> None:
    assert diff.changes(recorded, later(recorded)) == []
    lines = diff.text_lines(recorded, later(recorded), [], "critical", "en")
    assert lines[-2:] == ["no check changed its outcome", "no regression at or above critical"]


class Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.verdict: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-check"):
            self.rows.append(a["data-check"] or "")
        if tag == "span" and a.get("id") == "verdict":
            self.verdict = a.get("class")


def test_the_command_exits_1_on_a_regression_at_the_gate_and_writes_both_forms(
    recorded: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(tmp_path, "old", recorded)
    new = write(tmp_path, "new", later(recorded, **{"HA-OS-001[node1]": "failed", "HA-DB-003[db1]": "passed"}))
    assert report_cli(["diff", str(old), str(new / "results.json"), "--lang", "en"]) == 1
    out = capsys.readouterr().out
    assert "regressions (failing now, not before): 1\n  HA-OS-001[node1] [critical] passed -> failed: now failed" in out
    assert "fixed: 1\n  HA-DB-003[db1]" in out and "1 regression(s) at or above critical" in out
    page = Rows()
    page.feed((new / "diff.html").read_text())
    assert page.rows == ["HA-OS-001[node1]", "HA-DB-003[db1]"] and page.verdict == "verdict-fail"
    data = json.loads((new / "diff.json").read_text())
    assert data["schema"] == "cloudpods-ha-conformance/diff" and data["regressions"] == ["HA-OS-001[node1]"]
    # Only fixes: exit 0; in Chinese.
    assert report_cli(["diff", str(new), str(old), "--lang", "zh", "--out", str(tmp_path / "back")]) == 0
    out = capsys.readouterr().out
    assert "已修复: 1" in out and "critical 及以上级别没有回归" in out
    assert "已修复" in (tmp_path / "back" / "diff.html").read_text()


def test_a_regression_below_the_gate_does_not_fail_it(recorded: dict[str, Any], tmp_path: Path) -> None:
    recorded["requirements"]["HA-OS-003"]["severity"] = "medium"
    old = write(tmp_path, "old", recorded)
    new = write(tmp_path, "new", later(recorded, **{"HA-OS-003[node1]": "failed"}))
    assert report_cli(["diff", str(old), str(new)]) == 0
    assert report_cli(["diff", str(old), str(new), "--gate-severity", "medium"]) == 1


def test_runs_of_two_sites_are_compared_with_a_note(recorded: dict[str, Any]) -> None:
    other = later(recorded)
    other["site"] = "branch-office"
    assert "note: the two runs are of different sites ('acme-prod', 'branch-office')" in diff.text_lines(
        recorded, other, [], "critical", "en"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "not JSON"),
        ('{"schema": "something-else"}', "not a results.json of this suite (schema 'something-else')"),
    ],
)
def test_bad_input_is_one_clear_error(
    recorded: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    old = write(tmp_path, "old", recorded)
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    assert report_cli(["diff", str(old), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
