"""HA-KA (instances): the keepalived VRRP instances that hold the VIPs, read from keepalived.conf
(systemd keepalived) and from the platform's keepalived static pod (its manifest's environment),
and whether each runs."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from bootstrap import layout, vips
from bootstrap.inventory import NodeEntry
from bootstrap.topology import Role
from suites.checks import keepalived_conf as kc
from suites.checks.vip import nic_of
from suites.context import Context
from suites.errors import CheckError, CheckFailed
from suites.findings import DB_EQUAL_PRIORITIES
from suites.registry import check

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


@check("HA-KA-009", facts=KA_FACTS)
def db_vip_priorities_differ(ctx: Context) -> None:
    """The DB VIP's VRRP instances on the DB-HA nodes carry different priorities, on every
    profile: equal ones (ocboot's mariadb-ha role: 99 and 99) leave the holder to VRRP's
    address tie-break, a named finding (yunionio/cloudpods#18484)."""
    vip = ctx.rt.vip_address("db")
    priorities: dict[str, str] = {}
    ev = []
    for node in ctx.inventory.nodes_with(Role.DB_HA):
        src = source_for(ctx, node, vip)
        if src is None:
            ctx.fail(f"no VRRP instance holds the db VIP {vip} on {node.name}")
        priorities[node.name] = src.instance.get("priority") or "100"  # keepalived's default priority
        ev.append(src.evidence(node.name))
    same = len(priorities) > 1 and len(set(priorities.values())) == 1
    named = ", ".join(f"{n} {p}" for n, p in priorities.items())
    ctx.require(
        not same,
        f"the DB VIP's keepalived has one priority on every DB-HA node ({named}): which node holds {vip} is "
        "left to VRRP's tie-break on the higher address, and the VIP is reported bouncing (cloudpods#18484)",
        ev,
        findings=(DB_EQUAL_PRIORITIES,),
    )


def advert_source(ctx: Context, node: NodeEntry, inst: kc.Instance, vip_addrs: list[str]) -> str | None:
    """The address the instance's adverts leave from: ``unicast_src_ip`` or ``mcast_src_ip`` where
    set, else its interface's primary address, or, where that interface has none and is a
    bridge's port (the k3s line once the Host service moved the node IP onto br0: the static pod
    still names eth0, HA-KA-001), the bridge's. Reads the ``addr`` and ``links`` facts."""
    source = inst.get("unicast_src_ip") or inst.get("mcast_src_ip")
    if source:
        return source
    f = ctx.facts_of(node)
    iface = inst.get("interface")
    return vips.primary_address(f["addr"], iface, vip_addrs) or vips.primary_address(
        f["addr"], bridge_ports(f["links"]).get(iface or ""), vip_addrs
    )


def vrrp_ranks(ctx: Context) -> dict[str, dict[str, tuple[int, int, bool]]] | None:
    """Each VIP's VRRP members ranked as keepalived elects them: {VIP name: {node: (priority,
    the address its adverts leave from as an integer, whether it preempts)}} from the nodes' own
    keepalived configuration and addresses (the ``addr`` fact). A missing priority is keepalived's
    default, 100; ``nopreempt`` holds only on an instance that starts as BACKUP, keepalived's
    default state (HA-KA-007); the address, the tie-break between equal priorities, is
    ``unicast_src_ip`` or ``mcast_src_ip`` where set, else the instance interface's primary
    address (its bridge's, where it is a bridge's port). None where any member's instance, or
    its address, cannot be read or found: the
    caller then assumes nothing about who holds a VIP (suites/survival/settle.py)."""
    ranks: dict[str, dict[str, tuple[int, int, bool]]] = {}
    try:
        vip_addrs = [ctx.rt.vip_address(v.name) for v in ctx.rt.topology.vips]
        for spec in ctx.rt.topology.vips:
            vip = ctx.rt.vip_address(spec.name)
            group = {}
            for node in ctx.rt.vip_group(spec.name):
                src = source_for(ctx, node, vip)
                if src is None:
                    return None
                inst = src.instance
                priority = int(inst.get("priority") or "100")
                holds_back = "nopreempt" in inst.flags and (inst.get("state") or "BACKUP").upper() != "MASTER"
                primary = (
                    inst.get("unicast_src_ip") or inst.get("mcast_src_ip") or advert_source(ctx, node, inst, vip_addrs)
                )
                if primary is None:  # adverts from an interface without an address: who wins a tie is unknown
                    return None
                group[node.name] = (priority, int(ipaddress.IPv4Address(primary)), not holds_back)
            ranks[spec.name] = group
    except (CheckFailed, CheckError, ValueError, KeyError):
        return None
    return ranks
