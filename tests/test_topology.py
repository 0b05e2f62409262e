"""The topology data says what the HA document says."""

from __future__ import annotations

import doctest

import pytest

import bootstrap.topology
from bootstrap.topology import TOPOLOGIES, Role, failure_sets, get_topology


def _roles(topology: str) -> dict[str, set[str]]:
    return {s.name: {r.value for r in s.roles} for s in TOPOLOGIES[topology].slots}


def test_3node_puts_db_ha_and_platform_ha_on_nodes_1_and_2_only() -> None:
    roles = _roles("3node")
    assert roles["node1"] >= {"first", "db-ha", "platform-ha", "control"}
    assert roles["node2"] >= {"db-ha", "platform-ha", "control"}
    assert roles["node3"] == {"control"}


def test_4node_has_three_ha_control_nodes_and_one_standalone_db() -> None:
    roles = _roles("4node")
    assert [n for n, r in roles.items() if "platform-ha" in r] == ["node1", "node2", "node3"]
    assert roles["db1"] == {"db"}
    assert [v.name for v in TOPOLOGIES["4node"].vips] == ["platform"]


def test_5node_has_two_vips_three_control_and_two_db_ha_nodes() -> None:
    topo = TOPOLOGIES["5node"]
    assert {v.name for v in topo.vips} == {"platform", "db"}
    assert topo.role_counts()[Role.CONTROL] == 3
    assert topo.role_counts()[Role.DB_HA] == 2
    assert topo.role_counts()[Role.FIRST] == 1


def _sets(topology: str, fatal: bool = False) -> list[set[str]]:
    topo = TOPOLOGIES[topology]
    by_role: dict[Role, list[str]] = {}
    for slot in topo.slots:
        for role in slot.roles:
            by_role.setdefault(role, []).append(slot.name)
    return [set(s) for s in failure_sets(topo.fatal if fatal else topo.survives, by_role)]


def test_documented_survivable_failures() -> None:
    assert _sets("3node") == [{"node1"}, {"node2"}]
    assert _sets("4node") == [{"node1"}, {"node2"}, {"node3"}]
    five = _sets("5node")
    assert len(five) == 3 + 2 + 3 * 2
    assert {"node2", "db1"} in five
    assert not any(s >= {"db1", "db2"} or len(s & {"node1", "node2", "node3"}) > 1 for s in five)


def test_documented_fatal_failures() -> None:
    assert _sets("4node", fatal=True) == [{"db1"}]
    assert _sets("3node", fatal=True) == []


def test_unknown_topology_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown topology '6node'; choose one of: 3node, 4node, 5node"):
        get_topology("6node")


def test_doctests() -> None:
    result = doctest.testmod(bootstrap.topology)
    assert result.attempted > 0 and result.failed == 0
