"""Inventories: valid ones load, bad ones give one error naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import inventory as inv
from bootstrap.topology import Role


def test_a_valid_inventory_loads(valid_inventory: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(valid_inventory))
    site = inv.load(path)
    assert site.site == "acme-prod"
    assert site.first_node().name == "cp1"
    assert [n.name for n in site.nodes_with(Role.DB_HA)] == ["dba", "dbb"]
    assert str(site.vips.db) == "10.127.190.101"


def test_dump_and_load_round_trip(valid_inventory: dict[str, Any], tmp_path: Path) -> None:
    first = inv.parse(valid_inventory)
    inv.dump(first, tmp_path / "out.yaml")
    assert inv.load(tmp_path / "out.yaml") == first


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        data = data[int(k)] if k.isdigit() else data[k]  # type: ignore[index]
    last = keys[-1]
    if value is _DELETE:
        del data[last]
    else:
        data[int(last) if last.isdigit() else last] = value  # type: ignore[index]


_DELETE = object()


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("nodes.1.address", "10.127.190.999", "nodes[1].address: Input is not a valid IPv4 address"),
        ("ssh.key", _DELETE, "ssh.key: Field required"),
        ("ssh.port", 70000, "ssh.port: Input should be less than or equal to 65535"),
        ("ssh.passwrd", "x", "ssh.passwrd: Extra inputs are not permitted"),
        ("topology", "6node", "topology: unknown topology '6node'; choose one of: 3node, 4node, 5node"),
        ("db.password_file", "/etc/pw", "db: give exactly one of password_env, password_file or password_ocboot"),
        ("nodes.4.roles", ["control"], "nodes: 5node needs 2 node(s) with role 'db-ha', found 1"),
        ("nodes.2.roles", ["control", "bogus"], "nodes[2].roles[1]: Input should be"),
        ("nodes.1.address", "10.127.190.251", "nodes[1].address: duplicate address 10.127.190.251"),
        ("vips.db", _DELETE, "vips.db: 5node needs a db VIP"),
        ("vips.platform", "10.127.190.245", "vips.platform: 10.127.190.245 is also a node's address"),
        ("expect.kernel_pattern", "3.10(", "expect.kernel_pattern: not a valid regular expression"),
        ("site", "", "site: String should match pattern"),
        ("db.password_env", "1BAD", "db.password_env: String should match pattern"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_errors_name_the_field(valid_inventory: dict[str, Any], field: str, value: Any, expected: str) -> None:
    _set(valid_inventory, field, value)
    with pytest.raises(inv.InventoryError) as err:
        inv.parse(valid_inventory, "site.yaml")
    text = str(err.value)
    assert text.startswith("site.yaml: invalid inventory")
    assert expected in text


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("site: x\nnodes: [\n  - name: a\n")
    with pytest.raises(inv.InventoryError, match=r"broken.yaml: not valid YAML \(line \d+, column \d+\)"):
        inv.load(path)


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(inv.InventoryError, match="must be a YAML mapping, not list"):
        inv.load(path)
    with pytest.raises(inv.InventoryError, match="cannot read inventory: No such file or directory"):
        inv.load(tmp_path / "absent.yaml")


def test_password_comes_from_the_named_source_only(
    valid_inventory: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = inv.parse(valid_inventory)
    monkeypatch.delenv("ACME_DB_PASSWORD", raising=False)
    with pytest.raises(inv.InventoryError, match=r"db\.password_env: environment variable ACME_DB_PASSWORD is not set"):
        site.db.password()
    monkeypatch.setenv("ACME_DB_PASSWORD", "s3cr3t-Zebra")
    assert site.db.password() == "s3cr3t-Zebra"
    inv.dump(site, tmp_path / "dumped.yaml")
    assert "s3cr3t-Zebra" not in (tmp_path / "dumped.yaml").read_text()

    del valid_inventory["db"]["password_env"]
    valid_inventory["db"]["password_file"] = str(tmp_path / "pw")
    site = inv.parse(valid_inventory)
    with pytest.raises(inv.InventoryError, match=r"db.password_file: cannot read .*/pw"):
        site.db.password()
    (tmp_path / "pw").write_text("from-file\n")
    assert site.db.password() == "from-file"
