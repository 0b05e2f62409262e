"""Checks register here under the requirement they verify.

@check("HA-OS-003")
def hostname_not_localhost(ctx: NodeContext) -> None:
    ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CheckFn = Callable[[Any], None]
REGISTRY: dict[str, list[CheckFn]] = {}


def check(requirement: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        REGISTRY.setdefault(requirement, []).append(fn)
        fn.requirement = requirement  # type: ignore[attr-defined]
        return fn

    return register


def load_checks() -> dict[str, list[CheckFn]]:
    """Import every check module (they register on import)."""
    import importlib
    import pkgutil

    import suites.checks

    for mod in pkgutil.iter_modules(suites.checks.__path__):
        importlib.import_module(f"suites.checks.{mod.name}")
    return REGISTRY
