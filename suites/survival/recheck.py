"""After a scenario: every read-only check must pass again (run in-process)."""

from __future__ import annotations

from bootstrap import inventory as inv
from suites import catalog as cat
from suites.context import CheckFailed, Context, NodeUnreachable, SiteRuntime
from suites.registry import load_checks


def failing_read_only_checks(inventory: inv.Inventory, profile: str | None) -> list[str]:
    from fixtures.items import subjects

    rt = SiteRuntime.create(inventory, profile, "postinstall")
    rt.profile = rt.profile.with_overrides({"vip_observation_s": 1.0})
    registry = load_checks()
    failures = []
    try:
        for req in cat.load().values():
            if req.manual or req.writes or req.destructive or "postinstall" not in req.phases:
                continue
            for suffix, node, vip in subjects(req, inventory):
                ctx = Context(rt, req, node, vip)
                try:
                    for fn in registry.get(req.id, []):
                        fn(ctx)
                except (CheckFailed, NodeUnreachable) as exc:
                    failures.append(f"{req.id}[{suffix}]: {getattr(exc, 'message', str(exc))}")
    finally:
        rt.close()
    return failures
