"""HA-SSH: the First Node's passwordless SSH to the other control nodes (HA-SSH-001, the
document's step) and to every DB and compute node (HA-SSH-002: ocboot installs, joins and upgrades
them from the First Node over SSH)."""

from __future__ import annotations

import shlex

from suites.context import Context
from suites.registry import check


@check("HA-SSH-001", facts=("hostname",))
@check("HA-SSH-002", facts=("hostname",))
def first_node_reaches_node(ctx: Context) -> None:
    """Run on the First Node, as the document verifies it: ssh root@IP hostname."""
    assert ctx.node is not None
    first = ctx.inventory.first_node()
    target = str(ctx.node.address)
    command = (
        f"ssh -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=yes root@{shlex.quote(target)} hostname"
    )
    result = ctx.rt.run(first, command, timeout=15)
    ev = [(f"{first.name}$ {command}", (result.stdout + result.stderr).strip())]
    ctx.require(result.rc == 0, f"{first.name} cannot log in to {ctx.node.name} ({target}) without a password", ev)
    expected = ctx.facts["hostname"]
    ctx.require(
        result.stdout.strip() == expected,
        f"{first.name} read hostname {result.stdout.strip()!r} from {target}, but the node calls itself {expected!r}",
        ev,
    )
