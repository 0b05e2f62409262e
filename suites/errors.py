"""What a check can end in besides a pass: the requirement does not hold (CheckFailed), it could
not be judged (CheckError, and its kinds: Blocked by a root item, NotVerifiable, an unreadable
fact), or it does not apply (Skip); and the names of the root items checks depend on."""

from __future__ import annotations

from bootstrap.remote import NodeUnreachable
from suites.facts import Fact, Unreadable

__all__ = ["NodeUnreachable"]


class CheckFailed(AssertionError):
    """The requirement does not hold; carries the evidence."""

    def __init__(
        self, message: str, evidence: list[tuple[str, str]] | None = None, findings: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.evidence = evidence or []
        # Non-empty only when every problem in the failure is an instance of one of these named
        # findings (suites/findings.py): what a finding's waiver may accept, and nothing more.
        self.findings = findings


class CheckError(RuntimeError):
    """The check could not be judged (a fact failed, a command timed out): an error
    outcome, not a failure of the requirement; the message names what and where."""


def root_ssh(node: str) -> str:
    """The root item every check on ``node`` depends on: SSH login."""
    return f"ROOT-SSH[{node}]"


def root_vip(name: str) -> str:
    """The root item every check through a VIP from the runner depends on."""
    return f"ROOT-VIP[{name}]"


VIP_PROBE_PORTS = {"platform": 6443, "db": 3306}  # a service every install runs behind the VIP
ROOT_DB = "ROOT-DB[site]"  # the root item every database check depends on: the inventory's DB login
DB_LOGIN_REFUSED = (1044, 1045)  # access denied to a database / for a user
DB_NO_ANSWER = 2013  # pymysql: the server took the TCP connection but gave no answer in time (hung)


class Blocked(CheckError):
    """The check could not run because a root cause it depends on failed (an error outcome
    that names the root item, e.g. ``blocked by ROOT-DB[site]: ...``)."""

    def __init__(self, root: str, why: str, code: int | None = None) -> None:
        super().__init__(f"blocked by {root}: {why}")
        self.root, self.code = root, code  # code: the server's error number, where one caused it


class Skip(Exception):
    """The check does not apply to this site as given (e.g. no storage section in the
    inventory): reported as skipped with the reason."""


class NotVerifiable(CheckError):
    """The check cannot be judged on this site: the suite may not see what it needs (a fact
    the SSH user may not read, a tool missing). Reported as "not verifiable" with the reason,
    never as a pass."""


class FactFailed(CheckError):
    """A fact the check declared is unreadable on a node (its probe failed): an error."""

    def __init__(self, node: str, fact: Fact) -> None:
        super().__init__(f"{node}: fact {fact.name!r} {fact.why()}")
        self.node, self.fact = node, fact


class FactNotVerifiable(FactFailed, NotVerifiable):
    """A fact the check declared may not be read on a node (sudo -n refused, no journal)."""


def unreadable(node: str, fact: Fact) -> FactFailed:
    """The exception for an unreadable fact: not verifiable where access was refused, else an error."""
    value = fact.value
    return (FactNotVerifiable if isinstance(value, Unreadable) and value.not_verifiable else FactFailed)(node, fact)
