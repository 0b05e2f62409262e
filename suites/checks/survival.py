"""HA-SURV: kill, stop, partition, reboot and service failures the topology promises to survive."""

from __future__ import annotations

import time
from pathlib import Path

from bootstrap.faults import Driver, FaultError, restore_journal
from bootstrap.runner_host import own_nodes
from suites.checks.keepalived import KA_FACTS, vrrp_ranks
from suites.context import CheckError, Context
from suites.errors import NotVerifiable
from suites.registry import check
from suites.survival.plan import KIND_REQUIREMENT, Scenario, generate
from suites.survival.recheck import broken_by_scenario, read_only_outcomes
from suites.survival.recorder import record
from suites.survival.scenarios import Runner

# What each kind of scenario does to the nodes of its failure set, for the refusal's message.
CUTS = {
    "kill": "power off",
    "stop": "shut down",
    "partition": "cut off from the network",
    "fatal": "power off",
    "reboot": "reboot",
    "site": "power off",
    "maintenance": "take out of service and reboot",
}


def refuse_runner_node(scenario: Scenario, own: list[str]) -> None:
    """Raise CheckError, before any fault, when the scenario would power off, shut down or cut
    off the node the run runs on (field engineers run it on the First Node): the run would lose
    itself, its workload and its restore with it. Service scenarios leave their node up."""
    cut = [n for n in scenario.nodes if n in own]
    if cut and scenario.kind in CUTS:
        raise CheckError(
            f"refused before any fault: {scenario.name} would {CUTS[scenario.kind]} {', '.join(cut)}, the node "
            "this run runs on; run the destructive scenarios from a host outside this failure set (another "
            "control node, or a host on the VIPs' segment), or deselect this one with -k"
        )


def lab_only(scenario: Scenario, managed: bool) -> None:
    """Raise NotVerifiable, before any fault, for the vendor's DB rebuild on a site: its first
    step, halting the platform (onecloud-operator's -stop-services), is not automated, and the
    page's procedure is unsafe while the platform writes during the dump."""
    if scenario.kind == "rebuild" and not managed:
        raise NotVerifiable(
            f"{scenario.name}: the vendor's first step, halting the platform (onecloud-operator -stop-services), "
            "is not automated, and the procedure is unsafe on a platform that writes during the dump"
        )


def undo_earlier_run(ctx: Context, faults: Driver) -> None:
    """Undo what an earlier run journalled and never undid (a run killed outright: SIGKILL, a
    runner lost), before this run's first fault; the faults undone go into the check's figures
    (``restored_before_run``). Left in place they would fail every scenario's wait for a healthy
    site with a reason naming the leftover, not the run that left it. Raises CheckError when one
    cannot be undone."""
    try:
        restored = restore_journal(faults)
    except FaultError as exc:
        raise CheckError(f"a fault left by an earlier run could not be undone: {exc}") from None
    if restored:
        ctx.figures["restored_before_run"] = restored


def run_scenario(ctx: Context) -> None:
    scenario = next(s for s in generate(ctx.inventory) if s.name == ctx.subject)
    refuse_runner_node(scenario, own_nodes(ctx.inventory))
    faults = ctx.rt.faults()
    lab_only(scenario, faults.managed)
    # The site's own baseline, before this run's first fault: a scenario answers only for
    # what it changes, not for what was already broken (or waived) before it.
    baseline = ctx.rt.options.get("baseline")
    if baseline is None:
        undo_earlier_run(ctx, faults)
        baseline = ctx.rt.options["baseline"] = read_only_outcomes(ctx.rt)
    storage = float(ctx.expected("storage_rto_s")) if "storage_rto_s" in ctx.req.expect else 60.0
    bounds = {
        "rto_bound_s": float(ctx.expected("rto_s")),
        "storage_rto_bound_s": storage,
        "convergence_bound_s": float(ctx.rt.profile.convergence_bound_s),
    }
    started = time.time()
    try:
        outcome = Runner(ctx.inventory, faults, bounds, vrrp_ranks(ctx)).run(scenario)
    except (TimeoutError, FaultError) as exc:
        flight(ctx, scenario.name, started, str(exc))
        ctx.fail(f"{scenario.name}: {exc}")
    ctx.figures.update(outcome.figures)
    ctx.figures["findings"] = sorted(set(outcome.findings.values()))
    ctx.figures["timeline"] = outcome.timeline
    if outcome.unverified:  # reported with the verdict, never dropped: the check judged the rest
        ctx.figures["not_verifiable_from_runner"] = outcome.unverified
    if not outcome.problems:
        recheck = time.monotonic()
        broken = broken_by_scenario(baseline, read_only_outcomes(ctx.rt))
        ctx.figures.setdefault("phases_s", {})["recheck"] = round(time.monotonic() - recheck, 2)
        if broken:
            outcome.problems.append("read-only checks fail after recovery: " + "; ".join(broken[:5]))
    evidence = [("timeline ('#' up, '.' down)", "\n".join(f"{s:13} {p}" for s, p in sorted(outcome.timeline.items())))]
    evidence.append(("events (s)", "\n".join(f"{t:7.2f} {what}" for t, what in outcome.figures.get("events", []))))
    rto = outcome.figures.get("rto_s", {})
    evidence.append(("RTO per service (s)", ", ".join(f"{k}={v}" for k, v in sorted(rto.items()))))
    if outcome.unverified:
        evidence.append(("not verifiable from this runner", "\n".join(outcome.unverified)))
    ctx.figures["unexplained_problems"] = len(outcome.unexplained)
    if outcome.problems or ctx.rt.options.get("flight_recorder") == "always":
        flight(ctx, scenario.name, started, "; ".join(outcome.problems))
    explained = tuple(ctx.figures["findings"]) if outcome.problems and not outcome.unexplained else ()
    ctx.require(not outcome.problems, f"{scenario.name}: " + "; ".join(outcome.problems), evidence, explained)


def flight(ctx: Context, scenario: str, started: float, why: str) -> None:
    """Keep the flight recorder's files for this scenario in the report directory."""
    report_dir = ctx.rt.options.get("report_dir")
    if report_dir is None:
        return
    paths = record(ctx.rt, scenario, started, Path(report_dir), why)
    ctx.artifacts += [str(p.relative_to(report_dir)) for p in paths]


for requirement in sorted(set(KIND_REQUIREMENT.values())):
    check(requirement, facts=(*KA_FACTS, "addr", "links"))(run_scenario)  # the VRRP ranks (vrrp_ranks)
