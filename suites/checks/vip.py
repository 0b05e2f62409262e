"""HA-VIP and HA-KA: the VIPs and the keepalived instances that hold them."""

from __future__ import annotations

import ipaddress

from bootstrap import vips
from bootstrap.inventory import NodeEntry
from bootstrap.remote import tcp_reachable
from bootstrap.topology import Role
from suites.checks import keepalived_conf as kc
from suites.context import Context
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
    ctx.require(found, f"{name} VIP {vip} is held by no node", ev)
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


def _instances(ctx: Context, node: NodeEntry) -> tuple[str, list[kc.Instance]]:
    text = ctx.facts_of(node)["keepalived_conf"]
    return text, kc.parse(text)


@check("HA-KA-001", facts=("addr", "keepalived_conf"))
def keepalived_interface_carries_node_ip(ctx: Context) -> None:
    assert ctx.node is not None
    f = ctx.facts
    nic = nic_of(f["addr"], str(ctx.node.address))
    text, instances = _instances(ctx, ctx.node)
    ev = [("cat /etc/keepalived/keepalived.conf", text), (vips.ADDR_COMMAND, f["addr"])]
    ctx.require(instances, f"no vrrp_instance in {ctx.node.name}'s keepalived.conf", ev)
    for inst in instances:
        ctx.require(
            inst.get("interface") == nic,
            f"{inst.name} listens on {inst.get('interface')}, but {ctx.node.address} is on {nic}",
            ev,
        )
        for addr, dev in inst.vips:
            ctx.require(dev in (None, nic), f"{inst.name} puts {addr} on {dev}, but the node IP is on {nic}", ev)


@check("HA-KA-002", facts=("keepalived_conf",))
def vrrp_group_consistent(ctx: Context) -> None:
    name = ctx.subject or ""
    vip = ctx.rt.vip_address(name)
    ids, auths, ev = {}, {}, []
    for node in ctx.rt.vip_group(name):
        text = ctx.facts_of(node)["keepalived_conf"]
        inst = kc.instance_for(text, vip)
        ev.append((f"keepalived.conf on {node.name}", text))
        ctx.require(inst is not None, f"{node.name} has no vrrp_instance for {name} VIP {vip}", ev)
        assert inst is not None
        ids[node.name], auths[node.name] = inst.get("virtual_router_id"), inst.auth_pass
    ctx.require(len(set(ids.values())) == 1, f"virtual_router_id differs within the {name} group: {ids}", ev)
    ctx.require(len(set(auths.values())) == 1, f"auth_pass differs within the {name} group", ev)
    mine = next(iter(ids.values()))
    for other in ctx.rt.topology.vips:
        if other.name == name:
            continue
        other_vip = ctx.rt.vip_address(other.name)
        for node in ctx.rt.vip_group(other.name):
            inst = kc.instance_for(ctx.facts_of(node)["keepalived_conf"], other_vip)
            if inst is not None:
                ctx.require(
                    inst.get("virtual_router_id") != mine,
                    f"the {name} and {other.name} VIPs share virtual_router_id {mine} on one network",
                    ev,
                )


def _vip_instance(ctx: Context, name: str) -> tuple[str, kc.Instance, list[tuple[str, str]]]:
    """This node's keepalived.conf and the vrrp_instance holding the named VIP (or a failure)."""
    assert ctx.node is not None
    vip = ctx.rt.vip_address(name)
    text = ctx.facts["keepalived_conf"]
    inst = kc.instance_for(text, vip)
    ev = [("cat /etc/keepalived/keepalived.conf", text)]
    ctx.require(inst is not None, f"no vrrp_instance holds the {name} VIP {vip} on {ctx.node.name}", ev)
    assert inst is not None
    return text, inst, ev


@check("HA-KA-003", facts=("keepalived_conf",))
def db_vip_instance_settings(ctx: Context) -> None:
    assert ctx.node is not None
    text, inst, ev = _vip_instance(ctx, "db")
    index = [n.name for n in ctx.inventory.nodes_with(Role.DB_HA)].index(ctx.node.name)
    want_state, want_prio = ctx.expected("states")[index], ctx.expected("priorities")[index]
    problems = []
    if inst.get("state") != want_state:
        problems.append(f"state {inst.get('state')} (expected {want_state})")
    if inst.get("priority") != str(want_prio):
        problems.append(f"priority {inst.get('priority')} (expected {want_prio})")
    if inst.get("virtual_router_id") != str(ctx.expected("router_id")):
        problems.append(f"virtual_router_id {inst.get('virtual_router_id')} (expected {ctx.expected('router_id')})")
    if inst.get("advert_int") != str(ctx.expected("advert_int")):
        problems.append(f"advert_int {inst.get('advert_int')} (expected {ctx.expected('advert_int')})")
    if "nopreempt" not in inst.flags:
        problems.append("no nopreempt")
    scripts = kc.scripts(text)
    if not any(t in scripts and "chk_mysql" in (t + scripts[t]) for t in inst.track_scripts):
        problems.append("no chk_mysql track_script")
    ctx.require(not problems, f"{inst.name} on {ctx.node.name}: " + "; ".join(problems), ev)


@check("HA-KA-004", facts=("keepalived_conf",))
def platform_vip_instance_settings(ctx: Context) -> None:
    assert ctx.node is not None
    text, inst, ev = _vip_instance(ctx, "platform")
    first = ctx.node.has(Role.FIRST)
    want_state = "MASTER" if first else "BACKUP"
    want_prio = ctx.expected("master_priority") if first else ctx.expected("backup_priority")
    problems = []
    if inst.get("state") != want_state:
        problems.append(f"state {inst.get('state')} (expected {want_state})")
    if inst.get("priority") != str(want_prio):
        problems.append(f"priority {inst.get('priority')} (expected {want_prio})")
    if not [t for t in inst.track_scripts if t in kc.scripts(text)]:
        problems.append("no control-plane health track_script")
    ctx.require(not problems, f"{inst.name} on {ctx.node.name}: " + "; ".join(problems), ev)


@check("HA-KA-005", facts=("keepalived_service",))
def keepalived_running(ctx: Context) -> None:
    state = ctx.facts["keepalived_service"]
    ctx.require(
        "enabled=enabled" in state and "active=active" in state,
        f"keepalived: {state}",
        ctx.facts.evidence("keepalived_service"),
    )
