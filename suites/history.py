"""The window the history checks read the nodes' logs in (issue 25): at most the profile's
history_days back from when the logs were read, and not before its history_since."""

from __future__ import annotations

import datetime as dt

from suites.context import Context, Skip


def window(ctx: Context, now: float) -> tuple[float, float]:
    """(start, end) in epoch seconds for logs read at ``now``: ``history_days`` back, not before
    ``history_since`` (the requirement's ``days`` and ``since``). Skip where history_days is 0."""
    days = float(ctx.expected("days"))
    if days <= 0:
        raise Skip("history_days is 0: this run does not read the nodes' history")
    return max(now - days * 86400, float(ctx.expected("since")), 0.0), now


def iso(at: float) -> str:
    """Epoch seconds as the reports print a moment: UTC, to the second ("2026-12-03T00:22:38Z")."""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
