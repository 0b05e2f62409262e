"""Every node of the site answers over SSH and names itself.

The numbered requirement catalog (HA-<AREA>-<NNN>) arrives with the
conformance suites; until then these are the checks the suite runs.
"""

from __future__ import annotations

from typing import Any

from bootstrap.inventory import NodeEntry


def test_node_answers_over_ssh(node: NodeEntry, host: Any) -> None:
    """The runner reaches the node with the inventory's SSH user and key."""
    result = host.run("true")
    assert result.rc == 0, f"{node.name}: 'true' exited {result.rc}: {result.stderr}"


def test_hostname_is_not_localhost(node: NodeEntry, host: Any) -> None:
    """The installer refuses hostnames starting with 'localhost' (ocboot misc-check)."""
    name = host.check_output("hostname")
    assert name and not name.startswith("localhost"), f"{node.name}: hostname is {name!r}"
