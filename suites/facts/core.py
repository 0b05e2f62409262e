"""A fact is a declared POSIX shell command, the exit statuses it may end with, and a parser
from its raw output to a value, or to :class:`Unreadable` with the reason.

No probe hides its status (no ``; true``): a status outside ``expect`` is ``Unreadable``
before any parser sees the output, so a journal the SSH user may not read, a refused
``sudo -n`` or a missing tool can never be mistaken for an empty, healthy answer. The engine
turns ``Unreadable`` into an error or "not verifiable" once, for every check.

Statuses the probes share: 0 read; 3 (:data:`ABSENT`) the thing is not on this node (no such
file or unit: a value, for the parser); 4 (:data:`READ_FAILED`) a read inside the probe failed;
5 (:data:`NO_TOOL`) a tool the probe needs is missing; 124/137 :data:`TIMED_OUT`.

All probes a node needs go in one batch (one SSH round trip per node); each runs under
``timeout`` in its own ``sh -c``, its status kept in the frame's end line.

>>> out = "@@ha-fact-x@@ begin hostname\\nnode1\\n\\n@@ha-fact-x@@ end hostname 0\\n"
>>> parse_batch(out, "x", [Probe("hostname", "hostname")])["hostname"].value
'node1'
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

ABSENT = 3
READ_FAILED = 4
NO_TOOL = 5
TIMED_OUT = (124, 137)  # timeout(1): limit reached; 137 after its KILL
# What a node prints when the SSH user may not read something: the check is not verifiable
# there (the remedy is access: sudo -n, the adm/systemd-journal group), not broken.
DENIED = re.compile(
    r"sudo: (a password is required|a terminal is required|.*not in the sudoers|sorry)"
    r"|Permission denied|Operation not permitted|No journal files were found|not allowed to",
    re.I,
)


@dataclass(frozen=True)
class Unreadable:
    """Why a fact has no value on a node. ``not_verifiable``: the suite may not see it there
    (access refused, a tool missing), so checks needing it are "not verifiable"; otherwise the
    probe failed (timed out, an unexpected status, output it cannot parse) and they are errors."""

    reason: str
    not_verifiable: bool = False

    def __str__(self) -> str:
        return self.reason


Parser = Callable[[int, str], Any]  # (exit status within ``expect``, output) -> value | Unreadable


def text(rc: int, output: str) -> str:
    """The output as it is (a fact whose value is its text)."""
    return output


def nonempty(rc: int, output: str) -> str | Unreadable:
    """The output, which must hold something."""
    return output.strip() if output.strip() else Unreadable("printed nothing")


@dataclass(frozen=True)
class Probe:
    """One fact: ``command`` (POSIX sh) answers it, ending with a status in ``expect``;
    ``parse`` turns (status, output) into its value; ``timeout`` in seconds. ``roles``: the
    node roles (bootstrap.topology.Role values) it is asked on, any of them; () for every node.
    A node outside them gets ``not_asked`` instead (a fact a check must not read there)."""

    name: str
    command: str
    parse: Parser = field(default=text, compare=False)
    expect: tuple[int, ...] = (0,)
    timeout: float = 10.0
    roles: tuple[str, ...] = ()

    def asked_on(self, roles: Iterable[str]) -> bool:
        """Whether a node with ``roles`` is asked this fact."""
        return not self.roles or bool(set(self.roles) & set(roles))

    def not_asked(self) -> Fact:
        """The fact on a node it is not asked on: unreadable, saying so."""
        why = f"not asked on this node (asked only on nodes with role {' or '.join(self.roles)})"
        return Fact(self.name, self.command, None, "", self.timeout, Unreadable(why))

    def read(self, rc: int | None, output: str) -> Any:
        """The fact's value from the probe's status and output, or Unreadable."""
        tail = " ".join(output.split())[-200:]
        if rc is None:
            return Unreadable("gave no result (the batch ended before it)")
        if rc in TIMED_OUT:
            return Unreadable(f"did not answer within {self.timeout:g} s")
        if rc not in self.expect:
            said = f": {tail}" if tail else ""
            if rc in (NO_TOOL, 127):
                return Unreadable(f"exited {rc}, a tool it needs is missing{said}", not_verifiable=True)
            return Unreadable(f"exited {rc}{said}", not_verifiable=DENIED.search(output) is not None)
        try:
            return self.parse(rc, output)
        except (ValueError, KeyError, IndexError) as exc:
            return Unreadable(f"printed what it cannot be read from ({exc}): {tail}")


@dataclass(frozen=True)
class Fact:
    """What one probe gave on one node: exit status (None: no result), raw output, value."""

    name: str
    command: str
    rc: int | None
    output: str
    timeout: float
    value: Any

    @property
    def ok(self) -> bool:
        return not isinstance(self.value, Unreadable)

    def why(self) -> str:
        """Why the fact is unreadable ("" when it is not)."""
        return self.value.reason if isinstance(self.value, Unreadable) else ""


def fact_of(probe: Probe, rc: int | None, output: str) -> Fact:
    """A probe's result on a node: its value read from ``rc`` and ``output``."""
    return Fact(probe.name, probe.command, rc, output, probe.timeout, probe.read(rc, output))


def batch_script(probes: Iterable[Probe], nonce: str) -> str:
    """One POSIX sh script running each probe under its own time limit, in turn, its
    output framed by begin/end lines that carry its exit status."""
    mark = f"@@ha-fact-{nonce}@@"
    parts = []
    for p in probes:
        limit = f"{p.timeout:g}"
        parts.append(
            f"echo '{mark} begin {p.name}'; "
            f"timeout -k 1 {limit} sh -c {shlex.quote(p.command)} </dev/null 2>&1; rc=$?; "
            f'echo; echo "{mark} end {p.name} $rc"'
        )
    return "\n".join(parts) + "\n"


def batch_timeout(probes: Iterable[Probe]) -> float:
    """Seconds the whole batch may take: every probe at its limit, plus slack."""
    return sum(p.timeout + 1 for p in probes) + 5


def new_nonce() -> str:
    return secrets.token_hex(4)


def parse_batch(output: str, nonce: str, probes: Iterable[Probe]) -> dict[str, Fact]:
    """The batch's output -> {fact name: Fact}; a probe without an end line has rc None."""
    mark = f"@@ha-fact-{nonce}@@"
    wanted = {p.name: p for p in probes}
    found: dict[str, Fact] = {}
    current: str | None = None
    lines: list[str] = []
    for line in output.splitlines():
        if line.startswith(mark + " begin "):
            current, lines = line.split()[-1], []
        elif line.startswith(mark + " end ") and current is not None:
            rc_text = line.split()[-1]
            p = wanted.get(current)
            if p is not None:
                body = "\n".join(lines[:-1] if lines and lines[-1] == "" else lines).strip()
                found[current] = fact_of(p, int(rc_text) if rc_text.isdigit() else None, body)
            current = None
        elif current is not None:
            lines.append(line)
    for name, p in wanted.items():
        if name not in found:
            found[name] = fact_of(p, None, "\n".join(lines).strip() if name == current else "")
    return found
