"""The site's install line and DB-HA variant, read-only, as the installer tells them apart
(bootstrap/layout.py holds the paths and rules; this module asks the nodes)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from bootstrap.layout import Layout, detect_db_ha, detect_line
from bootstrap.remote import NodeUnreachable
from bootstrap.topology import Role
from suites.errors import CheckError

if TYPE_CHECKING:
    from suites.runtime import SiteRuntime


def detect_layout(rt: SiteRuntime) -> Layout:
    """The site's install line and DB-HA variant: the inventory's ``layout`` where it
    names them, else detected read-only from the facts (the line on the First Node, or
    the first control node that answers; the variant from the DB-HA nodes' keepalived).
    Never raises: an unanswered probe leaves the line undetected, saying why."""
    given = rt.inventory.layout
    sources: list[tuple[str, str]] = []
    line: str | None = given.line
    if line is not None:
        sources.append(("line", "inventory layout.line"))
    else:
        candidates = [rt.inventory.first_node()] + [
            n for n in rt.inventory.nodes_with(Role.CONTROL) if not n.has(Role.FIRST)
        ]
        why = "no control node answered"
        for node in candidates:
            try:
                fact = rt.facts(node).values["layout"]
            except (NodeUnreachable, CheckError) as exc:
                why = f"{node.name}: {exc}"
                continue
            if not fact.ok:
                why = f"{node.name}: the layout probe {fact.why()}"
                continue
            line = detect_line(fact.value)
            marks = sorted(fact.value)
            why = f"{node.name}: " + (", ".join(marks) if marks else "neither line's marker files")
            break
        sources.append(("line", f"detected on {why}"))
    db_ha: str
    if given.db_ha is not None:
        db_ha = given.db_ha
        sources.append(("db_ha", "inventory layout.db_ha"))
    else:
        db_nodes = rt.inventory.nodes_with(Role.DB_HA)
        confs = []
        for node in db_nodes:
            with contextlib.suppress(NodeUnreachable, CheckError, KeyError):
                confs.append(rt.value(node, "keepalived_conf"))
        db_ha = detect_db_ha(len(db_nodes), confs)
        where = ", ".join(n.name for n in db_nodes) or "the topology (no DB-HA nodes)"
        sources.append(("db_ha", f"detected from keepalived.conf on {where}" if db_nodes else where))
    return Layout(line, db_ha, tuple(sources))
