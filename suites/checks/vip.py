"""HA-VIP and HA-KA: the VIPs and the keepalived instances that hold them."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from bootstrap import layout, vips
from bootstrap.inventory import NodeEntry
from bootstrap.remote import tcp_reachable
from bootstrap.topology import Role
from suites import keepalived_log
from suites.checks import keepalived_conf as kc
from suites.context import Context, NotVerifiable
from suites.registry import check

VIP_PORTS = {"platform": 6443, "db": 3306}


def interfaces(addr_output: str) -> list[ipaddress.IPv4Interface]:
    return [ipaddress.IPv4Interface(f"{a}/{prefix}") for a, (_, prefix) in vips.addresses(addr_output).items()]


def nic_of(addr_output: str, address: str) -> str | None:
    found = vips.addresses(addr_output).get(address)
    return found[0] if found else None


def holders(ctx: Context, vip: str, nodes: list[NodeEntry]) -> list[str]:
    return vips.holders({n.name: ctx.facts_of(n)["addr"] for n in nodes}, {"vip": vip})["vip"]


@check("HA-VIP-001", facts=("addr",))
def vip_held_by_exactly_one_node(ctx: Context) -> None:
    name = ctx.subject or ""
    vip = ctx.rt.vip_address(name)
    group = {n.name for n in ctx.rt.vip_group(name)}
    found = holders(ctx, vip, list(ctx.inventory.nodes))
    ev = [(f"{vips.ADDR_COMMAND}  (on {n})", ctx.facts_of(ctx.inventory.node(n))["addr"]) for n in found]
    if not found:
        cause, log_ev = ctx.rt.track_script_failures(name)
        ctx.fail(f"{name} VIP {vip} is held by no node" + (f": {cause}" if cause else ""), log_ev or None)
    ctx.require(len(found) == 1, f"{name} VIP {vip} is held by {len(found)} nodes at once: {', '.join(found)}", ev)
    ctx.require(found[0] in group, f"{name} VIP {vip} is held by {found[0]}, outside its group {sorted(group)}", ev)


@check("HA-VIP-002", facts=("addr",))
def vip_in_node_subnet(ctx: Context) -> None:
    name = ctx.subject or ""
    vip = ipaddress.IPv4Address(ctx.rt.vip_address(name))
    for node in ctx.rt.vip_group(name):
        out = ctx.facts_of(node)["addr"]
        own = [i for i in interfaces(out) if i.ip == node.address]
        ctx.require(own, f"{node.name} does not carry its own address {node.address}", [(vips.ADDR_COMMAND, out)])
        ctx.require(
            vip in own[0].network,
            f"{name} VIP {vip} is outside {node.name}'s subnet {own[0].network}",
            [(f"{vips.ADDR_COMMAND}  (on {node.name})", out)],
        )


@check("HA-VIP-003")
def vip_reachable_everywhere(ctx: Context) -> None:
    name = ctx.subject or ""
    vip, port = ctx.rt.vip_address(name), VIP_PORTS.get(name, 22)
    ctx.through_vip(name)
    why = tcp_reachable(vip, port, 3)
    ctx.require(why is None, f"the runner cannot reach {name} VIP {vip}:{port}: {why}")
    failed, ev = [], []
    for node in ctx.inventory.nodes:
        cmd = f"timeout 3 bash -c '</dev/tcp/{vip}/{port}'"
        res = ctx.rt.run(node, cmd, timeout=10)
        if res.rc != 0:
            failed.append(node.name)
            ev.append((f"{node.name}$ {cmd}", (res.stderr or f"exit {res.rc}").strip()))
    ctx.require(not failed, f"{name} VIP {vip}:{port} is unreachable from {', '.join(failed)}", ev)


@check("HA-VIP-004")
def vip_holder_stable(ctx: Context) -> None:
    name = ctx.subject or ""
    vip = ctx.rt.vip_address(name)
    window = float(ctx.expected("window_s"))
    samples = ctx.rt.vip_samples(window)[name]
    seen = {held for _, held in samples}
    ev = [("holders over time", "\n".join(f"{t:5.1f}s {', '.join(h) or '-'}" for t, h in samples))]
    # How many hold it is HA-VIP-001's business; this one asks whether the holders change.
    ctx.require(len(seen) == 1, f"{name} VIP {vip} moved during {window:g} s: {sorted(seen)}", ev)


@check("HA-VIP-005", facts=("addr",))
def vip_idle_before_install(ctx: Context) -> None:
    name = ctx.subject or ""
    vip = ctx.rt.vip_address(name)
    found = holders(ctx, vip, list(ctx.inventory.nodes))
    ctx.require(not found, f"{name} VIP {vip} is already configured on {', '.join(found)}")
    # From the runner: a refused or accepted connection means a host owns the address.
    why = tcp_reachable(vip, 22, 3)
    ctx.require(
        why is not None and not why.endswith("Connection refused"),
        f"something answers for {name} VIP {vip} (TCP 22: {why or 'accepted'})",
    )
    first = ctx.inventory.first_node()
    res = ctx.rt.run(first, f"timeout 3 bash -c '</dev/tcp/{vip}/22' 2>&1; echo rc=$?", timeout=10)
    answered = "Connection refused" in res.stdout or res.stdout.strip().endswith("rc=0")
    ctx.require(not answered, f"something answers for {name} VIP {vip} on the nodes' network", [("probe", res.stdout)])


KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
KA_FACTS = ("keepalived_conf", "keepalived_manifest")
# The image's built-in track scripts (real-sites.md: its log shows VRRP_Script(check_kube)).
STATIC_POD_TRACK = "check_kube"


@dataclass(frozen=True)
class Source:
    """Where a VRRP instance was read: a keepalived.conf (systemd keepalived) or the
    environment of the platform's keepalived static pod."""

    path: str
    text: str
    instance: kc.Instance
    static_pod: bool = False

    def evidence(self, node: str) -> tuple[str, str]:
        return (f"cat {self.path}  (on {node})", self.text)


def static_pod(ctx: Context, node: NodeEntry) -> Source | None:
    """The platform keepalived's static pod on ``node`` (the manifest at either line's
    path, read as the container image reads it), or None when the node has none."""
    found = ctx.facts_of(node)["keepalived_manifest"]
    if not found:
        return None
    path, body = found[0]
    try:
        env = layout.static_pod_env(body)
    except ValueError as exc:
        ctx.fail(f"{path} on {node.name} is no keepalived static pod: {exc}", [(f"cat {path}  (on {node.name})", body)])
    settings = {
        key: env[var]
        for key, var in (
            ("state", "KEEPALIVED_STATE"),
            ("priority", "KEEPALIVED_PRIORITY"),
            ("virtual_router_id", "KEEPALIVED_ROUTER_ID"),
            ("interface", "KEEPALIVED_INTERFACE"),
        )
        if env.get(var)
    }
    settings["advert_int"] = "1"  # fixed in the image's template (real-sites.md)
    inst = kc.Instance(
        f"static pod {path}",
        settings=settings,
        vips=[(v, None) for v in layout.static_pod_vips(env.get("KEEPALIVED_VIRTUAL_IPS", ""))],
        # The image tracks check_kube where the manifest gives its command (the k3s line's
        # CHECK_KUBE_CMD, real-sites.md); without it the instance tracks no script.
        track_scripts=[STATIC_POD_TRACK] if env.get("CHECK_KUBE_CMD", "").strip() else [],
        auth_pass=env.get("KEEPALIVED_PASSWORD"),
    )
    return Source(path, body, inst, static_pod=True)


def sources(ctx: Context, node: NodeEntry) -> list[Source]:
    """Every VRRP instance on ``node``: keepalived.conf's, then the static pod's."""
    text = ctx.facts_of(node)["keepalived_conf"]
    found = [Source(KEEPALIVED_CONF, text, inst) for inst in kc.parse(text)]
    pod = static_pod(ctx, node)
    return found + ([pod] if pod else [])


def source_for(ctx: Context, node: NodeEntry, vip: str) -> Source | None:
    return next((s for s in sources(ctx, node) if any(a == vip for a, _ in s.instance.vips)), None)


def bridge_ports(links_output: str) -> dict[str, str]:
    """{port: bridge} from ``ip -o link show`` (a port's line says "master br0")."""
    ports = {}
    for line in links_output.splitlines():
        m = re.match(r"\s*\d+:\s+([^:@\s]+)[@:].*\bmaster\s+(\S+)", line)
        if m:
            ports[m.group(1)] = m.group(2)
    return ports


@check("HA-KA-001", facts=("addr", "links", *KA_FACTS))
def keepalived_interface_carries_node_ip(ctx: Context) -> None:
    assert ctx.node is not None
    f = ctx.facts
    nic = nic_of(f["addr"], str(ctx.node.address))
    found = sources(ctx, ctx.node)
    ev = [s.evidence(ctx.node.name) for s in {s.path: s for s in found}.values()] + [(vips.ADDR_COMMAND, f["addr"])]
    none = f"no VRRP instance on {ctx.node.name}: none in {KEEPALIVED_CONF}, no keepalived static pod"
    ctx.require(found, none, ev)
    ports = bridge_ports(f["links"])
    for src in found:
        inst = src.instance
        iface = inst.get("interface")
        # The static pod names the NIC that held the node IP at install; once the Host
        # service moves the IP onto br0 that NIC is br0's port and the VIP follows to br0.
        bridged = src.static_pod and nic is not None and ports.get(iface or "") == nic
        ctx.require(
            iface == nic or bridged,
            f"{inst.name} listens on {iface}, but {ctx.node.address} is on {nic} ({src.path})",
            ev + ([("ip -o link show", f["links"])] if src.static_pod else []),
        )
        for addr, dev in inst.vips:
            ctx.require(dev in (None, nic), f"{inst.name} puts {addr} on {dev}, but the node IP is on {nic}", ev)


@check("HA-KA-002", facts=KA_FACTS)
def vrrp_group_consistent(ctx: Context) -> None:
    name = ctx.subject or ""
    vip = ctx.rt.vip_address(name)
    ids: dict[str, str | None] = {}
    auths: dict[str, str | None] = {}
    ev: list[tuple[str, str]] = []
    for node in ctx.rt.vip_group(name):
        src = source_for(ctx, node, vip)
        ctx.require(src is not None, f"{node.name} has no VRRP instance for {name} VIP {vip}", ev)
        assert src is not None
        ev.append(src.evidence(node.name))
        ids[node.name], auths[node.name] = src.instance.get("virtual_router_id"), src.instance.auth_pass
    ctx.require(len(set(ids.values())) == 1, f"virtual_router_id differs within the {name} group: {ids}", ev)
    ctx.require(len(set(auths.values())) == 1, f"auth_pass differs within the {name} group", ev)
    mine = next(iter(ids.values()))
    for other in ctx.rt.topology.vips:
        if other.name == name:
            continue
        other_vip = ctx.rt.vip_address(other.name)
        for node in ctx.rt.vip_group(other.name):
            src = source_for(ctx, node, other_vip)
            if src is not None:
                ctx.require(
                    src.instance.get("virtual_router_id") != mine,
                    f"the {name} and {other.name} VIPs share virtual_router_id {mine} on one network",
                    ev,
                )


def _vip_instance(ctx: Context, name: str) -> tuple[Source, list[tuple[str, str]]]:
    """This node's VRRP instance holding the named VIP, where it was read (or a failure)."""
    assert ctx.node is not None
    vip = ctx.rt.vip_address(name)
    src = source_for(ctx, ctx.node, vip)
    if src is None:
        ev = [s.evidence(ctx.node.name) for s in {s.path: s for s in sources(ctx, ctx.node)}.values()]
        ctx.fail(f"no VRRP instance holds the {name} VIP {vip} on {ctx.node.name}", ev or None)
    return src, [src.evidence(ctx.node.name)]


def probes_database(command: str, files: dict[str, str], port: int) -> bool:
    """Whether a track script's command checks the database: its arguments, or the text of
    the file it runs, name MySQL/MariaDB or the DB port (never the script's own name)."""
    words = command.split()
    text = " ".join(words[1:]) + "\n" + files[words[0]] if words and words[0] in files else command
    return re.search(rf"mysql|mariadb|\b{port}\b", text, re.I) is not None


@check("HA-KA-003", facts=(*KA_FACTS, "keepalived_scripts"))
def db_vip_instance_settings(ctx: Context) -> None:
    """Per DB-HA variant: the DB-HA page's values (the profile's), or ocboot's template where
    the variant is ocboot's. The health check is found by its role, not its name: a track
    script that probes the database (``chk_mysql`` with nc,
    ocboot's ``check_mariadb`` with ``</dev/tcp/127.0.0.1/<port>``): its command or the file it
    runs must name MySQL/MariaDB or the DB port."""
    assert ctx.node is not None
    src, ev = _vip_instance(ctx, "db")
    text, inst = src.text, src.instance
    profile = ctx.rt.db_ha_profile()
    if profile is not ctx.rt.profile:
        ev.append(("expected values", f"{profile.name} profile: {ctx.layout.describe()}"))
    index = [n.name for n in ctx.inventory.nodes_with(Role.DB_HA)].index(ctx.node.name)
    want_state, want_prio = ctx.expected("states", profile)[index], ctx.expected("priorities", profile)[index]
    router_id, advert_int = ctx.expected("router_id", profile), ctx.expected("advert_int", profile)
    problems = []
    if inst.get("state") != want_state:
        problems.append(f"state {inst.get('state')} (expected {want_state})")
    if inst.get("priority") != str(want_prio):
        problems.append(f"priority {inst.get('priority')} (expected {want_prio})")
    if inst.get("virtual_router_id") != str(router_id):
        problems.append(f"virtual_router_id {inst.get('virtual_router_id')} (expected {router_id})")
    if inst.get("advert_int") != str(advert_int):
        problems.append(f"advert_int {inst.get('advert_int')} (expected {advert_int})")
    if "nopreempt" not in inst.flags:
        problems.append("no nopreempt")
    scripts, files = kc.scripts(text), ctx.facts["keepalived_scripts"]
    if not any(t in scripts and probes_database(scripts[t], files, ctx.inventory.db.port) for t in inst.track_scripts):
        problems.append("no track_script that checks the database (chk_mysql)")
        ev += ctx.facts.evidence("keepalived_scripts")
    ctx.require(not problems, f"{inst.name} on {ctx.node.name}: " + "; ".join(problems), ev)


@check("HA-KA-004", facts=KA_FACTS)
def platform_vip_instance_settings(ctx: Context) -> None:
    assert ctx.node is not None
    src, ev = _vip_instance(ctx, "platform")
    inst = src.instance
    first = ctx.node.has(Role.FIRST)
    want_state = "MASTER" if first else "BACKUP"
    want_prio = ctx.expected("master_priority") if first else ctx.expected("backup_priority")
    problems = []
    if inst.get("state") != want_state:
        problems.append(f"state {inst.get('state')} (expected {want_state})")
    if inst.get("priority") != str(want_prio):
        problems.append(f"priority {inst.get('priority')} (expected {want_prio})")
    if not src.static_pod and not [t for t in inst.track_scripts if t in kc.scripts(src.text)]:
        problems.append("no control-plane health track_script")
    ctx.require(not problems, f"{inst.name} on {ctx.node.name}: " + "; ".join(problems), ev)


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


@check("HA-KA-005", facts=("keepalived_service", "keepalived_procs", "keepalived_containers", *KA_FACTS))
def keepalived_running(ctx: Context) -> None:
    """Per VIP group of the node: a systemd keepalived enabled and active where keepalived.conf
    holds the VIP; the static pod's keepalived running where its manifest does (a keepalived
    process in a pod's cgroup, and its container where a runtime answers)."""
    assert ctx.node is not None
    procs = ctx.facts["keepalived_procs"]
    for spec in ctx.rt.topology.vips:
        if ctx.node.name not in {n.name for n in ctx.rt.vip_group(spec.name)}:
            continue
        src = source_for(ctx, ctx.node, ctx.rt.vip_address(spec.name))
        if src is not None and src.static_pod:
            ev = [*ctx.facts.evidence("keepalived_procs", "keepalived_containers"), src.evidence(ctx.node.name)]
            in_pod = [pid for pid, cgroup in procs if "kubepods" in cgroup]
            ctx.require(in_pod, f"the {spec.name} VIP's keepalived static pod ({src.path}) runs no keepalived", ev)
            running = ctx.facts["keepalived_containers"]
            ctx.require(running is None or running.running, f"{running and running.runtime}: no running keepalived "
                        "container", ev)  # fmt: skip
            continue
        state = ctx.facts["keepalived_service"]
        ctx.require(
            state.enabled == "enabled" and state.active == "active",
            f"keepalived (the {spec.name} VIP's, {KEEPALIVED_CONF}): {state}",
            ctx.facts.evidence("keepalived_service"),
        )
