"""pytest plugin for the benchmark only: ``benchmarks.ssh_baseline`` (testinfra's plain ``ssh://``
backend, one connection and one command per fact) without the suite's scheduling, as a plain
testinfra suite runs: each check judged in its turn (no judging ahead), a node's facts asked when
its first check needs them (no prefetch of every node at once; still asked once per node, which
favours the baseline: a testinfra test asks again). Loaded with ``-p benchmarks.ssh_baseline_plain``.
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import ssh_baseline
from fixtures import items
from suites import context


def _no_prefetch(self: context.SiteRuntime) -> None:
    self._prefetched = True


class _InTurn(items.JudgedAhead):
    def __init__(self, session: pytest.Session, rt: context.SiteRuntime) -> None:
        self.pool = None
        self.futures = {}


def pytest_configure(config: Any) -> None:
    ssh_baseline.pytest_configure(config)
    context.SiteRuntime.prefetch = _no_prefetch  # type: ignore[method-assign]
    items.JudgedAhead = _InTurn  # type: ignore[misc]
