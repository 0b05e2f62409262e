"""Which inventories are the local lab's (lab faults, lab extras) and which are a real site's."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap.deploy.lab import lab_extras_for
from tests.conftest import VALID_INVENTORY


@pytest.fixture
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A lab's state directory as `up` leaves it, with an inventory of its machines."""
    home = tmp_path / "lab"
    (home / "ssh").mkdir(parents=True)
    (home / "secrets").mkdir()
    (home / "ssh" / "id_ed25519").write_text("key\n")
    (home / "secrets" / "s3-secret").write_text("s3\n")
    (home / "state.json").write_text(json.dumps({"vips": {"storage": "10.127.190.102"}}))
    data: dict[str, Any] = copy.deepcopy(VALID_INVENTORY)
    data["ssh"]["key"] = str(home / "ssh" / "id_ed25519")
    (home / "inventory.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("HA_LAB_HOME", str(home))
    return home


def test_the_lab_inventory_and_its_copies_are_the_lab(lab_home: Path, tmp_path: Path) -> None:
    assert lab_extras_for(lab_home / "inventory.yaml") is not None
    data = yaml.safe_load((lab_home / "inventory.yaml").read_text())
    data["profile_overrides"] = {"rto_bound_s": 12}
    copy_path = tmp_path / "copy.yaml"
    copy_path.write_text(yaml.safe_dump(data))
    assert lab_extras_for(copy_path) is not None


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(site="acme-prod-2"),
        lambda d: d["nodes"][0].update(address="10.127.190.9"),
        lambda d: d["ssh"].update(key="/root/.ssh/id_rsa"),
    ],
    ids=["other-site", "other-address", "other-key"],
)
def test_another_site_is_not_the_lab(lab_home: Path, tmp_path: Path, change: Any) -> None:
    data = yaml.safe_load((lab_home / "inventory.yaml").read_text())
    change(data)
    other = tmp_path / "site.yaml"
    other.write_text(yaml.safe_dump(data))
    assert lab_extras_for(other) is None
    (tmp_path / "broken.yaml").write_text("nodes: [")
    assert lab_extras_for(tmp_path / "broken.yaml") is None
