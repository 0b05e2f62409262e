"""`python -m bootstrap.site_heal`: a killed destructive run's faults undone on a site, newest
first, only with the site's name confirmed; one that cannot be undone stays journalled, named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bootstrap import inventory as inv
from bootstrap.faults import Fault, Journal
from bootstrap.site_driver import SiteDriver
from bootstrap.site_heal import heal, main
from tests.conftest import loopback_data
from tests.test_survival_analysis import ScriptedPool


def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(loopback_data(tmp_path)))
    return path


def test_an_empty_journal_needs_no_connection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--inventory", str(site_file(tmp_path)), "--confirm-site", "acme-prod", "--journal-dir", str(tmp_path)])
    assert rc == 0 and "nothing to undo: no fault journalled for site acme-prod" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--confirm-site", "acme-test"], "--confirm-site: the inventory's site is 'acme-prod', not 'acme-test'"),
        (["--confirm-site", "acme-prod", "--inventory", "/nonexistent.yaml"], "/nonexistent.yaml"),
    ],
)
def test_bad_input_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    Journal(tmp_path / "faults-acme-prod.json").add(Fault("partition", "cp2"))
    rc = main(["--inventory", str(site_file(tmp_path)), "--journal-dir", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert Journal(tmp_path / "faults-acme-prod.json").load() == [Fault("partition", "cp2")]  # nothing touched


def test_faults_are_undone_newest_first_and_a_failing_one_stays(tmp_path: Path) -> None:
    site = inv.parse(loopback_data(tmp_path))
    pool = ScriptedPool(site, {"cp2": (0, ""), "cp3": (0, "")})
    driver = SiteDriver(site, tmp_path, "acme-prod", "127.0.0.1", pool=pool)
    older, newer = Fault("partition", "cp2"), Fault("partition", "cp3")
    driver.journal.add(older)
    driver.journal.add(newer)
    assert heal(driver) == (["partition cp3", "partition cp2"], None)
    assert [node for node, _ in pool.calls] == ["cp3", "cp2"] and driver.journal.load() == []
    driver.journal.add(older)
    driver.journal.add(Fault("partition", "dbb"))  # no route to it
    undone, failed = heal(driver)
    assert undone == [] and failed is not None and failed.startswith("partition dbb: dbb:")
    assert driver.journal.load() == [older, Fault("partition", "dbb")]  # both still journalled
