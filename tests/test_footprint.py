"""The suite's own footprint: workers for ``-n auto`` and a read-only run's priority
(fixtures/footprint.py); the effect on the lab is measured by benchmarks/footprint_bench.py."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

import fixtures.footprint
from bootstrap.runner_host import local_address
from fixtures.footprint import pytest_xdist_auto_num_workers, runner_is_a_node
from tests.conftest import VALID_INVENTORY

OCBOOT_DATA = Path(__file__).parent / "data" / "ocboot"


def test_the_modules_examples_hold() -> None:
    assert doctest.testmod(fixtures.footprint).failed == 0


def test_the_runners_own_addresses_are_known_without_sending_anything() -> None:
    assert local_address("127.0.0.1")
    assert not local_address("192.0.2.7")  # TEST-NET-1: no host has it
    assert not local_address("not-an-address")


class _Config:
    def __init__(self, inventory: str | None, **options: str) -> None:
        self.options = {"--inventory": inventory, **{f"--{k.replace('_', '-')}": v for k, v in options.items()}}

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


def test_auto_starts_no_worker_on_a_node_of_the_site(tmp_path: Path) -> None:
    data = {**VALID_INVENTORY, "nodes": [dict(n) for n in VALID_INVENTORY["nodes"]]}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    assert not runner_is_a_node(str(path))
    data["nodes"][0]["address"] = "127.0.0.1"  # the runner is the First Node
    path.write_text(yaml.safe_dump(data))
    assert runner_is_a_node(str(path))
    assert pytest_xdist_auto_num_workers(_Config(str(path))) == 0  # type: ignore[arg-type]
    assert not runner_is_a_node(str(tmp_path / "missing.yaml"))  # the plugin names that error later
    workers = pytest_xdist_auto_num_workers(_Config(None))  # type: ignore[arg-type]
    expected = min((os.cpu_count() or 1) // 2, 4)
    assert workers == (expected if expected >= 2 else 0)


def test_lowering_the_priority_changes_only_the_calling_process() -> None:
    """In a child process: its nice value rises to 10 and its I/O class becomes best effort 7;
    the parent's stays as it was."""
    code = (
        "import os, subprocess; from fixtures.footprint import lower_priority; "
        "print(lower_priority(), os.getpriority(os.PRIO_PROCESS, 0)); "
        "print(subprocess.run(['ionice', '-p', str(os.getpid())], capture_output=True, text=True).stdout.strip())"
    )
    before = os.getpriority(os.PRIO_PROCESS, 0)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    first, second = out.stdout.strip().splitlines()
    assert first == f"[] {max(before, 10)}", out.stdout
    assert second == "best-effort: prio 7", out.stdout
    assert os.getpriority(os.PRIO_PROCESS, 0) == before


def test_only_a_read_only_run_of_the_suite_lowers_its_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook's choice: a run of checks without destructive items lowers itself; a run with a
    scenario (its workload is the measuring client) and the self-tests' own process do not."""

    class Item:
        def __init__(self, *keywords: str) -> None:
            self.keywords = dict.fromkeys(keywords)

    class Check(Item):
        pass

    calls: list[int] = []
    monkeypatch.setattr(fixtures.footprint, "CheckItem", Check)
    monkeypatch.setattr(fixtures.footprint, "lower_priority", lambda: calls.append(1) or [])

    def run(*items: Item) -> int:
        calls.clear()
        fixtures.footprint.pytest_collection_finish(SimpleNamespace(items=list(items)))  # type: ignore[arg-type]
        return len(calls)

    assert run(Check("os"), Check("db")) == 1
    assert run(Check("os"), Check("destructive")) == 0
    assert run(Item("lab")) == 0 and run() == 0


def test_auto_starts_no_worker_on_a_node_named_by_ocboots_file_or_db_nodes(tmp_path: Path) -> None:
    """A field engineer's run on the First Node with --ocboot-config (and --db-nodes where ocboot
    did not deploy the database) is a run on a node of the site, as with --inventory."""
    published = (OCBOOT_DATA / "ha-5node.yml").read_text()
    path = tmp_path / "config.yml"
    path.write_text(published)
    assert not runner_is_a_node(None, str(path))
    path.write_text(published.replace("198.51.100.32", "127.0.0.1"))  # the runner is a compute node
    assert runner_is_a_node(None, str(path))
    assert pytest_xdist_auto_num_workers(_Config(None, ocboot_config=str(path))) == 0  # type: ignore[arg-type]
    assert runner_is_a_node(None, None, "198.51.100.21, 127.0.0.1")
    assert not runner_is_a_node(None, None, "198.51.100.21,198.51.100.22")
    path.write_text("primary_master_node: [")  # the plugin names that error later
    assert not runner_is_a_node(None, str(path))
