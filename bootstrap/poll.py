"""One polling helper for everything that waits for a state (VIPs, replication,
health, a node's return): call ``check`` until it reports nothing wrong.

>>> wait_until("always", lambda: None, timeout=1)
0.0
"""

from __future__ import annotations

import time
from collections.abc import Callable


class WaitTimeout(TimeoutError):
    """``what`` was not reached in time; the message carries the last reason."""

    def __init__(self, what: str, timeout: float, why: str) -> None:
        super().__init__(f"{what} not reached within {timeout:g} s: {why}")
        self.what, self.timeout, self.why = what, timeout, why


def wait_until(
    what: str,
    check: Callable[[], str | None],
    timeout: float,
    interval: float = 0.25,
    swallow: tuple[type[BaseException], ...] = (),
) -> float:
    """Call ``check`` (None = reached, a string = why not yet) every ``interval`` seconds
    until it returns None; return the seconds it took (0.0 when at once).

    Exceptions of the ``swallow`` types count as "not yet" with their text as the reason.
    Raises WaitTimeout after ``timeout`` seconds.
    """
    start = time.monotonic()
    why = "not checked"
    while True:
        try:
            why_now = check()
        except swallow as exc:
            why_now = str(exc) or type(exc).__name__
        elapsed = time.monotonic() - start
        if why_now is None:
            return round(elapsed, 3) if elapsed > 0.001 else 0.0
        why = why_now
        if elapsed >= timeout:
            raise WaitTimeout(what, timeout, why)
        time.sleep(min(interval, max(0.0, timeout - elapsed)) or interval)
