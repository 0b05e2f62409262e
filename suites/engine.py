"""The check engine: one requirement judged on one subject, apart from any front end (the
pytest plugin, the survivability recheck and the unit tests all call it).

``evaluate`` runs a requirement's checks and returns a ``CheckResult`` (suites/model.py); it
never raises for what a check finds or cannot find. A check that returns without failing has
passed only if every fact it declared on its subject node was read: a pass resting on an
unreadable fact becomes that fact's error or "not verifiable", here, once for every check
(suites/facts/core.py, ``Unreadable``). Waivers are a pure pass over results (``apply_waiver``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from bootstrap import inventory as inv
from bootstrap.topology import TOPOLOGIES
from suites.catalog import Requirement
from suites.context import (
    Blocked,
    CheckError,
    CheckFailed,
    Context,
    NodeUnreachable,
    NotVerifiable,
    SiteRuntime,
    Skip,
    root_ssh,
    unreadable,
)
from suites.facts import PROBES
from suites.model import CheckResult, Evidence, Outcome
from suites.registry import CheckFn, declared_facts
from suites.waivers import Waiver, match


@dataclass(frozen=True)
class Subject:
    """What one item judges: a node (node-scoped requirements), a VIP or scenario by name
    (``name``), or the site (neither). ``suffix`` is the item id's bracket."""

    suffix: str
    node: inv.NodeEntry | None = None
    name: str | None = None


def subjects(req: Requirement, inventory: inv.Inventory) -> list[Subject]:
    """Every item of a requirement on this site (none where its topologies exclude the site's)."""
    if inventory.topology not in req.topologies:
        return []
    if req.scope == "site":
        return [Subject("site")]
    if req.scope == "scenario":
        from suites.survival.plan import generate  # noqa: PLC0415  (only for survivability items)

        return [Subject(sc.name, None, sc.name) for sc in generate(inventory) if sc.requirement == req.id]
    if req.scope == "vip":
        return [Subject(f"vip-{v.name}", None, v.name) for v in TOPOLOGIES[inventory.topology].vips
                if v.name in req.vips]  # fmt: skip
    return [
        Subject(node.name, node)
        for node in inventory.nodes
        if any(node.has(r) for r in req.roles) and not any(node.has(r) for r in req.exclude_roles)
    ]


def coverage_problems(catalog: dict[str, Requirement], registry: dict[str, list[CheckFn]]) -> list[str]:
    """What keeps a catalog and its checks from landing: a requirement without a check, a manual
    one with checks, a check of no requirement, a check declaring an unknown fact."""
    problems = []
    for rid, req in catalog.items():
        if not req.manual and not registry.get(rid):
            problems.append(f"{rid}: catalogued, but no check verifies it")
        if req.manual and registry.get(rid):
            problems.append(f"{rid}: catalogued as manual, but checks are registered for it")
    for rid, fns in registry.items():
        if rid not in catalog:
            names = ", ".join(f"{f.__module__}.{f.__name__}" for f in fns)
            problems.append(f"{rid}: named by {names}, but not in the catalog")
        for fn in fns:
            unknown = sorted(declared_facts(fn) - set(PROBES))
            if unknown:
                problems.append(
                    f"{rid}: {fn.__module__}.{fn.__name__} declares unknown fact(s) {', '.join(unknown)} "
                    "(suites/facts/__init__.py lists the facts)"
                )
    return sorted(problems)


def run_checks(ctx: Context, fns: Iterable[CheckFn]) -> None:
    """Run ``fns`` (one requirement's checks) on ``ctx``'s subject, each seeing only the facts
    it declared. Raises what a check raises (CheckFailed, CheckError, NotVerifiable, Skip,
    NodeUnreachable) and FactFailed / FactNotVerifiable where a check passed although a fact
    it declared on its node could not be read."""
    for fn in fns:
        ctx.declared = declared_facts(fn)
        fn(ctx)
        if ctx.node is not None and (unread := ctx.facts.unreadable()):
            raise unreadable(ctx.node.name, unread[0])


def evaluate(req: Requirement, subject: Subject, rt: SiteRuntime, fns: list[CheckFn], ctx: Context | None = None
             ) -> CheckResult:  # fmt: skip
    """The requirement judged on the subject: passed, failed (with evidence and the named
    findings that explain it), error (naming the root item that blocked it, where one did), not
    verifiable, skipped or manual. Messages and evidence are redacted. ``ctx`` may be given to
    read the figures and artifacts a scenario check leaves on it."""
    ctx = ctx or Context(rt, req, subject.node, subject.name)
    node = subject.node.name if subject.node else None
    start = time.monotonic()
    outcome, message, blocked_by = Outcome.PASSED, "", None
    evidence: list[tuple[str, str]] = []
    findings: tuple[str, ...] = ()
    if req.manual:
        outcome, message = Outcome.MANUAL, f"manual: {req.title.en}"
    else:
        try:
            run_checks(ctx, fns)
        except CheckFailed as exc:
            outcome, message, evidence, findings = Outcome.FAILED, exc.message, exc.evidence, exc.findings
        except NotVerifiable as exc:
            outcome, message = Outcome.NOT_VERIFIABLE, str(exc)
        except Skip as exc:
            outcome, message = Outcome.SKIPPED, str(exc)
        except NodeUnreachable as exc:
            # A node that cannot be logged in to is one root cause, not a failure of this check.
            blocked = Blocked(root_ssh(exc.node), str(exc)) if exc.node else exc
            outcome, message = Outcome.ERROR, str(blocked)
            blocked_by = blocked.root if isinstance(blocked, Blocked) else None
        except CheckError as exc:
            outcome, message = Outcome.ERROR, str(exc)
            blocked_by = exc.root if isinstance(exc, Blocked) else None
    return CheckResult(
        id=f"{req.id}[{subject.suffix}]",
        requirement=req.id,
        node=node,
        subject=subject.name,
        outcome=outcome,
        message=rt.redact(message),
        evidence=[Evidence(command=rt.redact(c), output=rt.redact(o)) for c, o in evidence],
        blocked_by=blocked_by,
        findings=list(findings),
        duration_s=round(time.monotonic() - start, 3),
        figures=ctx.figures or None,
        artifacts=ctx.artifacts or None,
    )


def apply_waiver(result: CheckResult, waivers: list[Waiver]) -> tuple[CheckResult, Waiver | None]:
    """A failure a valid waiver covers becomes ``waived`` (with the waiver returned); a failure
    whose only waiver expired says so in its message; anything else is returned as it is."""
    if result.outcome is not Outcome.FAILED:
        return result, None
    waiver = match(waivers, result.requirement, result.node, tuple(result.findings))
    if waiver is None:
        return result, None
    if waiver.expired():
        said = f"{result.message} (waiver expired on {waiver.expires}; ignored)"
        return result.model_copy(update={"message": said}), None
    return result.model_copy(update={"outcome": Outcome.WAIVED}), waiver
