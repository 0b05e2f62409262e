"""Self-tests of the suite. Tests marked ``lab`` bring the local lab up (root)."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest_plugins = ["pytester"]

VALID_INVENTORY: dict[str, Any] = {
    "site": "acme-prod",
    "topology": "5node",
    "ssh": {"user": "root", "key": "/root/.ssh/id_rsa"},
    "nodes": [
        {"name": "cp1", "address": "10.127.190.251", "roles": ["first", "control", "platform-ha"]},
        {"name": "cp2", "address": "10.127.190.245", "roles": ["control", "platform-ha"]},
        {"name": "cp3", "address": "10.127.190.229", "roles": ["control", "platform-ha"]},
        {"name": "dba", "address": "10.127.190.252", "roles": ["db-ha"]},
        {"name": "dbb", "address": "10.127.190.254", "roles": ["db-ha"]},
    ],
    "vips": {"platform": "10.127.190.100", "db": "10.127.190.101"},
    "db": {"user": "root", "password_env": "ACME_DB_PASSWORD"},
    "expect": {"kernel": "3.10.0-1062.4.3.el7.yn20191203.x86_64"},
}


@pytest.fixture(autouse=True)
def _site_db_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example site's password variable is set (tests of a missing one delete it)."""
    monkeypatch.setenv("ACME_DB_PASSWORD", os.environ.get("ACME_DB_PASSWORD", "example-only-password"))


@pytest.fixture
def valid_inventory() -> dict[str, Any]:
    return copy.deepcopy(VALID_INVENTORY)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="the lab needs root")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def loopback_data(directory: Path) -> dict[str, Any]:
    """A valid 5node inventory's data whose nodes are loopback addresses where nothing listens
    (its SSH key, a placeholder, written into ``directory``)."""
    key = directory / "key"
    key.write_text("not a key\n")
    data: dict[str, Any] = copy.deepcopy(VALID_INVENTORY)
    data["ssh"] = {"user": "root", "key": str(key), "port": 1, "connect_timeout": 1}
    for i, node in enumerate(data["nodes"]):
        node["address"] = f"127.0.0.{10 + i}"
    data["vips"] = {"platform": "127.0.0.100", "db": "127.0.0.101"}
    return data


def loopback_inventory(pytester: pytest.Pytester) -> Path:
    """loopback_data written as site.yaml."""
    path = pytester.path / "site.yaml"
    path.write_text(yaml.safe_dump(loopback_data(pytester.path)))
    return path


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The mutation score, when tests/test_mutations.py wrote one in this session."""
    module = sys.modules.get("tests.test_mutations") or sys.modules.get("test_mutations")
    for path in getattr(module, "WRITTEN", []):
        terminalreporter.section("mutation score")
        terminalreporter.write_line((path / "score.txt").read_text().rstrip())
        terminalreporter.write_line(f"kept in {path}")
