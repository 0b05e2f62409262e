"""Where a scenario's time goes (issue 28): named phases, each from the moment it is entered to the
moment the next one is, in seconds of the runner's monotonic clock.

The scenario runner enters them in this order (``PHASES``): ``warm-up`` (a healthy site, the
workload started, every promised service answering), ``fault`` (the faults applied; a procedure's
take-out), ``hold`` (held until the promised services are back, or a fixed span), ``restore`` (the
faults undone; a procedure's return), ``members healthy`` (until the returned control-plane members
answer), ``stable window`` (until the site has stayed converged), ``post-checks`` (announcements,
answers from every node), ``judge`` (the workload stopped, writes audited, checksums compared) and
``recheck`` (the read-only checks again). A phase never entered is absent.

>>> p = Phases(clock=iter([0.0, 2.0, 2.5, 7.0]).__next__)
>>> p.enter("warm-up"); p.enter("fault"); p.enter("hold")
>>> p.close()
{'warm-up': 2.0, 'fault': 0.5, 'hold': 4.5}
"""

from __future__ import annotations

import time
from collections.abc import Callable

PHASES = (
    "warm-up",
    "fault",
    "hold",
    "restore",
    "members healthy",
    "stable window",
    "post-checks",
    "judge",
    "recheck",
)


class Phases:
    """Seconds spent per phase; ``enter`` ends the current phase and starts the next."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._current: str | None = None
        self._since = 0.0
        self.spent: dict[str, float] = {}

    def enter(self, name: str | None) -> None:
        """End the current phase (if any) and start ``name`` (None: none)."""
        now = self._clock()
        if self._current is not None:
            self.spent[self._current] = self.spent.get(self._current, 0.0) + now - self._since
        self._current, self._since = name, now

    @property
    def current(self) -> str | None:
        return self._current

    def close(self) -> dict[str, float]:
        """End the current phase; {phase: seconds, rounded to 0.01}, in ``PHASES`` order."""
        self.enter(None)
        return {p: round(self.spent[p], 2) for p in PHASES if p in self.spent}
