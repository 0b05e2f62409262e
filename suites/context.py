"""What a check sees: the site (suites/runtime.py), the node or VIP under test, expected values
from the catalog and profile, and the facts it declared. Checks are read-only.

The names checks and the plugin use are re-exported here (errors from suites/errors.py, the
runtime and its fact and database records)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

from bootstrap import inventory as inv
from bootstrap.layout import Layout, Line, node_line
from bootstrap.profiles import Profile
from suites.catalog import Requirement, resolve_expected
from suites.dbsession import DbFacts
from suites.errors import (
    DB_LOGIN_REFUSED,
    ROOT_DB,
    VIP_PROBE_PORTS,
    Blocked,
    CheckError,
    CheckFailed,
    FactFailed,
    FactNotVerifiable,
    NodeUnreachable,
    NotVerifiable,
    Skip,
    root_ssh,
    root_vip,
    unreadable,
)
from suites.facts import Fact
from suites.factsource import NodeFacts
from suites.runtime import SiteRuntime

__all__ = [
    "DB_LOGIN_REFUSED",
    "ROOT_DB",
    "VIP_PROBE_PORTS",
    "Blocked",
    "CheckError",
    "CheckFailed",
    "Context",
    "DbFacts",
    "FactFailed",
    "FactNotVerifiable",
    "FactView",
    "NodeFacts",
    "NodeUnreachable",
    "NotVerifiable",
    "SiteRuntime",
    "Skip",
    "root_ssh",
    "root_vip",
    "unreadable",
]


@dataclass
class FactView:
    """The facts of one node as one check sees them: only those it declared."""

    facts: NodeFacts
    declared: frozenset[str]
    check: str

    def fact(self, name: str) -> Fact:
        if name not in self.declared:
            raise CheckError(
                f"{self.check} reads fact {name!r} without declaring it (@check(..., facts=(...)) in suites/checks)"
            )
        fact = self.facts.values[name]
        if not fact.ok:
            raise unreadable(self.facts.node, fact)
        return fact

    def __getitem__(self, name: str) -> Any:
        """The fact's value (its parser's; suites/facts/values.py)."""
        return self.fact(name).value

    def unreadable(self) -> list[Fact]:
        """The declared facts that could not be read on this node."""
        return [self.facts.values[n] for n in sorted(self.declared) if not self.facts.values[n].ok]

    def evidence(self, *names: str) -> list[tuple[str, str]]:
        return [(self.fact(n).command, self.fact(n).output) for n in names]

    @property
    def runner_before(self) -> float:
        return self.facts.runner_before

    @property
    def runner_after(self) -> float:
        return self.facts.runner_after


@dataclass
class Context:
    """What one check item gets."""

    rt: SiteRuntime
    req: Requirement
    node: inv.NodeEntry | None = None
    subject: str | None = None  # the VIP name for vip-scoped requirements, the scenario's name for SURV
    figures: dict[str, Any] = field(default_factory=dict)  # measured figures for results.json
    declared: frozenset[str] = frozenset()  # the facts the running check declared
    artifacts: list[str] = field(default_factory=list)  # files kept for this item, relative to the report dir

    @property
    def inventory(self) -> inv.Inventory:
        return self.rt.inventory

    @property
    def facts(self) -> FactView:
        """The node under test's facts (those the check declared)."""
        assert self.node is not None
        return self.facts_of(self.node)

    def facts_of(self, node: inv.NodeEntry) -> FactView:
        """Another node's facts (those the check declared)."""
        return FactView(self.rt.facts(node), self.declared, self.req.id)

    @property
    def layout(self) -> Layout:
        """The site's install line and DB-HA variant (SiteRuntime.layout)."""
        return self.rt.layout()

    @property
    def line(self) -> tuple[Line | None, str]:
        """The install line whose rules apply on the node under test, and why: the inventory's
        ``layout.line``, else the node's own marker files (the ``layout`` fact, which the check
        must declare), else the site's line (bootstrap/layout.py ``node_line``)."""
        assert self.node is not None
        given = self.inventory.layout.line
        if given is not None:
            return node_line(None, given, None)
        return node_line(self.facts["layout"], None, self.layout.line)

    def through_vip(self, name: str) -> None:
        """Before a check that goes through the named VIP from the runner: raise Blocked
        (naming ROOT-VIP[name]) when the runner gets no answer from the VIP at all."""
        why = self.rt.vip_unreachable(name)
        if why is not None:
            raise Blocked(root_vip(name), why)

    def expected(self, key: str, profile: Profile | None = None) -> Any:
        """An expected value named in the catalog entry, resolved through the profile (the
        run's unless given; names are checked when the catalog loads; an unknown key is a
        CheckError)."""
        try:
            return resolve_expected(self.req.expect[key], profile or self.rt.profile, self.inventory)
        except KeyError:
            raise CheckError(f"{self.req.id}: the catalog entry names no expected value {key!r}") from None

    def fail(
        self, message: str, evidence: list[tuple[str, str]] | None = None, findings: tuple[str, ...] = ()
    ) -> NoReturn:
        raise CheckFailed(message, evidence, findings)

    def require(
        self,
        condition: object,
        message: str,
        evidence: list[tuple[str, str]] | None = None,
        findings: tuple[str, ...] = (),
    ) -> None:
        if not condition:
            self.fail(message, evidence, findings)
