"""The check engine: running one requirement's checks on one subject, apart from any
front end (the pytest plugin, the survivability recheck and unit tests all call it).

A check that returns without failing has passed only if every fact it declared on its
subject node was read: a pass resting on an unreadable fact is raised here as that fact's
error or "not verifiable", once for every check (suites/facts/core.py, ``Unreadable``).
"""

from __future__ import annotations

from collections.abc import Iterable

from suites.context import Context, unreadable
from suites.registry import CheckFn, declared_facts


def run_checks(ctx: Context, fns: Iterable[CheckFn]) -> None:
    """Run ``fns`` (one requirement's checks) on ``ctx``'s subject, each seeing only the facts
    it declared. Raises what a check raises (CheckFailed, CheckError, NotVerifiable,
    NodeUnreachable) and FactFailed / FactNotVerifiable where a check passed although a fact
    it declared on its node could not be read."""
    for fn in fns:
        ctx.declared = declared_facts(fn)
        fn(ctx)
        if ctx.node is not None and (unread := ctx.facts.unreadable()):
            raise unreadable(ctx.node.name, unread[0])
