"""Read-only checks run in-process around the survivability scenarios, with the run's
own catalog, profile (overrides included), phase and waivers: once before the first
fault (the baseline) and again after each scenario. A scenario is blamed only for what
it changed or left broken: checks that fail now and did not before.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import replace
from pathlib import Path
from typing import Any

from suites import catalog as cat
from suites.context import SiteRuntime
from suites.engine import apply_waiver, evaluate, subjects
from suites.registry import load_checks

BAD = ("failed", "error")
# Checks judged at once: enough to overlap the SSH round trips of checks that run their own
# commands (the First Node's ssh to each node), few enough to stay under sshd's MaxSessions (10
# channels per connection) and not to load a small site. Measured on the 5node lab (2 cores,
# 2026-12-03): 5.0-5.8 s one by one, 3.0-3.1 s with the VIP window overlapped and 3 at once.
WORKERS = 3
Outcomes = dict[str, tuple[str, str]]  # item id -> (outcome, message)


def read_only_outcomes(rt: SiteRuntime) -> Outcomes:
    """Every automatable, non-writing, non-destructive check of the run's phase that judges the
    site's present (not its history), judged by the engine now on a fresh view of the site:
    {item id: (outcome, message)}."""
    fresh = rt.fresh(profile=replace(rt.profile, vip_observation_s=min(rt.profile.vip_observation_s, 1.0)))
    catalog = cat.load(Path(rt.options.get("catalog") or cat.CATALOG).resolve())
    waivers: list[Any] = rt.options.get("waivers", [])
    registry = load_checks()
    items = [
        (req, subject)
        for req in catalog.values()
        if not (req.manual or req.writes or req.destructive or req.history or rt.phase not in req.phases)
        for subject in subjects(req, rt.inventory)
    ]

    def judge(item: tuple[Any, Any]) -> tuple[str, tuple[str, str]]:
        req, subject = item
        judged, _ = apply_waiver(evaluate(req, subject, fresh, registry.get(req.id, [])), waivers)
        return judged.id, (judged.outcome.value, judged.message)

    try:
        fresh.start_vip_window()  # the VIP checks' window (mostly waiting) while every node's facts are read
        fresh.prefetch()
        with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
            result: Outcomes = dict(pool.map(judge, items))
    finally:
        fresh.close()
    return result


def broken_by_scenario(baseline: Outcomes, after: Outcomes) -> list[str]:
    """Checks failing (or erroring) now that passed or were waived in the baseline.

    >>> broken_by_scenario({"A[n1]": ("failed", "x"), "B[n1]": ("passed", "")},
    ...                    {"A[n1]": ("failed", "x"), "B[n1]": ("error", "n1 down")})
    ['B[n1]: n1 down']
    """
    return [
        f"{item}: {message}"
        for item, (outcome, message) in after.items()
        if outcome in BAD and baseline.get(item, ("passed", ""))[0] not in BAD
    ]
