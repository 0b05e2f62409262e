"""Checks register here under the requirement they verify, with the node facts
(suites/facts.py) they read:

@check("HA-OS-003", facts=("hostname",))
def hostname_not_localhost(ctx: Context) -> None:
    ...

A check may read only the facts it declares; unknown fact names stop the run at
collection (the coverage gate), and a declared fact that fails on a node makes that
node's items of the check an error naming the fact.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from typing import Any

import suites.checks

CheckFn = Callable[[Any], None]
REGISTRY: dict[str, list[CheckFn]] = {}


def check(requirement: str, facts: Iterable[str] = ()) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        REGISTRY.setdefault(requirement, []).append(fn)
        fn.requirement = requirement  # type: ignore[attr-defined]
        fn.facts = frozenset(facts)  # type: ignore[attr-defined]
        return fn

    return register


def declared_facts(fn: CheckFn) -> frozenset[str]:
    return frozenset(getattr(fn, "facts", frozenset()))


def load_checks() -> dict[str, list[CheckFn]]:
    """Import every check module (they register on import)."""
    for mod in pkgutil.iter_modules(suites.checks.__path__):
        importlib.import_module(f"suites.checks.{mod.name}")
    return REGISTRY
