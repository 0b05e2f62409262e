"""HA-KA (behaviour): the track scripts that decide who may hold a VIP, nopreempt on an initial
MASTER, and the DB-HA page's interface switcher: read from keepalived's own log and files."""

from __future__ import annotations

import re

from suites import keepalived_log
from suites.checks import keepalived_conf as kc
from suites.checks.keepalived import KA_FACTS, KEEPALIVED_CONF, Source, source_for
from suites.context import Context, NotVerifiable
from suites.registry import check


@check("HA-KA-006", facts=(*KA_FACTS, "keepalived_log", "keepalived_pod_log"))
def track_scripts_can_move_the_vip(ctx: Context) -> None:
    """Each track script of this node's VRRP instances that hold a VIP is defined, not disabled
    by keepalived (missing, or unsafe permissions under script security), healthy as keepalived
    last ran it (its own log since its last start: ``VRRP_Script(x) succeeded|failed``), and able
    to move the VIP: on a ``nopreempt`` instance a script with a weight only lowers the priority,
    and the backup never preempts (keepalived.conf(5); field reports in the catalog).

    keepalived.conf's instances are read from the file and the unit's journal; the platform's
    static pod from its container's log (``k3s crictl logs`` / ``docker logs``, real-sites.md),
    whose scripts are the image's (``check_kube`` ...): disabled or failing ones are named. Where
    no container runtime answers (``k3s crictl``, ``docker``), the static pod's scripts cannot be
    judged: the item is skipped with that reason unless another instance already fails it."""
    assert ctx.node is not None
    log = ctx.facts["keepalived_log"]
    verdicts = keepalived_log.script_verdicts(log)
    unsafe = set(keepalived_log.unsafe_script_paths(log))
    problems: list[str] = []
    ev: list[tuple[str, str]] = []
    unjudged: list[str] = []
    for spec in ctx.rt.topology.vips:
        if ctx.node.name not in {n.name for n in ctx.rt.vip_group(spec.name)}:
            continue
        src = source_for(ctx, ctx.node, ctx.rt.vip_address(spec.name))
        if src is None:
            continue  # no instance: HA-KA-003/004 say so
        ev.append(src.evidence(ctx.node.name))
        if src.static_pod:
            found, why_not = _static_pod_scripts(ctx, src, ev)
            problems += found
            if why_not is not None:
                unjudged.append(why_not)
            continue
        inst, defined = src.instance, kc.script_settings(src.text)
        for name in inst.track_scripts:
            settings = defined.get(name)
            if settings is None:
                problems.append(f"{inst.name}: track_script {name} has no vrrp_script block (keepalived ignores it)")
                continue
            path = settings.get("script", "").split()[0] if settings.get("script") else ""
            if path in unsafe:
                problems.append(f"{inst.name}: keepalived disabled {name}: unsafe permissions on {path}")
            ok, why = verdicts.get(name, (None, ""))
            if ok is None:
                unjudged.append(f"{inst.name}: keepalived gives no verdict for {name} ({_no_verdict(log)})")
            elif not ok:
                problems.append(
                    f"{inst.name}: keepalived reports {name} failing ({why}): this node cannot hold the VIP"
                )
            weight = inst.track_weights.get(name, settings.get("weight"))
            if "nopreempt" in inst.flags and weight not in (None, 0, "0"):
                problems.append(
                    f"{inst.name}: {name} has weight {weight} on a nopreempt instance: its failure only lowers "
                    "the priority and the backup never preempts, so the VIP stays on the failing node"
                )
    if problems or verdicts or unsafe:
        ev.append(("journalctl -u keepalived (this start: track script lines)", "\n".join(_script_lines(log)[-30:])))
    ctx.require(not problems, f"{ctx.node.name}: " + "; ".join(problems), ev)
    if unjudged:
        raise NotVerifiable(f"{ctx.node.name}: track scripts not judged: " + "; ".join(unjudged))


def _no_verdict(log: str) -> str:
    """Why keepalived's log gives no verdict for a track script: keepalived logs each script's
    verdict when it first runs after a start and on every change, so a readable log that shows the
    start and no verdict means the script has not run yet; a log that does not reach back to the
    start holds only changes."""
    if not log.strip():
        return "keepalived's journal holds no line since its start"
    if keepalived_log.START.search(log):
        return "keepalived has not reported it since its start"
    return "keepalived's log read (its last 300 lines) does not reach back to its start and names no change"


def _script_lines(log: str) -> list[str]:
    """keepalived's log lines about track scripts since its last start."""
    return [
        line
        for line in keepalived_log.since_last_start(log)
        if "VRRP_Script" in line or "isabling" in line or "Unsafe" in line
    ]


def _static_pod_scripts(ctx: Context, src: Source, ev: list[tuple[str, str]]) -> tuple[list[str], str | None]:
    """(problems with the static pod's track scripts, from its container's log; why they cannot
    be judged, or None). An unreadable log (no runtime answers: sudo -n refused, none installed)
    is the engine's business: the fact is declared. Evidence added."""
    pod = ctx.facts["keepalived_pod_log"]
    if pod is None:  # the runtime's probe found no manifest where the manifest's probe found one
        return [], f"{src.instance.name}: the static pod's log probe found no manifest"
    runtime, container, log = pod.runtime, pod.container, pod.log
    if container is None:
        ev.append((f"{runtime} ps --name keepalived", "no keepalived container (HA-KA-005 judges that)"))
        return [], f"{src.instance.name}: no keepalived container whose log could be read"
    shown = _script_lines(log)
    ev.append((f"{runtime} logs --tail 300 {container} (this start: track script lines)", "\n".join(shown[-30:])))
    name = src.instance.name
    problems = [f"{name}: keepalived disabled a script for unsafe permissions: {path}"
                for path in keepalived_log.unsafe_script_paths(log)]  # fmt: skip
    for script, (ok, why) in sorted(keepalived_log.script_verdicts(log).items()):
        if ok:
            continue
        if why.startswith("disabled"):
            detail = why.removeprefix("disabled by keepalived").lstrip(": ")
            problems.append(f"{name}: keepalived disabled the image's {script}" + (f" ({detail})" if detail else ""))
        else:
            said = f"failing ({why})" if why else "failing"
            problems.append(f"{name}: keepalived reports the image's {script} {said}: this node is unfit for the VIP")
    silent = [t for t in src.instance.track_scripts if t not in keepalived_log.script_verdicts(log)]
    if silent:
        return problems, f"{name}: keepalived gives no verdict for {', '.join(silent)} ({_no_verdict(log)})"
    return problems, None


NOPREEMPT_CLEARED = "nopreempt will not work with initial state MASTER"


@check("HA-KA-007", facts=(*KA_FACTS, "keepalived_log"))
def nopreempt_only_on_backup(ctx: Context) -> None:
    """An instance with ``nopreempt`` starts as BACKUP: with ``state MASTER`` keepalived clears
    ``nopreempt`` (it logs "(<instance>) Warning - nopreempt will not work with initial state
    MASTER - clearing"), so the node takes its VIP back whenever it returns. The DB-HA page's own
    configuration for its first DB node does this (a contradiction of the page, reported with
    keepalived's log line as evidence where the log has it)."""
    assert ctx.node is not None
    problems, ev = [], []
    said = [line for line in keepalived_log.since_last_start(ctx.facts["keepalived_log"]) if NOPREEMPT_CLEARED in line]
    for spec in ctx.rt.topology.vips:
        if ctx.node.name not in {n.name for n in ctx.rt.vip_group(spec.name)}:
            continue
        src = source_for(ctx, ctx.node, ctx.rt.vip_address(spec.name))
        if src is None or src.static_pod:
            continue
        inst = src.instance
        if "nopreempt" in inst.flags and (inst.get("state") or "").upper() == "MASTER":
            logged = [line for line in said if f"({inst.name})" in line or inst.name in line]
            problems.append(
                f"{inst.name} ({spec.name} VIP) has state MASTER with nopreempt: keepalived "
                + ("says so: " + logged[-1].strip() if logged else "clears nopreempt for an initial MASTER")
                + f"; {ctx.node.name} takes the VIP back whenever it returns"
            )
            ev.append(src.evidence(ctx.node.name))
    if said:
        ev.append(("journalctl -u keepalived (this start)", "\n".join(said[-5:])))
    ctx.require(not problems, f"{ctx.node.name}: " + "; ".join(problems), ev)


SWITCHER_CRON = "/etc/cron.d/update_keepalived_interface"
INCLUDED = "# @@include "  # where the keepalived_conf probe appends an included file
GREP_W_INTERFACE = re.compile(r"(?<![A-Za-z0-9_])interface(?![A-Za-z0-9_])")


def switcher_words(conf: str) -> list[tuple[str, str]]:
    """What the DB-HA page's check_interface.sh reads from keepalived.conf itself (not the files
    it includes): ``grep -w interface | awk '{print $2}'``, as [(line, second field)].

    >>> switcher_words("vrrp_instance VI_DB {\\n    interface host0\\n    track_interface {\\n}")
    [('interface host0', 'host0')]
    """
    own = conf.split(INCLUDED, 1)[0]
    found = []
    for line in own.splitlines():
        if GREP_W_INTERFACE.search(line):
            fields = line.split()
            found.append((line.strip(), fields[1] if len(fields) > 1 else ""))
    return found


@check("HA-KA-008", facts=("keepalived_conf", "interface_switcher"))
def interface_switcher_can_work(ctx: Context) -> None:
    """Where the DB-HA page's interface switcher runs (its cron file), keepalived.conf has exactly
    one line with the word ``interface``: the switcher's ``grep -w interface | awk '{print $2}'``
    must yield one interface name, or its ``sed`` cannot rewrite the file and it restarts
    keepalived anyway, three times a minute. Source: the DB-HA page's check_interface.sh."""
    assert ctx.node is not None
    installed = ctx.facts["interface_switcher"]
    conf = ctx.facts["keepalived_conf"]
    ev = [("interface switcher files", "\n".join(installed) or "(none)"),
          (f"cat {KEEPALIVED_CONF}  (on {ctx.node.name})", conf)]  # fmt: skip
    if SWITCHER_CRON not in installed:
        return  # no switcher runs here: nothing it could break
    words = switcher_words(conf)
    if len(words) == 1:
        return
    said = "; ".join(f"{line!r}" for line, _ in words) or "none"
    ctx.fail(
        f"{ctx.node.name}: the DB-HA page's interface switcher ({SWITCHER_CRON}) reads {len(words)} lines with "
        f"the word interface from {KEEPALIVED_CONF} ({said}): its sed cannot rewrite them and it restarts "
        "keepalived every 20 s",
        ev,
    )
